"""`biotune pretrain`: a few steps of a random-weight UniRep-64 (next residue) and esm2_tiny (masked LM) on real
ARG proteins lower the validation loss; the saved backbone directory loads back through the usual paths with
identical embeddings; dataset input honours exclude_folds / only_args / homology clusters; bad input is one line.

Random weights throughout: these numbers test the machinery, they say nothing about UniRep or ESM-2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from biotune.embed import embed_sequences
from biotune.io.fasta import write_fasta
from biotune.train.pretrain import holdout, main, read_records, run_pretraining
from biotune.train.run import compose_config
from train_toy import toy_dataset

REFERENCE = Path(__file__).parent / "data" / "unirep_reference.npz"
#: Small, fast runs: 1 thread, no tracking, no progress bars, small batches so that a few epochs are ~20 steps.
FAST = [
    "num_threads=1", "tracking.enabled=false", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
    "data.valid_fraction=0.25", "data.token_budget=700", "optim.lr=3e-3", "trainer.max_epochs=4",
]  # fmt: skip

pytestmark = pytest.mark.usefixtures("embed_one_thread")


@pytest.fixture(scope="module")
def proteins(tmp_path_factory) -> tuple[Path, list[str], list[str]]:
    """Eight real ARG proteins (214-397 residues) as a FASTA."""
    with np.load(REFERENCE) as data:
        ids = [str(i).split("|")[1] for i in data["ids"]]
        seqs = [str(s) for s in data["sequences"]]
    path = tmp_path_factory.mktemp("fasta") / "args.faa"
    write_fasta(zip(ids, seqs), path)
    return path, ids, seqs


def _pretrain(tmp_path: Path, *overrides: str):
    torch.set_num_threads(1)
    cfg = compose_config([*FAST, f"out={tmp_path / 'backbone'}", *overrides], config_name="pretrain")
    return run_pretraining(cfg, tmp_path)


def test_unirep_next_residue_lowers_validation_loss_and_saves_a_backbone(tmp_path, proteins):
    from biotune.models.backbones.unirep import load_unirep

    fasta, ids, seqs = proteins
    lm, report = _pretrain(tmp_path, "backbone=unirep64", "backbone.random_init=true", f"data.fasta={fasta}")
    before, after = report["valid_before"]["loss"], report["valid_best"]["loss"]
    assert after < before - 0.02, (before, after)
    assert report["random_weights"] and (report["n_train"], report["n_valid"]) == (6, 2) and report["steps"] > 4
    assert not report["kept_initial_weights"] and report["valid_trained"]["loss"] == after
    assert json.loads((tmp_path / "backbone" / "pretrain.json").read_text())["valid_best"]["loss"] == after
    saved = load_unirep(tmp_path / "backbone")
    for name, value in lm.model.state_dict().items():
        torch.testing.assert_close(saved.state_dict()[name], value, rtol=1e-6, atol=1e-6)
    from_dir = embed_sequences(ids, seqs, str(tmp_path / "backbone"))
    in_memory = embed_sequences(ids, seqs, lm.model)
    np.testing.assert_allclose(from_dir, in_memory, rtol=1e-5, atol=1e-6)


def test_weights_worse_than_the_start_are_not_saved(tmp_path, proteins):
    from biotune.models.backbones.unirep import load_unirep, random_unirep
    from biotune.models.lm import UniRepLM

    fasta, _, _ = proteins
    _, report = _pretrain(tmp_path, "backbone=unirep64", "backbone.random_init=true", f"data.fasta={fasta}", "optim.lr=3.0", "trainer.max_epochs=1")
    assert report["valid_trained"]["loss"] > report["valid_before"]["loss"] and report["kept_initial_weights"]
    start, saved = UniRepLM(random_unirep("unirep64")).model.state_dict(), load_unirep(tmp_path / "backbone").state_dict()
    for name, value in start.items():
        torch.testing.assert_close(saved[name], value, rtol=1e-6, atol=1e-6)


def test_esm_masked_lm_lowers_validation_loss_and_saves_a_backbone(tmp_path, proteins):
    fasta, ids, seqs = proteins
    lm, report = _pretrain(tmp_path, "backbone=esm2_tiny", f"data.fasta={fasta}")
    assert report["valid_best"]["loss"] < report["valid_before"]["loss"] - 0.05, report["history"]
    from_dir = embed_sequences(ids, seqs, str(tmp_path / "backbone"))
    in_memory = embed_sequences(ids, seqs, (lm.model.esm, lm.tokenizer))
    np.testing.assert_array_equal(from_dir, in_memory)


def test_dataset_input_uses_training_folds_and_holds_out_whole_clusters(tmp_path):
    toy = toy_dataset(tmp_path / "toy", n=60)
    data = OmegaConf.create({"fasta": None, "dataset": str(toy), "exclude_folds": [0], "only_args": True})
    records = read_records(data)
    assert records and all(r.meta["fold"] != 0 and r.labels["is_arg"] == 1 for r in records)
    assert len(records) == 24  # 30 ARGs (even ids), 6 of them in fold 0
    for r in records:  # two records per cluster, so that holding out whole clusters is visible
        r.meta["cluster"] = f"c{int(r.id[1:]) // 4}"
    train, valid = holdout(records, 0.25, seed=0)
    assert {r.meta["cluster"] for r in train}.isdisjoint(r.meta["cluster"] for r in valid)
    assert len(valid) >= 6 and len(train) + len(valid) == 24
    assert [r.id for r in holdout(records, 0.25, seed=0)[1]] == [r.id for r in valid]  # seeded
    _, report = _pretrain(tmp_path, "backbone=unirep64", "backbone.random_init=true", f"data.dataset={toy}", "data.exclude_folds=[0]", "trainer.max_epochs=1")
    assert report["n_train"] + report["n_valid"] == 48  # every record outside fold 0


def test_bad_fasta_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.faa"
    bad.write_text(">ok\nMKVLAAGIVAL\n>broken\nMKV1LA\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "biotune"), "pretrain", f"data.fasta={bad}", "tracking.enabled=false", f"hydra.run.dir={tmp_path}/run"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert lines[-1] == f"error: {bad}: record 'broken': invalid protein letters '1' (first at position 4)"


def test_cfg_job_composes(capsys):
    argv = list(sys.argv)
    try:
        main(["backbone=esm2_tiny", "data.fasta=x.faa", "--cfg", "job"])
    finally:
        sys.argv = argv
    out = capsys.readouterr().out
    assert "checkpoint: esm2_tiny" in out and "mlm_probability: 0.15" in out and "max_time: null" in out
