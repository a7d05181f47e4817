"""Conditional WGAN-GP in embedding space: synthesise embeddings of rare classes.

The generator maps ``(z, c)`` (latent noise, label vector) to an embedding; the critic scores
``(x, c)``. Training follows Gulrajani et al. (2017): ``n_critic`` critic steps per generator step,
the critic loss ``E[D(fake)] - E[D(real)] + λ·E[(‖∇x̂ D(x̂, c)‖₂ - 1)²]`` on random interpolates
``x̂`` of real and fake points with the same condition, Adam(lr, β=(0.5, 0.9)). Embeddings are
standardised with the training mean/sd. Real batches are drawn class-balanced (over label groups)
so that the rare conditions — the ones we generate — are actually learned.

Labels: a 1-d class-index array (one-hot condition) or a 2-d multi-hot matrix (the label set is the
condition). Generation uses :func:`~biotune.imbalance.frequency.oversampling_plan`. The model only
ever sees the rows passed to :func:`train_cwgan` (the training fold); ``seen_rows`` records them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from biotune.imbalance.frequency import label_groups, oversampling_plan, record_weights
from biotune.threads import limited_threads


@dataclass
class WGANConfig:
    """Hyper-parameters of the conditional WGAN-GP (defaults: the WGAN-GP paper's)."""

    latent_dim: int = 32
    hidden: int = 256
    n_critic: int = 5
    gp_lambda: float = 10.0
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)
    batch_size: int = 128
    steps: int = 1000  # generator steps


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, n_out))


class ConditionalGenerator(nn.Module):
    def __init__(self, latent_dim: int, n_cond: int, dim: int, hidden: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = _mlp(latent_dim + n_cond, hidden, dim)

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, cond], dim=1))


class ConditionalCritic(nn.Module):
    """No batch norm: the gradient penalty is per sample (as WGAN-GP requires)."""

    def __init__(self, dim: int, n_cond: int, hidden: int):
        super().__init__()
        self.net = _mlp(dim + n_cond, hidden, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, cond], dim=1)).squeeze(1)


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor, gp_lambda: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``λ · mean((‖∇x̂ critic(x̂, c)‖₂ - 1)²)`` at ``x̂ = ε·real + (1-ε)·fake``, ``ε ~ U(0, 1)`` per sample."""
    eps = torch.rand(real.shape[0], 1, generator=generator, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat, cond).sum(), x_hat, create_graph=True)
    return gp_lambda * ((grad.norm(2, dim=1) - 1) ** 2).mean()


@dataclass
class ConditionalWGAN:
    """A trained generator with the standardisation and label encoding it was trained with."""

    generator: ConditionalGenerator
    mean: np.ndarray
    scale: np.ndarray
    group_rows: np.ndarray
    config: WGANConfig
    seen_rows: np.ndarray
    history: list[dict[str, float]] = field(default_factory=list)

    def sample(self, cond: np.ndarray, seed: int = 0) -> np.ndarray:
        """Embeddings for the condition vectors ``cond`` ``(n, n_cond)``."""
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            z = torch.randn(len(cond), self.generator.latent_dim, generator=gen)
            x = self.generator(z, torch.as_tensor(cond, dtype=torch.float32)).numpy()
        return (x * self.scale + self.mean).astype(np.float32)


def condition_vectors(targets: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Condition vectors: one-hot of class indices (1-d ``targets``) or the multi-hot rows themselves."""
    targets = np.asarray(targets)
    if targets.ndim == 2:
        return targets.astype(np.float32)
    n = int(targets.max()) + 1 if n_classes is None else n_classes
    return np.eye(n, dtype=np.float32)[targets.astype(int)]


def train_cwgan(
    X: np.ndarray, targets: np.ndarray, config: WGANConfig | None = None, *, n_classes: int | None = None, seed: int = 0, num_threads: int | None = 1
) -> ConditionalWGAN:
    """Train the conditional WGAN-GP on ``(X, targets)`` — pass the training fold only.

    Runs with ``num_threads`` torch threads (see :mod:`biotune.threads`).
    """
    with limited_threads(num_threads):
        return _train(np.asarray(X, dtype=np.float32), targets, config or WGANConfig(), n_classes, seed)


def _train(X: np.ndarray, targets: np.ndarray, cfg: WGANConfig, n_classes: int | None, seed: int) -> ConditionalWGAN:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-6
    real_all = torch.as_tensor((X - mean) / scale)
    cond_all = torch.as_tensor(condition_vectors(targets, n_classes))
    groups, group_rows = label_groups(targets)
    draw = torch.as_tensor(record_weights(groups, "inverse"), dtype=torch.double)

    G = ConditionalGenerator(cfg.latent_dim, cond_all.shape[1], X.shape[1], cfg.hidden)
    D = ConditionalCritic(X.shape[1], cond_all.shape[1], cfg.hidden)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
    seen = np.zeros(len(X), dtype=bool)
    history = []
    for step in range(cfg.steps):
        for _ in range(cfg.n_critic):
            idx = torch.multinomial(draw, cfg.batch_size, replacement=True, generator=gen)
            seen[idx.numpy()] = True
            real, cond = real_all[idx], cond_all[idx]
            fake = G(torch.randn(len(idx), cfg.latent_dim, generator=gen), cond).detach()
            wasserstein = D(real, cond).mean() - D(fake, cond).mean()
            gp = gradient_penalty(D, real, fake, cond, cfg.gp_lambda, gen)
            opt_d.zero_grad()
            (gp - wasserstein).backward()
            opt_d.step()
        idx = torch.multinomial(draw, cfg.batch_size, replacement=True, generator=gen)
        g_loss = -D(G(torch.randn(len(idx), cfg.latent_dim, generator=gen), cond_all[idx]), cond_all[idx]).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if step % max(1, cfg.steps // 20) == 0 or step == cfg.steps - 1:
            history.append({"step": step, "wasserstein": wasserstein.item(), "gp": gp.item(), "g_loss": g_loss.item()})
    return ConditionalWGAN(G.eval(), mean, scale, group_rows, cfg, np.flatnonzero(seen), history)


def wgan_oversample(
    X: np.ndarray,
    targets: np.ndarray,
    *,
    target: float = 1.0,
    max_ratio: float = 10.0,
    config: WGANConfig | None = None,
    n_classes: int | None = None,
    seed: int = 0,
    num_threads: int | None = 1,
) -> tuple[np.ndarray, np.ndarray, ConditionalWGAN]:
    """Train on ``(X, targets)`` and return synthetic ``(X_new, targets_new, model)`` per the plan."""
    model = train_cwgan(X, targets, config, n_classes=n_classes, seed=seed, num_threads=num_threads)
    groups, rows = label_groups(targets)
    plan = oversampling_plan(groups, target, max_ratio=max_ratio)
    new_groups = np.concatenate([np.full(n, g) for g, n in sorted(plan.items())]) if plan else np.empty(0, dtype=int)
    new_targets = rows[new_groups]
    width = None if np.asarray(targets).ndim == 2 else (n_classes or int(np.max(targets)) + 1)
    X_new = model.sample(condition_vectors(new_targets, width), seed=seed + 1) if len(new_targets) else np.empty((0, X.shape[1]), np.float32)
    return X_new, new_targets, model

