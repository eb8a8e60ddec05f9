#!/usr/bin/env bash
# The main job, end to end, offline, on the built-in defaults: monoscope trains its own language
# models on real text that Debian packages ship, then decomposes them into sparse features, as
# Anthropic's one-layer study did (small, so it runs in minutes on 2 cores):
#   1. corpus: the King James Bible, fortunes, the Devil's Dictionary, the Jargon File and C headers
#      (scripts/make-corpus.sh), and a 4096-token byte-level BPE tokenizer trained on it
#   2. train-lm: a one-layer GPT-2-architecture transformer (d_model 128, d_mlp 512) and a four-layer
#      one of the same width for per-layer studies; each prints its validation loss's unigram and
#      bigram baselines (training_log.h5 keeps them)
#   3. capture the 1-layer model's MLP activations (blocks.0.mlp.hook_post) and every layer's
#      hook_resid_post of the 4-layer model over a mixed sample of the corpus, documents packed with
#      EOS into full windows (no padding)
#   4. TopK sparse autoencoders: one on the MLP (k 16, 2048 features), one per layer of the 4-layer
#      model in one command (k 16, 1024 features each), all evaluated with CE loss recovered
#   5. pictures: feature x token heatmaps of a corpus window, a verse and a piece of C, a token-highlight
#      view, dashboards with the logit lens of the 1-layer dictionary's most frequent features, and the
#      summary figures across the 4 layers
#   6. concepts: rule-based token labels, ridge probes on every layer of the 4-layer model, and the
#      1-layer dictionary's best feature per concept beside a probe on the same site (sae match)
#   7. REPORT.md (scripts/demo_report.py): every figure linked, every number measured in this run
# Trained models and the tokenizer are cached (see "cache" below), so a second run skips training.
# Outputs go to demo-out/ (override with DEMO_OUT=...). LM_STEPS=N / LM4_STEPS=N set the training
# lengths, DEMO_SAMPLE_EVERY=N the share of training documents captured (every Nth; default 8): the
# test suite runs the whole job small (tests/py/test_demo.py). `scripts/demo.sh --no-cache` (or MONOSCOPE_NO_CACHE=1) retrains and replaces the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
MS=${MONOSCOPE:-build/monoscope}
OUT=${DEMO_OUT:-demo-out}
STEPS1=${LM_STEPS:-1200}
STEPS4=${LM4_STEPS:-1500}
SAMPLE_EVERY=${DEMO_SAMPLE_EVERY:-8}
THREADS=${MONOSCOPE_THREADS:-$(nproc)}
PY=${PYTHON:-/usr/bin/python3} # Debian's: python3-h5py and python3-numpy write REPORT.md
[ -x "$PY" ] || PY=python3
CACHE=${MONOSCOPE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/monoscope}
NO_CACHE=${MONOSCOPE_NO_CACHE:-}
[ "${1:-}" = "--no-cache" ] && NO_CACHE=1
mkdir -p "$OUT"
: > "$OUT/timings.tsv"
T_START=$(date +%s.%N)
T_STAGE=$T_START
# stage NAME: the wall-clock seconds since the previous stage boundary, as a row of timings.tsv
stage() {
    local now
    now=$(date +%s.%N)
    awk -v n="$1" -v a="$now" -v b="$T_STAGE" 'BEGIN { printf "%s\t%.1f\n", n, a - b }' >> "$OUT/timings.tsv"
    T_STAGE=$now
}

# cache: a trained artefact lives in $CACHE/models/<name>-<16 hex digits of the SHA-256 of its
# recipe>, the recipe being the command's arguments, the corpus' hash and the hash of the sources
# that train it (src/train, src/tokenizer, and the forward pass and kernels it runs: src/model/forward.c,
# src/backend), so any change to them trains anew. It is built in a
# temporary directory beside its final name and renamed into place when complete: an interrupted
# run never leaves a directory that looks finished.
# cached NAME RECIPE BUILDER: sets CACHED to the directory, running `BUILDER DIR` when it is absent
# (or with --no-cache).
CACHE_TMP=""
trap 'rm -rf "$CACHE_TMP"' EXIT # a training interrupted or failed leaves no temporary directory
cached() {
    CACHED="$CACHE/models/$1-$(printf '%s' "$2" | sha256sum | cut -c1-16)"
    if [ -z "$NO_CACHE" ] && [ -d "$CACHED" ]; then
        echo "cached: $CACHED (--no-cache or MONOSCOPE_NO_CACHE=1 trains it again)"
        return
    fi
    CACHE_TMP="$CACHED.tmp.$$"
    rm -rf "$CACHE_TMP"
    mkdir -p "$CACHE/models"
    "$3" "$CACHE_TMP"
    printf '%s\n' "$2" > "$CACHE_TMP/recipe.txt"
    rm -rf "$CACHED"
    mv -T "$CACHE_TMP" "$CACHED"
    CACHE_TMP=""
    echo "trained and cached: $CACHED"
}

echo "== corpus and tokenizer"
bash scripts/make-corpus.sh "$OUT/corpus"
CORPUS_HASH=$(cat "$OUT/corpus/train.jsonl" "$OUT/corpus/val.jsonl" | sha256sum | cut -c1-64)
CODE_HASH=$(cat src/train/*.[ch] src/tokenizer/*.[ch] src/model/forward.c src/backend/*.[ch] | sha256sum | cut -c1-64)
TOK_ARGS="--vocab 4096"
train_tokenizer() { "$MS" tokenizer train --corpus "$OUT/corpus/train.jsonl" $TOK_ARGS --out "$1"; }
cached tokenizer "tokenizer train $TOK_ARGS; corpus $CORPUS_HASH; code $CODE_HASH" train_tokenizer
TOK=$CACHED
rm -rf "$OUT/tokenizer" && cp -r "$TOK" "$OUT/tokenizer"
# a mixed sample for the captures: every 8th training document (DEMO_SAMPLE_EVERY), interleaved (sorted by its line
# number mod 251) because the corpus is ordered by source and the first windows of the sample are
# what the 4-layer capture, the evaluations and the codes read (JSONL lines hold no tab)
awk -v n="$SAMPLE_EVERY" 'NR % n == 0 { printf "%d\t%s\n", NR % 251, $0 }' "$OUT/corpus/train.jsonl" | sort -s -n -k1,1 | cut -f2- \
    > "$OUT/sample.jsonl"
stage "corpus and tokenizer"

# Validation covers the whole validation split (~60k tokens: 32 batches of 16 x 128, wrapping).
LM_COMMON="--heads 4 --d-model 128 --d-mlp 512 --ctx 128 --batch 16 --lr 3e-3 --val-every 200 --val-batches 32 \
--threads $THREADS"
LM1_ARGS="--layers 1 --steps $STEPS1 $LM_COMMON"
LM4_ARGS="--layers 4 --steps $STEPS4 $LM_COMMON"
train_lm1() { "$MS" train-lm --corpus "$OUT/corpus/train.jsonl" --val "$OUT/corpus/val.jsonl" --tokenizer "$TOK" $LM1_ARGS --out "$1"; }
train_lm4() { "$MS" train-lm --corpus "$OUT/corpus/train.jsonl" --val "$OUT/corpus/val.jsonl" --tokenizer "$TOK" $LM4_ARGS --out "$1"; }

echo "== language model: 1 layer, d_model 128, 4 heads, d_mlp 512, ctx 128; $STEPS1 steps of 16 x 128 tokens"
cached lm-1layer "train-lm $LM1_ARGS; tokenizer $(basename "$TOK"); corpus $CORPUS_HASH; code $CODE_HASH" train_lm1
rm -rf "$OUT/lm" && cp -r "$CACHED" "$OUT/lm"
"$MS" info "$OUT/lm" | tee "$OUT/lm.info"
stage "1-layer model"

echo "== language model: 4 layers, d_model 128, 4 heads, d_mlp 512, ctx 128; $STEPS4 steps of 16 x 128 tokens"
cached lm-4layer "train-lm $LM4_ARGS; tokenizer $(basename "$TOK"); corpus $CORPUS_HASH; code $CODE_HASH" train_lm4
rm -rf "$OUT/lm4" && cp -r "$CACHED" "$OUT/lm4"
"$MS" info "$OUT/lm4" | tee "$OUT/lm4.info"
stage "4-layer model"

echo "== 1-layer model: capture blocks.0.mlp.hook_post over the sample, packed; SAE TopK k=16, 2048 features"
"$MS" capture --model "$OUT/lm" --input "$OUT/sample.jsonl" --input-format jsonl --pack \
    --hooks blocks.0.mlp.hook_post --ctx 128 --batch 16 --out "$OUT/acts.h5" --overwrite
"$MS" sae train --acts "$OUT/acts.h5" --hook blocks.0.mlp.hook_post --arch topk --k 16 --d-sae 2048 \
    --batch 1024 --out "$OUT/sae.h5" --overwrite
# metrics over the first 128k captured tokens, CE loss recovered (three forward passes) over the
# first 64 windows (sae eval's default): both are means, and a second run must stay short
"$MS" sae eval --sae "$OUT/sae.h5" --acts "$OUT/acts.h5" --model "$OUT/lm" --max-tokens 131072 --json \
    > "$OUT/sae.eval.json"
# the sparse codes of the same tokens: REPORT.md's top features and their top tokens
"$MS" sae encode --sae "$OUT/sae.h5" --acts "$OUT/acts.h5" --max-tokens 131072 --out "$OUT/codes.h5" --overwrite
stage "1-layer capture, SAE, eval"

echo "== 4-layer model: capture every hook_resid_post (128k tokens); one SAE per layer in one command"
"$MS" capture --model "$OUT/lm4" --input "$OUT/sample.jsonl" --input-format jsonl --pack \
    --hooks 'blocks.*.hook_resid_post' --ctx 128 --batch 16 --max-tokens 131072 --out "$OUT/acts4.h5" --overwrite
"$MS" sae train --acts "$OUT/acts4.h5" --hook 'blocks.*.hook_resid_post' --arch topk --k 16 --d-sae 1024 \
    --batch 1024 --out "$OUT/sae4.h5" --overwrite
SAES4=""
for l in 0 1 2 3; do
    s="$OUT/sae4.blocks.$l.hook_resid_post.h5"
    "$MS" sae eval --sae "$s" --acts "$OUT/acts4.h5" --model "$OUT/lm4" --json > "$OUT/sae4.blocks.$l.eval.json"
    SAES4="$SAES4${SAES4:+,}$s"
done
stage "4-layer capture, SAEs, eval"

echo "== pictures"
"$MS" viz heatmap --sae "$OUT/sae.h5" --acts "$OUT/acts.h5" --seq 0 --top 12 --out "$OUT/heatmap.png"
"$MS" viz heatmap --sae "$OUT/sae.h5" --model "$OUT/lm" --top 12 --out "$OUT/heatmap_prose.png" \
    --text "1 In the beginning God created the heaven and the earth. 2 And the earth was without form, and void."
"$MS" viz heatmap --sae "$OUT/sae.h5" --model "$OUT/lm" --top 12 --out "$OUT/heatmap_code.png" \
    --text $'#include <stdio.h>\n/* Return the sum. */\nstatic int add(int a, int b) {\n\treturn a + b;\n}\n'
"$MS" viz text --sae "$OUT/sae.h5" --acts "$OUT/acts.h5" --seq 0 --feature top --out "$OUT/text.png"
# dashboards of the 64 features that fire on most tokens (from the codes), with the logit lens
TOP=$("$PY" scripts/demo_report.py --top-features 64 "$OUT/codes.h5")
rm -rf "$OUT/dashboard"
"$MS" viz dashboard --sae "$OUT/sae.h5" --acts "$OUT/acts.h5" --features "$TOP" --model "$OUT/lm" \
    --out "$OUT/dashboard"
rm -rf "$OUT/summary4"
"$MS" viz summary --sae "$SAES4" --out "$OUT/summary4"
stage "figures"

echo "== concepts: rule labels, probes on every layer of the 4-layer model, the 1-layer dictionary's features per concept"
# labels packed as the captures are (concepts label --pack), so they line up with acts.h5 (the
# dictionary's own training data) and with acts4.h5's 131k tokens row by row: no extra capture
"$MS" concepts label --model "$OUT/lm" --input "$OUT/sample.jsonl" --input-format jsonl --ctx 128 --pack \
    --out "$OUT/labels.h5" --overwrite
"$MS" probe sweep --acts "$OUT/acts4.h5" --hook 'blocks.*.hook_resid_post' --labels "$OUT/labels.h5" \
    --out "$OUT/probes4" --overwrite
"$MS" probe train --acts "$OUT/acts.h5" --hook blocks.0.mlp.hook_post --labels "$OUT/labels.h5" --all \
    --out "$OUT/probe1.h5" --overwrite
"$MS" sae match --sae "$OUT/sae.h5" --acts "$OUT/acts.h5" --labels "$OUT/labels.h5" --probe "$OUT/probe1.h5" \
    --max-tokens 131072
"$MS" viz match --sae "$OUT/sae.h5" --out "$OUT/match.png"
stage "concepts, probes, matches"

T_STAGE=$T_START stage total
"$PY" scripts/demo_report.py "$OUT"
echo "done: $OUT/REPORT.md (figures, numbers), $OUT/lm and $OUT/lm4 (the models), $OUT/dashboard/, $OUT/summary4/"
