"""What the embedding engine needs from a backbone: one runner per model family.

A runner declares its tokenizer (special tokens per row), its addressable layers (``n_states``), its
poolings (and the default one), its length limit, and an identity (a weights fingerprint); its
:meth:`Runner.forward` turns a batch of residue strings into pooled vectors and per-residue vectors of
the chosen layers. Batching, long-sequence windows, caching and output files stay in the engine and
never look at the model.

- :class:`EsmRunner`: ESM-2 through transformers (layer 0 = embedding output, ``i`` = block ``i``;
  ``mean`` over residues or ``cls``; only the blocks needed run; SDPA attention).
- :class:`UniRepRunner`: UniRep's mLSTM (:mod:`biotune.models.backbones.unirep`; layer ``i`` = mLSTM
  layer ``i + 1``, ``-1`` the top one; ``h_avg`` (default), ``h_final``, ``c_final``, ``fusion``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from biotune.models.backbones import unirep

log = logging.getLogger(__name__)

#: Maximum length of a backbone with no positional limit (an RNN): effectively "never window".
NO_LIMIT = 1_000_000


def weights_fingerprint(description: Sequence[object], model: nn.Module) -> str:
    """Content hash of a description (architecture, vocabulary) and of every weight tensor.

    Each tensor contributes its name, shape, a strided sample of up to 65,536 values and its float64
    sum and absolute sum, so a change anywhere in a tensor changes the fingerprint, in one cheap pass.
    """
    h = hashlib.blake2b(digest_size=16)
    for part in description:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            flat = tensor.detach().reshape(-1).float()
            step = max(1, flat.numel() // 65_536)
            h.update(f"{name}{tuple(tensor.shape)}".encode())
            h.update(flat[::step].numpy().tobytes())
            h.update(np.array([flat.double().sum().item(), flat.double().abs().sum().item()]).tobytes())
    return h.hexdigest()


class Runner:
    """Interface (see the module docstring). ``forward`` returns float32 tensors:
    pooled ``(n_layers, rows, pooled_size)`` and residues ``(n_layers, rows, width, hidden_size)`` where
    row ``r``'s residue ``j`` is at ``[:, r, j]``; plus the number of real tokens in the batch."""

    model: nn.Module
    name: str
    n_states: int
    hidden_size: int
    poolings: tuple[str, ...]
    default_pool: str
    #: pooling that equals the mean of the residue vectors (windows then average residues exactly)
    residue_mean_pool: str | None = None
    special_tokens: int
    length_limit: int
    default_max_length: int
    default_token_budget: int

    #: other names accepted for a pooling (e.g. UniRep's ``mean`` is its ``h_avg``)
    pool_aliases: dict[str, str] = {}

    def pooled_size(self, pool: str) -> int:
        return self.hidden_size

    def fingerprint(self) -> str:
        raise NotImplementedError

    def layers(self, layer_index: Sequence[int]) -> contextlib.AbstractContextManager:
        """Context in which :meth:`forward` computes exactly these (absolute) layers."""
        self._layer_index = tuple(layer_index)
        return contextlib.nullcontext()

    def forward(self, texts: Sequence[str], pool: str) -> tuple[torch.Tensor, torch.Tensor, int]:
        raise NotImplementedError


class TokenTable:
    """ESM tokenisation by table lookup: one amino-acid letter is one token (same ids as the tokenizer)."""

    def __init__(self, tokenizer):
        vocab = tokenizer.get_vocab()
        self.cls_id, self.eos_id = tokenizer.cls_token_id, tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id
        self.table = np.full(256, tokenizer.unk_token_id, dtype=np.int64)
        for token, index in vocab.items():
            if len(token) == 1 and token.isascii():
                self.table[ord(token)] = index

    def encode(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``<cls> text <eos>`` rows right-padded to the longest: (input_ids, attention_mask)."""
        width = max(len(t) for t in texts) + 2
        ids = np.full((len(texts), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, text in enumerate(texts):
            n = len(text)
            ids[row, 0] = self.cls_id
            ids[row, 1 : n + 1] = self.table[np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)]
            ids[row, n + 1] = self.eos_id
            mask[row, : n + 2] = 1
        return torch.from_numpy(ids), torch.from_numpy(mask)


class EsmRunner(Runner):
    """ESM-2 (transformers ``EsmModel``): ``<cls> residues <eos>``; pooling ``mean`` (residues) or ``cls``."""

    poolings = ("mean", "cls")
    default_pool = residue_mean_pool = "mean"
    special_tokens = 2
    default_max_length = 1022
    default_token_budget = 4096

    def __init__(self, model, tokenizer, name: str = ""):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        if model.config._attn_implementation != "sdpa":
            model.set_attn_implementation("sdpa")
        self.n_states = model.config.num_hidden_layers + 1
        self.hidden_size = model.config.hidden_size
        self.length_limit = model.config.max_position_embeddings - 2
        self.tokens = TokenTable(tokenizer)
        self._captured: dict[int, torch.Tensor] = {}

    def fingerprint(self) -> str:
        config = {k: v for k, v in self.model.config.to_dict().items() if not k.startswith("_") and k not in ("dtype",)}
        return weights_fingerprint([config, sorted(self.tokenizer.get_vocab().items())], self.model)

    @contextlib.contextmanager
    def layers(self, layer_index: Sequence[int]) -> Iterator[None]:
        """Run only the blocks needed and collect the requested hidden states (by absolute layer)."""
        self._layer_index = tuple(layer_index)
        n_layers = self.model.config.num_hidden_layers
        depth = max(self._layer_index)
        captured: dict[int, torch.Tensor] = {}
        hooks = []
        for layer in set(self._layer_index):
            if layer == 0:
                module = self.model.embeddings
            elif layer < n_layers:
                module = self.model.encoder.layer[layer - 1]
            else:
                continue

            def hook(_module, _inputs, output, layer=layer):
                captured[layer] = output[0] if isinstance(output, tuple) else output

            hooks.append(module.register_forward_hook(hook))
        blocks = self.model.encoder.layer
        if depth < n_layers:
            self.model.encoder.layer = blocks[: max(depth, 1)]
        self._captured = captured
        try:
            yield
        finally:
            self.model.encoder.layer = blocks
            for handle in hooks:
                handle.remove()

    def forward(self, texts: Sequence[str], pool: str) -> tuple[torch.Tensor, torch.Tensor, int]:
        ids, mask = self.tokens.encode(texts)
        out = self.model(input_ids=ids, attention_mask=mask)
        n_layers = self.model.config.num_hidden_layers
        states = torch.stack(
            [(out.last_hidden_state if i == n_layers else self._captured[i]).float() for i in self._layer_index]
        )
        if pool == "mean":
            lengths = mask.sum(1) - 2
            residue_mask = mask.clone()
            residue_mask[:, 0] = 0
            residue_mask[torch.arange(len(texts)), lengths + 1] = 0
            pooled = (states * residue_mask[None, :, :, None]).sum(2) / lengths[None, :, None]
        else:
            pooled = states[:, :, 0]
        return pooled, states[:, :, 1:], int(mask.sum())


class UniRepRunner(Runner):
    """UniRep mLSTM: ``[start] residues``; layer ``i`` is mLSTM layer ``i + 1`` (``-1`` = top)."""

    poolings = unirep.REPRESENTATIONS
    default_pool = "h_avg"
    #: ``mean`` (what methods written for ESM-2 ask for) is h_avg: the mean over [start] + residues
    pool_aliases = {"mean": "h_avg"}
    special_tokens = 1
    length_limit = NO_LIMIT
    default_max_length = NO_LIMIT

    def __init__(self, model, name: str = ""):
        self.model = model.eval()
        # an RNN step is a skinny matmul: wide batches pay; bounded by the hoisted input projection's memory
        self.default_token_budget = min(16_384, max(4096, 2**22 // model.hidden_size))
        self.name = name or model.source or "in-memory UniRep"
        self.n_states = model.n_layers
        self.hidden_size = model.hidden_size
        self.tokenizer = unirep.UniRepTokenizer()

    def pooled_size(self, pool: str) -> int:
        return unirep.pooled_size(self.hidden_size, pool)

    def fingerprint(self) -> str:
        arch = {"family": "unirep-mlstm", "hidden": self.hidden_size, "layers": self.n_states}
        return weights_fingerprint([arch, unirep.RESIDUE_TOKENS], self.model)

    def forward(self, texts: Sequence[str], pool: str) -> tuple[torch.Tensor, torch.Tensor, int]:
        batch = self.tokenizer(texts)
        mask = batch["attention_mask"]
        out = self.model(batch["input_ids"], mask, layers=self._layer_index)
        out.states = [s.float() for s in out.states]
        out.h_final = [h.float() for h in out.h_final]
        out.c_final = [c.float() for c in out.c_final]
        pooled = torch.stack(unirep.pool(out, mask, pool))
        return pooled, torch.stack(out.states)[:, :, 1:], int(mask.sum())


def load_runner(backbone, *, random_init: bool = False, seed: int = 0) -> Runner:
    """A runner for a preset / hub id / local directory, a loaded ``(EsmModel, tokenizer)``, or a ``UniRep``."""
    if isinstance(backbone, Runner):
        return backbone
    if isinstance(backbone, unirep.UniRep):
        return UniRepRunner(backbone)
    if isinstance(backbone, tuple):
        model, tokenizer = backbone
        return EsmRunner(model, tokenizer, str(getattr(model.config, "_name_or_path", "") or "in-memory model"))
    name = str(backbone)
    if random_init:
        log.warning(
            "%s has RANDOM weights (random init, seed %d): its embeddings carry no biological signal; "
            "use them only to test pipelines",
            name,
            seed,
        )
    if unirep.is_unirep(name):
        model = unirep.load_unirep(name, random_init=random_init, seed=seed)
        return UniRepRunner(model, model.source)
    from biotune.models.backbones.esm import load_esm

    model, tokenizer = load_esm(name, random_init=random_init, seed=seed)
    label = str(Path(name).resolve()) if Path(name).is_dir() else name
    return EsmRunner(model, tokenizer, f"{label} (random init, seed {seed})" if random_init else label)
