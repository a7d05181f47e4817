"""The biosignal residual CNN backbone: registered like the protein ones, trains through the shared model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from biotune.models.model import build_model
from biotune.paths import config_dir
from biotune.recipes.ppg.windows import HEART_RATE

SMALL = {"channels": 8, "blocks": 2, "downsample_every": 1}


def model(finetune: str = "full", head: dict | None = None, **backbone):
    cfg = OmegaConf.create({
        "backbone": OmegaConf.merge(OmegaConf.load(config_dir() / "backbone" / "ppg_resnet.yaml"), SMALL, backbone),
        "finetune": {"mode": finetune, "top_n_layers": 1},
        "representation": {"pool": "mean", "layers": [-1]},
        "head": head or {"name": "linear", "dropout": 0.0},
    })
    return build_model(cfg, [HEART_RATE])


def sinusoid_windows(bpm: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(1000) / 125
    return [np.stack([np.sin(2 * np.pi * b / 60 * t + rng.uniform(0, 6))] * 2 + [0.1 * rng.standard_normal(1000)] * 3).astype(np.float32) for b in bpm]


def test_forward_shapes_and_downsampling():
    m = model()
    batch = m.tokenize(sinusoid_windows(np.array([60.0, 90.0, 120.0])))
    assert batch["signal"].shape == (3, 5, 1000)
    encoded = m.encoder(batch, m.layers)
    assert encoded.residues.shape == (3, 1, 125, 32) and encoded.mask.all()  # time: stem /2, each block /2; channels 8 -> 16 -> 32
    assert m(batch)["heart_rate"].shape == (3,)


def test_learns_heart_rate_of_clean_sinusoids():
    torch.manual_seed(0)
    m = model(head={"name": "mlp", "hidden": 16, "dropout": 0.0})
    bpm = np.linspace(60, 160, 16)
    batch = m.tokenize(sinusoid_windows(bpm))
    target = torch.tensor((bpm - 110) / 30, dtype=torch.float32)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    m.train()
    for _ in range(40):
        loss = torch.nn.functional.l1_loss(m(batch)["heart_rate"], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_partial_finetune_trains_only_the_top_block():
    m = model("partial")
    groups = m.encoder.layer_groups()
    assert len(groups) == 1 + SMALL["blocks"]
    assert all(p.requires_grad for p in groups[-1]) and not any(p.requires_grad for g in groups[:-1] for p in g)
    frozen = model("frozen")
    assert frozen.parameter_counts()["trainable_backbone"] == 0 and frozen.parameter_counts()["trainable_head"] > 0


def test_wrong_window_shape_is_a_clear_error():
    m = model()
    with pytest.raises(ValueError, match=r"must all be \(5 channels, 1000 samples\), got shapes \[\(6, 1000\)\]"):
        m.tokenize([np.zeros((6, 1000), np.float32)])
