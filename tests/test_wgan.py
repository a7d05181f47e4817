"""Conditional WGAN-GP: the gradient-penalty term, conditional generation, and quality control files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from biotune.imbalance.quality import nearest_cosine, two_sample_accuracy, write_quality_report
from biotune.imbalance.wgan import WGANConfig, gradient_penalty, wgan_oversample
from test_smote import blobs


class LinearCritic(torch.nn.Module):
    """f(x, c) = w·x: its gradient is w everywhere, so GP = λ (‖w‖ - 1)² exactly."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.as_tensor(w, dtype=torch.float64))

    def forward(self, x, cond):
        return x @ self.w


@pytest.mark.parametrize("w", [[3.0, 4.0], [0.6, 0.8], [0.1, -0.2, 0.05]])
def test_gradient_penalty_of_a_linear_critic_is_exact(w):
    critic = LinearCritic(w)
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(64, len(w), dtype=torch.float64, generator=gen)
    fake = torch.randn(64, len(w), dtype=torch.float64, generator=gen) + 5
    gp = gradient_penalty(critic, real, fake, torch.zeros(64, 1), gp_lambda=10.0, generator=gen)
    assert gp.item() == pytest.approx(10.0 * (np.linalg.norm(w) - 1) ** 2, rel=1e-9, abs=1e-12)
    gp.backward()  # differentiable w.r.t. the critic (create_graph=True)
    expected = 10.0 * 2 * (np.linalg.norm(w) - 1) * np.asarray(w) / np.linalg.norm(w)
    np.testing.assert_allclose(critic.w.grad.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_conditional_wgan_generates_rare_classes_near_their_training_class(tmp_path):
    X, y = blobs([300, 40, 15], dim=8, seed=0, spread=0.3)
    cfg = WGANConfig(latent_dim=8, hidden=64, steps=300, n_critic=3, batch_size=64, lr=1e-3)
    X_new, y_new, model = wgan_oversample(X, y, target=0.5, config=cfg, seed=0)
    assert X_new.shape == ((150 - 40) + (10 * 15 - 15), 8) and sorted(set(y_new.tolist())) == [1, 2]
    assert model.seen_rows.max() < len(X) and len(model.seen_rows) > 0.9 * len(X)
    means = np.stack([X[y == c].mean(axis=0) for c in range(3)])
    nearest_mean = np.linalg.norm(X_new[:, None, :] - means[None], axis=2).argmin(axis=1)
    assert (nearest_mean == y_new).mean() > 0.9  # the label condition is honoured
    real_class = np.array(["a", "b", "c"])[y]
    report = write_quality_report(tmp_path / "wgan_quality", X, real_class, X_new, np.array(["a", "b", "c"])[y_new], seed=0)
    saved = json.loads((tmp_path / "wgan_quality.json").read_text())
    assert (tmp_path / "wgan_quality.png").stat().st_size > 5000
    assert saved["n_generated"] == len(X_new) and set(saved["per_class"]) == {"b", "c"}
    assert 0.0 <= report["two_sample_accuracy"] <= 1.0


def test_quality_statistics_detect_copies_and_shifted_points():
    X, _ = blobs([400], dim=8, seed=5)
    other, _ = blobs([400], dim=8, seed=5)
    assert two_sample_accuracy(X[:200], other[200:]) < 0.65  # same distribution
    assert two_sample_accuracy(X[:200], X[200:] + 3.0) > 0.95  # shifted
    np.testing.assert_allclose(nearest_cosine(X[:50], X), 1.0, atol=1e-6)  # copies
    assert nearest_cosine(X[:50], X, exclude_self=False).min() == pytest.approx(1.0)


@pytest.mark.parametrize("oversample", ["smote", "wgan"])
def test_embedding_head_generates_from_training_records_only(oversample, tiny_esm_dir, tmp_path):
    from test_smote import toy_records, toy_tasks

    from biotune.methods.base import load_method
    from biotune.methods.embedding_head import EmbeddingHead

    train, valid, test = toy_records(seed=0, prefix="t"), toy_records((20, 6, 4), seed=1, prefix="v"), toy_records((10, 3, 2), seed=2, prefix="x")
    method = EmbeddingHead(
        backbone=str(tiny_esm_dir), random_init=False, epochs=3, oversample=oversample, oversample_target=0.5,
        wgan={"steps": 30, "hidden": 32}, quality_dir=str(tmp_path / "qc"), calibration="platt",
    ).fit(train, valid, toy_tasks())  # fmt: skip
    held_out = {r.id for r in valid} | {r.id for r in test}
    for task in ("is_arg", "mechanism", "drug_class"):
        labelled = {r.id for r in train if r.label(task) is not None}
        seen = set(method.generation_fit_ids[task])
        assert seen <= labelled and not seen & held_out
        assert seen == labelled if oversample == "smote" else len(seen) > 0.8 * len(labelled)
        (qc,) = (tmp_path / "qc").glob(f"train-*_seed0/{task}_{oversample}.json")
        report = json.loads(qc.read_text())
        assert report["n_real"] == len(labelled) and report["n_generated"] > 0
        assert qc.with_suffix(".png").exists()
    assert set(method.quality["mechanism"]["per_class"]) == {"efflux", "target_alteration"}
    pred = method.predict(test)
    assert pred.scores["mechanism"].shape == (len(test), 3) and pred.scores["drug_class"].shape == (len(test), 3)
    np.testing.assert_allclose(pred.scores["mechanism"].sum(axis=1), 1.0, atol=1e-6)
    again = load_method(method.save(tmp_path / "saved")).predict(test)
    for task, s in pred.scores.items():
        np.testing.assert_allclose(again.scores[task], s)


def test_embedding_head_rejects_unknown_options(tiny_esm_dir):
    from test_smote import toy_records, toy_tasks

    from biotune.methods.embedding_head import EmbeddingHead

    with pytest.raises(ValueError, match="oversample='adasyn'"):
        EmbeddingHead(backbone=str(tiny_esm_dir), random_init=False, oversample="adasyn").fit(toy_records(), None, toy_tasks())
