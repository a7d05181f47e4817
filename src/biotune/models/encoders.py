"""Encoders: one interface over every backbone, from a batch to per-layer hidden states.

An encoder turns a batch (from its own :meth:`Encoder.tokenize`) into an :class:`Encoded`: the
chosen layers' per-residue states ``(B, n, L, D)`` with a residue mask (special tokens excluded),
and the ``<cls>`` state where the backbone has one. Every encoder also accepts precomputed
embeddings from the embedding cache (see :func:`encode_precomputed`), so a frozen backbone never has
to run during training and the same model still predicts from raw sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from biotune.models.tokenize import EsmBatchTokenizer

if TYPE_CHECKING:
    from biotune.models.backbones.cnn import ResidueCNN
    from biotune.models.backbones.signal import SignalResNet
    from biotune.models.backbones.unirep import UniRep

#: Batch keys that carry precomputed embeddings instead of token ids.
PRECOMPUTED_KEYS = ("embeddings", "residue_embeddings")


@dataclass
class Encoded:
    """Chosen layers of one batch. Exactly one of ``residues`` and ``pooled`` is set.

    ``residues``: ``(B, n, L, D)`` with ``mask`` ``(B, L)`` (True on real residues);
    ``cls``: ``(B, n, D)`` or None; ``pooled``: ``(B, n, D)`` already pooled upstream (cache).
    """

    residues: Tensor | None = None
    mask: Tensor | None = None
    cls: Tensor | None = None
    pooled: Tensor | None = None


def resolve_layers(layers: Sequence[int], n_states: int) -> list[int]:
    """Normalise layer indices (negative counts from the top) against ``n_states`` hidden states."""
    if not layers:
        raise ValueError("representation.layers must name at least one layer")
    resolved = []
    for layer in layers:
        index = layer + n_states if layer < 0 else layer
        if not 0 <= index < n_states:
            raise ValueError(f"layer {layer} out of range: the backbone has {n_states} hidden states (0..{n_states - 1})")
        resolved.append(index)
    return resolved


def _take_layers(stack: Tensor, layers: list[int], n_states: int, what: str) -> Tensor:
    """Pick the chosen layers from a precomputed ``(B, n, ...)`` stack.

    The stack holds either exactly the chosen layers (in order) or every hidden state of the backbone.
    """
    available = stack.shape[1]
    if available == len(layers):
        return stack
    if available == n_states:
        return stack[:, layers]
    raise ValueError(
        f"precomputed {what} have {available} layers: expected the {len(layers)} chosen layer(s) "
        f"or all {n_states} hidden states of the backbone"
    )


def encode_precomputed(batch: dict[str, Tensor], layers: list[int], n_states: int) -> Encoded:
    """Pass cached embeddings through: ``embeddings`` ``(B, n, D)`` pooled, or
    ``residue_embeddings`` ``(B, L, D)`` / ``(B, n, L, D)`` with ``attention_mask`` ``(B, L)``."""
    if "embeddings" in batch:
        pooled = batch["embeddings"]
        if pooled.dim() == 2:
            pooled = pooled.unsqueeze(1)
        return Encoded(pooled=_take_layers(pooled.float(), layers, n_states, "embeddings"))
    residues = batch["residue_embeddings"]
    if residues.dim() == 3:
        residues = residues.unsqueeze(1)
    if "attention_mask" not in batch:
        raise ValueError("a batch of residue_embeddings needs its attention_mask (B, L)")
    residues = _take_layers(residues.float(), layers, n_states, "residue_embeddings")
    return Encoded(residues=residues, mask=batch["attention_mask"].bool())


class Encoder(nn.Module):
    """Backbone behind a uniform interface.

    ``hidden_size``: width D of one layer; ``n_states``: number of addressable hidden states;
    ``has_cls``: whether a ``<cls>`` state exists; ``supports_lora``: Linear layers that LoRA can wrap,
    ``lora_targets`` their module names (the default of ``finetune.lora.target_modules``) and
    ``lora_layers_pattern`` the name of the layer list (for ``finetune.lora.layers``);
    ``by_reference``: the config alone rebuilds its initial weights (a checkpoint or seeded preset).
    """

    hidden_size: int
    n_states: int
    has_cls: bool = False
    supports_lora: bool = False
    lora_targets: tuple[str, ...] = ()
    lora_layers_pattern: str = "layer"
    by_reference: bool = True

    def tokenize(self, sequences: Sequence[str]) -> dict[str, Tensor]:
        raise NotImplementedError

    def encode(self, batch: dict[str, Tensor], layers: list[int]) -> Encoded:
        raise NotImplementedError

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """All parameters that can be trained, per depth, bottom→top (embeddings first)."""
        raise NotImplementedError

    def forward(self, batch: dict[str, Tensor], layers: list[int]) -> Encoded:
        if any(key in batch for key in PRECOMPUTED_KEYS):
            return encode_precomputed(batch, layers, self.n_states)
        return self.encode(batch, layers)


class EsmEncoder(Encoder):
    """ESM-2 (HF ``EsmModel``, optionally wrapped by peft): hidden state 0 is the embedding output,
    state i the output of transformer layer i, the last one after the final LayerNorm."""

    has_cls = True
    supports_lora = True
    lora_targets = ("query", "key", "value", "dense")

    def __init__(self, model: nn.Module, tokenizer, max_length: int):
        super().__init__()
        self.model = model
        self.tokenizer = EsmBatchTokenizer(tokenizer, max_length)
        config = model.config
        self.hidden_size = config.hidden_size
        self.n_states = config.num_hidden_layers + 1
        model.requires_grad_(False)

    @property
    def base_model(self) -> nn.Module:
        """The plain ``EsmModel`` (under the peft wrapper when LoRA is on)."""
        get_base = getattr(self.model, "get_base_model", None)
        return get_base() if get_base is not None else self.model

    def tokenize(self, sequences: Sequence[str]) -> dict[str, Tensor]:
        return self.tokenizer(sequences)

    def encode(self, batch: dict[str, Tensor], layers: list[int]) -> Encoded:
        attention_mask = batch["attention_mask"]
        output = self.model(input_ids=batch["input_ids"], attention_mask=attention_mask, output_hidden_states=True)
        stack = torch.stack([output.hidden_states[i] for i in layers], dim=1)
        mask = attention_mask[:, 1:].bool().clone()
        eos = attention_mask.sum(dim=1) - 2
        mask[torch.arange(mask.shape[0], device=mask.device), eos] = False
        return Encoded(residues=stack[:, :, 1:], mask=mask, cls=stack[:, :, 0])

    def layer_groups(self) -> list[list[nn.Parameter]]:
        esm = self.base_model
        groups = [list(esm.embeddings.parameters())]
        groups += [list(layer.parameters()) for layer in esm.encoder.layer]
        final_norm = esm.encoder.emb_layer_norm_after
        if final_norm is not None:
            groups[-1] += list(final_norm.parameters())
        return groups


class UniRepEncoder(Encoder):
    """UniRep's mLSTM (:mod:`biotune.models.backbones.unirep`): hidden state i is the output of mLSTM
    layer i + 1 (-1 = the top one). The residue states include the ``<start>`` position first (in the
    mask), so that mean pooling is UniRep's ``h_avg``; there is no ``<cls>``. LoRA wraps each layer's
    input projection ``[Wmx | Wx]`` (``input_proj``), ``Wmh`` (``mh``) and ``Wh`` (``mz``)."""

    supports_lora = True
    lora_targets = ("input_proj", "mh", "mz")
    lora_layers_pattern = "layers"

    def __init__(self, model: UniRep, max_length: int | None = None):
        from biotune.models.backbones.unirep import UniRepTokenizer

        super().__init__()
        self.model = model
        self.tokenizer = UniRepTokenizer(max_length)
        self.hidden_size = model.hidden_size
        self.n_states = model.n_layers
        model.requires_grad_(False)

    def tokenize(self, sequences: Sequence[str]) -> dict[str, Tensor]:
        return self.tokenizer(sequences)

    def encode(self, batch: dict[str, Tensor], layers: list[int]) -> Encoded:
        mask = batch["attention_mask"]
        output = self.model(batch["input_ids"], mask, layers=layers)
        return Encoded(residues=torch.stack(output.states, dim=1), mask=mask.bool())

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Embedding, then each mLSTM layer (the next-residue head is not part of the encoder's output)."""
        return [list(self.model.embedding.parameters())] + [list(layer.parameters()) for layer in self.model.layers]


class CnnEncoder(Encoder):
    """The from-scratch residue CNN; hidden state i is the output of convolution block i."""

    by_reference = False

    def __init__(self, cnn: ResidueCNN):
        super().__init__()
        self.cnn = cnn
        self.hidden_size = cnn.hidden_size
        self.n_states = len(cnn.blocks)

    def tokenize(self, sequences: Sequence[str]) -> dict[str, Tensor]:
        return self.cnn.tokenizer(sequences)

    def encode(self, batch: dict[str, Tensor], layers: list[int]) -> Encoded:
        states = self.cnn(batch["input_ids"], batch["attention_mask"])
        stack = torch.stack([states[i] for i in layers], dim=1)
        return Encoded(residues=stack, mask=batch["attention_mask"].bool())

    def layer_groups(self) -> list[list[nn.Parameter]]:
        return [list(self.cnn.embed.parameters())] + [list(block.parameters()) for block in self.cnn.blocks]


class SignalEncoder(Encoder):
    """The from-scratch biosignal CNN: its input is windows ``(channels, samples)``, not sequences; its one
    hidden state is the top block's output, one position per downsampled time step."""

    by_reference = False
    n_states = 1

    def __init__(self, net: SignalResNet):
        super().__init__()
        self.net = net
        self.hidden_size = net.hidden_size

    def tokenize(self, sequences: Sequence[np.ndarray]) -> dict[str, Tensor]:
        return self.net.batcher(sequences)

    def encode(self, batch: dict[str, Tensor], layers: list[int]) -> Encoded:
        states, mask = self.net(batch["signal"], batch["attention_mask"])
        return Encoded(residues=states.unsqueeze(1), mask=mask)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        groups = [list(self.net.stem.parameters())] + [list(block.parameters()) for block in self.net.blocks]
        groups[-1] += list(self.net.norm.parameters())
        return groups


class PrecomputedEncoder(Encoder):
    """No backbone at all: batches carry embeddings from the cache (``hidden_size`` wide, ``n_layers`` deep)."""

    def __init__(self, hidden_size: int, n_layers: int = 1):
        super().__init__()
        self.hidden_size = hidden_size
        self.n_states = n_layers

    def tokenize(self, sequences: Sequence[str]) -> dict[str, Tensor]:
        raise ValueError("the 'precomputed' backbone cannot read sequences: feed embeddings from the cache")

    def encode(self, batch: dict[str, Tensor], layers: list[int]) -> Encoded:
        raise ValueError(f"the 'precomputed' backbone needs a batch with one of {PRECOMPUTED_KEYS}, got {sorted(batch)}")

    def layer_groups(self) -> list[list[nn.Parameter]]:
        return []
