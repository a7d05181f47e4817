"""Read the IEEE SP Cup 2015 wrist-PPG recordings (``.mat`` files) into named channels and BPM labels.

The folder layout and row order are the published ones (see the data folder's README.md): training
recordings ``Training_data/DATA_NN_TYPEnn.mat`` (rows ECG, PPG1, PPG2, acc x/y/z) with
``DATA_NN_TYPEnn_BPMtrace.mat``; one extra recording ``Extra_TrainingData/DATA_S04_T01.mat`` with
``BPM_S04_T01.mat`` (same rows); test recordings ``TestData/TEST_Sxx_Tyy.mat`` (no ECG row) with
``TrueBPM/True_Sxx_Tyy.mat``. Every bad file raises :class:`~biotune.errors.InputError` naming it.

Subjects: the twelve training recordings are twelve subjects ``train_NN``. Upstream does not say
whether test subjects are training subjects, so they form their own set ``test_Sxx``; the extra
recording is ``S04`` of that set (its name says so) and shares a subject with ``TEST_S04_T02``, so a
leave-subject-out split never puts the two on different sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biotune.errors import InputError

TRAIN_ROWS = ("ecg", "ppg1", "ppg2", "acc_x", "acc_y", "acc_z")
TEST_ROWS = TRAIN_ROWS[1:]
GROUPS = ("train", "extra", "test")


@dataclass(frozen=True)
class Recording:
    """One recording: ``signals`` ``(channels, samples)`` with ``rows`` naming them, and per-window BPM."""

    name: str
    subject: str
    group: str
    rows: tuple[str, ...]
    signals: np.ndarray
    bpm: np.ndarray
    path: str

    def channels(self, names: list[str] | tuple[str, ...]) -> np.ndarray:
        """The rows ``names`` in that order; a name this recording lacks is an :class:`InputError`."""
        missing = [n for n in names if n not in self.rows]
        if missing:
            raise InputError(f"no channel {missing} (rows are {list(self.rows)})", path=self.path)
        return self.signals[[self.rows.index(n) for n in names]]


def read_mat_variable(path: str | Path, variable: str) -> np.ndarray:
    """Variable ``variable`` of a MATLAB file as a float array; unreadable file or missing variable -> InputError."""
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    try:
        content = loadmat(path, variable_names=[variable])
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError or MatReadError on corrupt files
        raise InputError(f"not a readable MATLAB file ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})", path=path) from None
    if variable not in content:
        raise InputError(f"no variable {variable!r} in the file", path=path)
    try:
        return np.asarray(content[variable], dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"variable {variable!r} is not numeric", path=path) from None


def read_signals(path: str | Path, rows: tuple[str, ...]) -> np.ndarray:
    """``sig`` of a recording file, checked to be ``(len(rows), samples)`` and finite."""
    sig = read_mat_variable(path, "sig")
    if sig.ndim != 2 or sig.shape[0] != len(rows):
        raise InputError(f"'sig' has shape {sig.shape}, expected ({len(rows)}, samples) with rows {list(rows)}", path=path)
    if not np.isfinite(sig).all():
        raise InputError("'sig' holds NaN or infinite samples", path=path)
    return sig


def read_bpm(path: str | Path) -> np.ndarray:
    """``BPM0`` of a label file: one positive heart rate per window, as a 1-D array."""
    bpm = read_mat_variable(path, "BPM0")
    if bpm.ndim != 2 or 1 not in bpm.shape or bpm.size == 0:
        raise InputError(f"'BPM0' has shape {bpm.shape}, expected (windows, 1)", path=path)
    bpm = bpm.reshape(-1)
    if not (np.isfinite(bpm) & (bpm > 0)).all():
        raise InputError("'BPM0' holds non-positive or missing heart rates", path=path)
    return bpm


def max_windows(n_samples: int, window: int, step: int) -> int:
    """How many windows ``[i*step, i*step + window)`` fit in ``n_samples``."""
    return 0 if n_samples < window else (n_samples - window) // step + 1


def read_recording(data: Path, labels: Path, *, name: str, subject: str, group: str, rows: tuple[str, ...], window: int, step: int) -> Recording:
    """One recording with its labels; more labels than windows that fit the signal is an InputError."""
    sig, bpm = read_signals(data, rows), read_bpm(labels)
    fit = max_windows(sig.shape[1], window, step)
    if len(bpm) > fit:
        raise InputError(f"{len(bpm)} BPM labels but only {fit} windows of {window} samples fit the {sig.shape[1]} samples of {data.name}", path=labels)
    return Recording(name=name, subject=subject, group=group, rows=rows, signals=sig, bpm=bpm, path=str(data))


def recording_files(root: str | Path, group: str) -> list[tuple[str, str, Path, Path, tuple[str, ...]]]:
    """``(name, subject, data file, label file, rows)`` of every recording of ``group`` (train, extra or test)."""
    root = Path(root)
    if group not in GROUPS:
        raise InputError(f"unknown recording group {group!r}; groups are {list(GROUPS)}")
    if group == "train":
        named = ((p, re.fullmatch(r"DATA_(\d+)_TYPE\d+\.mat", p.name)) for p in (root / "Training_data").glob("DATA_*.mat"))
        found = sorted((p, m.group(1)) for p, m in named if m)
        out = [(p.stem, f"train_{number}", p, p.with_name(f"{p.stem}_BPMtrace.mat"), TRAIN_ROWS) for p, number in found]
    elif group == "extra":
        found = sorted((root / "Extra_TrainingData").glob("DATA_S*_T*.mat"))
        out = [(p.stem, f"test_{p.stem.split('_')[1]}", p, p.with_name(p.name.replace("DATA_", "BPM_", 1)), TRAIN_ROWS) for p in found]
    else:
        found = sorted((root / "TestData").glob("TEST_S*_T*.mat"))
        out = [(p.stem, f"test_{p.stem.split('_')[1]}", p, root / "TrueBPM" / p.name.replace("TEST_", "True_", 1), TEST_ROWS) for p in found]
    if not found:
        raise InputError(f"no {group} recordings found (see the README of the SP Cup 2015 data for the layout)", path=root)
    return out


def load_recordings(root: str | Path, groups: tuple[str, ...] | list[str] = ("train",), *, window: int = 1000, step: int = 250) -> list[Recording]:
    """Every recording of ``groups`` under ``root``, in file-name order."""
    return [
        read_recording(data, labels, name=name, subject=subject, group=group, rows=rows, window=window, step=step)
        for group in groups
        for name, subject, data, labels, rows in recording_files(root, group)
    ]
