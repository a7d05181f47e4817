"""The record: one sequence with its labels (any may be missing) and free-form metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Record:
    """A sequence to learn from or to predict on.

    ``labels`` maps a task name to its value (``None`` or absent = unlabelled for that task: a
    negative has no drug class, and losses and metrics mask it). ``meta`` holds provenance such as
    source, cluster and fold.
    """

    id: str
    sequence: str
    labels: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def label(self, task: str) -> Any:
        return self.labels.get(task)
