"""``biotune data build-fitness``: one benchmark dataset per mutational-scan study of a build config."""

from __future__ import annotations

from pathlib import Path

import typer

from biotune.paths import config_dir

BUILD_CONFIG = Path("build") / "fitness_tem1.yaml"


def build_fitness(
    sources: Path = typer.Option(..., "--sources", help="Folder with the assay files (e.g. ../shared/data/fitness_tem1)."),
    out: Path = typer.Option(..., "--out", help="Output folder; each study's dataset goes to <out>/<name>_<study>/."),
    config: Path = typer.Option(None, "--config", help="Build config YAML [default: configs/build/fitness_tem1.yaml]."),
    set_: list[str] = typer.Option([], "--set", help="Override a config key, e.g. --set folds.n_folds=10 (repeatable)."),
) -> None:
    """Build the fitness datasets (regression and binary tasks; random and position-block folds) of every study."""
    from biotune.data.dataset import save_dataset
    from omegaconf import OmegaConf

    from biotune.recipes.config import load_recipe_config
    from biotune.recipes.fitness.build import build_fitness_dataset, dataset_card

    cfg = OmegaConf.to_container(load_recipe_config(config or config_dir() / BUILD_CONFIG, set_))
    for study in cfg["studies"]:
        dataset = build_fitness_dataset(sources / cfg["file"].format(study=study), study, cfg)
        directory = save_dataset(dataset, out / dataset.meta["name"], card=dataset_card(dataset))
        table = dataset.table
        typer.echo(f"built {directory}: {len(table)} variants at {table['position'].nunique()} positions, {dataset.n_folds} folds")
