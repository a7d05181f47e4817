"""``biotune data ...``: download the upstream sources, build and check the ARG benchmark dataset."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from omegaconf import OmegaConf

from biotune.errors import InputError
from biotune.recipes.config import load_recipe_config

data_app = typer.Typer(no_args_is_help=True)

BUILD_CONFIG = Path("configs") / "build" / "arg_v1.yaml"
DOWNLOAD_CONFIG = Path("download") / "arg.yaml"


def default_build_config() -> Path:
    """``configs/build/arg_v1.yaml`` of the working directory, else of the biotune source tree."""
    here = Path.cwd() / BUILD_CONFIG
    if here.is_file():
        return here
    return Path(__file__).resolve().parents[4] / BUILD_CONFIG


def load_build_config(path: Path | None, overrides: list[str]) -> dict[str, Any]:
    """The build config YAML (default :func:`default_build_config`) merged with ``key=value`` overrides, as a dict."""
    return OmegaConf.to_container(load_recipe_config(path or default_build_config(), overrides))


@data_app.command("download")
def download(
    out: Path = typer.Option(Path("data/sources"), "--out", help="Output folder: arg/, proteomes/, downloads/ (raw files) and sources.lock.json."),
    mirror: str = typer.Option(
        None, "--mirror",
        help="A folder or http(s) base URL holding the upstream files under their upstream names (e.g. the downloads/ "
        "folder of an online machine); nothing is fetched from upstream then.",
    ),
    only: str = typer.Option(None, "--only", help="Comma-separated item names (default: every item of the config)."),
    update: bool = typer.Option(False, "--update", help="Fetch every item again and accept checksums that differ from the lock file."),
    config: Path = typer.Option(None, "--config", help="Download config YAML (default: configs/download/arg.yaml)."),
) -> None:
    """Download the public upstream files the ARG recipe reads (CARD, ResFinder, proteomes, ...), pinned in a lock file."""
    from biotune.data.download import LOCK_FILE, Outcome, download_sources, load_items, select_items
    from biotune.errors import stderr_console
    from biotune.paths import config_dir

    items = select_items(load_items(config or config_dir() / DOWNLOAD_CONFIG), (only or "").split(","))
    console = stderr_console()

    def echo(outcome: Outcome) -> None:
        label = f"{outcome.item.name} {outcome.item.version}"
        if outcome.status == "missing":
            need = "required" if outcome.item.required else "optional"
            console.print(f"missing ({need}): {label}: {outcome.detail}", markup=False)
        else:
            typer.echo(f"{outcome.status}: {label}: {outcome.detail} -> {out / outcome.item.dest}")

    outcomes = download_sources(items, out, mirror=mirror, update=update, echo=echo)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("downloaded", "installed", "present", "missing")}
    typer.echo(f"{out / LOCK_FILE}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    lacking = [o.item.name for o in outcomes if o.status == "missing" and o.item.required]
    if lacking:
        raise InputError(f"{len(lacking)} required source(s) not obtained: {', '.join(lacking)} (see the lines above)")


@data_app.command("build-arg")
def build_arg(
    sources: Path = typer.Option(
        ..., "--sources",
        help="Folder with the raw upstream files; config paths are relative to it (absolute paths and '../x' for a "
        "sibling folder such as ../proteomes also work; see configs/build/arg_v1.yaml, arg_v2.yaml).",
    ),
    out: Path = typer.Option(..., "--out", help="Output dataset directory (records.tsv, sequences.faa, dataset.json, CARD.md)."),
    config: Path = typer.Option(None, "--config", help="Build config YAML [default: configs/build/arg_v1.yaml]."),
    set_: list[str] = typer.Option([], "--set", help="Override a config key, e.g. --set folds.seed=1 (repeatable)."),
) -> None:
    """Build the ARG benchmark dataset from raw HMD-ARG-DB, CARD, ResFinder, negative and (arg_v2) proteome files."""
    from biotune.data.dataset import save_dataset
    from biotune.recipes.arg.build import build_arg_dataset
    from biotune.recipes.arg.card import render_card

    cfg = load_build_config(config, set_)
    start = time.perf_counter()
    dataset, report = build_arg_dataset(sources, cfg)
    save_dataset(dataset, out, card=render_card(dataset, report))
    table = dataset.table
    typer.echo(
        f"built {out}: {len(table)} sequences ({int(table['is_arg'].sum())} ARGs, "
        f"{int((table['is_arg'] == 0).sum())} negatives), {table['cluster'].nunique()} clusters, "
        f"{dataset.n_folds} folds, max cross-fold identity {report.max_cross_fold_identity}, "
        f"{len(report.dropped)} records dropped, {len(report.removed_negatives)} negatives removed "
        + (
            f"; label rule: {len(report.rule_labelled)} proteome proteins labelled ARG, {len(report.unsafe_negatives)} unsafe "
            f"negatives and {len(report.ambiguous)} ambiguous proteins removed "
            if "label_rule" in table.columns
            else ""
        )
        + f"[{time.perf_counter() - start:.0f} s]"
    )


@data_app.command("check")
def check(
    directory: Path = typer.Argument(..., help="A dataset directory written by build-arg."),
    max_identity: float = typer.Option(0.4, help="Fail if two sequences in different folds reach this identity..."),
    min_coverage: float = typer.Option(0.8, help="...over at least this coverage of both sequences."),
    sensitivity: float = typer.Option(None, help="MMseqs2 -s [default: the build's clusters.sensitivity, else 5.7]."),
    max_seqs: int = typer.Option(None, help="MMseqs2 --max-seqs [default: the build's clusters.max_seqs, else 300]."),
    quiet: bool = typer.Option(False, "--quiet", help="Do not print the dataset card."),
) -> None:
    """Verify a dataset (structure, clusters within folds, MMseqs2 cross-fold identity) and print its card."""
    from biotune.data.dataset import CARD_FILE, load_dataset
    from biotune.recipes.arg.check import check_dataset

    dataset = load_dataset(directory)
    if not quiet and (directory / CARD_FILE).is_file():
        typer.echo((directory / CARD_FILE).read_text())
    built_with = dataset.meta.get("parameters", {}).get("clusters", {})
    result = check_dataset(
        dataset,
        max_identity=max_identity,
        min_coverage=min_coverage,
        sensitivity=sensitivity if sensitivity is not None else built_with.get("sensitivity", 5.7),
        max_seqs=max_seqs if max_seqs is not None else built_with.get("max_seqs", 300),
    )
    typer.echo(f"max cross-fold identity at >= {min_coverage:.0%} coverage: {result.max_identity:.3f}"
               + (f" ({result.closest_pair})" if result.closest_pair else ""))
    if not result.ok:
        for problem in result.problems:
            typer.echo(f"FAIL: {problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"OK: {directory} passes all checks ({len(dataset.table)} records, {dataset.n_folds} folds)")
