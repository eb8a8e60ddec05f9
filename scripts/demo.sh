#!/usr/bin/env bash
# The main job, end to end, on the built-in default: a small random-weight GPT-2-style model that
# monoscope writes itself (no download needed), run over this repository's own text.
#   1. capture every block's residual stream to HDF5
#   2. train a TopK sparse autoencoder on one layer and evaluate it
#   3. render a feature x token heatmap, a token-highlight view and feature dashboards
# Outputs go to demo-out/ (override with DEMO_OUT=...).
set -euo pipefail
cd "$(dirname "$0")/.."
MS=${MONOSCOPE:-build/monoscope}
OUT=${DEMO_OUT:-demo-out}
mkdir -p "$OUT"
cat README.md src/*/*.h sae/*.h > "$OUT/corpus.txt"

echo "== model: random-weight GPT-2 shape (4 layers, d_model 128) with a byte-level tokenizer"
"$MS" random-model --arch gpt2 --layers 4 --d-model 128 --heads 4 --d-mlp 512 --vocab 512 \
    --ctx 256 --seed 1 --out "$OUT/model" --overwrite
"$MS" info "$OUT/model"

echo "== capture: blocks.*.hook_resid_post over the corpus"
"$MS" capture --model "$OUT/model" --input "$OUT/corpus.txt" --hooks 'blocks.*.hook_resid_post' \
    --ctx 128 --batch 8 --out "$OUT/acts.h5" --overwrite

echo "== SAE: TopK, k=8, 4x expansion on blocks.2.hook_resid_post"
"$MS" sae train --acts "$OUT/acts.h5" --hook blocks.2.hook_resid_post --arch topk --k 8 \
    --expansion 4 --batch 1024 --tokens 400k --out "$OUT/sae.h5" --overwrite
"$MS" sae eval --sae "$OUT/sae.h5" --acts "$OUT/acts.h5"

echo "== pictures"
"$MS" viz heatmap --sae "$OUT/sae.h5" --acts "$OUT/acts.h5" --seq 0 --top 12 --out "$OUT/heatmap.png"
"$MS" viz text --sae "$OUT/sae.h5" --acts "$OUT/acts.h5" --seq 0 --feature 0 --out "$OUT/text.png"
"$MS" viz dashboard --sae "$OUT/sae.h5" --acts "$OUT/acts.h5" --features 0-15 --model "$OUT/model" \
    --out "$OUT/dashboard"
echo "done: $OUT/acts.h5, $OUT/sae.h5, $OUT/heatmap.png, $OUT/text.png, $OUT/dashboard/"
