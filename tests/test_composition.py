"""k-mer composition features and the embedding head on them (no model needed)."""

import json

import numpy as np
import pytest

from biotune.data.composition import kmer_composition, kmer_vocabulary


def test_composition_counts_each_k_over_the_sequences_kmers():
    x = kmer_composition(["ACAC", "AXA", "W"], 1, 2)
    vocab = kmer_vocabulary(1, 2)
    assert x.shape == (3, 420) and x.dtype == np.float32
    col = {k: i for i, k in enumerate(vocab)}
    assert x[0, col["A"]] == x[0, col["C"]] == 0.5
    assert x[0, col["AC"]] == pytest.approx(2 / 3) and x[0, col["CA"]] == pytest.approx(1 / 3)
    assert x[1, col["A"]] == pytest.approx(2 / 3) and x[1, 20:].sum() == 0  # X: not counted, still a k-mer position
    assert x[2, col["W"]] == 1.0 and x[2, 20:].sum() == 0  # shorter than k = 2
    assert kmer_composition(["acac"], 1, 2).tolist() == x[:1].tolist()


def test_composition_rejects_an_empty_k_range():
    with pytest.raises(ValueError, match="k_min"):
        kmer_composition(["ACD"], 3, 2)


def test_embedding_head_on_composition_learns_composition_defined_classes(tmp_path):
    from test_smote import toy_records, toy_tasks

    from biotune.methods.base import load_method
    from biotune.methods.embedding_head import EmbeddingHead

    train, valid, test = toy_records(seed=0, prefix="t"), toy_records((20, 6, 4), seed=1, prefix="v"), toy_records((30, 10, 10), seed=2, prefix="x")
    method = EmbeddingHead(backbone="kmer", kmer_max=1, epochs=40, oversample="smote", quality_dir=str(tmp_path / "qc")).fit(train, valid, toy_tasks())
    pred = method.predict(test)
    truth = [r.label("mechanism") for r in test if r.label("mechanism") is not None]
    rows = [i for i, r in enumerate(test) if r.label("mechanism") is not None]
    called = np.asarray(toy_tasks()[1].classes)[pred.scores["mechanism"][rows].argmax(axis=1)]
    assert (called == np.asarray(truth)).mean() > 0.9
    assert list((tmp_path / "qc").glob("train-*_seed0/mechanism_smote.json"))
    saved = method.save(tmp_path / "saved")
    assert json.loads((saved / "method.json").read_text())["random_backbone_weights"] is False  # no model, nothing random
    again = load_method(saved).predict(test)
    np.testing.assert_allclose(again.scores["mechanism"], pred.scores["mechanism"])
