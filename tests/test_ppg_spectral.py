"""The spectral heart-rate baseline on synthetic windows: it finds the heart, not the motion, and tracks it."""

from __future__ import annotations

import numpy as np
import pytest

from biotune.errors import InputError
from biotune.recipes.ppg import recipe_config
from biotune.recipes.ppg.spectral import SpectralHeartRate, grid_combinations, motion_peaks, periodogram
from biotune.recipes.ppg.windows import Windows

FS, WINDOW, STEP = 125, 1000, 250
CHANNELS = ("ppg1", "ppg2", "acc_x", "acc_y", "acc_z")


def synthetic(heart_bpm: np.ndarray, motion_bpm: float, motion_gain: float = 3.0, seed: int = 0, name: str = "synth") -> Windows:
    """Windows of a recording whose PPG is a heart sinusoid plus a stronger motion artefact the accelerometer sees.

    ``heart_bpm`` is the heart rate per window; the signal's phase is continuous across windows.
    """
    rng = np.random.default_rng(seed)
    n = len(heart_bpm)
    samples = (n - 1) * STEP + WINDOW
    per_sample = np.interp(np.arange(samples), np.arange(n) * STEP + WINDOW / 2, heart_bpm)
    heart = np.sin(2 * np.pi * np.cumsum(per_sample / 60) / FS)
    motion = np.sin(2 * np.pi * motion_bpm / 60 * np.arange(samples) / FS)
    noise = lambda: 0.2 * rng.standard_normal(samples)  # noqa: E731
    sig = np.stack([heart + motion_gain * motion + noise(), heart + motion_gain * motion + noise(), motion + noise(), 0.5 * motion + noise(), noise()])
    x = np.stack([sig[:, i * STEP : i * STEP + WINDOW] for i in range(n)]).astype(np.float32)
    return Windows(x, np.asarray(heart_bpm, float), np.full(n, "s"), np.full(n, name), np.arange(n), CHANNELS)


def baseline(**params) -> SpectralHeartRate:
    settings = {k: v for k, v in recipe_config("spectral").items() if k != "grid"} | params
    return SpectralHeartRate.from_config(settings, FS)


def test_finds_the_heart_not_the_motion():
    w = synthetic(np.full(10, 90.0), motion_bpm=150.0)
    freqs, power = periodogram(w.x[0, 0].astype(float), FS, 8192)
    band = (freqs >= 40) & (freqs <= 200)
    assert abs(freqs[band][power[band].argmax()] - 150) < 1.5  # the raw PPG peak is the motion
    np.testing.assert_allclose(baseline().fit(w).predict(w), 90.0, atol=1.5)
    no_suppression = baseline(suppress_gain=1.0).predict(w)
    assert np.all(np.abs(no_suppression - 150) < 1.5)  # the accelerometer is what rescues it


def test_motion_peaks_found_on_the_accelerometer():
    w = synthetic(np.full(2, 90.0), motion_bpm=150.0)
    freqs, power = periodogram(w.x[0, 2:].astype(float), FS, 8192)
    assert np.allclose(motion_peaks(freqs, power.sum(axis=0), (40, 200), 0.3), 150, atol=1.5)


def test_tracks_a_rising_heart_rate_past_a_distractor():
    heart = np.linspace(80, 120, 30)
    w = synthetic(heart, motion_bpm=150.0, seed=1)
    w.x[:, :2] += 2.5 * np.sin(2 * np.pi * 60 / 60 * np.arange(WINDOW) / FS).astype(np.float32)  # a non-motion distractor at 60 BPM
    first = baseline(decode="greedy").predict(w.take(np.arange(1)))
    assert abs(first[0] - 60) < 1.5  # alone, the first window locks onto the strongest peak
    started_right = baseline(decode="greedy", band_bpm=(70, 200)).predict(w)  # start from the heart: tracking then ignores the distractor
    np.testing.assert_allclose(started_right, heart, atol=2.5)


def test_viterbi_recovers_from_a_misleading_start_where_greedy_cannot():
    heart = np.linspace(85, 110, 30)
    w = synthetic(heart, motion_bpm=150.0, seed=3)
    w.x[:3, :2] += 3 * np.sin(2 * np.pi * 55 / 60 * np.arange(WINDOW) / FS).astype(np.float32)  # a strong transient at 55 BPM
    greedy = baseline(decode="greedy").predict(w)
    assert abs(greedy[0] - 55) < 1.5 and np.abs(greedy[3:] - heart[3:]).mean() > 10  # locked out of reach of the heart
    viterbi = baseline(decode="viterbi").predict(w)
    assert np.abs(viterbi - heart).mean() < 2.0


def test_prediction_order_and_recordings_are_independent():
    a, b = synthetic(np.full(8, 75.0), 140.0, name="a"), synthetic(np.full(8, 110.0), 160.0, seed=2, name="b")
    both = Windows(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in ("x", "bpm", "subject", "recording", "index")), CHANNELS)
    shuffled = np.random.default_rng(0).permutation(len(both))
    m = baseline()
    np.testing.assert_allclose(m.predict(both.take(shuffled)), m.predict(both)[shuffled])
    np.testing.assert_allclose(m.predict(both), both.bpm, atol=1.5)


def test_grid_selects_on_training_windows():
    w = synthetic(np.full(10, 90.0), motion_bpm=150.0)
    m = baseline(grid={"suppress_gain": [1.0, 0.1]}).fit(w)
    assert m.selected == {"suppress_gain": 0.1} and m.suppress_gain == 0.1
    assert len(grid_combinations({"a": [1, 2], "b": [3, 4, 5]})) == 6


def test_bad_settings_and_channels_are_input_errors():
    w = synthetic(np.full(2, 90.0), motion_bpm=150.0)
    with pytest.raises(InputError, match="needs channels \\['ppg3'\\]"):
        baseline(ppg_channels=("ppg3",)).fit(w)
    with pytest.raises(InputError, match="cannot be searched"):
        baseline(grid={"nfft": [1024]}).fit(w)
    with pytest.raises(InputError, match="decode must be one of"):
        baseline(decode="smooth").fit(w)
    with pytest.raises(InputError, match="below Nyquist"):
        baseline(band_bpm=(40, 5000)).fit(w)


def test_out_of_fold_never_fits_on_the_held_out_subject():
    from biotune.recipes.ppg.windows import out_of_fold

    parts = [synthetic(np.full(6, bpm), 150.0, seed=i, name=f"r{i}") for i, bpm in enumerate((70.0, 90.0, 110.0))]
    w = Windows(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("x", "bpm", "subject", "recording", "index")), CHANNELS)
    w = Windows(w.x, w.bpm, np.repeat(["s0", "s1", "s2"], 6), w.recording, w.index, CHANNELS)
    seen = []

    def fit_predict(train, valid, test):
        seen.append((set(train.subject), set(test.subject)))
        assert len(valid) == 0
        return baseline().fit(train).predict(test)

    pred, held_out = out_of_fold(w, fit_predict)
    assert held_out == ["s0", "s1", "s2"] and all(not (tr & te) for tr, te in seen)
    np.testing.assert_allclose(pred, w.bpm, atol=1.5)


def test_benchmark_script_reports_bad_data_in_one_line(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo / "src"), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(repo / "benchmarks" / "ppg_spectral_baseline.py"), "--root", str(tmp_path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {tmp_path}: no train recordings found (see the README of the SP Cup 2015 data for the layout)"
