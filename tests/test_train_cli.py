"""`biotune train` on bad input: one line naming the problem, exit code 2, no traceback."""

from __future__ import annotations

import sys

import pytest

from biotune.train.run import main
from train_toy import toy_dataset


def _train(args, capsys) -> str:
    argv = list(sys.argv)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["experiment=arg_cnn", "hydra.output_subdir=null", "hydra/job_logging=disabled", "hydra/hydra_logging=disabled", *args])
    finally:
        sys.argv = argv
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_bad_dataset_and_unknown_task_are_one_line_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = _train([f"data.path={tmp_path}/missing", f"hydra.run.dir={tmp_path}/a"], capsys)
    assert "not a biotune dataset: records.tsv is missing" in err and "Traceback" not in err
    toy = toy_dataset(tmp_path / "toy", n=20)
    err = _train([f"data.path={toy}", "task.names=[resistome]", f"hydra.run.dir={tmp_path}/b"], capsys)
    assert "task(s) ['resistome'] not in the dataset" in err and "Traceback" not in err
