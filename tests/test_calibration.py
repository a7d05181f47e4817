"""Calibration lowers ECE on miscalibrated toys; ECE itself matches its definition."""

from __future__ import annotations

import numpy as np
import pytest

from biotune.evaluate.calibration import Calibrator, expected_calibration_error, plot_reliability, task_ece


def overconfident_binary(n, seed):
    """True P(y=1) = sigmoid(z); the model reports sigmoid(4 z) — far too sure of itself."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    return y, 1 / (1 + np.exp(-4 * z))


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_lowers_ece_on_held_out_binary_scores(method, tmp_path):
    y_val, p_val = overconfident_binary(3000, 0)
    y_test, p_test = overconfident_binary(3000, 1)
    cal = Calibrator(method, "binary").fit(y_val, p_val)
    before, after = expected_calibration_error(y_test, p_test), expected_calibration_error(y_test, cal.transform(p_test))
    assert before > 0.1 and after < 0.03 and after < before / 3
    png = plot_reliability({"raw": (y_test, p_test), method: (y_test, cal.transform(p_test))}, tmp_path / "rel.png")
    assert png.stat().st_size > 5000


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_multiclass_calibration_keeps_distributions_and_lowers_top_label_ece(method):
    rng = np.random.default_rng(2)
    n, k = 4000, 4
    logits = rng.normal(0, 1.5, (n, k))
    true_p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in true_p])
    sharp = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    cal = Calibrator(method, "multiclass").fit(y[:2000], sharp[:2000])
    out = cal.transform(sharp[2000:])
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-9)
    assert task_ece("multiclass", y[2000:], out) < task_ece("multiclass", y[2000:], sharp[2000:]) / 2


def test_ece_definition_and_degenerate_labels():
    # half the points at confidence 0.9 with 50 % positives, half at 0.1 with 50 % positives: ECE = 0.4
    y = np.array([1, 0] * 50 + [1, 0] * 50, dtype=float)
    p = np.array([0.9] * 100 + [0.1] * 100)
    assert expected_calibration_error(y, p) == pytest.approx(0.4)
    assert expected_calibration_error(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.0
    # a label with one value in validation is passed through unchanged
    cal = Calibrator("isotonic", "multilabel").fit(np.array([[1, 0], [1, 1], [1, 0]]), np.array([[0.2, 0.3], [0.4, 0.9], [0.6, 0.1]]))
    out = cal.transform(np.array([[0.33, 0.5]]))
    assert out[0, 0] == 0.33
    with pytest.raises(ValueError, match="unknown calibration"):
        Calibrator("temperature", "binary")
