"""Fuzz the config reader and the ``--set`` overrides (``biotune.recipes.config.load_recipe_config`` with
:func:`biotune.overrides.merge_overrides`): ``python fuzz/fuzz_config.py -max_total_time=60``.

An input is a YAML config file, then a NUL byte, then one ``key=value`` override per line.
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import fuzz  # noqa: E402

with atheris.instrument_imports(include=["biotune", "omegaconf", "yaml"]):
    from biotune.recipes.config import load_recipe_config

CONFIG = b"name: arg\nfolds:\n  n_folds: 5\n  seed: 0\nsources:\n  hmd: {format: hmd_csv, paths: [a.csv]}\nrule: {identity: 0.8, on: true}\n"
SEEDS = {
    "plain": CONFIG,
    "overrides": CONFIG + b"\0folds.seed=1\nsources.hmd=null\nrule.identity=abc\n",
    "interpolation": CONFIG + b"\0name=${folds.seed}\nfolds=[1, 2]\n",
}


def read(path: Path) -> None:
    config, _, overrides = path.read_bytes().partition(b"\0")
    path.write_bytes(config)
    load_recipe_config(path, overrides.decode("utf-8", "replace").splitlines())


if __name__ == "__main__":
    fuzz("config", "config.yaml", read, SEEDS)
