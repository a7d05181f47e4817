"""``biotune predict`` (annotate proteins, genomes, contigs) and ``biotune arg train-default`` (build its default model)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from biotune.errors import stderr_console

console = stderr_console()

PREDICT_HELP = """Annotate antibiotic-resistance genes in proteins, genomes or metagenomic contigs.

\b
Input: FASTA (plain or gzip) of proteins, or of nucleotides (genes are called with pyrodigal in
metagenome mode, coordinates kept). Outputs in OUT/: predictions.tsv (one row per protein, and a
status row for every record without one), predictions.json, report.html, and hamronization.tsv with
--hamronization.

\b
Examples:
  biotune predict sample.faa -o out/
  biotune predict assembly.fna.gz -o out/ --hamronization
  biotune predict reads_contigs.fa -o out/ --type nucleotide --model ~/models/my_bundle
  biotune predict sample.faa -o out/ --set calls.is_arg_threshold=0.8
  biotune predict big.faa -o out/ --resume     (after a killed run into out/)
  biotune predict g1.fna g2.fna -o out/ --ray local   (out/g1/, out/g2/)
"""


def predict(
    input_files: list[Path] = typer.Argument(
        ..., metavar="INPUT...", help="FASTA of proteins or nucleotides (.gz accepted); several: one folder each in OUT."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (created; files in it are replaced)."),
    model: Path = typer.Option(None, "--model", "-m", help="Annotation bundle directory (default: the default ARG model)."),
    input_type: str = typer.Option("auto", "--type", help="auto | protein | nucleotide."),
    hamronization: bool = typer.Option(False, "--hamronization", help="Also write hamronization.tsv (PHA4GE hAMRonization columns)."),
    threads: int = typer.Option(None, "--threads", "-t", help="Threads for DIAMOND and gene calling (default: all cores)."),
    chunk_size: int = typer.Option(None, "--chunk-size", help="Proteins per batch, bounds memory (default: config)."),
    overrides: list[str] = typer.Option([], "--set", help="Config override key=value (configs/predict/default.yaml); repeatable."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar nor summary."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue a killed run into the same OUT: chunks it finished are read back, not scored again."
    ),
    ray_address: str = typer.Option(
        None, "--ray", metavar="ADDRESS", help="Score on a Ray cluster: 'local' starts one here, else its address (e.g. auto)."
    ),
    workers: int = typer.Option(None, "--workers", help="Ray workers, each loads the model once (default: cluster CPUs / threads)."),
) -> None:
    from omegaconf import OmegaConf

    from biotune.errors import InputError
    from biotune.predict.annotation_bundle import load_bundle
    from biotune.predict.inputs import INPUT_TYPES
    from biotune.predict.pipeline import PredictSettings, annotate, annotate_inputs, load_predict_config, output_folders
    from biotune.predict.writers import check_output_folder
    from biotune.recipes.arg.default_model import default_bundle_dir, how_to_build_default

    if input_type not in INPUT_TYPES:
        raise InputError(f"--type must be one of {', '.join(INPUT_TYPES)}, not {input_type!r}")
    extra = [f"threads={threads}"] if threads else []
    extra += [f"chunk_size={chunk_size}"] if chunk_size else []
    cfg = load_predict_config([*overrides, *extra])
    settings = PredictSettings.from_config(cfg)
    if settings.chunk_size < 1:
        raise InputError(f"chunk size must be at least 1, got {settings.chunk_size}")
    if model is None:
        model = default_bundle_dir()
        if not model.exists():
            raise InputError(how_to_build_default())
    if workers is not None and (ray_address is None or workers < 1):
        raise InputError("--workers needs --ray and at least 1 worker")
    folders = output_folders(input_files, out)
    for folder in folders:
        check_output_folder(folder)  # a folder in use by another run (or a file) fails now, not after the model loads
    for path in input_files:
        if not path.exists():
            raise InputError("file not found", path=path)
    bundle = load_bundle(model)
    options = dict(input_type=input_type, hamronization=hamronization, settings_record=OmegaConf.to_container(cfg, resolve=True), resume=resume)
    with _scorer(model, settings, ray_address, workers) as scorer, _terminate_cleanly():
        if len(input_files) == 1:
            with _progress(input_files[0], quiet) as on_progress:
                runs = [annotate(input_files[0], bundle, out, settings, on_progress=on_progress, scorer=scorer, **options)]
        else:
            concurrent = scorer.workers if scorer is not None else 1
            runs = annotate_inputs(input_files, bundle, out, settings, scorer=scorer, concurrent=concurrent, **options)
    if not quiet:
        for summary, files in runs:
            _print_summary(summary, files, input_type)


@contextmanager
def _scorer(model: Path, settings, address: str | None, workers: int | None) -> Iterator:
    """The Ray workers of ``--ray`` (closed at the end), or None: score here."""
    if address is None:
        yield None
        return
    from biotune.predict.scale import RayScorer

    scorer = RayScorer(model, settings, address=address, workers=workers)
    try:
        yield scorer
    finally:
        scorer.close()


@contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """SIGTERM (``kill``, a batch scheduler) ends the run like Ctrl-C does: the writer deletes its temporary
    files and releases the output folder (exit status 143), instead of dying with them left behind."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _progress(path: Path, quiet: bool) -> Iterator[Callable | None]:
    """A rich progress bar over input records (a quick first pass counts them); nothing when quiet."""
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from biotune.predict.inputs import count_records

    total = count_records(path)
    columns = (
        TextColumn("annotating"), BarColumn(), MofNCompleteColumn(), TextColumn("records · {task.fields[proteins]} proteins"),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("annotate", total=total or None, proteins=0)
        yield lambda summary: bar.update(task, completed=summary.input_records, proteins=summary.proteins)


def _print_summary(summary, files, input_type: str) -> None:
    rate = f"{summary.proteins_per_second:,.1f} proteins/s" if summary.seconds > 0 else ""
    console.print(
        f"[bold]{summary.proteins}[/] proteins from {summary.input_records} {summary.input_type} records "
        f"in {summary.seconds:.1f} s ({rate}). ARG calls: [bold]{summary.arg_calls}[/] "
        f"({summary.novel_arg_calls} novel: no reference at ≥ novelty identity)."
    )
    if summary.resumed_proteins:
        console.print(f"Resumed: {summary.resumed_proteins} proteins read back from the killed run's checkpoints, not scored again.")
    if summary.call_bases:
        console.print("ARG calls by basis: " + "; ".join(f"{k} ×{v}" for k, v in summary.call_bases.most_common()))
    if summary.reference_mobility:
        console.print("ARG calls by nearest reference: " + "; ".join(f"{k} ×{v}" for k, v in summary.reference_mobility.most_common()))
    not_ok = {k: v for k, v in summary.statuses.items() if k != "ok"}
    if not_ok:
        console.print("Records not scored: " + "; ".join(f"{k} ×{v}" for k, v in not_ok.items()))
    if input_type == "protein" and any("looks like a nucleotide" in k for k in not_ok):
        console.print("[yellow]hint:[/] some records look like nucleotides; use --type nucleotide (or auto) for genomes/contigs.")
    for name, path in files.items():
        console.print(f"  {name}: {path}")


arg_app = typer.Typer(no_args_is_help=True)


@arg_app.command("train-default")
def train_default_command(
    dataset: Path = typer.Option(None, "--dataset", "-d", help="Benchmark dataset dir (default: config, data/arg_v2)."),
    out: Path = typer.Option(None, "--out", "-o", help="Bundle directory (default: the user model cache)."),
    method: str = typer.Option(None, "--method", help="Registered method name (default: config, fusion; kmer_lr is the cheaper former default)."),
    results: Path = typer.Option(None, "--benchmark-results", help="`biotune benchmark` results dir: record its cross-validated numbers."),
    overrides: list[str] = typer.Option([], "--set", help="Config override key=value (configs/predict/arg_default.yaml); repeatable."),
    force: bool = typer.Option(False, "--force", help="Replace an existing bundle."),
) -> None:
    """Train the default ARG annotation model on the benchmark dataset (every fold but the config's valid_fold,
    which calibrates it) and install it."""
    from biotune.recipes.arg.default_model import load_default_config, train_default

    extra = [f"{k}={v}" for k, v in (("dataset", dataset), ("method", method), ("benchmark_results", results)) if v]
    cfg = load_default_config([*overrides, *extra])
    path = train_default(cfg, out, force=force, log=lambda message: console.print(message))
    console.print(f"default ARG model written to [bold]{path}[/]; `biotune predict INPUT -o OUT` now uses it.")


def register(app: typer.Typer) -> None:
    app.command("predict", help=PREDICT_HELP)(predict)
    app.add_typer(arg_app, name="arg", help="ARG recipe: build the default annotation model.")
