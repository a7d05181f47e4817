"""Spectral heart-rate baseline on the SP Cup 2015 wrist-PPG data: the yardstick for learned PPG models.

Two protocols, each scored per subject and over subjects with subject-bootstrap 95 % CIs:

* ``train_loso``: the 12 training recordings (12 subjects), leave one subject out — the baseline's
  settings are chosen from ``configs/ppg/spectral.yaml:grid`` on the other 11 subjects only;
* ``test``: settings chosen on all 12 training recordings, scored on the 10 test recordings
  (``TrueBPM``; 8 subjects). The extra recording (test subject S04) is used by neither.

Published anchors (mean over the 12 training recordings of per-recording MAE): TROIKA about 2.3 BPM,
JOSS about 1.3 BPM — compare them with ``group_mean`` MAE.

    OMP_NUM_THREADS=1 python benchmarks/ppg_spectral_baseline.py --out benchmarks/results/ppg_spectral_baseline

Why a script and not ``biotune benchmark`` (``evaluate/runner.py``): the runner is protein-shaped where it
matters. ``Record.sequence`` is a ``str`` and ``Dataset``/``load_dataset`` read a ``sequence`` column of a
TSV, while a window is a ``(5, 1000)`` float array; ``run_benchmark`` calls ``fold_identity`` (DIAMOND
identity of test to training sequences) on every fold without a way to turn it off, and every prediction
table carries identity bins; the splits are ``folds``/``proteome`` over table columns (leave-subject-out
would need a subject column standing in for ``proteome``, plus a validation fold); ``bootstrap.unit`` is
``record`` or ``cluster`` (a subject unit would map to ``cluster``). A Windows-backed dataset and an
optional identity step would let this method, and the learned PPG models, run through the runner.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from biotune.errors import BiotuneError, report_error
from biotune.evaluate.grouped import grouped_regression_metrics
from biotune.recipes.ppg import recipe_config
from biotune.recipes.ppg.importers import load_recordings
from biotune.recipes.ppg.spectral import SpectralHeartRate
from biotune.recipes.ppg.windows import Windows, make_windows, out_of_fold

ANCHORS = {"TROIKA": 2.3, "JOSS": 1.3}


def fit_predict(spectral_cfg, fs: float, selections: list[dict]):
    """A leave-subject-out ``fit_predict`` that records the settings each fold selected."""

    def run(train: Windows, valid: Windows, test: Windows) -> np.ndarray:
        model = SpectralHeartRate.from_config(spectral_cfg, fs).fit(train)
        selections.append(dict(model.selected))
        return model.predict(test)

    return run


def scored(w: Windows, pred: np.ndarray, n_boot: int) -> tuple[dict, pd.DataFrame]:
    """Metrics by subject (bootstrap over subjects) and the per-window prediction table."""
    metrics = grouped_regression_metrics(w.bpm, pred, w.subject, n_boot=n_boot)
    metrics["per_recording"] = {r: float(np.mean(np.abs(pred[w.recording == r] - w.bpm[w.recording == r]))) for r in dict.fromkeys(w.recording.tolist())}
    table = pd.DataFrame({"recording": w.recording, "window": w.index, "subject": w.subject, "bpm_true": w.bpm, "bpm_pred": np.round(pred, 2)})
    return metrics, table


def ci(m: dict) -> str:
    return f"{m['value']:.2f} [{m['ci_low']:.2f}, {m['ci_high']:.2f}]"


def markdown(results: dict) -> str:
    lines = [
        "# Spectral heart-rate baseline, SP Cup 2015 wrist PPG",
        "",
        f"Command: `{results['command']}`  ",
        f"Load before the run (`uptime`): {results['load']}  ",
        f"Settings searched on training subjects only: `{json.dumps(results['config']['spectral']['grid'])}`",
        "",
        "| protocol | subjects | windows | summary | MAE (BPM) | RMSE (BPM) | Pearson r |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results["protocols"].items():
        for summary in ("group_mean", "pooled"):
            s = r["metrics"][summary]
            lines.append(f"| {name} | {r['metrics']['n_groups']} | {r['metrics']['n']} | {summary} | {ci(s['mae'])} | {ci(s['rmse'])} | {ci(s['pearson'])} |")
    lines += ["", f"95 % percentile intervals over {results['n_boot']:,} resamples of whole subjects. `group_mean`: mean of per-subject values;",
              "`pooled`: over all windows. Published anchors, mean per-recording MAE on the 12 training recordings: "
              + ", ".join(f"{k} ≈ {v} BPM" for k, v in ANCHORS.items()) + " (compare with train_loso group_mean MAE).", ""]
    for name, r in results["protocols"].items():
        lines += [f"## {name}: MAE per recording (BPM)", "", "| recording | subject | MAE |", "|---|---|---|"]
        lines += [f"| {rec} | {r['subject_of'][rec]} | {mae:.2f} |" for rec, mae in r["metrics"]["per_recording"].items()]
        lines += ["", f"Settings selected per fit: `{json.dumps(r['selected'])}`", ""]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict:
    data_cfg = recipe_config("spc2015", [f"root={args.root}"] if args.root else [])
    spectral_cfg = recipe_config("spectral", args.set)
    fs = float(data_cfg.fs)
    train = make_windows(load_recordings(data_cfg.root, ("train",), window=data_cfg.window, step=data_cfg.step), data_cfg)
    test = make_windows(load_recordings(data_cfg.root, ("test",), window=data_cfg.window, step=data_cfg.step), data_cfg)
    protocols, tables = {}, []
    start = time.perf_counter()
    selected: list[dict] = []
    pred, held_out = out_of_fold(train, fit_predict(spectral_cfg, fs, selected))
    protocols["train_loso"] = {"held_out": held_out, "selected": dict(zip(held_out, selected)), "pred": pred, "windows": train}
    model = SpectralHeartRate.from_config(spectral_cfg, fs).fit(train)
    protocols["test"] = {"selected": {"all_training": dict(model.selected)}, "pred": model.predict(test), "windows": test}
    out = {"protocols": {}}
    for name, p in protocols.items():
        w = p.pop("windows")
        metrics, table = scored(w, p.pop("pred"), args.n_boot)
        tables.append(table.assign(protocol=name))
        out["protocols"][name] = {**p, "metrics": metrics, "subject_of": dict(zip(w.recording.tolist(), w.subject.tolist()))}
    out["seconds"] = round(time.perf_counter() - start, 1)
    out["config"] = {"data": OmegaConf.to_container(data_cfg), "spectral": OmegaConf.to_container(spectral_cfg)}
    out["anchors_mae_bpm"] = ANCHORS
    out["command"] = " ".join(["python", *sys.argv])
    out["load"] = args.load
    out["n_boot"] = args.n_boot
    args.out.mkdir(parents=True, exist_ok=True)
    pd.concat(tables).to_csv(args.out / "predictions.csv.gz", index=False)
    (args.out / "metrics.json").write_text(json.dumps(out, indent=2, sort_keys=True, default=float) + "\n")
    (args.out / "summary.md").write_text(markdown(out))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", help="data folder (default: configs/ppg/spc2015.yaml root)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ppg_spectral_baseline"))
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--set", nargs="*", default=[], help="spectral settings, key=value (e.g. grid=null decode=greedy)")
    args = parser.parse_args()
    args.load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    try:
        out = run(args)
    except BiotuneError as exc:
        report_error(exc)
        return 2
    print(markdown(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
