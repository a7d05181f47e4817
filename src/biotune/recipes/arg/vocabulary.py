"""The ARG label vocabulary: maps every raw source label to project labels (``vocabulary.yaml``).

Mapping is strict: a raw label without an entry is collected, and :func:`map_records` raises one
:class:`InputError` listing every unmapped label, so that a new upstream release is mapped on
purpose rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from biotune.errors import InputError
from biotune.recipes.arg.importers import SourceRecord

VOCABULARY_FILE = "vocabulary.yaml"


@dataclass(frozen=True)
class ProjectLabels:
    """One source record's labels in the project vocabulary (mechanisms may be several or none)."""

    is_arg: bool
    drug_classes: frozenset[str] = frozenset()
    mechanisms: frozenset[str] = frozenset()
    mobility: str | None = None


@dataclass(frozen=True)
class Vocabulary:
    version: str
    drug_classes: tuple[str, ...]
    mechanisms: tuple[str, ...]
    mechanism_precedence: tuple[str, ...]
    mobility: tuple[str, ...]
    sources: dict[str, dict[str, Any]]
    path: str = ""

    def map(self, record: SourceRecord) -> tuple[ProjectLabels, list[str]]:
        """Project labels of ``record`` and the list of its unmapped raw labels (``section/field: label``)."""
        if not record.is_arg:
            return ProjectLabels(is_arg=False), []
        section = self.sources.get(record.vocabulary)
        if section is None:
            return ProjectLabels(is_arg=True), [f"{record.vocabulary or '(none)'}: no vocabulary section"]
        unmapped: list[str] = []
        drugs: set[str] = set()
        for raw in record.drug_classes:
            target = section.get("drug_class", {}).get(raw)
            if isinstance(target, dict):
                target = _by_phenotype(target.get("by_phenotype", {}), record.phenotypes)
                if target is None:
                    unmapped.append(f"{record.vocabulary}/drug_class: {raw} [phenotype: {', '.join(record.phenotypes)}]")
                    continue
            if target is None:
                unmapped.append(f"{record.vocabulary}/drug_class: {raw}")
                continue
            drugs.update(target)
        mechs: set[str] = set()
        for raw in record.mechanisms:
            found, mech = self._mechanism(section, raw)
            if not found:
                unmapped.append(f"{record.vocabulary}/mechanism: {raw}")
            elif mech is not None:
                mechs.add(mech)
        mobility = None
        if record.mobility:
            table = section.get("mobility", {})
            if record.mobility in table:
                mobility = table[record.mobility]
            else:
                unmapped.append(f"{record.vocabulary}/mobility: {record.mobility}")
        return ProjectLabels(True, frozenset(drugs), frozenset(mechs), mobility), unmapped

    @staticmethod
    def _mechanism(section: dict[str, Any], raw: str) -> tuple[bool, str | None]:
        table = section.get("mechanism", {})
        if raw in table:
            return True, table[raw]
        for pattern, mech in section.get("mechanism_patterns", []):
            if re.search(pattern, raw, flags=re.IGNORECASE):
                return True, mech
        return False, None

    def merge_mechanism(self, votes: Sequence[str]) -> str | None:
        """The merge rule for one sequence: the most voted mechanism, ties to ``mechanism_precedence``."""
        if not votes:
            return None
        counts = {m: votes.count(m) for m in set(votes)}
        rank = {m: i for i, m in enumerate(self.mechanism_precedence)}
        return min(counts, key=lambda m: (-counts[m], rank[m]))


def _by_phenotype(table: dict[str, list[str]], phenotypes: Sequence[str]) -> list[str] | None:
    found = sorted({label for p in phenotypes for label in table.get(p, [])})
    return found or None


def load_vocabulary(path: str | Path | None = None) -> Vocabulary:
    """Load and validate ``vocabulary.yaml`` (the packaged one by default)."""
    if path is None:
        ref = resources.files("biotune.recipes.arg") / VOCABULARY_FILE
        text, where = ref.read_text(encoding="utf-8"), str(ref)
    else:
        path = Path(path)
        if not path.is_file():
            raise InputError("vocabulary file not found", path=path)
        text, where = path.read_text(encoding="utf-8"), str(path)
    data = yaml.safe_load(text)
    for key in ("version", "drug_classes", "mechanisms", "mechanism_precedence", "mobility", "sources"):
        if key not in data:
            raise InputError(f"vocabulary is missing {key!r}", path=where)
    vocab = Vocabulary(
        version=str(data["version"]),
        drug_classes=tuple(data["drug_classes"]),
        mechanisms=tuple(data["mechanisms"]),
        mechanism_precedence=tuple(data["mechanism_precedence"]),
        mobility=tuple(data["mobility"]),
        sources=data["sources"],
        path=where,
    )
    _validate(vocab, where)
    return vocab


def _validate(vocab: Vocabulary, where: str) -> None:
    """Every mapping target must be a project label; precedence must order every mechanism."""
    problems = []
    if set(vocab.mechanism_precedence) != set(vocab.mechanisms):
        problems.append("mechanism_precedence must list exactly the mechanisms")
    for name, section in vocab.sources.items():
        for raw, target in (section.get("drug_class") or {}).items():
            targets = [t for ts in target.get("by_phenotype", {}).values() for t in ts] if isinstance(target, dict) else target
            problems += [f"{name}/drug_class: {raw} -> {t}" for t in targets if t not in vocab.drug_classes]
        mechs = list((section.get("mechanism") or {}).items()) + [tuple(p) for p in section.get("mechanism_patterns", [])]
        problems += [f"{name}/mechanism: {raw} -> {t}" for raw, t in mechs if t is not None and t not in vocab.mechanisms]
        problems += [
            f"{name}/mobility: {raw} -> {t}"
            for raw, t in (section.get("mobility") or {}).items()
            if t is not None and t not in vocab.mobility
        ]
    if problems:
        raise InputError("vocabulary maps to unknown project labels: " + "; ".join(problems), path=where)


def map_records(records: Sequence[SourceRecord], vocab: Vocabulary) -> list[ProjectLabels]:
    """Map every record; raise one :class:`InputError` listing ALL unmapped raw labels (with counts)."""
    mapped, unmapped = [], {}
    for rec in records:
        labels, missing = vocab.map(rec)
        mapped.append(labels)
        for m in missing:
            unmapped[m] = unmapped.get(m, 0) + 1
    if unmapped:
        listing = "; ".join(f"{label} ({n} records)" for label, n in sorted(unmapped.items()))
        raise InputError(
            f"{len(unmapped)} source label(s) not in the vocabulary — add them to {VOCABULARY_FILE}: {listing}",
            path=vocab.path,
        )
    return mapped
