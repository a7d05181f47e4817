"""``biotune train`` and ``biotune pretrain`` (``[--multirun] key=value ...``): the Hydra apps behind the typer root."""

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


PRETRAIN_HELP = """Continue a backbone's language-model training on proteins (evotuning; Hydra app, primary config pretrain.yaml).

UniRep trains on next-residue prediction, ESM-2 on masked LM; the result is a backbone directory every
command accepts (backbone.weights=DIR, biotune embed --backbone DIR).

\b
Examples:
  biotune pretrain backbone=unirep64 data.fasta=family.faa out=models/unirep64_evotuned
  biotune pretrain backbone=unirep64 data.dataset=data/arg_v2 data.exclude_folds=[0] data.only_args=true trainer.max_time=00:00:20:00
  biotune pretrain backbone=esm2_t6_8M data.fasta=family.faa optim.lr=5e-5
  biotune pretrain --cfg job                                # print the composed config
"""

#: Hydra apps take every argument themselves (their own --help, --cfg, --multirun...).
HYDRA_COMMAND = {
    "context_settings": {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    "add_help_option": False,
}


def train(ctx: typer.Context) -> None:
    from biotune.train.run import main

    main(ctx.args)


def pretrain(ctx: typer.Context) -> None:
    from biotune.train.pretrain import main

    main(ctx.args)


def register(app: typer.Typer) -> None:
    app.command("train", help=HELP, **HYDRA_COMMAND)(train)


def register_pretrain(app: typer.Typer) -> None:
    app.command("pretrain", help=PRETRAIN_HELP, **HYDRA_COMMAND)(pretrain)
