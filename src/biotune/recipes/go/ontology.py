"""The Gene Ontology read with ``obonet`` and the true-path rule: a protein annotated with a term is annotated
with every ancestor of it along ``is_a`` and ``part_of`` (the relations GO propagates annotations over;
``regulates`` is not one of them).

``obonet`` was chosen over pronto and goatools: it is a small, maintained pure-Python reader that keeps every
OBO tag (``alt_id``, ``is_obsolete``, ``replaced_by``) and gives the relations as a typed ``networkx`` graph,
so the propagation rule is stated here in a few lines rather than hidden in a library default; it parses the
47k-term go-basic in about 8 s (pronto's full OBO model is slower; goatools is an enrichment toolkit).

Ids from older annotation files are *resolved* against this release: a current id stays, a secondary id
(``alt_id``, a merged term) maps to its primary id, an obsolete term maps to its single ``replaced_by``
term; an obsolete term without one, or an id absent from the release, cannot be propagated and is
reported by the caller (the dataset card counts every case).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import networkx as nx

from biotune.errors import InputError

#: Relations annotations propagate over (GO's true-path rule).
PROPAGATING = ("is_a", "part_of")
NAMESPACES = {"mf": "molecular_function", "cc": "cellular_component", "bp": "biological_process"}
ROOTS = {"mf": "GO:0003674", "cc": "GO:0005575", "bp": "GO:0008150"}
#: Outcomes of :meth:`Ontology.resolve`.
CURRENT, SECONDARY, REPLACED, OBSOLETE, MISSING = "current", "alt_id", "obsolete_replaced", "obsolete", "missing"


@dataclass(frozen=True)
class Resolved:
    """An id as given, the current id it stands for (``None`` when none) and how it was found."""

    given: str
    term: str | None
    status: str


class Ontology:
    """A GO release: current terms with their namespaces and names, secondary ids, and the propagation graph."""

    def __init__(self, graph: nx.MultiDiGraph, relations: Sequence[str] = PROPAGATING):
        self.version = str(graph.graph.get("data-version", "unknown"))
        self.nodes = dict(graph.nodes(data=True))
        self.secondary = {alt: term for term, data in self.nodes.items() for alt in data.get("alt_id", [])}
        self.parents_of: dict[str, set[str]] = {t: set() for t in self.nodes}
        for child, parent, relation in graph.edges(keys=True):
            if relation in relations and self.namespace(child) == self.namespace(parent):
                self.parents_of[child].add(parent)
        self._ancestors = lru_cache(maxsize=None)(self._compute_ancestors)

    def namespace(self, term: str) -> str:
        return str(self.nodes[term].get("namespace", ""))

    def name(self, term: str) -> str:
        return str(self.nodes[term].get("name", ""))

    def is_obsolete(self, term: str) -> bool:
        return str(self.nodes[term].get("is_obsolete", "false")) == "true"

    def resolve(self, given: str) -> Resolved:
        """The current term ``given`` stands for in this release (see the module doc for the rules)."""
        if given in self.nodes and not self.is_obsolete(given):
            return Resolved(given, given, CURRENT)
        if given in self.secondary:
            return Resolved(given, self.secondary[given], SECONDARY)
        if given in self.nodes:
            replaced = self.nodes[given].get("replaced_by", [])
            if len(replaced) == 1 and replaced[0] in self.nodes and not self.is_obsolete(replaced[0]):
                return Resolved(given, replaced[0], REPLACED)
            return Resolved(given, None, OBSOLETE)
        return Resolved(given, None, MISSING)

    def _compute_ancestors(self, term: str) -> frozenset[str]:
        out: set[str] = set()
        for parent in self.parents_of[term]:
            out |= {parent} | self._ancestors(parent)
        return frozenset(out)

    def propagate(self, terms: Iterable[str]) -> set[str]:
        """The terms and all their ancestors along the propagating relations (current ids only)."""
        out: set[str] = set()
        for term in terms:
            out |= {term} | self._ancestors(term)
        return out


def load_ontology(path: str | Path, relations: Sequence[str] = PROPAGATING) -> Ontology:
    """Read an OBO file (``.obo`` or ``.obo.gz``), keeping obsolete terms so old ids can be resolved."""
    import obonet

    path = Path(path)
    if not path.is_file():
        raise InputError("ontology file not found", path=path)
    try:
        graph = obonet.read_obo(path, ignore_obsolete=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"not a readable OBO file: {' '.join(str(exc).split())[:150]}", path=path) from None
    if graph.number_of_nodes() == 0:
        raise InputError("no terms in the OBO file", path=path)
    return Ontology(graph, relations)
