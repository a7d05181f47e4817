"""Soak `biotune predict` (issue 17, item 3): memory over a long input, and a killed run resumed.

Input: N real proteins resampled with replacement and mutated (each to ~`--identity` of its source,
seeded), written as one gzip'ed FASTA. `--source arg`: the curated ARG and negative sequences of
../shared/data/arg (the sample of predict_throughput.py; ~60 % ARG calls, the worst case for the
homology searches); `--source proteomes`: every protein of the whole proteomes and genomes in
../shared/data/proteomes (a metagenome-like background: few ARGs, many hard negatives).

1. **Resume check** on the first `--resume-subset` proteins: an uninterrupted run; a second run killed
   with SIGKILL once half of its chunks are checkpointed, then `--resume`d. Verified: the resumed run
   read the killed run's chunks back (`resumed_proteins` in predictions.json), predictions.tsv has one
   row per input record, and its SHA-256 equals the uninterrupted run's.
2. **Soak** on all N proteins: one run, the RSS of the whole process tree (biotune + DIAMOND) sampled
   every `--interval` s; rows = N and record numbers 1..N each once.

    .venv/bin/python benchmarks/predict_soak.py --n 1000000 --resume-subset 50000 --source proteomes \
        --out benchmarks/results/predict_soak_1m

Writes predict_soak.json, rss_curve.csv and rss_curve.png to --out. Skips with a message when the
shared data is absent.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict_throughput import SOURCES, real_proteins  # noqa: E402 (the same real-protein sample)

BIOTUNE = str(Path(sys.executable).parent / "biotune")
PROTEOMES = SOURCES.parent / "proteomes"


def proteome_proteins(folder: Path) -> list[str]:
    """Unique protein sequences of every proteome and genome file in ``folder`` (genes of a nucleotide
    genome called with pyrodigal, as the ARG build does), in a fixed order."""
    from biotune.recipes.arg.importers import import_proteome

    return sorted({rec.sequence for rec in import_proteome(folder).records})


def write_input(proteins: list[str], n: int, identity: float, seed: int, path: Path) -> Path:
    """``n`` proteins drawn with replacement and mutated to ~``identity`` (substitutions only), gzip'ed FASTA."""
    from biotune.evaluate.synthetic import mutate

    rng = np.random.default_rng(seed)
    with gzip.open(path, "wt", compresslevel=1) as out:
        for i, k in enumerate(rng.integers(0, len(proteins), size=n)):
            out.write(f">soak_{i + 1} source={k}\n{mutate(proteins[k], identity, rng)}\n")
    return path


def head_fasta(path: Path, n: int, out: Path) -> Path:
    """The first ``n`` records of a gzip'ed FASTA."""
    seen = 0
    with gzip.open(path, "rt") as src, gzip.open(out, "wt", compresslevel=1) as dst:
        for line in src:
            if line.startswith(">"):
                seen += 1
                if seen > n:
                    break
            dst.write(line)
    return out


def tree_rss(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
    except psutil.Error:
        return 0


def run(cmd: list[str], *, interval: float, kill_when=None) -> dict:
    """Run ``cmd`` sampling the process tree's RSS; SIGKILL it when ``kill_when()`` turns true."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    curve, killed = [], False
    while proc.poll() is None:
        rss = tree_rss(proc)
        if rss:  # 0 = the process just ended
            curve.append((round(time.perf_counter() - start, 1), rss))
        if kill_when is not None and not killed and kill_when():
            proc.send_signal(signal.SIGKILL)
            killed = True
        time.sleep(interval)
    _, stderr = proc.communicate()
    if proc.returncode != 0 and not killed:
        sys.exit(f"`{' '.join(cmd)}` failed:\n{stderr[-3000:]}")
    return {"wall_seconds": round(time.perf_counter() - start, 1), "returncode": proc.returncode, "curve": curve, "stderr": stderr[-2000:]}


def predict_cmd(fasta: Path, out: Path, args: argparse.Namespace, *extra: str) -> list[str]:
    cmd = [BIOTUNE, "predict", str(fasta), "-o", str(out), "--quiet", "--chunk-size", str(args.chunk_size), *extra]
    cmd += ["--model", str(args.bundle)] if args.bundle else []
    return cmd + (["--threads", str(args.threads)] if args.threads else [])


def check_rows(out: Path, n: int) -> dict:
    """predictions.tsv: one row per input record (record numbers 1..n, each once) and its SHA-256."""
    path = out / "predictions.tsv"
    records = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            records.append(int(row["record"]))
    summary = json.loads((out / "predictions.json").read_text())["summary"]
    return {
        "rows": len(records),
        "one_row_per_record": records == list(range(1, n + 1)),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "arg_calls": summary["arg_calls"],
        "resumed_proteins": summary.get("resumed_proteins", 0),
        "statuses": summary["statuses"],
    }


def resume_check(fasta: Path, n: int, tmp: Path, args: argparse.Namespace) -> dict:
    whole = run(predict_cmd(fasta, tmp / "whole", args), interval=args.interval)
    reference = check_rows(tmp / "whole", n)
    chunks = -(-n // args.chunk_size)
    done = lambda: len(list((tmp / "killed" / ".biotune-chunks").glob("chunk-*.json.gz")))  # noqa: E731
    killed = run(predict_cmd(fasta, tmp / "killed", args), interval=0.2, kill_when=lambda: done() >= chunks // 2)
    at_kill = done()
    resumed = run(predict_cmd(fasta, tmp / "killed", args, "--resume"), interval=args.interval)
    result = check_rows(tmp / "killed", n)
    return {
        "proteins": n,
        "chunks": chunks,
        "uninterrupted_seconds": whole["wall_seconds"],
        "killed_after_seconds": killed["wall_seconds"],
        "killed_returncode": killed["returncode"],
        "chunks_checkpointed_at_kill": at_kill,
        "resumed_seconds": resumed["wall_seconds"],
        "resumed_proteins": result["resumed_proteins"],
        "rows": result["rows"],
        "one_row_per_record": result["one_row_per_record"],
        "sha256_uninterrupted": reference["sha256"],
        "sha256_resumed": result["sha256"],
        "identical": reference["sha256"] == result["sha256"],
    }


def plot(curve: list[tuple[float, int]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, rss = zip(*curve)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(np.array(t) / 60, np.array(rss) / 2**30)
    ax.set_xlabel("minutes")
    ax.set_ylabel("RSS of biotune + DIAMOND (GiB)")
    ax.set_title(title, fontsize=9)
    ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="proteins in the soak run (0: resume check only)")
    parser.add_argument("--resume-subset", type=int, default=50_000, help="proteins of the kill-and-resume check (0: none)")
    parser.add_argument("--source", choices=("arg", "proteomes"), default="arg", help="where the real proteins come from")
    parser.add_argument("--identity", type=float, default=0.9, help="identity of each mutated protein to its source")
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between RSS samples")
    parser.add_argument("--bundle", type=Path, help="annotation bundle [default: the default bundle]")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tmp", type=Path, default=None, help="work folder (inputs and outputs; default: a temporary one)")
    parser.add_argument("--out", type=Path, default=Path("results/predict_soak"))
    args = parser.parse_args()
    folder = SOURCES if args.source == "arg" else PROTEOMES
    if not (folder / "README.md").exists():
        print(f"skipped: real {args.source} data not found at {folder} (set BIOTUNE_ARG_SOURCES)")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"benchmark": "predict_soak", "command": " ".join(sys.argv), "cpus": os.cpu_count(), "chunk_size": args.chunk_size}
    with tempfile.TemporaryDirectory(prefix="predict_soak_", dir=args.tmp) as name:
        tmp = Path(name)
        proteins = real_proteins(SOURCES) if args.source == "arg" else proteome_proteins(PROTEOMES)
        size = max(args.n, args.resume_subset)
        start = time.perf_counter()
        full = write_input(proteins, size, args.identity, args.seed, tmp / "soak.faa.gz")
        report["input"] = {"source": args.source, "proteins": size, "unique_sources": len(proteins), "identity": args.identity, "write_seconds": round(time.perf_counter() - start, 1)}
        if args.resume_subset:
            subset = head_fasta(full, args.resume_subset, tmp / "subset.faa.gz") if args.resume_subset < size else full
            report["resume"] = resume_check(subset, args.resume_subset, tmp / "resume", args)
            print(json.dumps(report["resume"], indent=1))
        if args.n:
            load_before = os.getloadavg()
            soak = run(predict_cmd(full, tmp / "soak", args), interval=args.interval)
            rows = check_rows(tmp / "soak", size)
            rss = [r for _, r in soak["curve"]]
            tail = rss[len(rss) // 10 :] or rss
            report["soak"] = {
                "proteins": args.n,
                "wall_seconds": soak["wall_seconds"],
                "proteins_per_second": round(args.n / soak["wall_seconds"], 1),
                "peak_rss_mb": round(max(rss) / 2**20, 1),
                "rss_mb_after_first_10pct_min_max": [round(min(tail) / 2**20, 1), round(max(tail) / 2**20, 1)],
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                **{k: rows[k] for k in ("rows", "one_row_per_record", "arg_calls", "statuses")},
            }
            with open(args.out / "rss_curve.csv", "w") as handle:
                handle.write("seconds,rss_bytes\n" + "".join(f"{t},{r}\n" for t, r in soak["curve"]))
            plot(soak["curve"], args.out / "rss_curve.png", f"biotune predict, {args.n:,} proteins, chunk {args.chunk_size}: peak {max(rss) / 2**30:.2f} GiB")
            print(json.dumps(report["soak"], indent=1))
    (args.out / "predict_soak.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"written: {args.out / 'predict_soak.json'}")


if __name__ == "__main__":
    main()
