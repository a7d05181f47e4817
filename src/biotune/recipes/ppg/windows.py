"""Labelled windows of PPG recordings, their preprocessing and leave-subject-out folds.

Window ``i`` of a recording covers samples ``[i*step, i*step + window)`` and carries ``BPM0[i]``.
The band-pass is a fixed filter (nothing fitted) applied to each whole recording before windowing,
so window edges carry no filter transient; normalisation statistics are fitted on the training
windows of a fold only (:class:`ChannelScaler`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from biotune.errors import InputError
from biotune.recipes.ppg.importers import Recording
from biotune.tasks import TaskSpec

#: The one task of the recipe: heart rate (BPM) of a window, a regression.
HEART_RATE = TaskSpec(name="heart_rate", kind="regression")


@dataclass(frozen=True)
class Windows:
    """``x`` ``(n, channels, window)`` float32 with ``bpm``, ``subject``, ``recording`` and ``index`` per window."""

    x: np.ndarray
    bpm: np.ndarray
    subject: np.ndarray
    recording: np.ndarray
    index: np.ndarray
    channels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.bpm)

    def take(self, rows: np.ndarray) -> Windows:
        """The windows at ``rows`` (indices or a boolean mask)."""
        return Windows(self.x[rows], self.bpm[rows], self.subject[rows], self.recording[rows], self.index[rows], self.channels)

    def ids(self) -> list[str]:
        """``<recording>:<window index>`` per window, unique across a dataset."""
        return [f"{r}:{i}" for r, i in zip(self.recording, self.index)]


def bandpass(signals: np.ndarray, fs: float, low_hz: float, high_hz: float, order: int) -> np.ndarray:
    """Zero-phase Butterworth band-pass along the last axis."""
    from scipy.signal import butter, sosfiltfilt

    if not 0 < low_hz < high_hz < fs / 2:
        raise InputError(f"band-pass {low_hz}-{high_hz} Hz must lie within (0, {fs / 2}) Hz")
    sos = butter(order, [low_hz, high_hz], btype="bandpass", fs=fs, output="sos")
    return sosfiltfilt(sos, signals, axis=-1)


def recording_windows(rec: Recording, channels: Sequence[str], window: int, step: int, filt: Mapping[str, Any] | None, fs: float) -> Windows:
    """The labelled windows of one recording (``filt``: band-pass settings, ``None`` for raw)."""
    sig = rec.channels(tuple(channels))
    if filt is not None:
        sig = bandpass(sig, fs, float(filt["low_hz"]), float(filt["high_hz"]), int(filt["order"]))
    n = len(rec.bpm)
    starts = np.arange(n) * step
    x = np.stack([sig[:, s : s + window] for s in starts]).astype(np.float32) if n else np.zeros((0, len(channels), window), np.float32)
    return Windows(x, rec.bpm.astype(float), np.full(n, rec.subject), np.full(n, rec.name), np.arange(n), tuple(channels))


def make_windows(recordings: Sequence[Recording], cfg: Mapping[str, Any]) -> Windows:
    """Windows of every recording, concatenated, per the recipe config (``configs/ppg/spc2015.yaml``)."""
    parts = [recording_windows(r, cfg["channels"], int(cfg["window"]), int(cfg["step"]), cfg.get("bandpass"), float(cfg["fs"])) for r in recordings]
    if not parts:
        raise InputError("no recordings to window")
    return Windows(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("x", "bpm", "subject", "recording", "index")), parts[0].channels)


def subject_folds(subjects: Sequence[str], valid_offset: int = 1) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Leave-subject-out ``(train, valid, test)`` row indices, one fold per subject in sorted order.

    Test = subject ``k``, validation = subject ``k + valid_offset`` (cyclic; none when 0), training =
    every other subject, so no subject's windows are on two sides of a fold.
    """
    subjects = np.asarray(subjects)
    names = sorted(set(subjects.tolist()))
    if len(names) < 2 + (valid_offset != 0):
        raise InputError(f"{len(names)} subjects cannot make leave-subject-out folds with{'' if valid_offset else 'out'} a validation subject")
    folds = []
    for k, name in enumerate(names):
        test = subjects == name
        valid = subjects == names[(k + valid_offset) % len(names)] if valid_offset else np.zeros(len(subjects), bool)
        folds.append((np.flatnonzero(~test & ~valid), np.flatnonzero(valid), np.flatnonzero(test)))
    return folds


def fold_windows(windows: Windows, rows: tuple[np.ndarray, np.ndarray, np.ndarray], normalise: str) -> tuple[Windows, Windows, Windows, ChannelScaler]:
    """``(train, valid, test)`` windows of one fold, normalised with a :class:`ChannelScaler` fitted on train only."""
    scaler = ChannelScaler(normalise).fit(windows.x[rows[0]])
    parts = [windows.take(r) for r in rows]
    scaled = tuple(Windows(scaler.transform(p.x), p.bpm, p.subject, p.recording, p.index, p.channels) for p in parts)
    return (*scaled, scaler)


def out_of_fold(windows: Windows, fit_predict: Callable[[Windows, Windows, Windows], np.ndarray], valid_offset: int = 0) -> tuple[np.ndarray, list[str]]:
    """Leave-subject-out predictions for every window, and the held-out subject of each fold in order.

    ``fit_predict(train, valid, test)`` fits on ``train`` (``valid`` for early stopping; empty when
    ``valid_offset`` is 0) and returns one prediction per ``test`` window.
    """
    pred = np.full(len(windows), np.nan)
    held_out = []
    for train, valid, test in subject_folds(windows.subject, valid_offset):
        pred[test] = fit_predict(windows.take(train), windows.take(valid), windows.take(test))
        held_out.append(str(windows.subject[test[0]]))
    return pred, held_out


@dataclass
class ChannelScaler:
    """Per-channel z-score whose mean and sd come from training windows only (``kind='none'``: identity)."""

    kind: str = "zscore"
    mean: np.ndarray | None = None
    sd: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> ChannelScaler:
        if self.kind not in ("zscore", "none"):
            raise InputError(f"unknown normalisation {self.kind!r}; use zscore or none")
        if x.ndim != 3 or len(x) == 0:
            raise InputError(f"normalisation needs training windows (n, channels, samples), got shape {x.shape}")
        self.mean = x.mean(axis=(0, 2)) if self.kind == "zscore" else np.zeros(x.shape[1])
        sd = x.std(axis=(0, 2)) if self.kind == "zscore" else np.ones(x.shape[1])
        self.sd = np.where(sd > 0, sd, 1.0)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("ChannelScaler.transform before fit")
        return ((x - self.mean[None, :, None]) / self.sd[None, :, None]).astype(np.float32)
