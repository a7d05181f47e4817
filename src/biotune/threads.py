"""Thread limits: one context manager for every place that sets torch and BLAS/OpenMP thread counts.

Used by the embedding engine (its ``threads`` setting) and by small computations (MLP heads, the
embedding-space WGAN, t-SNE, small sklearn fits).

Small matrices gain nothing from parallelism, and on a shared, busy CPU several threads per
process make each step 10-100× slower through oversubscription (measured here under load: a WGAN
run took 13 s with one torch thread and over 280 s with two; a t-SNE of 650 points 2.9 s with one
OpenMP thread and 36 s with the default). These loops therefore run under :func:`limited_threads`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from threadpoolctl import threadpool_limits


def available_cpus() -> int:
    """CPUs this process may run on (respects affinity masks and container limits where visible)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


@contextlib.contextmanager
def limited_threads(n: int | None = 1) -> Iterator[None]:
    """Run the block with at most ``n`` torch and BLAS/OpenMP threads (no limit when ``n`` is None)."""
    if n is None:
        yield
        return
    import torch  # here, not at module level: the homology tools use available_cpus without torch

    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        with threadpool_limits(int(n)):
            yield
    finally:
        torch.set_num_threads(previous)
