"""Training-set samplers that re-balance classes: ``none``, ``class_balanced`` and ``sqrt``.

- ``none``            uniform shuffling (each epoch a permutation);
- ``class_balanced``  every class is drawn equally often (record weight ∝ 1 / n_c);
- ``sqrt``            class c drawn in proportion to sqrt(n_c) (record weight ∝ 1 / sqrt(n_c)),
                      the usual compromise between natural and balanced frequencies.

The weighted samplers are :class:`torch.utils.data.WeightedRandomSampler` (with replacement, one
epoch = ``len(labels)`` draws). Multi-label records take the weight of their rarest label (see
:func:`biotune.imbalance.frequency.record_weights`); records without a label form their own group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import RandomSampler, Sampler, WeightedRandomSampler

from biotune.imbalance.frequency import record_weights

SAMPLERS: dict[str, str] = {"none": "none", "class_balanced": "inverse", "sqrt": "sqrt_inverse"}


def sampler_weights(name: str, labels: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Per-record draw weights of sampler ``name`` (all ones for ``none``)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; expected one of {sorted(SAMPLERS)}")
    return record_weights(labels, SAMPLERS[name])


def build_sampler(name: str, labels: Sequence[Any] | np.ndarray, seed: int = 0) -> Sampler[int]:
    """A seeded torch sampler over ``range(len(labels))`` for sampler ``name``."""
    generator = torch.Generator().manual_seed(int(seed))
    weights = sampler_weights(name, labels)
    if name == "none":
        return RandomSampler(range(len(weights)), generator=generator)
    return WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), len(weights), replacement=True, generator=generator)
