#!/usr/bin/env bash
# train-lm benchmark (issue 11): tokens/s of `monoscope train-lm` on the built-in models' shapes
# (d_model 128, 4 heads, d_mlp 512, vocab 4096, ctx 128, batch 16; 1 and 4 layers) against PyTorch
# training the same model (scripts/bench/train_lm_torch.py: same architecture, AdamW, clipping) with
# the same thread count, in interleaved rounds (monoscope, PyTorch, monoscope, ...; a shared machine's
# speed drifts), medians. PyTorch gets its best settings: OMP_WAIT_POLICY=PASSIVE and the
# environment's OpenBLAS pin removed for its command alone (env -u OPENBLAS_CORETYPE -u
# OPENBLAS_L2_SIZE; its losses are printed pinned vs unpinned once: identical to 1e-3 or the script
# stops). Rates are per training step, start-up excluded: monoscope's from its training_log
# (tokens_per_s), PyTorch's timed around forward + backward + clip + AdamW; steps 0-2 dropped.
# usage: scripts/bench_train_lm.sh [threads] [rounds] [steps]   (build/ must be a Release build)
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_BLAS=$(bash "./scripts/bench/torch_blas_env.sh") # PyTorch's fastest OpenBLAS kernels here
echo "PyTorch reference: OpenBLAS ${TORCH_BLAS:-with its own kernel choice}"
TH=${1:-$(nproc)}; R=${2:-3}; STEPS=${3:-30}
MS=${MONOSCOPE:-build/monoscope}
W=${BENCH_DIR:-/tmp/monoscope-bench-lm}
PY=/usr/bin/python3
export OMP_NUM_THREADS=$TH MONOSCOPE_NO_PROGRESS=1
mkdir -p "$W"
[ -s "$W/corpus/train.jsonl" ] || bash scripts/make-corpus.sh "$W/corpus" >/dev/null
[ -s "$W/tok/vocab.json" ] || "$MS" tokenizer train --corpus "$W/corpus/train.jsonl" --vocab 4096 --out "$W/tok" >/dev/null
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ms_rate() { # layers -> median tokens/s over steps 3.. of one run
    rm -rf "$W/lm"
    "$MS" train-lm --corpus "$W/corpus/train.jsonl" --tokenizer "$W/tok" --layers "$1" --d-model 128 --heads 4 \
        --d-mlp 512 --ctx 128 --batch 16 --lr 3e-3 --steps "$STEPS" --checkpoint-every 100000 --threads "$TH" \
        --out "$W/lm" >/dev/null 2>&1
    $PY -c "
import h5py, numpy as np
f = h5py.File('$W/lm/training_log.h5'); cols = [str(c) for c in f.attrs['columns']]
print(f\"{np.median(f['training_log'][3:, cols.index('tokens_per_s')]):.1f}\")"
}
torch_best() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $TORCH_BLAS OMP_WAIT_POLICY=PASSIVE $PY scripts/bench/train_lm_torch.py "$@"; }
echo "bench_train_lm: $(date -u +%FT%TZ)  $(nproc) cores, threads $TH, $R rounds of $STEPS steps, load: $(cut -d' ' -f1-3 /proc/loadavg)"
pinned=$($PY scripts/bench/train_lm_torch.py 1 128 4 512 4096 128 16 8 "$TH" | cut -d' ' -f2-)
unpinned=$(torch_best 1 128 4 512 4096 128 16 8 "$TH" | cut -d' ' -f2-)
echo "  PyTorch losses (first, last of 8 steps): pinned $pinned, unpinned $unpinned"
$PY -c "
a, b = [list(map(float, s.split())) for s in ('$pinned', '$unpinned')]
assert all(abs(x - y) < 1e-3 for x, y in zip(a, b)), 'unpinned PyTorch trains differently'"
for L in 1 4; do
    : > "$W/ratios"; : > "$W/ms"; : > "$W/pt"
    for r in $(seq "$R"); do
        m=$(ms_rate "$L"); p=$(torch_best "$L" 128 4 512 4096 128 16 "$STEPS" "$TH" | cut -d' ' -f1)
        echo "$m" >> "$W/ms"; echo "$p" >> "$W/pt"
        awk -v a="$m" -v b="$p" 'BEGIN { printf "%.3f\n", a / b }' >> "$W/ratios"
        echo "  $L layer(s), round $r: monoscope $m tok/s, PyTorch $p tok/s"
    done
    echo "$L layer(s): monoscope $(median < "$W/ms") tok/s, PyTorch $(median < "$W/pt") tok/s, median ratio $(median < "$W/ratios")x"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
