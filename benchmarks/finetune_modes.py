"""Cost of each fine-tune mode and head: trainable parameters and seconds per training step.

Builds ESM-2 (RANDOM weights from a size preset — speed and parameter counts only, no accuracy) and
the residue CNN with every fine-tune mode and head, and times full training steps (forward, masked
multi-task loss, backward, AdamW) on batches of random protein-like sequences.

    .venv/bin/python benchmarks/finetune_modes.py --preset esm2_t6_8M --batch 8 --length 256 --out results.json
"""

from __future__ import annotations

import argparse
import json
import random
import time

import torch
from omegaconf import OmegaConf

from biotune.losses import build_multitask_loss
from biotune.models.model import build_model
from biotune.tasks import TaskSpec

TASKS = [
    TaskSpec("is_arg", "binary"),
    TaskSpec("drug_class", "multilabel", tuple(f"class{i}" for i in range(12))),
    TaskSpec("mechanism", "multiclass", tuple(f"mech{i}" for i in range(6))),
]
HEADS = {
    "mlp": OmegaConf.load("configs/head/mlp.yaml"),
    "drsn": OmegaConf.load("configs/head/drsn.yaml"),
    "attention": OmegaConf.load("configs/head/attention.yaml"),
}
FINETUNES = {name: OmegaConf.load(f"configs/finetune/{name}.yaml") for name in ("frozen", "lora", "partial", "full")}


def variants(preset: str):
    esm = {"name": "esm", "checkpoint": preset, "random_init": True, "max_length": 1022}
    for mode, finetune in FINETUNES.items():
        for head in HEADS:
            yield f"esm/{mode}/{head}", esm, finetune, head
    cnn = OmegaConf.load("configs/backbone/cnn.yaml")
    for head in HEADS:
        yield f"cnn/full/{head}", cnn, FINETUNES["full"], head


def batch_targets(n: int, generator: torch.Generator):
    targets = {
        "is_arg": torch.randint(0, 2, (n,), generator=generator).float(),
        "drug_class": torch.randint(0, 2, (n, 12), generator=generator).float(),
        "mechanism": torch.randint(0, 6, (n,), generator=generator),
    }
    masks = {"is_arg": torch.ones(n, dtype=torch.bool), "drug_class": targets["is_arg"].bool(), "mechanism": targets["is_arg"].bool()}
    return targets, masks


def measure(backbone, finetune, head, sequences, steps: int) -> dict:
    cfg = OmegaConf.create({"backbone": backbone, "finetune": finetune, "representation": {"pool": "mean"}, "head": HEADS[head]})
    torch.manual_seed(0)
    model = build_model(cfg, TASKS).train()
    loss_fn = build_multitask_loss(OmegaConf.load("configs/loss/focal.yaml"), TASKS)
    groups = model.param_groups()
    optimizer = torch.optim.AdamW([p for g in groups.values() for p in g], lr=1e-4)
    batch = model.tokenize(sequences)
    targets, masks = batch_targets(len(sequences), torch.Generator().manual_seed(0))
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        optimizer.zero_grad()
        total, _ = loss_fn(model(batch), targets, masks)
        total.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return {**model.parameter_counts(), "step_seconds": sorted(times[1:])[len(times[1:]) // 2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="esm2_t6_8M")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = random.Random(0)
    sequences = ["M" + "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(args.length - 1)) for _ in range(args.batch)]
    rows = []
    print(f"{args.preset} (RANDOM weights), batch {args.batch} x {args.length} residues, {args.threads} threads, median of {args.steps} steps")
    print(f"{'variant':<24} {'backbone trainable':>19} {'head trainable':>15} {'total':>11} {'s/step':>8}")
    for name, backbone, finetune, head in variants(args.preset):
        row = {"variant": name, **measure(backbone, finetune, head, sequences, args.steps)}
        rows.append(row)
        print(f"{name:<24} {row['trainable_backbone']:>19,} {row['trainable_head']:>15,} {row['total']:>11,} {row['step_seconds']:>8.3f}")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"args": vars(args), "random_weights": True, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
