#!/usr/bin/env bash
# bench_dashboard.sh: time and peak memory of `monoscope viz dashboard` for 1,000 features over a
# synthetic 1M-token activation file (d_in 16, ctx 128, a 1,024-feature ReLU SAE whose features
# respond to words of a small vocabulary; tests/py/vizdata.py). Run once; prints one summary line.
#   usage: bash scripts/bench_dashboard.sh [BIN] [WORKDIR]   (defaults: build/monoscope, /tmp/ms-bench-dash)
#   env:   TOKENS (default 1048576), FEATURES (default 0-999), MEM_MB (default 512)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-$ROOT/build/monoscope}"
WORK="${2:-/tmp/ms-bench-dash}"
TOKENS="${TOKENS:-1048576}"
FEATURES="${FEATURES:-0-999}"
MEM_MB="${MEM_MB:-512}"
CTX=128
mkdir -p "$WORK"
if [ ! -f "$WORK/acts_$TOKENS.h5" ]; then
  /usr/bin/python3 - "$WORK" "$TOKENS" "$CTX" <<PY
import sys
sys.path.insert(0, "$ROOT/tests/py")
import vizdata as vd
work, tokens, ctx = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
vd.make_acts(f"{work}/acts_{tokens}.h5.tmp", tokens // ctx, ctx, 16, seed=7)
vd.make_sae(f"{work}/sae.h5", 16, 1024)
import os; os.rename(f"{work}/acts_{tokens}.h5.tmp", f"{work}/acts_{tokens}.h5")
PY
fi
rm -rf "$WORK/out"
/usr/bin/time -v "$BIN" viz dashboard --sae "$WORK/sae.h5" --acts "$WORK/acts_$TOKENS.h5" --features "$FEATURES" \
  --mem-mb "$MEM_MB" --out "$WORK/out" 2> "$WORK/time.txt" | tail -1
rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$WORK/time.txt")
wall=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$WORK/time.txt")
pages=$(ls "$WORK/out" | wc -l)
size=$(du -sh "$WORK/out" | cut -f1)
echo "dashboard: tokens=$TOKENS features=$FEATURES mem_mb=$MEM_MB threads=${OMP_NUM_THREADS:-all} wall=$wall peak_rss=$((rss_kb / 1024)) MiB files=$pages ($size)"
