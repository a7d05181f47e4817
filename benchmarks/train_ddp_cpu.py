"""DDP on CPU: `biotune train trainer=ddp_cpu` (2 processes, gloo) on a dataset fold, timed and checked.

The check: the best validation value logged during DDP training (metrics gathered from both ranks,
de-duplicated, computed once over the whole validation set) must equal the same metric recomputed
in one process from the saved bundle (the restored best weights) on the full validation split.

    .venv/bin/python benchmarks/train_ddp_cpu.py [--dataset DIR] [--epochs 2] [--out DIR]

Without --dataset a small synthetic ARG-like dataset (tests/train_toy.py) is written and used.
Prints a table and writes ddp_cpu.json into --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/bench_ddp_cpu"))
    parser.add_argument("overrides", nargs="*", help="extra training overrides (key=value)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    dataset = args.dataset
    if dataset is None:
        sys.path.insert(0, str(REPO / "tests"))
        from train_toy import toy_dataset

        dataset = toy_dataset(Path(tempfile.mkdtemp()) / "toy", n=205)  # odd validation fold: the distributed sampler pads
    run_dir = args.out / "run"
    cmd = [
        sys.executable, "-c", "from biotune.cli import main; main()", "train",
        "experiment=arg_cnn", "trainer=ddp_cpu", f"data.path={dataset}", f"trainer.max_epochs={args.epochs}",
        "num_threads=1", "trainer.enable_progress_bar=false", f"tracking.uri={args.out}/mlruns", f"hydra.run.dir={run_dir}",
        *args.overrides,
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(proc.stderr[-4000:])
    log = (run_dir / "train.log").read_text() + (run_dir / "train_ddp_process_1.log").read_text()
    report = json.loads((run_dir / "metrics.json").read_text())

    from biotune.bundle import load_bundle
    from biotune.data.dataset import load_dataset
    from biotune.train.callbacks import scalar_metrics
    from biotune.train.datamodule import encode_targets

    bundle = load_bundle(run_dir / "bundle")
    ds = load_dataset(dataset)
    valid = ds.records(ds.fold_split(int(bundle.cfg.data.fold))[1])
    targets, masks = encode_targets(valid, bundle.tasks)
    monitor = bundle.cfg.early_stopping.monitor
    recomputed = scalar_metrics(bundle.tasks, targets, masks, bundle.predict_scores(valid))[monitor.removeprefix("valid/")]
    result = {
        "command": " ".join(cmd[3:]),
        "wall_seconds": round(wall, 1),
        "ranks": sum(f"MEMBER: {i}/2" in log for i in (1, 2)),
        "backend_gloo": "distributed_backend=gloo" in log,
        "monitor": monitor,
        "ddp_best": report["objective"]["best"],
        "single_process_recomputed": recomputed,
        "n_valid": len(valid),
    }
    (args.out / "ddp_cpu.json").write_text(json.dumps(result, indent=2) + "\n")
    for k, v in result.items():
        print(f"{k:28s} {v}")
    if abs(result["ddp_best"] - recomputed) > 1e-6:
        sys.exit("MISMATCH: the DDP validation metric is not the whole-set metric")


if __name__ == "__main__":
    main()
