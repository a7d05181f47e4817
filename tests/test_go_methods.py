"""GO methods (naive, DiamondScore with real DIAMOND runs) and a hierarchical benchmark reporting CAFA metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from biotune.data.dataset import Dataset
from biotune.data.records import Record
from biotune.evaluate.runner import run_benchmark
from biotune.homology.diamond import blastp
from biotune.methods.base import get_method
from biotune.methods.diamond_score import DiamondScore
from biotune.methods.go_naive import GoNaive
from biotune.tasks import TaskSpec

# a; b and c children of a; d child of b
TASK = TaskSpec("go", "multilabel", ("a", "b", "c", "d"), ((), ("a",), ("a",), ("b",)))
LETTERS = np.array(list("ACDEFGHIKLMNPQRSTVWY"))


def random_protein(rng, length=120) -> str:
    return "M" + "".join(rng.choice(LETTERS, length))


def mutant(rng, sequence: str, rate=0.1) -> str:
    s = np.array(list(sequence))
    flip = rng.random(len(s)) < rate
    s[flip] = rng.choice(LETTERS, flip.sum())
    return "".join(s)


def test_go_naive_scores_training_frequencies_and_round_trips(tmp_path):
    train = [Record("r1", "MKV", {"go": ["a", "b"]}), Record("r2", "MKV", {"go": ["a", "c"]}), Record("r3", "MKV", {"go": ["a", "b", "d"]}),
             Record("r4", "MKV", {"go": None})]
    naive = GoNaive().fit(train, None, [TASK])
    pred = naive.predict([Record("q1", "MAAA"), Record("q2", "MCCC")])
    assert pred.scores["go"] == pytest.approx(np.array([[1, 2 / 3, 1 / 3, 1 / 3]] * 2))
    assert get_method("go_naive") is GoNaive
    loaded = GoNaive.load(naive.save(tmp_path / "naive"))
    assert loaded.predict([Record("q", "M")]).scores["go"] == pytest.approx(pred.scores["go"][:1])
    with pytest.raises(ValueError, match="binary and multi-label"):
        GoNaive().fit(train, None, [TaskSpec("y", "regression")])


def test_diamond_score_is_the_bitscore_share_of_the_hits_carrying_a_term(tmp_path):
    rng = np.random.default_rng(1)
    fam_a, fam_b, lonely = random_protein(rng), random_protein(rng), random_protein(rng)
    train = [Record("A", fam_a, {"go": ["a", "b", "d"]}), Record("B", fam_b, {"go": ["a", "c"]})]
    chimera = mutant(rng, fam_a[:100]) + mutant(rng, fam_b[30:])  # hits both references, with different bitscores
    queries = [Record("q_chimera", chimera), Record("q_none", lonely[::-1])]
    method = DiamondScore(threads=1).fit(train, None, [TASK])
    pred = method.predict(queries)
    hits = blastp({"q": chimera}, {r.id: r.sequence for r in train}, threads=1).drop_duplicates("sseqid").set_index("sseqid")["bitscore"]
    ba, bb = float(hits["A"]), float(hits["B"])
    assert ba != bb
    expected = [1.0, ba / (ba + bb), bb / (ba + bb), ba / (ba + bb)]
    assert pred.scores["go"][0] == pytest.approx(expected, rel=1e-6)
    assert pred.status == ["ok", "no_hit"] and (pred.scores["go"][1] == 0).all()
    loaded = DiamondScore.load(method.save(tmp_path / "ds"))
    assert loaded.predict(queries[:1]).scores["go"] == pytest.approx(pred.scores["go"][:1])


def test_diamond_score_makes_scores_consistent_with_the_hierarchy():
    rng = np.random.default_rng(2)
    seq = random_protein(rng)
    # a reference labelled with d but not its ancestors: consistency still puts b and a at least as high as d
    method = DiamondScore(threads=1).fit([Record("R", seq, {"go": ["d"]})], None, [TASK])
    scores = method.predict([Record("q", mutant(rng, seq))]).scores["go"][0]
    assert scores == pytest.approx([1.0, 1.0, 0.0, 1.0])


def go_toy_dataset(n_members=6) -> Dataset:
    """Five protein families, one GO label set each, whose members are spread over the 5 folds (so every test
    protein has labelled homologs in training)."""
    rng = np.random.default_rng(0)
    label_sets = [["a", "b"], ["a", "c"], ["a", "b", "d"], ["a"], ["a", "c"]]
    rows = []
    for f, labels in enumerate(label_sets):
        base = random_protein(rng)
        for m in range(n_members):
            rows.append({"id": f"f{f}m{m}", "sequence": mutant(rng, base, 0.15), "go_terms": ";".join(labels), "cluster": f"f{f}m{m}", "fold": m % 5})
    return Dataset(pd.DataFrame(rows), [TASK], {"go": "go_terms"}, {"name": "go_toy", "version": "1", "n_folds": 5})


def test_benchmark_of_a_hierarchical_task_reports_cafa_metrics(tmp_path):
    config = {"bootstrap": {"n": 50, "unit": "cluster", "level": 0.95, "seed": 0}}
    metrics = run_benchmark(go_toy_dataset(), ["go_naive", "diamond_score"], None, tmp_path, config=config, progress=False)
    assert metrics["headline"]["go"] == ["fmax", "coverage", "smin", "macro_aupr"]
    pooled = {m: metrics["pooled"][m]["tuned"]["all"]["go"] for m in ("go_naive", "diamond_score")}
    # every test protein has a homolog of its family in training, which DiamondScore finds; naive cannot tell b from c
    assert pooled["diamond_score"]["fmax"]["value"] == pytest.approx(1.0)
    assert pooled["diamond_score"]["smin"]["value"] == pytest.approx(0.0)
    assert pooled["go_naive"]["fmax"]["value"] < 0.9 and pooled["go_naive"]["smin"]["value"] > 0
    assert pooled["go_naive"]["coverage"]["value"] == pytest.approx(1.0)
    assert pooled["diamond_score"]["fmax"]["ci_low"] <= pooled["diamond_score"]["fmax"]["value"]
    sidecar = json.loads((tmp_path / "predictions" / "go_naive" / "fold0_seed0.json").read_text())
    assert len(sidecar["information_content"]["go"]) == 4 and sidecar["information_content"]["go"][0] == 0.0
    run = metrics["runs"]["go_naive"][0]["tuned"]["go"]
    assert {"fmax", "smin", "macro_aupr", "coverage"} <= set(run)
    summary = (tmp_path / "summary.md").read_text()
    assert "fmax" in summary and "smin" in summary


def hierarchy_violations(out) -> int:
    """Test rows x (child, parent) pairs of every fold where a parent scores below its child."""
    count = 0
    for path in sorted((out / "predictions" / "kmer_lr").glob("fold*_seed0.tsv")):
        s = pd.read_csv(path, sep="\t")[[f"go:{c}" for c in TASK.classes]].to_numpy()
        count += sum(int((s[:, p] < s[:, c] - 1e-6).sum()) for c, parents in enumerate(TASK.parent_index()) for p in parents)
    return count


def test_the_runner_makes_any_methods_scores_consistent_with_the_hierarchy(tmp_path):
    """kmer_lr knows nothing of the hierarchy: the runner raises each term to the max over its descendants."""
    boot = {"bootstrap": {"n": 10, "unit": "record", "level": 0.95, "seed": 0}}
    for consistent in (False, True):
        run_benchmark(go_toy_dataset(), ["kmer_lr"], None, tmp_path / str(consistent), config=boot | {"hierarchy_consistent": consistent},
                      progress=False, render=False)
    assert hierarchy_violations(tmp_path / "False") > 0
    assert hierarchy_violations(tmp_path / "True") == 0


def test_go_blend_mixes_diamond_score_and_a_model_with_alpha_chosen_on_validation(tmp_path):
    from biotune.hierarchy import consistent_scores
    from biotune.methods.go_blend import GoBlend
    from biotune.methods.kmer_lr import KmerLogReg

    ds = go_toy_dataset()
    train_idx, valid_idx, test_idx = ds.fold_split(0)
    train, valid, test = ds.records(train_idx), ds.records(valid_idx), ds.records(test_idx)
    # an unrelated query: no DIAMOND hit, so only the model's share (1 - alpha) remains
    test = test + [Record("stranger", random_protein(np.random.default_rng(9)))]
    blend = GoBlend(diamond_params={"threads": 1}, alphas=[0.0, 0.3, 1.0]).fit(train, valid, [TASK])
    alpha = blend.fit_info()["alpha"]["go"]
    assert alpha in (0.0, 0.3, 1.0)
    expected = alpha * DiamondScore(threads=1).fit(train, None, [TASK]).predict(test).scores["go"]
    expected += (1 - alpha) * KmerLogReg().fit(train, None, [TASK]).predict(test).scores["go"]
    got = blend.predict(test).scores["go"]
    assert got == pytest.approx(consistent_scores(expected, TASK.parent_index()))
    loaded = GoBlend.load(blend.save(tmp_path / "blend"))
    assert loaded.predict(test).scores["go"] == pytest.approx(got)
