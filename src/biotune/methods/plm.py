"""Protein-language-model methods: ESM-2 frozen (head on cached embeddings), with LoRA, or fully fine-tuned.

Each is a training-engine experiment (configs/experiment/arg_*.yaml) run on the runner's fold. In
this offline environment the ESM-2 weights are random (``backbone.random_init=true`` in
configs/method/plm_*.yaml): their numbers say nothing about ESM-2 and are labelled as such.
"""

from __future__ import annotations

from biotune.methods.base import register_method
from biotune.methods.trained import TrainedMethod


@register_method
class FrozenPLM(TrainedMethod):
    """Frozen ESM-2, mean-pooled, MLP heads trained on cached embeddings."""

    name = "plm_frozen"
    default_experiment = "arg_frozen_mlp"


@register_method
class LoraPLM(TrainedMethod):
    """ESM-2 with LoRA adapters and a DRSN-1d head over residue states."""

    name = "plm_lora"
    default_experiment = "arg_lora_drsn"


@register_method
class FullPLM(TrainedMethod):
    """ESM-2 fully fine-tuned with layer-wise learning-rate decay."""

    name = "plm_full"
    default_experiment = "arg_full"
