"""Evidence fusion on a small fixture with real DIAMOND, pyhmmer and LightGBM: out-of-group evidence,
calibrated probabilities, evidence columns consistent with the call, save/load, the benchmark runner."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from biotune.data.dataset import Dataset
from biotune.data.records import Record
from biotune.evaluate.synthetic import ARG_TASKS, mutate, random_protein
from biotune.methods.base import get_method, load_method
from biotune.methods.fusion import mutation_references

pytestmark = pytest.mark.tools

ARG_CLASSES = [("beta_lactam", "inactivation"), ("tetracycline", "efflux"), ("aminoglycoside", "inactivation")]


def superfamily_dataset(seed: int = 0) -> Dataset:
    """Superfamilies of clusters: clusters share ~60 % identity within a superfamily (remote homologs
    across folds), members ~90 % within a cluster. ARG superfamilies carry one drug class each; one
    negative superfamily descends from an ARG ancestor (hard negatives), the others are unrelated."""
    rng = np.random.default_rng(seed)
    rows = []
    ancestors = {f"arg{i}": random_protein(int(rng.integers(180, 260)), rng) for i in range(len(ARG_CLASSES))}
    ancestors |= {f"neg{i}": random_protein(int(rng.integers(180, 260)), rng) for i in range(3)}
    ancestors["hard"] = mutate(ancestors["arg0"], 0.35, rng)
    for sf, ancestor in ancestors.items():
        for c in range(5):
            founder = mutate(ancestor, 0.62, rng)
            for m in range(4):
                is_arg = sf.startswith("arg")
                drug, mech = ARG_CLASSES[int(sf[3:])] if is_arg else ("", "")
                rows.append({
                    "id": f"{sf}_c{c}_{m}", "sequence": mutate(founder, 0.9, rng), "is_arg": str(int(is_arg)),
                    "drug_classes": drug, "mechanism": mech, "cluster": f"{sf}_c{c}", "fold": c,
                })
    table = pd.DataFrame(rows)
    columns = {"is_arg": "is_arg", "drug_class": "drug_classes", "mechanism": "mechanism"}
    return Dataset(table=table, tasks=list(ARG_TASKS), columns=columns, meta={"name": "superfamilies", "version": "0", "n_folds": 5})


FAST = {
    "bases": {"alignment": {"sensitivity": "more-sensitive"}, "hmm": {"min_members": 2, "cross_build": False}, "kmer_lr": {"k_max": 2}},
    "inner_folds": 3, "threads": 1, "stacker": {"n_estimators": 60, "min_child_samples": 5},
}


@pytest.fixture(scope="module")
def fitted():
    ds = superfamily_dataset()
    train_idx, valid_idx, test_idx = ds.fold_split(0)
    train, valid, test = ds.records(train_idx), ds.records(valid_idx), ds.records(test_idx)
    method = get_method("fusion")(**FAST).fit(train, valid, ds.tasks)
    return ds, method, train, valid, test


def test_inner_groups_hold_whole_clusters(fitted):
    _, method, train, _, _ = fitted
    records, weights = method.base_training_set(train)
    group = method.inner_groups(records)
    by_cluster: dict[str, set[int]] = {}
    for r, g in zip(records, group):
        by_cluster.setdefault(r.meta["cluster"], set()).add(int(g))
    assert all(len(g) == 1 for g in by_cluster.values())
    assert set(group.tolist()) == {0, 1, 2} and np.all(weights == 1.0)  # no nearest_arg_identity: every negative kept


def test_out_of_group_alignment_evidence_never_uses_its_own_group(fitted):
    _, _, train, _, _ = fitted
    method = get_method("alignment")(threads=1, sensitivity="more-sensitive")
    groups = np.array([hash(r.meta["cluster"]) % 3 for r in train])
    pred = method.fit_cross_predict(train, groups, ARG_TASKS)
    group_of = {r.id: g for r, g in zip(train, groups)}
    refs = pred.extra["arg_reference"]
    assert len(pred) == len(train) and (refs != "").any()
    for r, ref in zip(train, refs):
        if ref:
            assert group_of[ref] != group_of[r.id]
    full = method.predict(train)  # in-sample: every ARG finds itself
    assert all(ref == r.id for r, ref, lab in zip(train, full.extra["arg_reference"], [r.label("is_arg") for r in train]) if lab == 1)


def large_family_records(seed: int = 3) -> tuple[list[Record], np.ndarray]:
    """One ARG family: six clusters in group 0 and one more in group 1 (a member of group 0 has more
    same-group relatives than the searches report), plus unrelated negatives in both groups."""
    rng = np.random.default_rng(seed)
    ancestor = random_protein(220, rng)
    records, groups = [], []
    for c in range(7):
        founder = mutate(ancestor, 0.8, rng)
        for m in range(3):
            labels = {"is_arg": 1, "drug_class": ["beta_lactam"], "mechanism": "inactivation"}
            records.append(Record(id=f"fam_c{c}_{m}", sequence=mutate(founder, 0.97, rng), labels=labels, meta={"cluster": f"fam_c{c}"}))
            groups.append(0 if c < 6 else 1)
    for i in range(12):
        records.append(Record(id=f"neg{i}", sequence=random_protein(200, rng), labels={"is_arg": 0}, meta={"cluster": f"neg{i}"}))
        groups.append(i % 2)
    return records, np.array(groups)


def test_out_of_group_evidence_of_a_large_family_still_meets_the_other_groups():
    """The family's group-0 members have 17 same-group relatives and 18 same-group profiles, more than
    the alignment (2) and profile (1) hits a query keeps: hidden own-group hits must not crowd out group 1."""
    records, groups = large_family_records()
    group_of = {r.id: g for r, g in zip(records, groups)}
    family = [i for i, r in enumerate(records) if r.id.startswith("fam") and groups[i] == 0]
    alignment = get_method("alignment")(threads=1, sensitivity="more-sensitive", max_target_seqs=2)
    aligned = alignment.fit_cross_predict(records, groups, ARG_TASKS)
    refs = aligned.extra["arg_reference"].to_numpy()
    assert all(refs[i].startswith("fam_c6") for i in family)
    hmm = get_method("hmm")(min_members=1, max_members=3, max_hits=1, max_easy_negatives=100, threads=1)
    profiled = hmm.fit_cross_predict(records, groups, ARG_TASKS)
    best = profiled.extra["best_profile"].to_numpy()
    assert all(best[i] == "fam_c6" for i in family)
    assert {group_of[r.id] for r in records if r.id.startswith("fam_c6")} == {1}


def test_remote_homologs_score_above_negatives_with_calibrated_probabilities(fitted):
    _, method, _, _, test = fitted
    pred = method.predict(test)
    assert pred.ids == [r.id for r in test] and set(pred.status) == {"ok"}
    p = pred.scores["is_arg"]
    assert np.all((p >= 0) & (p <= 1))
    y = np.array([r.label("is_arg") for r in test])
    hard = np.array([r.id.startswith("hard") for r in test])
    assert p[y == 1].mean() > p[y == 0].mean() + 0.3
    assert p[y == 1].min() > p[hard].max() - 0.5
    drug = pred.scores["drug_class"]
    classes = list(ARG_TASKS[1].classes)
    for i, r in enumerate(test):
        if r.label("is_arg") == 1:
            assert classes[int(np.argmax(drug[i]))] == r.label("drug_class")[0]


def test_evidence_columns_are_consistent_with_the_call(fitted):
    _, method, train, _, test = fitted
    known = next(r for r in train if r.label("is_arg") == 1)
    exact = Record(id="copy_of_known", sequence=known.sequence)
    unrelated = Record(id="unrelated", sequence=random_protein(220, np.random.default_rng(99)))
    pred = method.predict([exact, unrelated, *test[:6]])
    extra = pred.extra
    assert extra.loc[0, "call_basis"] == "EXACT" and extra.loc[0, "nearest_reference"] == known.id
    assert known.id in extra.loc[0, "evidence"] and extra.loc[0, "reference_identity"] == 100.0
    assert pred.scores["is_arg"][0] > 0.5
    assert extra.loc[0, "reference_bitscore"] > np.nan_to_num(extra.loc[0, "negative_bitscore"])  # an EXACT call outscores every non-ARG
    assert extra.loc[1, "call_basis"] == "MODEL" and extra.loc[1, "nearest_reference"] == ""
    assert np.isnan(extra.loc[1, "reference_bitscore"]) and np.isnan(extra.loc[1, "negative_query_coverage"])
    assert pred.scores["is_arg"][1] < 0.5
    for row in extra.itertuples():
        assert row.call_basis in ("EXACT", "ALIGNMENT", "HMM", "MODEL")
        if row.call_basis == "HMM":
            assert row.hmm_bitscore >= row.hmm_trusted_cutoff
        if row.call_basis == "ALIGNMENT":
            assert row.reference_identity >= 80 and row.reference_coverage >= 80
        if row.nearest_negative:
            assert row.negative_bitscore > 0 and 0 < row.negative_query_coverage <= 100


def test_bases_refitted_with_the_validation_records_find_them_while_validation_evidence_stays_held_out():
    """After calibration the bases are fitted again on train + valid: a copy of a validation ARG finds it
    (EXACT), and ``validation_predictions`` — what thresholds are tuned on — is the evidence of the bases that had
    not seen the validation records. ``refit_with_valid: false`` keeps the training references only."""
    ds = superfamily_dataset()
    train_idx, valid_idx, _ = ds.fold_split(0)
    train, valid = ds.records(train_idx), ds.records(valid_idx)
    known = next(r for r in valid if r.label("is_arg") == 1)
    copy = Record(id="copy_of_validation_arg", sequence=known.sequence)
    refit = get_method("fusion")(**FAST).fit(train, valid, ds.tasks)
    kept = get_method("fusion")(**{**FAST, "refit_with_valid": False}).fit(train, valid, ds.tasks)
    found = refit.predict([copy]).extra.iloc[0]
    assert (found["call_basis"], found["nearest_reference"]) == ("EXACT", known.id)
    assert kept.predict([copy]).extra.loc[0, "nearest_reference"] != known.id
    valid_ids = {r.id for r in valid}
    for method in (refit, kept):
        held_out = method.validation_predictions(valid).extra["nearest_reference"]
        assert not set(held_out) & valid_ids, "validation evidence from references that include the validation records"
    np.testing.assert_allclose(refit.validation_predictions(valid).scores["is_arg"], kept.validation_predictions(valid).scores["is_arg"])
    assert set(refit.predict(valid).extra["nearest_reference"]) & valid_ids, "predict uses the refitted bases"
    assert refit.fit_info()["refit_records"] == len(train) + len(valid)


def test_save_load_round_trip(fitted, tmp_path):
    _, method, _, _, test = fitted
    method.save(tmp_path / "fusion")
    again = load_method(tmp_path / "fusion")
    a, b = method.predict(test), again.predict(test)
    for task in a.scores:
        np.testing.assert_allclose(a.scores[task], b.scores[task])
    assert a.extra["evidence"].tolist() == b.extra["evidence"].tolist()


def test_fusion_runs_in_the_benchmark_with_every_record_scored(tmp_path):
    from biotune.evaluate.runner import run_benchmark

    ds = superfamily_dataset(seed=1)
    run_benchmark(ds, {"fusion": FAST}, None, tmp_path / "res", folds=[1], seeds=[0], progress=False, render=False)
    table = pd.read_csv(tmp_path / "res" / "predictions" / "fusion" / "fold1_seed0.tsv", sep="\t", keep_default_na=False)
    assert len(table) == (ds.table["fold"] == 1).sum() and set(table["status"]) == {"ok"}
    assert {"extra:call_basis", "extra:evidence"} <= set(table.columns)


def fit_on_superfamilies(class_name: str, params: dict, seed: int):
    """A fusion-like method fitted on a seeded superfamily dataset; its test records after one unrelated protein."""
    ds = superfamily_dataset(seed=seed)
    train_idx, valid_idx, test_idx = ds.fold_split(seed)
    method = get_method(class_name)(**params).fit(ds.records(train_idx), ds.records(valid_idx), ds.tasks)
    unrelated = Record(id="unrelated_protein", sequence=random_protein(210, np.random.default_rng(1000 + seed)))  # not the dataset's generator
    return method, [unrelated, *ds.records(test_idx)]


def gated_where_no_arg_hit(raw: pd.DataFrame, base: str) -> pd.Series:
    """``base``'s gated rows, asserted to be exactly the records without a DIAMOND ARG hit (the unrelated one first)."""
    gated = raw[f"{base}:status"] == "gated"
    no_arg_hit = np.nan_to_num(raw["alignment:n_arg_hits"].to_numpy(dtype=float)) == 0
    assert gated[0] and (gated == no_arg_hit).all() and not gated.all()
    return gated


def test_gated_hmm_scans_only_proteins_with_an_arg_alignment_hit():
    method, records = fit_on_superfamilies("fusion", {**FAST, "gates": {"hmm": "alignment:n_arg_hits"}}, seed=2)
    gated_where_no_arg_hit(method.evidence(records)[1], "hmm")
    pred = method.predict(records)
    assert len(pred) == len(records) and pred.extra.loc[0, "hmm_profile"] == ""


def test_targeted_hmm_scans_each_protein_only_against_the_families_of_its_alignment_hits():
    method, records = fit_on_superfamilies("fusion", {**FAST, "targets": {"hmm": "alignment:arg_references"}}, seed=2)
    test = records[1:]
    _, raw = method.evidence(records)
    hmm = method.base_methods["hmm"]
    refs = [[x for x in v.split(";") if x] for v in raw["alignment:arg_references"]]
    assert (raw["hmm:status"] == "gated").tolist() == [not r for r in refs] and raw["hmm:status"].iloc[0] == "gated"
    scanned = [i for i, r in enumerate(refs) if r and raw["hmm:best_profile"].iloc[i]]
    assert scanned and all(raw["hmm:best_profile"].iloc[i] in {hmm.profile_of.get(x) for x in refs[i]} for i in scanned)
    assert all(r.split(";")[0] == best for r, best in zip(raw["alignment:arg_references"], raw["alignment:arg_reference"]) if r)
    y = np.array([r.label("is_arg") for r in test])
    p = method.predict(test).scores["is_arg"]
    assert p[y == 1].mean() > p[y == 0].mean() + 0.3


def test_balanced_class_weights_give_every_class_the_same_total_weight():
    from biotune.methods.fusion import _balanced

    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2])
    w = _balanced(y)
    totals = [w[y == c].sum() for c in (0, 1, 2)]
    np.testing.assert_allclose(totals, [3.0, 3.0, 3.0])
    with pytest.raises(ValueError, match="class_weight"):
        get_method("fusion")(class_weight="inverse")


def test_stackers_refit_on_the_same_evidence_match_fit_and_logistic_separates_remote_homologs(fitted):
    """fit = stacker_training_evidence + fit_stackers + calibrate; a logistic stacker on the same evidence works too."""
    ds, method, train, valid, test = fitted
    records, weights, features = method.stacker_training_evidence(train)
    valid_features, _ = method.evidence(valid)
    test_features, _ = method.evidence(test)
    again = get_method("fusion")(**FAST)
    again.tasks = list(ds.tasks)
    again.fit_stackers(records, weights, features).calibrate(valid, valid_features)
    np.testing.assert_allclose(again.stack(test_features, calibrated=True)["is_arg"], method.predict(test).scores["is_arg"])
    logistic = get_method("fusion")(**{**FAST, "stacker_kind": "logistic"})
    logistic.tasks = list(ds.tasks)
    logistic.fit_stackers(records, weights, features).calibrate(valid, valid_features)
    scores = logistic.stack(test_features, calibrated=True)
    y = np.array([r.label("is_arg") for r in test])
    assert np.all((scores["is_arg"] >= 0) & (scores["is_arg"] <= 1))
    assert scores["is_arg"][y == 1].mean() > scores["is_arg"][y == 0].mean() + 0.3
    pooled = get_method("fusion")(**{**FAST, "pool_classes": True})
    pooled.tasks = list(ds.tasks)
    pooled.fit_stackers(records, weights, features).calibrate(valid, valid_features)
    scores = pooled.stack(test_features, calibrated=True)
    classes = list(ARG_TASKS[1].classes)
    for i, r in enumerate(test):
        if r.label("is_arg") == 1:
            assert classes[int(np.argmax(scores["drug_class"][i]))] == r.label("drug_class")[0]
    np.testing.assert_allclose(scores["mechanism"].sum(axis=1), 1.0)
    mixed = get_method("fusion")(**{**FAST, "pool_classes": True, "stacker_kind_by_task": {"is_arg": "logistic"}})
    mixed.tasks = list(ds.tasks)
    mixed.fit_stackers(records, weights, features).calibrate(valid, valid_features)
    mixed_scores = mixed.stack(test_features, calibrated=True)
    np.testing.assert_allclose(mixed_scores["is_arg"], logistic.stack(test_features, calibrated=True)["is_arg"])
    np.testing.assert_allclose(mixed_scores["drug_class"], scores["drug_class"])
    with pytest.raises(ValueError, match="stacker_kind"):
        get_method("fusion")(stacker_kind="forest")
    with pytest.raises(ValueError, match="stacker_kind"):
        get_method("fusion")(stacker_kind_by_task={"is_arg": "forest"})


def test_looking_up_the_fused_default_methods_does_not_import_torch():
    """predict with the fused default (alignment, hmm, kmer_lr, fusion) loads no deep-learning stack: seconds per run."""
    code = (
        "import sys; from biotune.methods.base import get_method\n"
        "for name in ('fusion', 'alignment', 'hmm', 'kmer_lr'): get_method(name)\n"
        "print(sorted(m for m in ('torch', 'lightning', 'transformers') if m in sys.modules))\n"
        "get_method('cnn'); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "True"


@pytest.mark.skipif(__import__("biotune.models.backbones.unirep", fromlist=["x"]).package_weights_dir(64) is None, reason="UniRep weights not installed")
def test_pretrained_language_model_base_is_gated_like_the_hmm_and_survives_save_load(tmp_path):
    """``fusion_unirep``: the UniRep-64 head scores only proteins with an ARG alignment hit (the others are never
    embedded: the cache holds none of them), its scores reach the stacker, and a reloaded bundle predicts the same."""
    import h5py

    from biotune.evaluate.runner import method_spec

    class_name, params = method_spec("fusion_unirep")
    unirep = {**params["bases"]["unirep"], "cache_path": str(tmp_path / "emb.h5"), "epochs": 10}
    fast = {**FAST, "bases": {**FAST["bases"], "unirep": unirep}, "gates": params["gates"], "targets": params["targets"]}
    method, records = fit_on_superfamilies(class_name, fast, seed=3)
    assert "unirep:is_arg" in method.feature_names
    features, raw = method.evidence(records)
    gated = gated_where_no_arg_hit(raw, "unirep")
    with h5py.File(tmp_path / "emb.h5", "r") as cache:
        assert "unrelated_protein" not in str(list(cache.keys())) and len(cache.keys()) > 0
    y = np.array([r.label("is_arg") for r in records[1:]])
    model, scored = features["unirep:is_arg"].to_numpy()[1:], ~gated[1:].to_numpy()
    assert model[scored & (y == 1)].mean() > 0.5 and (model[~scored] == 0).all()
    pred = method.predict(records)
    reloaded = load_method(method.save(tmp_path / "bundle"))
    np.testing.assert_allclose(reloaded.predict(records).scores["is_arg"], pred.scores["is_arg"])
    assert "unirep" in pred.extra.loc[1 + int(np.flatnonzero(y == 1)[0]), "evidence"]


def test_close_reference_rule_raises_is_arg_only_for_close_full_length_hits_closer_than_any_negative():
    features = pd.DataFrame({
        "alignment:arg_identity": [95.0, 95.0, 95.0, 70.0, np.nan, 100.0],
        "alignment:arg_query_coverage": [90.0, 90.0, 50.0, 95.0, np.nan, 100.0],
        "alignment:arg_reference_coverage": [90.0, 90.0, 90.0, 95.0, np.nan, 100.0],
        "alignment:arg_bitscore": [400.0, 400.0, 400.0, 300.0, np.nan, 500.0],
        "alignment:neg_bitscore": [np.nan, 450.0, np.nan, np.nan, 200.0, 100.0],
    })
    scores = {"is_arg": np.full(6, 0.1), "mechanism": np.full((6, 2), 0.5)}
    method = get_method("fusion")(close_reference_call=0.9)
    assert method.close_reference(features).tolist() == [True, False, False, False, False, True]
    decided = method.decide(features, scores)
    np.testing.assert_allclose(decided["is_arg"], [0.9, 0.1, 0.1, 0.1, 0.1, 0.9])
    assert decided["mechanism"] is scores["mechanism"]
    assert get_method("fusion")().decide(features, scores)["is_arg"] is scores["is_arg"]  # off by default
    with pytest.raises(ValueError, match="close_reference_call"):
        get_method("fusion")(close_reference_call=1.5)


def test_close_negative_rule_caps_is_arg_only_for_close_non_arg_hits_closer_than_any_arg():
    features = pd.DataFrame({
        "alignment:neg_identity": [99.0, 99.0, 99.0, 70.0, 95.0, np.nan],
        "alignment:neg_query_coverage": [95.0, 95.0, 50.0, 95.0, 100.0, np.nan],
        "alignment:neg_bitscore": [600.0, 600.0, 600.0, 400.0, 300.0, np.nan],
        "alignment:arg_bitscore": [300.0, 700.0, 300.0, 200.0, np.nan, 500.0],
    })
    scores = {"is_arg": np.full(6, 0.95)}
    method = get_method("fusion")(close_negative_call=0.1)
    assert method.close_negative(features).tolist() == [True, False, False, False, True, False]
    np.testing.assert_allclose(method.decide(features, scores)["is_arg"], [0.1, 0.95, 0.95, 0.95, 0.1, 0.95])
    with pytest.raises(ValueError, match="close_negative_call"):
        get_method("fusion")(close_negative_call=-0.1)


def test_mutation_family_rule_caps_remote_homologs_of_resistant_housekeeping_alleles_only():
    features = pd.DataFrame({
        "alignment:arg_identity": [65.0, 95.0, 65.0, np.nan, 40.0],
        "alignment:arg_query_coverage": [95.0, 95.0, 95.0, np.nan, 90.0],
        "alignment:arg_reference_coverage": [95.0, 95.0, 95.0, np.nan, 90.0],
        "alignment:arg_bitscore": [400.0, 600.0, 400.0, np.nan, 150.0],
        "alignment:neg_bitscore": [np.nan, np.nan, np.nan, np.nan, np.nan],
    })
    # gyrA allele at 65 %; the same allele at 95 % (a close reference: the label rule's ARG); a beta-lactamase at 65 %;
    # no hit; a MarR allele at 40 %
    nearest = ["BTgyrA", "BTgyrA", "BTbla", np.nan, "BTmarR"]
    scores = {"is_arg": np.full(5, 0.95)}
    method = get_method("fusion")(mutation_family_call=0.1, close_reference_call=0.9)
    method.mutation_references = mutation_references([
        Record("BTgyrA", "MKV", {"is_arg": 1}, meta={"mutation_model": "Paer_gyrA_FLO"}),
        Record("BTmarR", "MKV", {"is_arg": 1}, meta={"mutation_model": "Ecol_MarR_MULT"}),
        Record("BTbla", "MKV", {"is_arg": 1}, meta={"mutation_model": ""}),
        Record("BTwt", "MKV", {"is_arg": 0}, meta={"mutation_model": "Paer_gyrA_FLO"}),  # not an ARG reference
    ])
    assert method.mutation_references == {"BTgyrA": "Paer_gyrA_FLO", "BTmarR": "Ecol_MarR_MULT"}
    assert method.mutation_family(features, nearest).tolist() == [True, False, False, False, True]
    np.testing.assert_allclose(method.decide(features, scores, nearest)["is_arg"], [0.1, 0.95, 0.95, 0.95, 0.1])
    np.testing.assert_allclose(method.decide(features, scores)["is_arg"], 0.95)  # no references given: no rule
    assert get_method("fusion")(close_reference_call=0.9).decide(features, scores, nearest)["is_arg"].tolist() == [0.95] * 5  # off by default
    with pytest.raises(ValueError, match="mutation_family_call"):
        get_method("fusion")(mutation_family_call=2.0)


def test_fusion_learns_mutation_families_from_the_dataset_and_reports_them_with_the_call(tmp_path):
    ds = superfamily_dataset(seed=1)
    ds.table["mutation_model"] = np.where(ds.table["id"].str.startswith("arg2_"), "Tst_rpoB_RIF", "")  # one ARG superfamily
    train_idx, valid_idx, test_idx = ds.fold_split(0)
    train, valid, test = ds.records(train_idx), ds.records(valid_idx), ds.records(test_idx)
    method = get_method("fusion")(**FAST, mutation_family_call=0.1, close_reference_call=0.9).fit(train, valid, ds.tasks)
    assert set(method.mutation_references.values()) == {"Tst_rpoB_RIF"}
    assert all(i.startswith("arg2_") for i in method.mutation_references)
    pred = method.predict(test)
    extra, is_arg = pred.extra, pred.scores["is_arg"]
    family = np.array([r.id.startswith("arg2_") for r in test])
    flagged = extra["mutation_model"].to_numpy() == "Tst_rpoB_RIF"
    assert flagged[family].mean() > 0.5 and not flagged[~family].any()  # remote members hit their own family's references
    assert (is_arg[flagged] <= 0.1).all()
    assert all("resistant allele of Tst_rpoB_RIF" in text for text in extra.loc[flagged, "evidence"])
    other_args = np.array([r.label("is_arg") == 1 and not r.id.startswith("arg2_") for r in test])
    assert (is_arg[other_args] >= 0.5).mean() > 0.5  # the other ARG families are still called
    reloaded = load_method(method.save(tmp_path / "bundle"))
    assert reloaded.mutation_references == method.mutation_references
    np.testing.assert_allclose(reloaded.predict(test).scores["is_arg"], is_arg)


def test_a_call_needs_an_alignment_or_profile_and_the_stacker_ranks_within_each_tier():
    features = pd.DataFrame({
        "alignment:arg_identity": [95.0, 45.0, 45.0, 45.0, np.nan, 30.0],
        "alignment:arg_query_coverage": [95.0, 90.0, 90.0, 90.0, np.nan, 90.0],
        "alignment:arg_reference_coverage": [95.0, 90.0, 90.0, 90.0, np.nan, 90.0],
        "alignment:arg_bitscore": [500.0, 150.0, 150.0, 150.0, np.nan, 90.0],
        "alignment:neg_identity": [np.nan, np.nan, 95.0, 30.0, 40.0, np.nan],
        "alignment:neg_bitscore": [np.nan, np.nan, 600.0, 80.0, 120.0, np.nan],
        "hmm:hit": [1.0, 1.0, 1.0, 1.0, 0.0, 0.0],
    })
    stacker = np.array([0.2, 0.1, 0.9, 0.4, 0.95, 0.99])
    method = get_method("fusion")(call_needs_evidence=True)
    # close reference; profile + ARG reference more identical than any non-ARG one; a non-ARG reference closer;
    # profile + ARG closer; no profile, no ARG hit; no profile passing
    assert method.supported(features).tolist() == [True, True, False, True, False, False]
    decided = method.decide(features, {"is_arg": stacker})["is_arg"]
    np.testing.assert_allclose(decided, [0.6, 0.55, 0.45, 0.7, 0.475, 0.495])
    assert (decided >= 0.5).tolist() == method.supported(features).tolist()
    assert get_method("fusion")().decide(features, {"is_arg": stacker})["is_arg"] is stacker  # off by default


def test_with_call_needs_evidence_every_fused_call_has_an_alignment_or_profile_basis(fitted):
    _, method, train, _, test = fitted
    tiered = get_method("fusion")(**{**method.params, "call_needs_evidence": True})
    tiered.tasks, tiered.base_methods, tiered.models, tiered.calibrators = method.tasks, method.base_methods, method.models, method.calibrators
    tiered.feature_names, tiered.task_features = method.feature_names, method.task_features
    records = [*test, Record(id="copy_of_known", sequence=next(r for r in train if r.label("is_arg") == 1).sequence)]
    plain, pred = method.predict(records), tiered.predict(records)
    called = pred.scores["is_arg"] >= 0.5
    assert called.sum() >= 3 and set(pred.extra["call_basis"][called]) <= {"EXACT", "ALIGNMENT", "HMM"}
    assert called[-1] and pred.extra["call_basis"].iloc[-1] == "EXACT"
    same_tier = called[:, None] == called[None, :]
    order_plain = plain.scores["is_arg"][:, None] < plain.scores["is_arg"][None, :]
    order_tiered = pred.scores["is_arg"][:, None] < pred.scores["is_arg"][None, :]
    assert np.array_equal(order_plain[same_tier], order_tiered[same_tier])  # the stacker's ranking within a tier


def test_scores_from_base_gives_a_task_the_named_base_scores_and_survives_save_load(fitted, tmp_path):
    ds, _, train, valid, test = fitted
    method = get_method("fusion")(**FAST, scores_from_base={"drug_class": "alignment"}).fit(train, valid, ds.tasks)
    features, _ = method.evidence(test)
    drug = ds.tasks[1]
    transfer = np.nan_to_num(features[[f"alignment:drug_class:{c}" for c in drug.classes]].to_numpy(dtype=float))
    pred = method.predict(test)
    assert transfer.max() > 0.5  # the alignment votes for classes on this fixture
    np.testing.assert_allclose(pred.scores["drug_class"], transfer)
    assert "drug_class" not in method.calibrators and not np.allclose(pred.scores["mechanism"], np.nan_to_num(
        features[[f"alignment:mechanism:{c}" for c in ds.tasks[2].classes]].to_numpy(dtype=float)))
    loaded = load_method(method.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.predict(test).scores["drug_class"], transfer)
    with pytest.raises(ValueError, match="scores_from_base"):
        get_method("fusion")(scores_from_base={"drug_class": "unirep"})


def test_calibration_by_task_leaves_the_named_tasks_uncalibrated(fitted):
    ds, method, train, valid, test = fitted
    other = get_method("fusion")(**FAST, calibration_by_task={"drug_class": "none", "mechanism": "none"}).fit(train, valid, ds.tasks)
    assert set(other.calibrators) == {"is_arg"} and {"is_arg", "drug_class", "mechanism"} <= set(method.calibrators)
    features, _ = other.evidence(test)
    raw = other.stack(features)
    predicted = other.predict(test).scores
    np.testing.assert_allclose(predicted["drug_class"], raw["drug_class"])
    assert not np.allclose(predicted["is_arg"], raw["is_arg"])
    with pytest.raises(ValueError, match="calibration"):
        get_method("fusion")(calibration_by_task={"is_arg": "sigmoid"})


def test_record_features_keep_per_class_scores_out_of_the_is_arg_stacker(fitted, tmp_path):
    """features_by_task {is_arg: record}: the is_arg stacker reads only record-level evidence — scrambling every
    per-class score column leaves is_arg unchanged but moves the drug-class scores — and save/load keeps it."""
    ds, _, train, valid, test = fitted
    method = get_method("fusion")(**{**FAST, "stacker_kind_by_task": {"is_arg": "logistic"}, "features_by_task": {"is_arg": "record"}}).fit(train, valid, ds.tasks)
    per_class = [c for c in method.feature_names if c.count(":") == 2]
    assert per_class and not set(per_class) & set(method.task_features["is_arg"])
    assert method.task_features["drug_class"] == method.feature_names
    features, _ = method.evidence(test)
    scrambled = features.copy()
    scrambled[per_class] = np.random.default_rng(0).permutation(scrambled[per_class].to_numpy())
    before, after = method.stack(features, calibrated=True), method.stack(scrambled, calibrated=True)
    np.testing.assert_allclose(after["is_arg"], before["is_arg"])
    assert not np.allclose(after["drug_class"], before["drug_class"])
    y = np.array([r.label("is_arg") for r in test])
    assert before["is_arg"][y == 1].mean() > before["is_arg"][y == 0].mean() + 0.3
    loaded = load_method(method.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.predict(test).scores["is_arg"], method.predict(test).scores["is_arg"])
    with pytest.raises(ValueError, match="features"):
        get_method("fusion")(features_by_task={"is_arg": "classes"})
