"""The classic spectral heart-rate baseline: a yardstick for learned PPG models.

Per window: the periodogram of each PPG channel (Hann taper, zero-padded), normalised to its own
maximum and summed; the accelerometer periodograms summed. The candidates are the local peaks of
the PPG spectrum; a candidate within ``suppress_bpm`` of an accelerometer peak (at least
``acc_peak_rel`` of the in-band accelerometer maximum) is attenuated, because wrist motion at the
cadence and its harmonics dominates PPG spectra while running. The estimate is the best candidate
in the band for the first window of a recording and, after that, the best within ``track_bpm`` of
the previous estimate (heart rate changes slowly between windows 2 s apart; no candidate there
keeps the previous estimate). Settings are ``configs/ppg/spectral.yaml``; ``fit`` only chooses
among its ``grid`` on the training windows.
This is the scheme TROIKA and JOSS refine (sparse spectra, spectral peak tracking).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from biotune.errors import InputError
from biotune.recipes.ppg.windows import Windows


#: Settings ``fit`` may search: they change the decision, not the spectra.
GRID_PARAMS = ("acc_peak_rel", "suppress_bpm", "suppress_gain", "track_bpm", "decode", "step_cost")

DECODERS = ("greedy", "viterbi")


def grid_combinations(grid: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
    """Every combination of the grid's values, in the order given (empty grid: none)."""
    if not grid:
        return []
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(list(grid[k]) for k in keys))]


def periodogram(x: np.ndarray, fs: float, nfft: int) -> tuple[np.ndarray, np.ndarray]:
    """``(frequencies in BPM, power)`` of ``x`` along its last axis: mean removed, Hann taper, zero-padded to ``nfft``."""
    taper = np.hanning(x.shape[-1])
    power = np.abs(np.fft.rfft((x - x.mean(axis=-1, keepdims=True)) * taper, n=nfft, axis=-1)) ** 2
    return np.fft.rfftfreq(nfft, 1 / fs) * 60.0, power


def local_peaks(power: np.ndarray) -> np.ndarray:
    """Indices of strict local maxima of a 1-D spectrum (plateaus count once, at their left edge)."""
    inner = (power[1:-1] > power[:-2]) & (power[1:-1] >= power[2:])
    return np.flatnonzero(inner) + 1


def motion_peaks(freqs: np.ndarray, acc_power: np.ndarray, band: tuple[float, float], rel: float) -> np.ndarray:
    """Frequencies (BPM) of accelerometer peaks in ``band`` with at least ``rel`` of the in-band maximum."""
    in_band = (freqs >= band[0]) & (freqs <= band[1])
    top = acc_power[in_band].max() if in_band.any() else 0.0
    if top <= 0:
        return np.zeros(0)
    peaks = local_peaks(acc_power)
    keep = peaks[in_band[peaks] & (acc_power[peaks] >= rel * top)]
    return freqs[keep]


def candidate_peaks(freqs: np.ndarray, power: np.ndarray, motion: np.ndarray, width: float, gain: float) -> tuple[np.ndarray, np.ndarray]:
    """``(frequency, score)`` of every local peak of a PPG spectrum; a peak within ``width`` BPM of a motion
    peak has its score multiplied by ``gain``. Working on peaks, not bins, drops a motion peak whole:
    the shoulders of its main lobe (±15 BPM for an 8 s Hann window) are no candidates."""
    peaks = local_peaks(power)
    score = power[peaks]
    if len(motion):
        near = (np.abs(freqs[peaks][:, None] - motion[None, :]) <= width).any(axis=1)
        score = np.where(near, score * gain, score)
    return freqs[peaks], score


def pick_peak(peak_freqs: np.ndarray, scores: np.ndarray, lo: float, hi: float) -> float:
    """Frequency (BPM) of the best-scoring peak in ``[lo, hi]``; ``nan`` when the range holds none."""
    inside = np.flatnonzero((peak_freqs >= lo) & (peak_freqs <= hi))
    return float(peak_freqs[inside[np.argmax(scores[inside])]]) if len(inside) else float("nan")


def viterbi_path(grid: np.ndarray, log_emission: np.ndarray, max_step: float, step_cost: float) -> np.ndarray:
    """Grid indices of the path through ``log_emission`` ``(windows, len(grid))`` with the highest total
    log-emission minus ``step_cost`` per BPM of change, never moving more than ``max_step`` BPM a window."""
    dist = np.abs(grid[:, None] - grid[None, :])
    transition = np.where(dist <= max_step, -step_cost * dist, -np.inf)
    score = log_emission[0].copy()
    back = np.zeros(log_emission.shape, dtype=np.int64)
    for t in range(1, len(log_emission)):
        through = score[:, None] + transition
        back[t] = through.argmax(axis=0)
        score = through[back[t], np.arange(len(grid))] + log_emission[t]
    path = np.empty(len(log_emission), dtype=np.int64)
    path[-1] = score.argmax()
    for t in range(len(log_emission) - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


@dataclass
class SpectralHeartRate:
    """Heart rate (BPM) per window from the PPG spectrum; see the module docstring for the method.

    Nothing is learned but the choice among the ``grid`` settings (:meth:`fit`, on training windows),
    so under leave-subject-out folds every subject is scored by settings chosen without it.
    """

    fs: float = 125.0
    band_bpm: tuple[float, float] = (40.0, 200.0)
    nfft: int = 8192
    acc_peak_rel: float = 0.3
    suppress_bpm: float = 3.0
    suppress_gain: float = 0.1
    track_bpm: float = 15.0
    decode: str = "viterbi"
    step_cost: float = 0.1
    floor: float = 0.01
    ppg_channels: Sequence[str] = ("ppg1", "ppg2")
    acc_channels: Sequence[str] = ("acc_x", "acc_y", "acc_z")
    grid: Mapping[str, Sequence[float]] | None = None
    selected: dict[str, float] = field(default_factory=dict, init=False)
    grid_scores: dict[tuple, float] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], fs: float) -> SpectralHeartRate:
        """From ``configs/ppg/spectral.yaml`` and the data's sampling rate."""
        params = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        return cls(fs=float(fs), **{k: (tuple(v) if isinstance(v, list) else v) for k, v in params.items()})

    def fit(self, train: Windows, valid: Windows | None = None) -> SpectralHeartRate:
        """Check the settings; with a ``grid``, keep the combination with the lowest MAE on ``train``.

        Selection sees the training windows only, so under leave-subject-out folds the test
        subject never shapes the settings that score it. ``valid`` is unused (nothing is trained).
        """
        self._check(train)
        lo, hi = self.band_bpm
        if not 0 < lo < hi <= self.fs * 30:
            raise InputError(f"band_bpm {self.band_bpm} must be increasing and below Nyquist ({self.fs * 30:g} BPM)")
        if self.decode not in DECODERS or any(d not in DECODERS for d in (self.grid or {}).get("decode", ())):
            raise InputError(f"spectral decode must be one of {list(DECODERS)}")
        unknown = sorted(set(self.grid or {}) - set(GRID_PARAMS))
        if unknown:
            raise InputError(f"spectral grid: {unknown} cannot be searched; searchable settings are {list(GRID_PARAMS)}")
        self.grid_scores = {}
        for combo in grid_combinations(self.grid or {}):
            for k, v in combo.items():
                setattr(self, k, v)
            self.grid_scores[tuple(sorted(combo.items()))] = float(np.mean(np.abs(self.predict(train) - train.bpm)))
        if self.grid_scores:
            self.selected = dict(min(self.grid_scores, key=self.grid_scores.get))
            for k, v in self.selected.items():
                setattr(self, k, v)
        return self

    def _check(self, windows: Windows) -> None:
        missing = [c for c in (*self.ppg_channels, *self.acc_channels) if c not in windows.channels]
        if missing:
            raise InputError(f"spectral baseline needs channels {missing}; the windows have {list(windows.channels)}")

    def window_spectra(self, windows: Windows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(freqs, PPG spectrum, accelerometer spectrum)`` per window; PPG channels normalised then summed."""
        ppg = windows.x[:, [windows.channels.index(c) for c in self.ppg_channels]]
        acc = windows.x[:, [windows.channels.index(c) for c in self.acc_channels]]
        freqs, p_ppg = periodogram(ppg.astype(float), self.fs, self.nfft)
        _, p_acc = periodogram(acc.astype(float), self.fs, self.nfft)
        peak = p_ppg.max(axis=-1, keepdims=True)
        p_ppg = np.divide(p_ppg, peak, out=np.zeros_like(p_ppg), where=peak > 0)
        return freqs, p_ppg.sum(axis=1), p_acc.sum(axis=1)

    def candidates(self, freqs: np.ndarray, ppg: np.ndarray, acc: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per window, ``(frequency, score)`` of its PPG peaks in the band, motion peaks attenuated."""
        lo, hi = self.band_bpm
        out = []
        for p, a in zip(ppg, acc):
            f, score = candidate_peaks(freqs, p, motion_peaks(freqs, a, self.band_bpm, self.acc_peak_rel), self.suppress_bpm, self.suppress_gain)
            keep = (f >= lo) & (f <= hi)
            out.append((f[keep], score[keep]))
        return out

    def track(self, freqs: np.ndarray, ppg: np.ndarray, acc: np.ndarray) -> np.ndarray:
        """Estimates for the consecutive windows of one recording (spectra ``(n, bins)`` in time order)."""
        peaks = self.candidates(freqs, ppg, acc)
        if self.decode == "viterbi":
            return self._viterbi(freqs, peaks)
        lo, hi = self.band_bpm
        out = np.empty(len(peaks))
        previous = float("nan")
        for i, (f, score) in enumerate(peaks):
            near = (lo, hi) if np.isnan(previous) else (previous - self.track_bpm, previous + self.track_bpm)
            estimate = pick_peak(f, score, *near)
            previous = out[i] = previous if np.isnan(estimate) else estimate
        return out

    def _viterbi(self, freqs: np.ndarray, peaks: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Whole-recording decoding: peaks (scores relative to the window's best) as emissions, ``floor`` elsewhere."""
        lo, hi = self.band_bpm
        grid = freqs[(freqs >= lo) & (freqs <= hi)]
        emission = np.full((len(peaks), len(grid)), self.floor)
        for i, (f, score) in enumerate(peaks):
            if len(f) and score.max() > 0:
                emission[i, np.searchsorted(grid, f)] = np.maximum(score / score.max(), self.floor)
        return grid[viterbi_path(grid, np.log(emission), self.track_bpm, self.step_cost)]

    def predict(self, windows: Windows) -> np.ndarray:
        """Heart rate (BPM) per window, in the order given; tracking runs per recording in window order."""
        self._check(windows)
        out = np.empty(len(windows))
        for name in dict.fromkeys(windows.recording.tolist()):
            rows = np.flatnonzero(windows.recording == name)
            rows = rows[np.argsort(windows.index[rows], kind="stable")]
            out[rows] = self.track(*self.window_spectra(windows.take(rows)))
        return out
