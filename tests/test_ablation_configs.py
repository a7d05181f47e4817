"""The ablation configs (benchmarks/imbalance_ablation.py): every option is its baseline with exactly
the one change it declares, and that change reaches a knob the method really has."""

import importlib.util
import inspect
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from biotune.data.augment import build_augmenter
from biotune.evaluate.compare_results import flat_params, param_differences
from biotune.evaluate.runner import build_method, method_spec
from biotune.imbalance.wgan import WGANConfig
from biotune.paths import config_dir

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((config_dir() / "imbalance").glob("ablation*.yaml"))


def _ablation_script():
    spec = importlib.util.spec_from_file_location("imbalance_ablation", ROOT / "benchmarks" / "imbalance_ablation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spec(params: dict) -> dict:
    class_name, rest = method_spec(params["method"], {k: v for k, v in params.items() if k != "method"})
    return {"method": class_name, "params": rest}


def test_both_ablations_are_found():
    assert {p.name for p in CONFIGS} == {"ablation.yaml", "ablation_augment.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_option_is_the_baseline_with_one_declared_change(path, tmp_path):
    cfg = OmegaConf.load(path)
    methods = _ablation_script().method_table(cfg, None, str(tmp_path / "cache.h5"), tmp_path / "quality")
    baseline = cfg.baseline
    assert set(methods) == {baseline} | {f"{baseline}-{name}" for name in cfg.options}
    for name, change in cfg.options.items():
        params = methods[f"{baseline}-{name}"]
        if change.get("method") == "ensemble":
            assert params["base"] == baseline and params["k"] == change.k
            assert params["base_params"] == {k: v for k, v in methods[baseline].items() if k != "method"}
            continue
        declared = set(flat_params(OmegaConf.to_container(change, resolve=True)))
        differences = set(param_differences(_spec(params), _spec(methods[baseline])))
        assert differences - {"quality_dir"} == declared, name
        method = build_method(params["method"], {k: v for k, v in params.items() if k != "method"}, seed=0)
        knobs = set(inspect.signature(type(method).__init__).parameters) - {"self", "params"}
        assert {k.split(".")[0] for k in declared} <= knobs, f"{name}: not a parameter of {params['method']}"
        if "wgan" in change:
            WGANConfig(**params["wgan"])
        if hasattr(method, "training_config"):
            augment = method.training_config().data.augment
            assert build_augmenter(augment) is not None
            assert set(augment) == {k.rsplit(".", 1)[1] for k in declared}
