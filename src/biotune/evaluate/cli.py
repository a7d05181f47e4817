"""``biotune benchmark`` and ``biotune report``: the command-line edge of the evaluation package."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from biotune.errors import InputError, stderr_console

console = stderr_console()


def _list(value: str | None, cast=str) -> list | None:
    return None if value is None else [cast(v.strip()) for v in value.split(",") if v.strip()]


def benchmark(
    dataset: Path = typer.Option(..., "--dataset", help="Dataset directory (biotune data build-arg output)."),
    methods: str = typer.Option(..., "--methods", help="Comma-separated method names (configs/method/<name>.yaml), e.g. besthit,kmer_lr."),
    out: Path = typer.Option(..., "--out", help="Results directory to write."),
    tasks: str = typer.Option(None, "--tasks", help="Comma-separated tasks (default: every task of the dataset)."),
    folds: str = typer.Option(None, "--folds", help="Comma-separated test folds, or proteome indices with --split proteome (default: all)."),
    split: str = typer.Option(None, "--split", help="folds (test = fold k, validation = fold k+1) or proteome (leave-one-proteome-out; needs a proteome column). Default: the config's split (folds)."),
    seeds: str = typer.Option(None, "--seeds", help="Comma-separated seeds (default: configs/benchmark seeds)."),
    config: Path = typer.Option(None, "--config", help="Benchmark settings YAML (default: configs/benchmark/default.yaml)."),
    overrides: list[str] = typer.Option([], "--set", help="Override: <method>.<param>=v or a benchmark key (bootstrap.n=200). Repeatable."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Fit and evaluate methods over the dataset's folds; write predictions, metrics, summary and plots."""
    from biotune.evaluate.runner import benchmark_config, run_benchmark, split_overrides

    names = _list(methods)
    try:
        bench_overrides, method_overrides = split_overrides(overrides, names)
        cfg = benchmark_config(config, bench_overrides + ([f"split={split}"] if split else []))
    except ValueError as exc:
        raise InputError(str(exc)) from None
    start = time.perf_counter()
    try:
        run_benchmark(
            dataset, names, _list(tasks), out, folds=_list(folds, int), seeds=_list(seeds, int),
            config=cfg, method_overrides=method_overrides, progress=progress,
        )
    except KeyError as exc:
        raise InputError(str(exc.args[0]) if exc.args else str(exc)) from None
    console.print(f"wrote {out}/summary.md ({time.perf_counter() - start:.0f} s)")


def report(
    directory: Path = typer.Argument(..., help="A results directory written by `biotune benchmark`."),
    recompute: bool = typer.Option(False, "--recompute", help="Recompute metrics.json from the saved prediction tables first."),
    overrides: list[str] = typer.Option([], "--set", help="With --recompute: change evaluation settings, e.g. bootstrap.unit=cluster (saved in config.yaml)."),
) -> None:
    """Re-render summary.md / summary.html / plots from saved results (predictions are never recomputed)."""
    from omegaconf import OmegaConf

    from biotune.evaluate.aggregate import evaluate_results
    from biotune.evaluate.report import render_report
    from biotune.overrides import merge_overrides

    config = directory / "config.yaml"
    if not config.exists():
        raise InputError("not a benchmark results directory (config.yaml is missing)", path=directory)
    metrics = None
    if overrides:
        if not recompute:
            raise InputError("--set only applies with --recompute")
        bad = [o for o in overrides if not o.startswith("bootstrap.")]
        if bad:
            raise InputError(f"only bootstrap.* settings can change after the run, not {bad}")
        cfg = OmegaConf.load(config)
        cfg.benchmark = merge_overrides(cfg.benchmark, overrides, config)
        OmegaConf.save(cfg, config)
    if recompute:
        metrics = evaluate_results(directory)
    try:
        path = render_report(directory, metrics)
    except FileNotFoundError as exc:
        raise InputError(str(exc), path=directory) from None
    console.print(f"wrote {path}")
