"""``biotune predict --ray ADDRESS``: the chunks of one or many inputs scored by workers of a Ray cluster.

Each worker is a Ray actor that loads the bundle once and scores whole chunks (the same
:func:`~biotune.predict.pipeline.annotate_chunk` as a local run, with its share of the cluster's
CPUs as DIAMOND threads). The driver reads the inputs, calls genes, checkpoints, and writes every
chunk in input order as its result arrives, so the output files are those of a run on one machine
(``predictions.tsv`` byte for byte; the JSON and report also record wall time). At most
``in_flight`` chunks per input wait for a worker (bounded memory). Several inputs are annotated
concurrently, one driver thread each, sharing the workers.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from biotune.errors import InputError
from biotune.predict.annotation import Annotation
from biotune.predict.inputs import Query
from biotune.predict.pipeline import PredictSettings

LOCAL = "local"


class ChunkWorker:
    """A Ray actor's state: one loaded bundle, scoring chunks (``ray.remote`` wraps it in :class:`RayScorer`)."""

    def __init__(self, bundle_dir: str, settings: PredictSettings):
        from biotune.predict.annotation_bundle import load_bundle

        self.bundle = load_bundle(bundle_dir)
        self.settings = settings
        self.rules = self.bundle.call_rules(settings.rules)
        self.chunks_scored = 0

    def annotate(self, chunk: Sequence[Query]) -> list[Annotation]:
        from biotune.predict.pipeline import annotate_chunk

        self.chunks_scored += 1
        return annotate_chunk(chunk, self.bundle, self.settings, self.rules)

    def scored(self) -> int:
        return self.chunks_scored


class RayScorer:
    """A :class:`~biotune.predict.pipeline.ChunkScorer` over ``workers`` Ray actors, round robin.

    ``address``: ``"local"`` starts a Ray instance on this machine with ``workers x threads`` CPUs, any
    other value is passed to ``ray.init`` (``"auto"``, ``"ray://host:10001"``). Call :meth:`close` (or use
    it as a context manager) to release the actors and a Ray instance it started.
    """

    def __init__(self, bundle_dir: str | Path, settings: PredictSettings, *, address: str, workers: int | None = None, in_flight: int | None = None):
        import ray

        self._ray = ray
        threads = max(1, int(settings.threads))
        self._started = not ray.is_initialized()
        if self._started:
            if address == LOCAL:
                ray.init(num_cpus=(workers or 2) * threads, include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                try:
                    ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
                except (ConnectionError, ValueError, RuntimeError) as exc:
                    raise InputError(f"cannot connect to the Ray cluster at {address!r}: {' '.join(str(exc).split())}") from None
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = workers or max(1, cluster_cpus // threads)
        if self.workers * threads > cluster_cpus:
            self.close()
            raise InputError(f"{self.workers} workers x {threads} threads need {self.workers * threads} CPUs; the Ray cluster has {cluster_cpus}")
        actor = ray.remote(num_cpus=threads)(ChunkWorker)
        worker_settings = replace(settings, genes=replace(settings.genes, threads=threads))
        self._actors = [actor.remote(str(Path(bundle_dir).expanduser().resolve()), worker_settings) for _ in range(self.workers)]
        self.in_flight = in_flight if in_flight is not None else 2 * self.workers
        self._next = itertools.cycle(range(self.workers))
        self._lock = threading.Lock()

    def submit(self, chunk: Sequence[Query]) -> Any:
        with self._lock:
            actor = self._actors[next(self._next)]
        return actor.annotate.remote(list(chunk))

    def result(self, handle: Any) -> list[Annotation]:
        try:
            return self._ray.get(handle)
        except self._ray.exceptions.RayTaskError as exc:  # the worker's own error (a damaged bundle, DIAMOND failing)
            raise (exc.cause or exc) from None

    def chunks_per_worker(self) -> list[int]:
        """How many chunks each worker scored (the load balance)."""
        return self._ray.get([a.scored.remote() for a in self._actors])

    def close(self) -> None:
        for actor in getattr(self, "_actors", []):
            self._ray.kill(actor)
        self._actors = []
        if self._started:
            self._ray.shutdown()
            self._started = False

    def __enter__(self) -> RayScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
