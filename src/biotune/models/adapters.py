"""Fine-tune modes: which backbone parameters train.

``frozen`` (linear probe / head only), ``full`` (every backbone parameter), ``partial`` (the top
``top_n_layers`` layers, embeddings excluded), ``lora`` (low-rank adapters from ``peft`` on the
named Linear modules of the chosen layers — by default the backbone's own targets: ESM-2 query/key/
value/dense, UniRep's mLSTM input_proj/mh/mz; the base weights stay frozen).
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from peft import LoraConfig, get_peft_model

from biotune.models.encoders import Encoder

FINETUNE_MODES = ("frozen", "full", "partial", "lora")


def lora_config(
    cfg: DictConfig, n_layers: int, *, default_targets: tuple[str, ...] = (), layers_pattern: str = "layer"
) -> LoraConfig:
    """A peft ``LoraConfig`` from ``finetune.lora``: r, alpha, dropout, target_modules (null = the
    backbone's ``default_targets``), layers (within the module list named ``layers_pattern``), and the
    optional variants ``use_rslora`` (α/√r scaling), ``use_dora`` (weight-decomposed LoRA), ``bias``."""
    targets = list(cfg.get("target_modules") or default_targets)
    if not targets:
        raise ValueError("finetune.lora.target_modules is empty and the backbone declares no default LoRA targets")
    layers = cfg.get("layers")
    if layers is not None:
        layers = sorted({layer + n_layers if layer < 0 else layer for layer in layers})
        if any(not 0 <= layer < n_layers for layer in layers):
            raise ValueError(f"finetune.lora.layers must index the {n_layers} transformer layers, got {list(cfg.layers)}")
    return LoraConfig(
        r=int(cfg.r),
        lora_alpha=float(cfg.alpha),
        lora_dropout=float(cfg.get("dropout", 0.0)),
        target_modules=targets,
        layers_to_transform=layers,
        layers_pattern=layers_pattern if layers is not None else None,
        bias=cfg.get("bias", "none"),
        use_rslora=bool(cfg.get("use_rslora", False)),
        use_dora=bool(cfg.get("use_dora", False)),
    )


def apply_finetune(encoder: Encoder, cfg: DictConfig) -> None:
    """Set ``requires_grad`` on the encoder's parameters (and add LoRA adapters) for ``cfg.mode``."""
    mode = cfg.get("mode", "frozen")
    if mode not in FINETUNE_MODES:
        raise ValueError(f"unknown finetune.mode {mode!r}; expected one of {FINETUNE_MODES}")
    encoder.requires_grad_(False)
    groups = encoder.layer_groups()
    if mode == "frozen":
        return
    if not groups:
        raise ValueError(f"finetune.mode={mode!r} needs a backbone with weights; this one has none (use frozen)")
    if mode == "full":
        trainable = groups
    elif mode == "partial":
        n = int(cfg.top_n_layers)
        if not 1 <= n <= len(groups) - 1:
            raise ValueError(f"finetune.top_n_layers must be in 1..{len(groups) - 1}, got {n}")
        trainable = groups[-n:]
    else:
        if not encoder.supports_lora:
            raise ValueError(
                f"LoRA needs a transformer (ESM-2) or mLSTM (UniRep) backbone; {type(encoder).__name__} does not support it"
            )
        lora = OmegaConf.create(OmegaConf.to_container(cfg.lora, resolve=True))
        config = lora_config(
            lora, n_layers=len(groups) - 1, default_targets=encoder.lora_targets, layers_pattern=encoder.lora_layers_pattern
        )
        encoder.model = get_peft_model(encoder.model, config)
        return
    for group in trainable:
        for parameter in group:
            parameter.requires_grad_(True)
