#!/usr/bin/env bash
# The main job, end to end, offline, on the built-in default: monoscope trains its own language
# model on real text that Debian packages ship, then decomposes its MLP into sparse features, as
# Anthropic's one-layer study did (small, so it runs in minutes on 2 cores):
#   1. corpus: the King James Bible, fortunes, the Devil's Dictionary, the Jargon File and C headers
#      (scripts/make-corpus.sh), and a 4096-token byte-level BPE tokenizer trained on it
#   2. train-lm: a one-layer GPT-2-architecture transformer (d_model 128, d_mlp 512)
#   3. capture its MLP activations (blocks.0.mlp.hook_post) over a mixed sample of the corpus,
#      documents packed with EOS into full windows (no padding)
#   4. a TopK sparse autoencoder (k 16, 2048 features) on them, evaluated
#   5. pictures: a feature x token heatmap, a token-highlight view of one feature, and dashboards
#      with the logit lens for 64 features (index_000.png is the contact sheet)
# Outputs go to demo-out/ (override with DEMO_OUT=...). LM_STEPS=N shortens or lengthens step 2.
set -euo pipefail
cd "$(dirname "$0")/.."
MS=${MONOSCOPE:-build/monoscope}
OUT=${DEMO_OUT:-demo-out}
STEPS=${LM_STEPS:-600}
THREADS=${MONOSCOPE_THREADS:-$(nproc)}
mkdir -p "$OUT"

echo "== corpus and tokenizer"
bash scripts/make-corpus.sh "$OUT/corpus"
"$MS" tokenizer train --corpus "$OUT/corpus/train.jsonl" --vocab 4096 --out "$OUT/tokenizer"
# a mixed sample for the capture: every 8th training document (the corpus is ordered by source)
awk 'NR % 8 == 0' "$OUT/corpus/train.jsonl" > "$OUT/sample.jsonl"

echo "== language model: 1 layer, d_model 128, 4 heads, d_mlp 512, ctx 128; $STEPS steps of 16 x 128 tokens"
rm -rf "$OUT/lm"
"$MS" train-lm --corpus "$OUT/corpus/train.jsonl" --val "$OUT/corpus/val.jsonl" --tokenizer "$OUT/tokenizer" \
    --layers 1 --d-model 128 --heads 4 --d-mlp 512 --ctx 128 --batch 16 --steps "$STEPS" --lr 2e-3 \
    --val-every 100 --threads "$THREADS" --out "$OUT/lm"
"$MS" info "$OUT/lm"

echo "== capture: blocks.0.mlp.hook_post over the sample, packed"
"$MS" capture --model "$OUT/lm" --input "$OUT/sample.jsonl" --input-format jsonl --pack \
    --hooks blocks.0.mlp.hook_post --ctx 128 --batch 16 --out "$OUT/acts.h5" --overwrite

echo "== SAE: TopK, k=16, 2048 features"
"$MS" sae train --acts "$OUT/acts.h5" --hook blocks.0.mlp.hook_post --arch topk --k 16 --d-sae 2048 \
    --batch 1024 --out "$OUT/sae.h5" --overwrite
"$MS" sae eval --sae "$OUT/sae.h5" --acts "$OUT/acts.h5" --model "$OUT/lm"

echo "== pictures"
"$MS" viz heatmap --sae "$OUT/sae.h5" --acts "$OUT/acts.h5" --seq 0 --top 12 --out "$OUT/heatmap.png"
"$MS" viz text --sae "$OUT/sae.h5" --acts "$OUT/acts.h5" --seq 0 --feature top --out "$OUT/text.png"
rm -rf "$OUT/dashboard"
"$MS" viz dashboard --sae "$OUT/sae.h5" --acts "$OUT/acts.h5" --features 0-63 --model "$OUT/lm" \
    --out "$OUT/dashboard"
echo "done: $OUT/lm (the model), $OUT/acts.h5, $OUT/sae.h5, $OUT/heatmap.png, $OUT/text.png, $OUT/dashboard/"
