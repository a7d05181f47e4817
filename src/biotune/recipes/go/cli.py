"""``biotune data build-go``: one GO benchmark dataset per ontology of a build config."""

from __future__ import annotations

from pathlib import Path

import typer

from biotune.paths import config_dir

BUILD_CONFIG = Path("build") / "go_tale.yaml"


def build_go(
    sources: Path = typer.Option(..., "--sources", help="Folder with the TALE data and the OBO file (e.g. ../shared/data/go_tale)."),
    out: Path = typer.Option(..., "--out", help="Output folder; each ontology's dataset goes to <out>/<name>_<ontology>/."),
    config: Path = typer.Option(None, "--config", help="Build config YAML [default: configs/build/go_tale.yaml]."),
    set_: list[str] = typer.Option([], "--set", help="Override a config key, e.g. --set min_count.mf=20 (repeatable)."),
) -> None:
    """Build the GO datasets (hierarchical multi-label, homology-aware folds) of every configured ontology."""
    from omegaconf import OmegaConf

    from biotune.data.dataset import save_dataset
    from biotune.recipes.config import load_recipe_config
    from biotune.recipes.go.build import build_go_dataset, dataset_card
    from biotune.recipes.go.ontology import load_ontology

    cfg = OmegaConf.to_container(load_recipe_config(config or config_dir() / BUILD_CONFIG, set_))
    ontology = load_ontology(sources / cfg["obo"], cfg["relations"])
    for ont in cfg["ontologies"]:
        dataset, report = build_go_dataset(sources, ont, ontology, cfg)
        directory = save_dataset(dataset, out / dataset.meta["name"], card=dataset_card(dataset, report, cfg))
        typer.echo(
            f"built {directory}: {len(dataset.table)} proteins, {report.n_terms_kept} terms, {dataset.n_folds} folds; "
            f"{sum(len(v) for v in report.unresolved.values())} annotated ids not propagated (see CARD.md)"
        )
