"""Profile-HMM evidence with real pyhmmer + pyfamsa: build, calibrate, search, save/load, the hmm method."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from biotune.data.records import Record
from biotune.errors import InputError
from biotune.evaluate.synthetic import ARG_TASKS, mutate, random_protein, synthetic_arg_dataset
from biotune.homology.hmm import (
    SEARCH_COLUMNS,
    ProfileLibrary,
    build_library,
    build_profiles,
    clean_sequence,
    labels_compatible,
    profile_key,
)
from biotune.methods.base import get_method, load_method
from biotune.methods.hmm import STATUS_NO_HIT

# TEM-1 class A beta-lactamase (E. coli, bla TEM-1) and E. coli dihydrofolate reductase (FolA).
TEM1 = (
    "MSIQHFRVALIPFFAAFCLPVFAHPETLVKVKDAEDQLGARVGYIELDLNSGKILESFRPEERFPMMSTFKVLLCGAVLSRVDAGQEQLGRRIHYSQNDL"
    "VEYSPVTEKHLTDGMTVRELCSAAITMSDNTAANLLLTTIGGPKELTAFLHNMGDHVTRLDRWEPELNEAIPNDERDTTMPAAMATTLRKLLTGELLTLAS"
    "RQQLIDWMEADKVAGPLLRSALPAGWFIADKSGAGERGSRGIIAALGPDGKPSRIVVIYTTGSQATMDERNRQIAEIGASLIKHW"
)
FOLA = (
    "MISLIAALAVDRVIGMENAMPWNLPADLAWFKRNTLNKPVIMGRHTWESIGRPLPGRKNIILSSQPGTDDRVTWVKSVDEAIAACGDVPEIMVIGGGRVYEQ"
    "FLPKAQKLYLTHIDAEVEGDTHFPDYEPDDWESVFSEFHDADAQNSHSYCFEILERR"
)
BETA_LACTAM = {"drug_class": {"beta_lactam": 1.0}, "mechanism": {"inactivation": 1.0}}
TRIMETHOPRIM = {"drug_class": {"trimethoprim": 1.0}, "mechanism": {"target_replacement": 1.0}}


def _shuffled(seq: str, seed: int) -> str:
    letters = list(seq[1:])
    random.Random(seed).shuffle(letters)
    return "M" + "".join(letters)


@pytest.fixture(scope="module")
def families():
    rng = np.random.default_rng(11)
    groups = {
        "TEM": {f"tem{i}": mutate(TEM1, 0.80, rng) for i in range(8)},
        "DFR": {f"dfr{i}": mutate(FOLA, 0.75, rng) for i in range(6)},
        "ONE": {"one0": random_protein(180, rng)},
    }
    negatives = {f"neg{i}": random_protein(int(rng.integers(150, 320)), rng) for i in range(20)}
    negatives |= {"shuffled_tem": _shuffled(TEM1, 1), "shuffled_fola": _shuffled(FOLA, 2)}
    queries = {
        **{f"remote_tem{i}": mutate(TEM1, 0.60, rng) for i in range(4)},
        "remote_dfr": mutate(FOLA, 0.60, rng),
        "unrelated": random_protein(250, rng),
        "shuffled": _shuffled(TEM1, 3),
    }
    labels = {"TEM": BETA_LACTAM, "DFR": TRIMETHOPRIM, "ONE": BETA_LACTAM}
    return groups, negatives, queries, labels


@pytest.fixture(scope="module")
def library(families) -> ProfileLibrary:
    groups, negatives, _, labels = families
    return build_library(groups, negatives, labels=labels, threads=1)


def test_members_and_remote_homologs_pass_unrelated_sequences_do_not(families, library):
    groups, _, queries, _ = families
    assert [p.name for p in library.profiles] == ["TEM", "DFR", "ONE"]
    hits = library.search(queries, threads=1)
    assert list(hits.columns) == SEARCH_COLUMNS
    best = hits.groupby("query").head(1).set_index("query")
    for q in ("remote_tem0", "remote_tem1", "remote_tem2", "remote_tem3"):
        assert best.loc[q, "profile"] == "TEM" and best.loc[q, "passes"]
    assert best.loc["remote_dfr", "profile"] == "DFR" and best.loc["remote_dfr", "passes"]
    for q in ("unrelated", "shuffled"):
        assert q not in best.index or not hits.loc[hits["query"] == q, "passes"].any()
    members = library.search({k: v for g in groups.values() for k, v in g.items()}, threads=1)
    top = members.groupby("query").head(1).set_index("query")
    for name, group in groups.items():
        assert (top.loc[list(group), "profile"] == name).all() and top.loc[list(group), "passes"].all()
    # sorted by query then bitscore descending, at most max_hits per query
    assert members.equals(members.sort_values(["query", "bitscore"], ascending=[True, False], kind="mergesort").reset_index(drop=True))
    assert library.search(queries, threads=1, max_hits=1).groupby("query").size().max() == 1


def test_a_targeted_scan_scores_only_the_candidate_pairs_with_the_full_scan_scores(families, library):
    groups, _, queries, _ = families
    full = library.search(queries, threads=1, max_hits=10, min_bitscore=0.0).set_index(["query", "profile"])
    candidates = {"remote_tem0": {"TEM", "DFR"}, "remote_tem1": {"DFR"}, "remote_dfr": {"DFR", "no such profile"}, "unrelated": set()}
    targeted = library.search(queries, threads=2, max_hits=10, min_bitscore=0.0, candidates=candidates)
    pairs = set(zip(targeted["query"], targeted["profile"]))
    assert pairs <= {(q, p) for q, names in candidates.items() for p in names}
    assert ("remote_tem0", "TEM") in pairs and ("remote_dfr", "DFR") in pairs
    assert not {q for q, _ in pairs} & {"remote_tem2", "shuffled", "unrelated"}  # not a candidate: not scanned
    for row in targeted.itertuples():
        assert row.bitscore == pytest.approx(full.loc[(row.query, row.profile), "bitscore"], abs=1e-4)
        assert row.passes == full.loc[(row.query, row.profile), "passes"]


def test_calibration_cutoffs_and_records(library):
    for p in library.profiles:
        assert p.trusted_cutoff >= 25.0 and p.trusted_cutoff >= p.noise_cutoff + 5.0
        assert p.calibration["false_passes_at_tc"] == 0
        assert p.calibration["n_out_of_family"] >= 22  # every negative is out of family
        assert float(p.hmm.cutoffs.trusted[0]) == pytest.approx(p.trusted_cutoff)
    tem = library["TEM"]
    assert tem.calibration["recall_at_tc"] == 1.0 and tem.calibration["in_family_sources"] == {"cross_build": 8}
    assert tem.calibration["in_family_min"] > tem.trusted_cutoff
    assert library["ONE"].calibration["in_family_sources"] == {"in_sample": 1}
    assert library["ONE"].hmm.nseq == 1 and library["TEM"].hmm.nseq == 8


def test_an_out_of_family_paralog_raises_the_noise_cutoff():
    """A TEM-derived family labelled differently is out-of-family: its scores set NC; with the same labels they do not."""
    rng = np.random.default_rng(3)
    paralog = mutate(TEM1, 0.45, rng)
    groups = {"TEM": {f"t{i}": mutate(TEM1, 0.85, rng) for i in range(5)}, "PAR": {f"p{i}": mutate(paralog, 0.85, rng) for i in range(5)}}
    negatives = {f"n{i}": random_protein(200, rng) for i in range(5)}
    other = {"drug_class": {"tetracycline": 1.0}, "mechanism": {"efflux": 1.0}}
    strict = build_library(groups, negatives, labels={"TEM": BETA_LACTAM, "PAR": other}, threads=1, cross_build=False)
    same = build_library(groups, negatives, labels={"TEM": BETA_LACTAM, "PAR": BETA_LACTAM}, threads=1, cross_build=False)
    assert strict["TEM"].noise_cutoff > 25.0 and strict["TEM"].calibration["noise_source"].startswith("p")
    assert strict["TEM"].trusted_cutoff == pytest.approx(strict["TEM"].noise_cutoff + 5.0)
    assert same["TEM"].noise_cutoff < strict["TEM"].noise_cutoff and same["TEM"].trusted_cutoff < strict["TEM"].trusted_cutoff
    assert labels_compatible(BETA_LACTAM, {"drug_class": {"beta_lactam": 0.6, "MLS": 0.4}})
    assert not labels_compatible(BETA_LACTAM, other) and labels_compatible(None, other)


def test_large_groups_are_subsampled_deterministically_and_scored_on_the_rest():
    rng = np.random.default_rng(4)
    group = {f"m{i:02d}": mutate(FOLA, 0.8, rng) for i in range(12)}
    a = build_library({"G": group}, {"n": random_protein(150, rng)}, max_members=5, threads=1, seed=7)
    b = build_profiles({"G": group}, max_members=5, threads=1, seed=7)
    g = a["G"]
    assert len(g.members) == 5 and g.n_group == 12 and g.subsampled and b["G"].nseq == 5
    assert g.calibration["in_family_sources"] == {"held_out": 7, "cross_build": 5}
    again = build_library({"G": group}, {"n": random_protein(150, rng)}, max_members=5, threads=1, seed=7)
    assert again["G"].members == g.members


def _hmm_text(hmm) -> list[bytes]:
    import io

    buffer = io.BytesIO()
    hmm.write(buffer)
    return [line for line in buffer.getvalue().splitlines() if not line.startswith((b"DATE", b"COM"))]


def test_a_refit_reusing_the_first_librarys_scores_equals_a_fresh_fit_and_searches_only_new_pairs(families):
    """Fusion's refit on train + valid: the first library's memo spares the pairs it holds, results unchanged."""
    groups, negatives, queries, labels = families
    rng = np.random.default_rng(5)
    first = build_library(groups, negatives, labels=labels, max_members=5, threads=1, cross_build=False)
    new = {"dfr_new": mutate(FOLA, 0.8, rng), "par0": mutate(TEM1, 0.5, rng), "neg_new": mutate(TEM1, 0.35, rng)}
    more_groups = {**groups, "DFR": {**groups["DFR"], "dfr_new": new["dfr_new"]}, "PAR": {"par0": new["par0"]}}
    more_labels = {**labels, "PAR": {"drug_class": {"tetracycline": 1.0}, "mechanism": {"efflux": 1.0}}}
    more_negatives = {**negatives, "neg_new": new["neg_new"]}
    tem_key = profile_key(first["TEM"].hmm)
    old_pool = {clean_sequence(s) for s in negatives.values()} | {clean_sequence(s) for s in groups["TEM"].values()}
    new_pool = {clean_sequence(s) for s in new.values()}
    assert first.memo.unsearched(tem_key, old_pool | new_pool) == new_pool

    reused = build_library(more_groups, more_negatives, labels=more_labels, max_members=5, threads=1, cross_build=False, memo=first.memo)
    fresh = build_library(more_groups, more_negatives, labels=more_labels, max_members=5, threads=1, cross_build=False)
    assert reused.memo is first.memo and profile_key(reused["TEM"].hmm) == tem_key
    assert reused["TEM"].trusted_cutoff > first["TEM"].trusted_cutoff  # the new out-of-family paralog raised NC
    assert [p.to_dict() for p in reused.profiles] == [p.to_dict() for p in fresh.profiles]
    assert [_hmm_text(p.hmm) for p in reused.profiles] == [_hmm_text(p.hmm) for p in fresh.profiles]
    members = {k: v for g in more_groups.values() for k, v in g.items()} | queries
    candidates = {q: {"TEM", "DFR", "PAR"} for q in members}
    without_memo = ProfileLibrary(fresh.profiles, z=fresh.z)
    for min_bitscore in (0.0, 10.0, 40.0):
        expected = without_memo.search(members, threads=1, max_hits=5, min_bitscore=min_bitscore, candidates=candidates)
        assert reused.search(members, threads=2, max_hits=5, min_bitscore=min_bitscore, candidates=candidates).equals(expected)
    assert len(expected) and expected["query"].isin(list(queries)).any()


def test_odd_letters_do_not_crash(library):
    assert clean_sequence(" mkv*x1.Z**\n") == "MKVXXXXZ"
    hits = library.search({"stop": TEM1[:200] + "*", "lower": TEM1.lower(), "junk": "12345", "empty": "***", "internal": TEM1[:100] + "*" + TEM1[101:]}, threads=1)
    assert set(hits["query"]) == {"stop", "lower", "internal"} and hits.groupby("query").head(1)["passes"].all()
    odd = build_profiles({"odd": {"a": "mk*" + TEM1[3:] + "*", "b": "", "c": TEM1[:150] + "JOU1"}}, threads=1)
    assert odd["odd"].nseq == 2


def test_save_load_round_trip_and_damaged_files(families, library, tmp_path):
    _, _, queries, _ = families
    library.save(tmp_path / "lib")
    again = ProfileLibrary.load(tmp_path / "lib")
    assert again.search(queries, threads=1).equals(library.search(queries, threads=1))
    for a, b in zip(library.profiles, again.profiles):
        assert (a.name, a.members, a.trusted_cutoff, a.labels, a.n_group) == (b.name, b.members, b.trusted_cutoff, b.labels, b.n_group)
        assert a.noise_cutoff == b.noise_cutoff or (math.isinf(a.noise_cutoff) and math.isinf(b.noise_cutoff))
    text = (tmp_path / "lib" / "profiles.hmm").read_bytes()
    for cut in (len(text) // 2, 300):
        (tmp_path / "lib" / "profiles.hmm").write_bytes(text[:cut])
        with pytest.raises(InputError) as err:
            ProfileLibrary.load(tmp_path / "lib")
        assert "\n" not in str(err.value) and "profiles.hmm" in str(err.value)
    (tmp_path / "lib" / "profiles.hmm").unlink()
    with pytest.raises(InputError, match="missing"):
        ProfileLibrary.load(tmp_path / "lib")


# -- the method ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    ds = synthetic_arg_dataset(10, 6, grouped_folds=False, seed=2)
    train_idx, _, test_idx = ds.fold_split(0)
    train, test = ds.records(train_idx), ds.records(test_idx)
    method = get_method("hmm")(threads=1, min_members=2).fit(train, None, ARG_TASKS)
    return method, train, test + [Record("unrelated", random_protein(200, np.random.default_rng(9)))]


def test_method_predicts_one_row_per_record_with_the_profile_labels(fitted):
    method, _, test = fitted
    pred = method.predict(test)
    assert pred.ids == [r.id for r in test] and set(pred.status) <= {"ok", STATUS_NO_HIT}
    extra = pred.extra
    assert list(extra.columns) == ["best_profile", "hmm_bitscore", "hmm_trusted_cutoff", "hmm_noise_cutoff", "hmm_evalue", "hmm_bits_over_tc"]
    is_arg = pred.scores["is_arg"]
    ok = np.array([s == "ok" for s in pred.status])
    assert ok.sum() >= 5 and np.all(is_arg[ok] >= 0.5) and np.all(is_arg[~ok] < 0.5)
    assert np.all(extra["hmm_bitscore"][ok] >= extra["hmm_trusted_cutoff"][ok])
    assert np.allclose(extra["hmm_bits_over_tc"].dropna(), (extra["hmm_bitscore"] - extra["hmm_trusted_cutoff"]).dropna())
    assert np.all(extra["hmm_bits_over_tc"][ok] >= 0) and np.all(extra["hmm_bits_over_tc"][~ok].dropna() < 0)
    assert pred.status[-1] == STATUS_NO_HIT and extra["best_profile"].iloc[-1] == "" and is_arg[-1] == 0.0
    for i, r in enumerate(test[:-1]):
        if ok[i]:
            assert extra["best_profile"][i] == r.meta["cluster"]  # its own family's profile
            assert r.label("is_arg") == 1
            mech = method.tasks[2].classes.index(r.label("mechanism"))
            assert pred.scores["mechanism"][i, mech] == 1.0
        elif r.label("is_arg") == 1 and r.meta["cluster"] in method.library:
            pytest.fail(f"{r.id} of profiled family {r.meta['cluster']} not called")
    info = method.fit_info()
    assert info["n_profiles"] == len(method.library) and info["n_skipped_clusters"] == 0


def test_method_targeted_by_near_references_scores_only_their_families(fitted):
    method, train, test = fitted
    member = {r.meta["cluster"]: r.id for r in train if r.label("is_arg") == 1 and r.meta["cluster"] in method.library}
    near = [[member[r.meta["cluster"]]] if r.meta.get("cluster") in member and i % 2 == 0 else [] for i, r in enumerate(test)]
    pred, full = method.predict(test, near=near), method.predict(test)
    for i, refs in enumerate(near):
        if refs:
            assert pred.status[i] == full.status[i] and pred.extra["best_profile"][i] in ("", method.profile_of[refs[0]])
        else:
            assert pred.status[i] == STATUS_NO_HIT and pred.extra["best_profile"][i] == ""
    assert sum(s == "ok" for s in pred.status) >= 2
    with pytest.raises(ValueError, match="near has"):
        method.predict(test, near=near[:-1])


def test_method_save_load(fitted, tmp_path):
    method, _, test = fitted
    method.save(tmp_path / "m")
    again = load_method(tmp_path / "m")
    assert again.profile_of == method.profile_of and len(again.profile_of) > 0
    a, b = method.predict(test), again.predict(test)
    assert a.status == b.status and again.params == method.params
    for t in ARG_TASKS:
        np.testing.assert_array_equal(a.scores[t.name], b.scores[t.name])


def test_method_runs_in_the_benchmark(diamond, tmp_path):
    from biotune.evaluate.results import load_runs
    from biotune.evaluate.runner import run_benchmark

    ds = synthetic_arg_dataset(8, 5, grouped_folds=False, seed=4)
    metrics = run_benchmark(ds, {"hmm": {"threads": 1}}, None, tmp_path / "res", folds=[0], seeds=[0], config={"bootstrap": {"n": 20}}, progress=False, render=False)
    runs = load_runs(tmp_path / "res")["hmm"]
    assert [len(r.table) for r in runs] == [len(ds.fold_split(0)[2])]
    assert {"extra:best_profile", "extra:hmm_bitscore"} <= set(runs[0].table.columns)
    assert metrics["pooled"]["hmm"]["fixed"]["all"]["is_arg"]["f1"]["value"] > 0.7
