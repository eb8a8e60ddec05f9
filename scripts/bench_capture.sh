#!/usr/bin/env bash
# Capture benchmark (issue 2): tokens/s of `monoscope capture` on a GPT-2-small-shaped random model
# (12 layers, d_model 768, 12 heads, d_mlp 3072, vocab 50257), 4 x 256 tokens per batch, all 12
# blocks.*.hook_resid_post written to HDF5 — against, in the same invocation and with the same thread
# count, (a) a PyTorch CPU forward capturing the same sites (scripts/bench/capture_torch.py, given its
# best settings) and (b) the machine's sgemm rate for the same GEMM shapes (the sgemm-bound rate).
# Also the early-layer case (blocks.0-2 only) to show later layers are not paid for.
# usage: scripts/bench_capture.sh [threads] [repeats]    (build/ must be a Release build)
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-$(nproc)}; R=${2:-5}
MS=build/monoscope
W=${BENCH_DIR:-/tmp/monoscope-bench}
mkdir -p "$W"
export OMP_NUM_THREADS=$T MONOSCOPE_NO_PROGRESS=1
[ -d "$W/gpt2s" ] || "$MS" random-model --arch gpt2 --layers 12 --d-model 768 --heads 12 --d-mlp 3072 \
    --vocab 50257 --ctx 1024 --seed 0 --out "$W/gpt2s" >/dev/null
# 16 sequences of 256 random ids = 4 batches of 4 x 256
/usr/bin/python3 -c "
import random; random.seed(0)
print('\n'.join(' '.join(str(random.randrange(50257)) for _ in range(256)) for _ in range(16)))" > "$W/ids.txt"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
capture_rate() { # hooks -> prints "tokens/s hdf5_fraction" (from capture's own summary line)
    "$MS" capture --model "$W/gpt2s" --input "$W/ids.txt" --input-format ids --ctx 256 --batch 4 \
        --hooks "$1" --out "$W/acts.h5" --overwrite 2>&1 >/dev/null |
        sed -n 's/.*: \([0-9.]*\) tokens\/s.*hdf5 [0-9.]* s (\([0-9.]*\)%).*/\1 \2/p'
}

ours=(); hdf=(); early=(); torch=(); torch_early=()
for r in $(seq "$R"); do
    read -r t h < <(capture_rate 'blocks.*.hook_resid_post'); ours+=("$t"); hdf+=("$h")
    read -r t h < <(capture_rate 'blocks.0.hook_resid_post,blocks.1.hook_resid_post,blocks.2.hook_resid_post'); early+=("$t")
done
torch=$(OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/bench/capture_torch.py --threads "$T" --repeats "$R" | awk '{print $2}')
torch_early=$(OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/bench/capture_torch.py --threads "$T" --repeats "$R" --upto-layer 2 | awk '{print $2}')
# sgemm-bound: per token and layer the four projections (M = 1024 rows of a 4 x 256 batch)
gflops=$(./build/sgemm_rate 1024 2304 768 1024 768 768 1024 3072 768 1024 768 3072 | awk '/total/ {print $2}')
flops_per_token=$(awk 'BEGIN {print 12 * 2 * (768*2304 + 768*768 + 2*768*3072)}')
bound=$(awk -v g="$gflops" -v f="$flops_per_token" 'BEGIN {printf "%.1f", g * 1e9 / f}')

o=$(printf '%s\n' "${ours[@]}" | median); e=$(printf '%s\n' "${early[@]}" | median)
h=$(printf '%s\n' "${hdf[@]}" | median)
echo "threads $T, median of $R runs, 4 x 256 tokens per batch, GPT-2-small shape"
echo "monoscope capture (12 x resid_post): $o tokens/s   (HDF5 writing $h % of capture time)"
echo "PyTorch CPU forward (same sites):    $torch tokens/s"
echo "sgemm-bound ($gflops GFLOP/s):       $bound tokens/s"
awk -v o="$o" -v t="$torch" -v b="$bound" 'BEGIN {printf "ratios: monoscope/PyTorch %.2fx, monoscope/sgemm-bound %.0f%%, PyTorch/sgemm-bound %.0f%%\n", o/t, 100*o/b, 100*t/b}'
echo "early layers only (blocks 0-2): monoscope $e tokens/s, PyTorch $torch_early tokens/s"
