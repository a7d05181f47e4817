"""The ``biotune`` command. Each sub-command group lives next to the code it drives; this file only wires them.

Errors derived from :class:`biotune.errors.BiotuneError` are printed as one line (exit code 2),
never as a traceback.
"""

from __future__ import annotations

import sys

import typer

from biotune import __version__
from biotune.errors import BiotuneError, report_error

app = typer.Typer(
    name="biotune",
    help="Fine-tune and evaluate protein language models; annotate antibiotic-resistance genes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True)) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


def _register() -> None:
    """Attach the sub-command groups (imported here so that ``biotune --help`` stays cheap to maintain)."""
    from biotune.recipes.arg.cli import data_app

    app.add_typer(data_app, name="data", help="Download upstream sources; build and check benchmark datasets.")
    from biotune.evaluate.cli import benchmark, report

    app.command("benchmark")(benchmark)
    app.command("report")(report)
    from biotune.evaluate.compare_results import compare

    app.command("compare")(compare)
    from biotune.train.cli import register as register_train

    register_train(app)
    from biotune.predict.cli import register as register_predict

    register_predict(app)
    from biotune.embed.cli import embed

    app.command("embed")(embed)
    from biotune.serve.cli import serve

    app.command("serve")(serve)


def main() -> None:
    _register()
    try:
        app()
    except BiotuneError as exc:
        report_error(exc)
        sys.exit(2)
