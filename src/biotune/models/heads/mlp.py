"""Two-layer head: LayerNorm → Linear → activation → Dropout → Linear."""

from __future__ import annotations

from torch import Tensor, nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}


def activation(name: str) -> nn.Module:
    """An activation module by name (relu, gelu, silu, tanh)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLPHead(nn.Module):
    """``(B, D)`` -> ``(B, n_outputs)`` through one hidden layer."""

    needs_residues = False

    def __init__(self, in_dim: int, n_outputs: int, hidden: int = 256, activation_name: str = "gelu", dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(in_dim),
            nn.Linear(in_dim, hidden),
            activation(activation_name),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_outputs),
        )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.net(x)
