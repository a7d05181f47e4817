"""Training-step time, fp32 vs bf16 autocast (what ``trainer.precision=auto`` picks where supported).

    .venv/bin/python benchmarks/train_precision.py [--batch 16] [--length 300] [--steps 4] [--threads 1]

One optimiser step (forward, loss, backward, AdamW) of the ``arg_cnn`` model and of ``arg_full``
(ESM-2 8M, RANDOM weights, full fine-tuning) on random protein sequences; prints the best of the
timed steps and the fp32/bf16 ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from biotune.models.model import build_model
from biotune.tasks import TaskSpec
from biotune.train.run import compose_config

TASKS = [TaskSpec("is_arg", "binary"), TaskSpec("mechanism", "multiclass", ("efflux", "inactivation"))]
MODELS = {"cnn": ["experiment=arg_cnn", "task=all"], "esm2_t6_8M full": ["experiment=arg_full", "backbone.random_init=true", "task=all"]}


def step_seconds(model, batch, bf16: bool, steps: int) -> float:
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = sum(v.float().pow(2).mean() for v in model(batch).values())
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - start)
    return min(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), args.length)) for _ in range(args.batch)]
    print(f"{'model':18s} {'fp32 s/step':>12s} {'bf16 s/step':>12s} {'speed-up':>9s}")
    for name, overrides in MODELS.items():
        model = build_model(compose_config(overrides), TASKS).train()
        batch = model.tokenize(seqs)
        fp32, bf16 = (step_seconds(model, batch, b, args.steps) for b in (False, True))
        print(f"{name:18s} {fp32:12.3f} {bf16:12.3f} {fp32 / bf16:8.2f}x")


if __name__ == "__main__":
    main()
