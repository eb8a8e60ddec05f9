#!/usr/bin/env bash
# viz_examples.sh: regenerates the example figures in docs/viz/ (shown in the README) from
# synthetic inputs (tests/py/vizdata.py: a ReLU SAE whose feature f responds to word f % 20 of a
# small vocabulary) and a random-weight GPT-2 with a byte-level tokenizer (`monoscope random-model`).
#   usage: bash scripts/viz_examples.sh [BIN]   (default build/monoscope)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-$ROOT/build/monoscope}"
W="$(mktemp -d /tmp/ms-viz-examples.XXXXXX)"
OUT="$ROOT/docs/viz"
mkdir -p "$OUT"
/usr/bin/python3 - "$W" <<PY
import sys
sys.path.insert(0, "$ROOT/tests/py")
import vizdata as vd
w = sys.argv[1]
vd.make_acts(f"{w}/acts.h5", 200, 64, 32, hook="blocks.1.hook_resid_post", seed=3)
vd.make_sae(f"{w}/sae.h5", 32, 64, hook="blocks.1.hook_resid_post", model="rm-gpt2", log=True, eval_=True)
vd.make_sae(f"{w}/sae_l0.h5", 32, 64, hook="blocks.0.hook_resid_post", model="rm-gpt2", seed=2, log=True, eval_=True)
vd.make_sae(f"{w}/sae_model.h5", 32, 64, hook="blocks.1.hook_resid_post", model="rm-gpt2", bias=0.0)
PY
"$BIN" random-model --arch gpt2 --out "$W/rm-gpt2" --d-model 32 --layers 2 --vocab 400 --overwrite > /dev/null
"$BIN" viz heatmap --sae "$W/sae.h5" --acts "$W/acts.h5" --seq 4 --positions 0-27 --top 8 --out "$OUT/heatmap.png"
"$BIN" viz heatmap --sae "$W/sae_model.h5" --model "$W/rm-gpt2" --text $'Once upon a time, 中文 text\tand\na newline' \
  --prepend-bos --top 6 --out "$OUT/heatmap_model_cjk.png"
"$BIN" viz text --sae "$W/sae.h5" --acts "$W/acts.h5" --seq 4 --feature 1 --width 700 --out "$OUT/text.png"
"$BIN" viz dashboard --sae "$W/sae_model.h5" --acts "$W/acts.h5" --model "$W/rm-gpt2" --features 1,10 --out "$W/dash" > /dev/null
"$BIN" viz dashboard --sae "$W/sae.h5" --acts "$W/acts.h5" --features 0-19 --out "$W/dash2" > /dev/null
cp "$W/dash/feature_00010.png" "$OUT/dashboard_feature_10.png"
cp "$W/dash2/index_000.png" "$OUT/dashboard_index.png"
"$BIN" viz summary --sae "$W/sae_l0.h5,$W/sae.h5" --out "$W/summary" > /dev/null
for f in density l0_ev dead training; do cp "$W/summary/$f.png" "$OUT/summary_$f.png"; done
rm -rf "$W"
ls -l "$OUT"
