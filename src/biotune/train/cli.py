"""``biotune train [--multirun] key=value ...``: the Hydra training app behind the typer root."""

from __future__ import annotations

import typer

HELP = """Train a model on one fold of a dataset (Hydra app; configs in configs/, primary config train.yaml).

\b
Examples:
  biotune train experiment=arg_lora_drsn backbone=esm2_t6_8M finetune.lora.r=8 loss=focal loss.gamma=2
  biotune train --multirun experiment=arg_frozen_mlp loss.alpha=0.55,0.65,0.75 optim.head_lr=1e-3,3e-4
  biotune train --multirun experiment=arg_frozen_mlp sweep=optuna
  biotune train experiment=arg_cnn trainer=ddp_cpu          # 2 DDP processes on CPU (gloo)
  biotune train --cfg job                                   # print the composed config

Every Hydra flag (--multirun, --cfg, --info, -c/--config-name...) is passed through.
"""


def train(ctx: typer.Context) -> None:
    from biotune.train.run import main

    main(ctx.args)


def register(app: typer.Typer) -> None:
    app.command(
        "train",
        help=HELP,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
        add_help_option=False,
    )(train)
