"""The ``biotune`` command. Each sub-command group lives next to the code it drives; this file only wires them.

Errors derived from :class:`biotune.errors.BiotuneError` are printed as one line (exit code 2),
never as a traceback.
"""

from __future__ import annotations

import sys

import typer

from biotune import __version__
from biotune.errors import BiotuneError, is_usage_error, report_error, report_usage_error

app = typer.Typer(
    name="biotune",
    help="Fine-tune and evaluate protein language models; annotate antibiotic-resistance genes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version),
) -> None:
    """Eager ``--version`` runs before click looks for a sub-command (it used to fail with 'Missing command')."""


def _register() -> None:
    """Attach the sub-command groups (imported here so that ``biotune --help`` stays cheap to maintain)."""
    from biotune.recipes.arg.cli import data_app

    from biotune.recipes.fitness.cli import build_fitness
    from biotune.recipes.go.cli import build_go

    data_app.command("build-fitness")(build_fitness)
    data_app.command("build-go")(build_go)
    app.add_typer(data_app, name="data", help="Download upstream sources; build and check benchmark datasets.")
    from biotune.evaluate.cli import benchmark, report

    app.command("benchmark")(benchmark)
    app.command("report")(report)
    from biotune.evaluate.compare_results import compare

    app.command("compare")(compare)
    from biotune.train.cli import register as register_train, register_pretrain

    register_train(app)
    register_pretrain(app)
    from biotune.predict.cli import register as register_predict

    register_predict(app)
    from biotune.embed.cli import embed

    app.command("embed")(embed)
    from biotune.serve.cli import serve

    app.command("serve")(serve)


def main() -> None:
    """The ``biotune`` entry point: bad input and bad command lines alike end in one ``error:`` line when
    stderr is not a terminal (click's usage errors would otherwise be a box wrapped at the terminal width)."""
    _register()
    try:
        code = app(standalone_mode=False, prog_name="biotune")
    except BiotuneError as exc:
        report_error(exc)
        sys.exit(2)
    except typer.Abort:
        report_error(Exception("aborted"))
        sys.exit(1)
    except Exception as exc:
        if not is_usage_error(exc):
            raise
        report_usage_error(exc)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
