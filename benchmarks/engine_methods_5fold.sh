#!/usr/bin/env bash
# 5-fold rows for the training-engine methods next to the baselines, through the issue-3 runner.
#
#   benchmarks/engine_methods_5fold.sh [DATASET=data/arg_v1] [OUT=results/engine_5fold] [extra runner args...]
#
# cnn: residue CNN from scratch (configs/method/cnn.yaml, experiment arg_cnn), shrunk below to fit 2
# shared CPU cores (CNN_EPOCHS, CNN_CHANNELS). plm_frozen: frozen ESM-2 + MLP heads on cached
# embeddings (PLM_BACKBONE, default the 2-layer esm2_tiny; esm2_t6_8M takes ~1 h per 5M residues
# here). ESM-2 WEIGHTS ARE RANDOM (backbone.random_init=true; no download possible): that row measures
# the pipeline, not ESM-2.
# Wall time per method is printed; fit/predict seconds per fold are in predictions/<method>/*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:-data/arg_v1}
OUT=${2:-results/engine_5fold}
shift $(( $# > 2 ? 2 : $# )) || true
BIOTUNE=${BIOTUNE:-.venv/bin/biotune}
mkdir -p "$OUT"
for method in ${METHODS:-besthit kmer_lr cnn plm_frozen}; do
  case $method in
    cnn) sets=(--set cnn.config.trainer.max_epochs=${CNN_EPOCHS:-4} --set cnn.config.backbone.channels=${CNN_CHANNELS:-32}
               --set cnn.config.backbone.max_length=512 --set cnn.config.data.batch_size=64) ;;
    plm_frozen) sets=(--set plm_frozen.config.trainer.max_epochs=${PLM_EPOCHS:-30} --set plm_frozen.config.backbone.checkpoint=${PLM_BACKBONE:-esm2_tiny}) ;;
    *) sets=() ;;
  esac
  start=$(date +%s)
  "$BIOTUNE" benchmark --dataset "$DATASET" --methods "$method" --tasks is_arg,drug_class,mechanism \
    --out "$OUT/$method" --no-progress "${sets[@]}" "$@" > "$OUT/$method.log" 2>&1 || { tail -20 "$OUT/$method.log"; exit 1; }
  echo "$method: $(( $(date +%s) - start )) s wall -> $OUT/$method/summary.md"
done
