"""PPG recipe data: windows aligned to BPM0, leave-subject-out folds, training-only normalisation, bad files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from biotune.errors import InputError
from biotune.recipes.ppg import recipe_config
from biotune.recipes.ppg.importers import TRAIN_ROWS, Recording, load_recordings, read_recording
from biotune.recipes.ppg.windows import ChannelScaler, bandpass, fold_windows, make_windows, recording_windows, subject_folds

REPO = Path(__file__).resolve().parents[1]
PPG_DATA = Path(os.environ.get("BIOTUNE_PPG_DATA", REPO.parent / "shared" / "data" / "ppg_spc2015"))
real = pytest.mark.skipif(not (PPG_DATA / "README.md").exists(), reason=f"PPG data not found at {PPG_DATA} (set BIOTUNE_PPG_DATA)")


@pytest.fixture(scope="module")
def cfg():
    return recipe_config(overrides=[f"root={PPG_DATA}"])


@pytest.fixture(scope="module")
def recordings(cfg):
    return load_recordings(cfg.root, ("train", "extra", "test"), window=cfg.window, step=cfg.step)


@real
def test_data_01_windows_match_bpm0(recordings, cfg):
    rec = next(r for r in recordings if r.name == "DATA_01_TYPE01")
    assert rec.signals.shape == (6, 37937) and len(rec.bpm) == 148
    w = recording_windows(rec, cfg.channels, cfg.window, cfg.step, None, cfg.fs)
    assert w.x.shape == (148, 5, 1000)
    np.testing.assert_array_equal(w.x[3, 0], rec.signals[1, 750:1750].astype(np.float32))  # window 3 = PPG1 samples [750, 1750)
    np.testing.assert_array_equal(w.bpm, rec.bpm)


@real
def test_subjects_and_groups(recordings):
    subjects = {r.name: r.subject for r in recordings}
    assert len([r for r in recordings if r.group == "train"]) == 12
    assert {subjects[f"DATA_{i:02d}_TYPE0{1 if i == 1 else 2}"] for i in range(1, 13)} == {f"train_{i:02d}" for i in range(1, 13)}
    assert subjects["DATA_S04_T01"] == subjects["TEST_S04_T02"] == "test_S04"  # the extra recording is test subject S04
    assert subjects["TEST_S02_T01"] == subjects["TEST_S02_T02"]
    test = [r for r in recordings if r.group == "test"]
    assert all("ecg" not in r.rows for r in test) and next(r for r in test if r.name == "TEST_S01_T01").bpm.shape == (142,)


@real
def test_leave_subject_out_folds_keep_subjects_apart(recordings, cfg):
    w = make_windows(recordings, cfg)
    folds = subject_folds(w.subject, cfg.valid_offset)
    assert len(folds) == 12 + 8
    tested = []
    for train, valid, test in folds:
        sides = [set(w.subject[i]) for i in (train, valid, test)]
        assert len(sides[2]) == 1 and len(sides[1]) == 1
        assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
        assert len(train) + len(valid) + len(test) == len(w)
        tested.extend(test)
    assert sorted(tested) == list(range(len(w)))  # every window is tested exactly once
    assert set(w.recording[folds[[sorted(set(w.subject)).index("test_S04")][0]][2]]) == {"DATA_S04_T01", "TEST_S04_T02"}


@real
def test_fold_normalisation_is_fitted_on_training_subjects(recordings, cfg):
    w = make_windows([r for r in recordings if r.group == "train"], cfg)
    rows = subject_folds(w.subject, cfg.valid_offset)[0]
    train, valid, test, scaler = fold_windows(w, rows, cfg.normalise)
    assert set(test.subject) == {"train_01"} and set(valid.subject) == {"train_02"} and len(train) == len(w) - len(valid) - len(test)
    np.testing.assert_allclose(scaler.mean, w.x[rows[0]].mean(axis=(0, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(train.x.std(axis=(0, 2)), 1, atol=1e-3)
    assert not np.allclose(test.x.std(axis=(0, 2)), 1, atol=1e-3)  # the held-out subject's own statistics were not used


def test_scaler_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train, test = rng.normal(5, 2, (20, 3, 100)), rng.normal(50, 9, (4, 3, 100))
    scaler = ChannelScaler().fit(train)
    z = scaler.transform(train)
    np.testing.assert_allclose(z.mean(axis=(0, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2)), 1, atol=1e-4)
    assert scaler.transform(test).mean() > 10  # test data shifted away stays shifted: no refit on it


def test_bandpass_keeps_heart_band_and_drops_drift():
    fs, t = 125, np.arange(4000) / 125
    heart, drift = np.sin(2 * np.pi * 2.0 * t), 3 * np.sin(2 * np.pi * 0.05 * t)
    out = bandpass(heart + drift, fs, 0.4, 4.0, 4)
    mid = slice(500, -500)
    assert np.abs(out[mid] - heart[mid]).max() < 0.05


def _write(tmp_path: Path, sig, bpm, name="DATA_01_TYPE01") -> tuple[Path, Path]:
    data, labels = tmp_path / f"{name}.mat", tmp_path / f"{name}_BPMtrace.mat"
    if sig is not None:
        savemat(data, {"sig": sig})
    if bpm is not None:
        savemat(labels, {"BPM0": bpm})
    return data, labels


def _read(data, labels):
    return read_recording(data, labels, name="x", subject="s", group="train", rows=TRAIN_ROWS, window=1000, step=250)


@pytest.mark.parametrize(
    ("sig", "bpm", "message"),
    [
        (np.zeros((5, 2000)), np.full((5, 1), 80.0), r"DATA_01_TYPE01\.mat: 'sig' has shape \(5, 2000\), expected \(6, samples\)"),
        (np.zeros((6, 2000)), np.full((9, 1), 80.0), r"_BPMtrace\.mat: 9 BPM labels but only 5 windows"),
        (np.zeros((6, 2000)), np.zeros((5, 1)), r"_BPMtrace\.mat: 'BPM0' holds non-positive"),
    ],
)
def test_bad_shapes_are_one_line_errors(tmp_path, sig, bpm, message):
    with pytest.raises(InputError, match=message) as err:
        _read(*_write(tmp_path, sig, bpm))
    assert "\n" not in str(err.value)


def test_missing_variable_and_unreadable_file(tmp_path):
    data, labels = _write(tmp_path, np.zeros((6, 2000)), None)
    savemat(labels, {"bpm": np.ones((5, 1))})
    with pytest.raises(InputError, match=r"_BPMtrace\.mat: no variable 'BPM0'"):
        _read(data, labels)
    data.write_bytes(b"not a mat file at all")
    with pytest.raises(InputError, match=r"DATA_01_TYPE01\.mat: not a readable MATLAB file"):
        _read(data, labels)
    with pytest.raises(InputError, match="no train recordings found"):
        load_recordings(tmp_path / "nowhere")


def test_missing_channel_is_named():
    rec = Recording("r", "s", "test", ("ppg1",), np.zeros((1, 1000)), np.ones(1), "r.mat")
    with pytest.raises(InputError, match=r"r\.mat: no channel \['acc_x'\]"):
        rec.channels(("ppg1", "acc_x"))
