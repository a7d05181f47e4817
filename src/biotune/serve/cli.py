"""``biotune serve``: run the web page + JSON API (:mod:`biotune.serve.app`) with uvicorn."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from biotune.errors import stderr_console

console = stderr_console()


def serve(
    model: Path = typer.Option(None, "--model", "-m", help="Annotation bundle directory (default: the default ARG model)."),
    host: str = typer.Option(None, "--host", help="Interface to listen on (default: config, 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="Port (default: config, 8000)."),
    work_dir: Path = typer.Option(None, "--work-dir", help="Job folders (default: a temporary folder)."),
    threads: int = typer.Option(None, "--threads", "-t", help="Threads per job for DIAMOND, HMM scans and gene calling."),
    overrides: list[str] = typer.Option([], "--set", help="Config override key=value (configs/serve/default.yaml); repeatable."),
) -> None:
    """Serve ARG annotation as a web page (upload or paste, results with evidence, downloads) and a JSON API (/docs)."""
    import uvicorn
    from omegaconf import OmegaConf

    from biotune.errors import InputError
    from biotune.overrides import merge_overrides
    from biotune.paths import config_dir
    from biotune.predict.annotation_bundle import load_bundle
    from biotune.predict.pipeline import PredictSettings, load_predict_config
    from biotune.recipes.arg.default_model import default_bundle_dir, how_to_build_default
    from biotune.serve.app import Limits, create_app

    path = config_dir() / "serve" / "default.yaml"
    cfg = merge_overrides(OmegaConf.load(path), overrides, path, nullable=())
    limits = Limits(**OmegaConf.to_container(cfg.limits, resolve=True))
    model = model or default_bundle_dir()
    if not model.exists():
        raise InputError(how_to_build_default())
    settings = PredictSettings.from_config(load_predict_config([f"threads={threads}"] if threads else []))
    with tempfile.TemporaryDirectory(prefix="biotune_serve_") as tmp:
        jobs = work_dir or cfg.work_dir or tmp
        app = create_app(load_bundle(model), settings, jobs, limits)
        console.print(f"biotune serve: http://{host or cfg.host}:{port or cfg.port}/ (API docs /docs), jobs in {jobs}")
        uvicorn.run(app, host=host or cfg.host, port=int(port or cfg.port), log_level="warning")
