"""Does a cheap first DIAMOND pass lose evidence? The alignment base's ``first_pass`` measured on real proteins.

Searches the seeded throughput sample (``predict_throughput.py``'s sample of N real proteins) against a
bundle's alignment references once at full sensitivity (the base's ``sensitivity``) and once per cheaper
mode, timing each. For the queries a mode settles (best hit >= ``--close`` % identity over as much of both
sequences: :func:`biotune.methods.alignment.close_best_hit_queries`), it reports how often their
top_fraction window — the hits whose bitscore is within ``top_fraction`` of the best, the hits that vote
for the classes — is exactly the full search's, and how many hits per query each search returned.

    .venv/bin/python benchmarks/alignment_first_pass.py --n 2000 --out benchmarks/results/alignment_first_pass.md
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict_throughput import SOURCES, real_proteins, write_sample  # noqa: E402

from biotune.evaluate.report import markdown_table  # noqa: E402
from biotune.homology.diamond import blastp  # noqa: E402
from biotune.io.fasta import read_fasta  # noqa: E402
from biotune.methods.alignment import close_best_hit_queries  # noqa: E402
from biotune.methods.base import load_method  # noqa: E402


def window(hits: pd.DataFrame, top_fraction: float) -> pd.Series:
    """query -> frozenset of the references within ``top_fraction`` of its best bitscore."""
    best = hits.groupby("qseqid")["bitscore"].transform("max")
    return hits[hits["bitscore"] >= top_fraction * best].groupby("qseqid")["sseqid"].apply(frozenset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="proteins of the seeded throughput sample")
    parser.add_argument("--bundle", type=Path, help="annotation bundle [default: the default bundle]")
    parser.add_argument("--modes", default="fast,default,mid-sensitive", help="first-pass sensitivities to compare")
    parser.add_argument("--close", type=float, default=90.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not (SOURCES / "README.md").exists():
        print(f"skipped: real ARG data not found at {SOURCES} (set BIOTUNE_ARG_SOURCES)")
        return
    from biotune.recipes.arg.default_model import default_bundle_dir

    base_dir = (args.bundle or default_bundle_dir()) / "bases" / "alignment"
    base = load_method(base_dir)
    p = base.params
    with tempfile.TemporaryDirectory(prefix="first_pass_") as tmp:
        queries = {r.id: r.sequence for r in read_fasta(write_sample(real_proteins(SOURCES), args.n, Path(tmp) / "sample.faa"))}
    searches = {}
    for mode in [p["sensitivity"], *args.modes.split(",")]:
        start = time.perf_counter()
        hits = blastp(queries, base._database(), evalue=p["evalue"], sensitivity=mode, max_target_seqs=p["max_target_seqs"], threads=p["threads"])
        searches[mode] = (hits.drop_duplicates(["qseqid", "sseqid"]), time.perf_counter() - start)
    full, full_seconds = searches.pop(p["sensitivity"])
    full_window = window(full, p["top_fraction"])
    rows = [{"search": f"{p['sensitivity']} (all queries)", "seconds": round(full_seconds, 1), "hits per query": round(len(full) / max(1, full["qseqid"].nunique()), 1),
             "settled queries": "", "settled: same window": ""}]
    for mode, (hits, seconds) in searches.items():
        settled = sorted(close_best_hit_queries(hits, args.close))
        same = (window(hits[hits["qseqid"].isin(settled)], p["top_fraction"]).reindex(settled) == full_window.reindex(settled)).sum()
        rows.append({
            "search": f"{mode} (first pass)", "seconds": round(seconds, 1), "hits per query": round(len(hits) / max(1, hits["qseqid"].nunique()), 1),
            "settled queries": len(settled), "settled: same window": f"{same} ({same / max(1, len(settled)):.1%})",
        })
    text = (
        f"<!-- .venv/bin/python benchmarks/alignment_first_pass.py --n {args.n} --close {args.close} --out {args.out} -->\n"
        f"# A cheap first DIAMOND pass on {len(queries)} real proteins (seeded throughput sample)\n\n"
        f"References: {base_dir} ({len(base.references)} sequences); E <= {p['evalue']}, {p['max_target_seqs']} hits per query, "
        f"top_fraction {p['top_fraction']}; settled = best hit >= {args.close} % identity over >= {args.close} % of both. "
        f"{os.cpu_count()} CPUs, load average at the end {os.getloadavg()[0]:.2f}: compare the seconds as ratios.\n\n"
        + markdown_table(pd.DataFrame(rows)) + "\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
