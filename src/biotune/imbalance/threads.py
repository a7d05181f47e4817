"""Thread limit for training small models (MLP heads, the embedding-space WGAN).

Matrices this small gain nothing from intra-op parallelism, and on a shared, busy CPU several
threads per process can make each step 10-100× slower (measured here: a WGAN run took 13 s with one
thread and over 280 s with two). Training loops therefore run under :func:`torch_threads`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` (unchanged when ``n`` is None), then restore."""
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
