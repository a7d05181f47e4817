"""``cnn``: a residue CNN trained from scratch with MLP heads (HMD-ARG-like), via the training engine."""

from __future__ import annotations

from biotune.methods.base import register_method
from biotune.methods.trained import TrainedMethod


@register_method
class ResidueCNNMethod(TrainedMethod):
    """Experiment ``arg_cnn`` (configs/experiment/arg_cnn.yaml) unless ``experiment`` says otherwise."""

    name = "cnn"
    default_experiment = "arg_cnn"
