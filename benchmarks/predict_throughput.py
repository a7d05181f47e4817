"""End-to-end throughput of `biotune predict` with the default bundle on real proteins: proteins/s, wall time, peak RSS.

Samples N unique real proteins (seeded) from ../shared/data/arg (HMD-ARG-DB parts, HMD-only ARGs,
CARD homolog models, SwissProt negatives: the real length distribution), writes them as FASTA and
runs the real command, `biotune predict sample.faa -o OUT --model BUNDLE`, once per size, sampling
the memory of the whole process tree (biotune + DIAMOND) every 0.1 s.

    .venv/bin/python benchmarks/predict_throughput.py [--sizes 10000] [--inputs genome.fna.gz] [--bundle DIR] [--out DIR]

`--inputs FILE,...` also measures given files as they are (e.g. a whole proteome or a genome FASTA,
gene calling included). Without --bundle the default bundle is used (`biotune arg train-default` builds it). Skips with a
message when the shared data is absent. Prints a table and writes predict_throughput.json to --out.
Running several sizes (e.g. --sizes 1000,10000,100000; sizes above the number of unique proteins
repeat them under new ids) shows whether memory stays bounded as the input grows.
`--compare-bundle DIR` runs a second bundle on each input right after the first (the same load: compare the
two as ratios) and reports how many rows of the two outputs agree on call, call basis, classes and mechanism.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
SOURCES = Path(os.environ.get("BIOTUNE_ARG_SOURCES", REPO.parent / "shared" / "data" / "arg"))


def real_proteins(sources: Path) -> list[str]:
    """Unique protein sequences of the shared ARG data, in a fixed order."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    seqs: list[str] = []
    csv.field_size_limit(10**7)
    for part in ("part_test.csv", "part_val.csv"):
        with open(sources / "hmd_arg_db" / part, newline="") as handle:
            seqs += [row["Sequence"] for row in csv.DictReader(handle)]
    for fasta in (
        "hmd_arg_db_extra/hmd_only.fasta",
        "negatives/swissprot_nonarg_hypervr.fasta",
        "card_v3.2.4/protein_fasta_protein_homolog_model.fasta",
    ):
        with open(sources / fasta) as handle:
            seqs += [seq for _, seq in SimpleFastaParser(handle)]
    cleaned = (s.strip().upper().rstrip("*") for s in seqs)
    return sorted({s for s in cleaned if s})


def write_sample(proteins: list[str], n: int, path: Path, seed: int = 0) -> Path:
    rng = random.Random(seed)
    picked = rng.sample(proteins, min(n, len(proteins)))
    while len(picked) < n:
        picked += rng.sample(proteins, min(n - len(picked), len(proteins)))
    with open(path, "w") as out:
        for i, seq in enumerate(picked):
            out.write(f">protein_{i}\n{seq}\n")
    return path


def run_measured(cmd: list[str]) -> dict:
    """Run ``cmd``; wall and CPU time (biotune + DIAMOND), peak RSS of biotune and of the whole process tree.

    CPU seconds stay meaningful on a shared machine where wall time is inflated by other load.
    """
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_main = peak_tree = 0
    while proc.poll() is None:
        try:
            main = proc.memory_info().rss
            tree = main + sum(c.memory_info().rss for c in proc.children(recursive=True))
        except psutil.Error:
            continue
        peak_main, peak_tree = max(peak_main, main), max(peak_tree, tree)
        time.sleep(0.1)
    wall = time.perf_counter() - start
    _, stderr = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"`{' '.join(cmd)}` failed:\n{stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "peak_rss_mb_biotune": round(peak_main / 2**20, 1),
        "peak_rss_mb_tree": round(peak_tree / 2**20, 1),
    }


def measure_predict(cmd: list[str], name: str, out_dir: Path, tmp: str) -> dict:
    """One measured ``biotune predict`` run and the summary of what it wrote."""
    measured = run_measured(cmd)
    summary = json.loads((out_dir / "predictions.json").read_text())["summary"]
    return {
        "input": name,
        "input_type": summary["input_type"],
        "proteins": summary["proteins"],
        **measured,
        "proteins_per_second_end_to_end": round(summary["proteins"] / measured["wall_seconds"], 1),
        "proteins_per_second_pipeline": summary["proteins_per_second"],
        "arg_calls": summary["arg_calls"],
        "arg_calls_by_call_basis": summary.get("arg_calls_by_call_basis"),
        "statuses": summary["statuses"],
        "command": " ".join(cmd[1:]).replace(tmp, "$TMP"),
    }


def prediction_agreement(a: Path, b: Path) -> dict:
    """Rows of two predictions.tsv of the same input that agree on the call, its basis, drug classes and mechanism."""
    import pandas as pd

    x, y = (pd.read_csv(f, sep="\t", dtype=str, keep_default_na=False) for f in (a, b))
    if list(x["id"]) != list(y["id"]):
        raise SystemExit(f"{a} and {b} list other records")
    same = {c: int((x[c] == y[c]).sum()) for c in ("is_arg", "call_basis", "drug_classes", "mechanism", "nearest_reference")}
    delta = (x["is_arg_probability"].astype(float) - y["is_arg_probability"].astype(float)).abs()
    return {"rows": len(x), **{f"same_{c}": n for c, n in same.items()}, "max_abs_delta_is_arg_probability": round(float(delta.max()), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="comma-separated protein counts of real-protein samples ('' for none)")
    parser.add_argument("--inputs", default="", help="comma-separated input files measured as they are (a proteome, a genome)")
    parser.add_argument("--bundle", type=Path, help="annotation bundle [default: the default bundle]")
    parser.add_argument("--compare-bundle", type=Path, help="a second bundle run on the same inputs right after the first (same load): wall times side by side and how far its predictions agree")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("results/bench_predict"))
    args = parser.parse_args()
    if not (SOURCES / "README.md").exists():
        print(f"skipped: real ARG data not found at {SOURCES} (set BIOTUNE_ARG_SOURCES)")
        return
    from biotune.predict.annotation_bundle import load_bundle
    from biotune.recipes.arg.default_model import default_bundle_dir, how_to_build_default

    bundle_dir = args.bundle or default_bundle_dir()
    if not bundle_dir.exists():
        sys.exit(how_to_build_default())
    manifest = load_bundle(bundle_dir).manifest
    proteins = real_proteins(SOURCES)
    biotune = str(Path(sys.executable).parent / "biotune")
    bundles = [bundle_dir] + ([args.compare_bundle] if args.compare_bundle else [])
    rows, agreement = [], []
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as tmp:
        samples = [(f"sample_{n}", write_sample(proteins, n, Path(tmp) / f"sample_{n}.faa")) for n in (int(s) for s in args.sizes.split(",") if s)]
        for name, path in samples + [(Path(p).name, Path(p)) for p in args.inputs.split(",") if p]:
            outs = []
            for b, bundle in enumerate(bundles):
                out_dir = Path(tmp) / f"out_{name}_{b}"
                cmd = [biotune, "predict", str(path), "-o", str(out_dir), "--model", str(bundle), "--quiet"]
                cmd += ["--threads", str(args.threads)] if args.threads else []
                rows.append({"bundle": str(bundle), **measure_predict(cmd, name, out_dir, tmp)})
                outs.append(out_dir / "predictions.tsv")
            if len(outs) == 2:
                agreement.append({"input": name, **prediction_agreement(*outs)})
    report = {
        "benchmark": "predict_throughput",
        "bundle": {k: manifest.get(k) for k in ("model_version", "method", "dataset")},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "unique_real_proteins": len(proteins),
        "results": rows,
        **({"compare_bundle": str(args.compare_bundle), "agreement": agreement} if agreement else {}),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "predict_throughput.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"bundle {manifest.get('model_version')} ({manifest.get('method')}); {os.cpu_count()} CPUs")
    print(f"{'bundle':>16} {'input':>40} {'proteins':>9} {'wall s':>8} {'CPU s':>8} {'load':>5} {'prot/s e2e':>11} {'prot/s pipe':>12} {'RSS biotune MB':>15} {'RSS tree MB':>12}")
    for r in rows:
        print(
            f"{Path(r['bundle']).name[:16]:>16} {r['input']:>40} {r['proteins']:>9} {r['wall_seconds']:>8} {r['cpu_seconds']:>8} {r['load_average_1min_at_end']:>5} {r['proteins_per_second_end_to_end']:>11} "
            f"{r['proteins_per_second_pipeline']:>12} {r['peak_rss_mb_biotune']:>15} {r['peak_rss_mb_tree']:>12}"
        )
    for a in agreement:
        print(f"agreement on {a['input']}: " + ", ".join(f"{k} {v}" for k, v in a.items() if k != "input"))
    print(f"written: {args.out / 'predict_throughput.json'}")


if __name__ == "__main__":
    main()
