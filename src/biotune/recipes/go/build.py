"""Build one GO benchmark dataset per ontology (MF, CC, BP) from TALE's test proteins and a GO release.

Steps (each counted in :class:`GoReport` and shown in the dataset card):

1. **Resolve** every annotated GO id against the release (:meth:`Ontology.resolve`): secondary ids and
   obsolete terms with one replacement map to the current term; obsolete terms without one, ids missing
   from the release and ids of another ontology cannot be propagated and are counted, never dropped silently.
2. **Propagate** by the true-path rule (``is_a`` + ``part_of``); the root is removed with ``exclude_roots``
   (every protein has it: it carries no information). For MF and CC the result is compared with TALE's own
   propagated indices (the card reports the protein-term pairs only one of the two has).
3. **Keep terms** annotated to at least ``min_count[ontology]`` proteins; a protein left with no kept term is
   removed and counted.
4. **Folds** by homology clusters (:func:`biotune.recipes.homology_folds.homology_folds`, as for ARGs),
   balancing the kept terms across folds.

The task is multi-label with the kept terms' hierarchy (parents among the kept terms: a parent of a kept
term has at least its count, so only the excluded root can be missing), which switches the benchmark to
the CAFA metrics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biotune.data.dataset import LIST_SEPARATOR, Dataset
from biotune.errors import InputError
from biotune.recipes.go.importer import TaleProtein, read_tale, read_tale_terms
from biotune.recipes.go.ontology import CURRENT, NAMESPACES, ROOTS, Ontology
from biotune.recipes.homology_folds import homology_folds
from biotune.tasks import TaskSpec

LABEL_COLUMN = "go_terms"
OTHER_NAMESPACE = "other_ontology"


@dataclass
class GoReport:
    """What the dataset card reports about one ontology's build."""

    ontology: str
    obo_version: str
    n_proteins: int = 0
    resolution: Counter = field(default_factory=Counter)
    unresolved: dict[str, list[str]] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    tale_comparison: dict[str, int] | None = None
    n_terms_propagated: int = 0
    min_count: int = 0
    n_terms_kept: int = 0
    removed_proteins: list[str] = field(default_factory=list)
    homology: dict[str, Any] = field(default_factory=dict)


def resolve_annotations(proteins: Sequence[TaleProtein], ontology: Ontology, ont: str, report: GoReport) -> list[set[str]]:
    """Per protein, the current terms of ontology ``ont`` its annotated ids stand for (counted in ``report``)."""
    out = []
    for p in proteins:
        terms = set()
        for given in p.go:
            r = ontology.resolve(given)
            status = r.status if r.term is None or ontology.namespace(r.term) == NAMESPACES[ont] else OTHER_NAMESPACE
            report.resolution[status] += 1
            if status == CURRENT:
                terms.add(r.term)
            elif r.term is not None and status != OTHER_NAMESPACE:
                terms.add(r.term)
                report.renamed[given] = r.term
            else:
                report.unresolved.setdefault(status, []).append(f"{p.accession}:{given}")
        out.append(terms)
    return out


def compare_with_tale(proteins: Sequence[TaleProtein], propagated: Sequence[set[str]], index: Mapping[int, str], ontology: Ontology) -> dict[str, int]:
    """Protein-term pairs in both propagations, only in TALE's (its ids resolved to this release), only in ours."""
    both = only_tale = only_ours = 0
    for p, ours in zip(proteins, propagated):
        tale = {r.term for i in p.tale_labels if i in index and (r := ontology.resolve(index[i])).term is not None}
        both, only_tale, only_ours = both + len(tale & ours), only_tale + len(tale - ours), only_ours + len(ours - tale)
    return {"both": both, "only_tale": only_tale, "only_obo": only_ours}


def go_task(ont: str, kept: Sequence[str], ontology: Ontology) -> TaskSpec:
    """The hierarchical multi-label task of the kept terms (parents restricted to the kept terms)."""
    keep = set(kept)
    return TaskSpec(ont, "multilabel", tuple(kept), tuple(tuple(sorted(ontology.parents_of[t] & keep)) for t in kept))


def build_go_dataset(sources: str | Path, ont: str, ontology: Ontology, config: Mapping[str, Any]) -> tuple[Dataset, GoReport]:
    """The dataset of ontology ``ont`` (``mf``, ``cc`` or ``bp``) from the TALE folder under ``sources``."""
    if ont not in NAMESPACES:
        raise InputError(f"unknown ontology {ont!r}; expected one of {', '.join(NAMESPACES)}")
    folder = Path(sources) / config["tale_dir"]
    proteins = read_tale(folder, ont)
    report = GoReport(ont, ontology.version, n_proteins=len(proteins), min_count=int(config["min_count"][ont]))
    annotated = resolve_annotations(proteins, ontology, ont, report)
    propagated = [ontology.propagate(terms) for terms in annotated]
    index = read_tale_terms(folder, ont)
    if index is not None:
        report.tale_comparison = compare_with_tale(proteins, propagated, index, ontology)
    if config["exclude_roots"]:
        propagated = [terms - {ROOTS[ont]} for terms in propagated]
    counts = Counter(t for terms in propagated for t in terms)
    report.n_terms_propagated = len(counts)
    kept = sorted(t for t, n in counts.items() if n >= report.min_count)
    report.n_terms_kept = len(kept)
    if len(kept) < 2:
        raise InputError(f"{ont}: {len(kept)} terms reach min_count {report.min_count}; lower it in the build config")
    keep = set(kept)
    rows = [(p, sorted(a), sorted(terms & keep)) for p, a, terms in zip(proteins, annotated, propagated)]
    report.removed_proteins = [p.accession for p, _, labels in rows if not labels]
    rows = [r for r in rows if r[2]]
    table = pd.DataFrame({
        "id": [p.accession for p, _, _ in rows],
        "sequence": [p.sequence for p, _, _ in rows],
        LABEL_COLUMN: [LIST_SEPARATOR.join(labels) for _, _, labels in rows],
        "annotated": [LIST_SEPARATOR.join(a) for _, a, _ in rows],
        "date": [p.date for p, _, _ in rows],
    })
    column = {t: j for j, t in enumerate(kept)}
    labels = np.zeros((len(rows), len(kept)))
    for i, (_, _, terms) in enumerate(rows):
        labels[i, [column[t] for t in terms]] = 1.0
    folds = homology_folds(dict(zip(table["id"], table["sequence"])), labels, config["clusters"], config["folds"], config.get("threads"))
    table["cluster"], table["fold"] = folds.clusters, folds.folds
    report.homology = {
        "mmseqs_clusters": folds.n_mmseqs_clusters, "clusters": int(table["cluster"].nunique()), "fold_draws": folds.rounds,
        "pairs_merged": folds.leaks_merged, "max_cross_fold_identity": folds.max_cross_fold_identity,
    }
    meta = {
        "name": f"{config['name']}_{ont}", "version": str(config["version"]), "seed": int(config["folds"]["seed"]),
        "n_folds": int(config["folds"]["n_folds"]), "ontology": ont, "obo_version": ontology.version, "min_count": report.min_count,
    }
    return Dataset(table=table, tasks=[go_task(ont, kept, ontology)], columns={ont: LABEL_COLUMN}, meta=meta), report


def dataset_card(dataset: Dataset, report: GoReport, config: Mapping[str, Any]) -> str:
    """Markdown card: sources, every id that could not be propagated, the TALE comparison, terms and folds."""
    t, ont = dataset.table, report.ontology
    res = report.resolution
    lines = [
        f"# {dataset.meta['name']} (version {dataset.meta['version']})", "",
        f"TALE test proteins (`{config['tale_dir']}/test_seq_{ont}`, `test_label_{ont}`), GO release `{report.obo_version}` "
        f"(`{config['obo']}`, parsed with obonet; propagation over is_a + part_of).", "",
        f"Proteins: {report.n_proteins} read, {len(report.removed_proteins)} removed (no term reaches min_count), {len(t)} kept.", "",
        "## Annotated GO ids resolved against the release", "",
        "| status | ids | meaning |", "|---|---|---|",
        f"| current | {res['current']} | used as is |",
        f"| alt_id | {res['alt_id']} | secondary id: mapped to its primary term |",
        f"| obsolete_replaced | {res['obsolete_replaced']} | obsolete with one replaced_by: mapped to it |",
        f"| obsolete | {res['obsolete']} | obsolete without a single replacement: not propagated |",
        f"| missing | {res['missing']} | not in this release: not propagated |",
        f"| {OTHER_NAMESPACE} | {res[OTHER_NAMESPACE]} | resolves to a term of another ontology: not used here |", "",
    ]
    if report.renamed:
        lines += ["Mapped ids: " + ", ".join(f"`{a}` → `{b}`" for a, b in sorted(report.renamed.items())), ""]
    for status, items in sorted(report.unresolved.items()):
        lines += [f"Not propagated ({status}, protein:id): " + ", ".join(f"`{x}`" for x in items), ""]
    if report.tale_comparison is not None:
        c = report.tale_comparison
        lines += [
            f"TALE's own propagated labels vs this release's propagation (protein-term pairs, root included): {c['both']} in both, "
            f"{c['only_tale']} only in TALE's, {c['only_obo']} only in ours.", "",
        ]
    else:
        lines += ["TALE's term index map for this ontology is missing upstream: its propagated labels cannot be compared; "
                  "labels come from the annotated GO ids propagated with the release, as for MF and CC.", ""]
    lines += [
        f"Terms: {report.n_terms_propagated} after propagation" + (f" (root `{ROOTS[ont]}` excluded)" if config["exclude_roots"] else "")
        + f"; {report.n_terms_kept} annotated to >= {report.min_count} proteins are the task's classes (column `{LABEL_COLUMN}`; "
        "`annotated` holds the resolved ids before propagation).", "",
        "Folds: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.homology.items())
        + f" (MMseqs2, >= {config['clusters']['min_identity']} identity over >= {config['clusters']['min_coverage']} of both).", "",
        "| fold | proteins | clusters |", "|---|---|---|",
        *(f"| {k} | {len(g)} | {g['cluster'].nunique()} |" for k, g in t.groupby("fold")), "",
    ]
    if report.removed_proteins:
        lines += ["Removed proteins: " + ", ".join(report.removed_proteins), ""]
    return "\n".join(lines)
