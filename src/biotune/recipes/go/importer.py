"""Reader of TALE's test sets (``Shen-Lab/TALE`` ``data/ours``): per ontology a list of proteins
(``test_seq_<ont>``: dicts with ``ac``, ``date``, ``seq``, ``GO``) and, in the same order, TALE's propagated
term indices (``test_label_<ont>``); for MF and CC also the index -> GO id map (``<ont>_go_1.pickle``).

``GO`` holds each protein's GO ids as annotated (before propagation), so every ontology, BP included, can be
propagated again with the OBO release; TALE's own indices are kept only to compare propagations (the BP map
is missing upstream). Anything unexpected fails with one line naming the file.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biotune.errors import InputError
from biotune.io.fasta import protein_problem

SEQ_FILE, LABEL_FILE, TERMS_FILE = "test_seq_{ont}", "test_label_{ont}", "{ont}_go_1.pickle"
PROTEIN_KEYS = ("ac", "seq", "GO")


@dataclass(frozen=True)
class TaleProtein:
    """One test protein: accession, UniProt date, sequence, its GO ids as annotated and TALE's label indices."""

    accession: str
    date: str
    sequence: str
    go: tuple[str, ...]
    tale_labels: tuple[int, ...]


def _load(path: Path) -> Any:
    if not path.is_file():
        raise InputError("TALE file not found", path=path)
    try:
        with path.open("rb") as handle:
            return pickle.load(handle)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, ValueError) as exc:
        raise InputError(f"not a readable pickle: {' '.join(str(exc).split())[:120] or type(exc).__name__}", path=path) from None


def _protein(entry: Any, labels: Any, k: int, path: Path, label_path: Path) -> TaleProtein:
    """Protein ``k`` of ``path`` with its labels (entry ``k`` of ``label_path``), checked."""
    if not isinstance(entry, dict) or any(key not in entry for key in PROTEIN_KEYS):
        raise InputError(f"entry {k}: expected a dict with keys {', '.join(PROTEIN_KEYS)}", path=path)
    accession, sequence, go = str(entry["ac"]), entry["seq"], entry["GO"]
    problem = protein_problem(sequence) if isinstance(sequence, str) else "sequence is not a string"
    if problem:
        raise InputError(f"entry {k}: {problem}", path=path, record=accession)
    if not isinstance(go, (list, tuple)) or not go or not all(isinstance(g, str) and g.startswith("GO:") for g in go):
        raise InputError(f"entry {k}: GO is not a non-empty list of GO ids", path=path, record=accession)
    if not isinstance(labels, (list, tuple)) or not all(isinstance(i, int) for i in labels):
        raise InputError(f"entry {k}: labels are not a list of term indices", path=label_path, record=accession)
    return TaleProtein(accession, str(entry.get("date", "")), sequence, tuple(go), tuple(labels))


def read_tale(folder: str | Path, ontology: str) -> list[TaleProtein]:
    """The test proteins of one ontology (``mf``, ``cc`` or ``bp``), in file order."""
    folder = Path(folder)
    seq_path, label_path = folder / SEQ_FILE.format(ont=ontology), folder / LABEL_FILE.format(ont=ontology)
    entries, labels = _load(seq_path), _load(label_path)
    if not isinstance(entries, list) or not entries:
        raise InputError("expected a non-empty list of protein dicts", path=seq_path)
    if not isinstance(labels, list) or len(labels) != len(entries):
        raise InputError(f"expected a list of {len(entries)} label lists (one per protein of {seq_path.name})", path=label_path)
    proteins = [_protein(e, lab, k, seq_path, label_path) for k, (e, lab) in enumerate(zip(entries, labels))]
    seen: set[str] = set()
    for p in proteins:
        if p.accession in seen:
            raise InputError("accession appears twice", path=seq_path, record=p.accession)
        seen.add(p.accession)
    return proteins


def read_tale_terms(folder: str | Path, ontology: str) -> dict[int, str] | None:
    """TALE's term index -> GO id map of one ontology; ``None`` when the file is absent (BP upstream)."""
    path = Path(folder) / TERMS_FILE.format(ont=ontology)
    if not path.exists():
        return None
    terms = _load(path)
    if not isinstance(terms, dict) or not all(isinstance(v, dict) and "ind" in v for v in terms.values()):
        raise InputError("expected a dict GO id -> {ind, ...}", path=path)
    return {int(v["ind"]): str(go) for go, v in terms.items()}
