"""Many genomes through `biotune predict`: one process vs a local Ray cluster (issue 16, item 4).

Takes `--n-inputs` inputs cycling through `--inputs` (each a link with its own name, so every one gets
its own output folder), runs the real command twice on the same machine, one after the other:

* sequential: `biotune predict IN1 … INn -o OUT/local --threads T`
* Ray:        `biotune predict IN1 … INn -o OUT/ray --ray local --workers W --threads T/W`

and reports the wall time and peak RSS of each (process tree: biotune, Ray workers, DIAMOND), and
whether every input's predictions.tsv is byte-identical between the two.

    .venv/bin/python benchmarks/predict_ray.py --n-inputs 20 \
        --inputs ../shared/data/proteomes/UP000000429_85962.fasta.gz,../shared/data/proteomes/GCF_001457455.1_NCTC11397_genomic.fna.gz

On one 2-core machine Ray cannot be faster than DIAMOND on both cores; this measures what the
scale-out costs and that it changes nothing in the output. Writes predict_ray.json to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

BIOTUNE = str(Path(sys.executable).parent / "biotune")


def measured(cmd: list[str]) -> dict:
    start = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True)))
        except psutil.Error:
            pass
        time.sleep(0.2)
    _, stderr = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"`{' '.join(cmd)}` failed:\n{stderr[-3000:]}")
    return {"wall_seconds": round(time.perf_counter() - start, 1), "peak_rss_mb_tree": round(peak / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", required=True, help="comma-separated FASTA/GenBank files, cycled to --n-inputs")
    parser.add_argument("--n-inputs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads in all (sequential run), split between the Ray workers")
    parser.add_argument("--bundle", type=Path, help="annotation bundle [default: the default bundle]")
    parser.add_argument("--out", type=Path, default=Path("results/predict_ray"))
    args = parser.parse_args()
    sources = [Path(p).resolve() for p in args.inputs.split(",") if p]
    missing = [str(p) for p in sources if not p.exists()]
    if missing:
        print(f"skipped: inputs not found: {missing}")
        return
    model = ["--model", str(args.bundle)] if args.bundle else []
    with tempfile.TemporaryDirectory(prefix="predict_ray_") as name:
        tmp = Path(name)
        inputs = []
        for i in range(args.n_inputs):
            source = sources[i % len(sources)]
            link = tmp / "in" / f"genome{i + 1:02d}_{source.name}"
            link.parent.mkdir(exist_ok=True)
            link.symlink_to(source)
            inputs.append(str(link))
        load = os.getloadavg()
        local = measured([BIOTUNE, "predict", *inputs, "-o", str(tmp / "local"), "-q", "--threads", str(args.threads), *model])
        per_worker = max(1, args.threads // args.workers)
        ray = measured([BIOTUNE, "predict", *inputs, "-o", str(tmp / "ray"), "-q", "--threads", str(per_worker), "--ray", "local", "--workers", str(args.workers), *model])
        folders = sorted(p.name for p in (tmp / "local").iterdir())
        identical = [(tmp / "local" / f / "predictions.tsv").read_bytes() == (tmp / "ray" / f / "predictions.tsv").read_bytes() for f in folders]
        proteins = sum(json.loads((tmp / "local" / f / "predictions.json").read_text())["summary"]["proteins"] for f in folders)
    report = {
        "benchmark": "predict_ray",
        "command": " ".join(sys.argv),
        "inputs": args.n_inputs,
        "sources": [p.name for p in sources],
        "proteins": proteins,
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "sequential": {**local, "threads": args.threads},
        "ray": {**ray, "workers": args.workers, "threads_per_worker": per_worker},
        "ray_over_sequential_wall": round(ray["wall_seconds"] / local["wall_seconds"], 3),
        "predictions_tsv_identical": f"{sum(identical)}/{len(identical)}",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "predict_ray.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
