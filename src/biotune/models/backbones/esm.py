"""ESM-2 backbones through Hugging Face ``transformers``: by hub id, local directory, or random preset.

Users load real checkpoints the normal way (``facebook/esm2_t33_650M_UR50D`` or a local directory
written by ``save_pretrained``). Offline and in tests, :func:`random_esm` builds a model of the same
architecture with random weights from a size preset, and :func:`save_random_esm` writes it to a
directory so that it is then loaded through exactly the same ``from_pretrained`` path.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import EsmConfig, EsmForMaskedLM, EsmModel, EsmTokenizer

#: ESM-2 token vocabulary, in the order of the published checkpoints.
ESM_VOCAB = (
    "<cls> <pad> <eos> <unk> L A G V S E R T I D P K Q N F Y M H W C X B U Z O . - <null_1> <mask>".split()
)


@dataclass(frozen=True)
class EsmPreset:
    """Architecture of one ESM-2 size (the published configs) and its hub id."""

    hub_id: str | None
    num_layers: int
    hidden_size: int
    num_heads: int

    def config(self) -> EsmConfig:
        return EsmConfig(
            vocab_size=len(ESM_VOCAB),
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            intermediate_size=4 * self.hidden_size,
            max_position_embeddings=1026,
            position_embedding_type="rotary",
            token_dropout=True,
            emb_layer_norm_before=False,
            layer_norm_eps=1e-5,
            pad_token_id=ESM_VOCAB.index("<pad>"),
            mask_token_id=ESM_VOCAB.index("<mask>"),
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )


PRESETS: dict[str, EsmPreset] = {
    "esm2_tiny": EsmPreset(None, num_layers=2, hidden_size=32, num_heads=4),  # tests only
    "esm2_t6_8M": EsmPreset("facebook/esm2_t6_8M_UR50D", 6, 320, 20),
    "esm2_t12_35M": EsmPreset("facebook/esm2_t12_35M_UR50D", 12, 480, 20),
    "esm2_t30_150M": EsmPreset("facebook/esm2_t30_150M_UR50D", 30, 640, 20),
    "esm2_t33_650M": EsmPreset("facebook/esm2_t33_650M_UR50D", 33, 1280, 20),
    "esm2_t36_3B": EsmPreset("facebook/esm2_t36_3B_UR50D", 36, 2560, 40),
}


def esm_tokenizer() -> EsmTokenizer:
    """The ESM-2 tokenizer built from :data:`ESM_VOCAB` (identical to the published one; no download)."""
    with tempfile.TemporaryDirectory() as tmp:
        vocab = Path(tmp) / "vocab.txt"
        vocab.write_text("\n".join(ESM_VOCAB) + "\n")
        return EsmTokenizer(vocab_file=str(vocab))


def random_esm(preset: str, *, seed: int = 0, masked_lm: bool = False) -> EsmModel | EsmForMaskedLM:
    """An ESM-2 model of a preset's architecture with random weights (seeded)."""
    if preset not in PRESETS:
        raise KeyError(f"unknown ESM-2 preset {preset!r}; known: {sorted(PRESETS)}")
    torch.manual_seed(seed)
    config = PRESETS[preset].config()
    model = EsmForMaskedLM(config) if masked_lm else EsmModel(config, add_pooling_layer=False)
    return model.eval()


def save_random_esm(preset: str, directory: str | Path, *, seed: int = 0) -> Path:
    """Write a random-weight ESM-2 + tokenizer with ``save_pretrained`` (a stand-in for a real checkpoint)."""
    directory = Path(directory)
    random_esm(preset, seed=seed).save_pretrained(directory)
    esm_tokenizer().save_pretrained(directory)
    return directory


def resolve_checkpoint(name_or_path: str) -> str:
    """Map a preset name to its hub id; pass through hub ids and local directories."""
    if Path(name_or_path).is_dir():
        return str(name_or_path)
    if name_or_path in PRESETS:
        hub_id = PRESETS[name_or_path].hub_id
        if hub_id is None:
            raise ValueError(f"preset {name_or_path!r} has no published checkpoint; build it with random_esm()")
        return hub_id
    return name_or_path


def load_esm(
    name_or_path: str, *, random_init: bool = False, seed: int = 0, masked_lm: bool = False
) -> tuple[EsmModel | EsmForMaskedLM, EsmTokenizer]:
    """Load an ESM-2 encoder (with ``masked_lm``: the encoder and its masked-LM head, what
    ``biotune pretrain`` trains) and tokenizer.

    ``name_or_path`` is a local directory, a hub id, or a preset name (``esm2_t33_650M``...). With
    ``random_init=True`` a preset is built with random weights instead of being downloaded — results
    from such a model say nothing about ESM-2's real accuracy.
    """
    if random_init:
        return random_esm(name_or_path, seed=seed, masked_lm=masked_lm), esm_tokenizer()
    checkpoint = resolve_checkpoint(name_or_path)
    if masked_lm:
        model = EsmForMaskedLM.from_pretrained(checkpoint)
    else:
        model = EsmModel.from_pretrained(checkpoint, add_pooling_layer=False)
    tokenizer = EsmTokenizer.from_pretrained(checkpoint)
    return model.eval(), tokenizer
