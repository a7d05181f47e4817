"""Task heads by name: ``linear``, ``mlp``, ``drsn`` (per-residue), ``attention`` (per-residue).

Every head maps features to ``(B, n_outputs)`` logits and says whether it reads pooled vectors
``(B, D)`` or residues ``(B, L, D)`` + mask through its ``needs_residues`` attribute.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from torch import nn

from biotune.models.heads.attention import AttentionHead
from biotune.models.heads.drsn import DRSNHead
from biotune.models.heads.linear import LinearHead
from biotune.models.heads.mlp import MLPHead

HEADS: dict[str, type[nn.Module]] = {
    "linear": LinearHead,
    "mlp": MLPHead,
    "drsn": DRSNHead,
    "attention": AttentionHead,
}

#: Config keys that are spelled differently from the constructor argument.
_RENAMED = {"activation": "activation_name"}


def head_class(name: str) -> type[nn.Module]:
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; known: {sorted(HEADS)}")
    return HEADS[name]


def build_head(cfg: DictConfig, in_dim: int, n_outputs: int) -> nn.Module:
    """The head ``cfg.name`` with the other keys of ``cfg`` as its hyper-parameters (see ``configs/head/``)."""
    params = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    params.pop("shared", None)  # model-level: one head for every task (see build_model)
    cls = head_class(params.pop("name"))
    kwargs = {_RENAMED.get(key, key): value for key, value in params.items()}
    try:
        return cls(in_dim, n_outputs, **kwargs)
    except TypeError as error:
        raise ValueError(f"head {cfg['name']!r}: {error}") from None


__all__ = ["HEADS", "AttentionHead", "DRSNHead", "LinearHead", "MLPHead", "build_head", "head_class"]
