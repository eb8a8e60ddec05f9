#!/usr/bin/env bash
# Generation benchmark (issue 15): new tokens/s of `monoscope generate` on a GPT-2-small-shaped
# random model (12 layers, d_model 768, 12 heads, d_mlp 3072, vocab 50257), greedy, 256 new tokens
# after a 16-token prompt: with the KV cache (the default), without it (--no-kv-cache: the whole
# prefix rerun per token), and PyTorch's own cached generation (scripts/bench/generate_torch.py, a
# past_key_values loop, given its best settings). Interleaved rounds, medians. monoscope's figure
# excludes model loading (a `-n 0` run of the same command is timed and subtracted).
# usage: scripts/bench_generate.sh [threads] [rounds]    (build/ must be a Release build)
# env: MONOSCOPE=<binary> (default build/monoscope), NEW=256 (new tokens)
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_BLAS=$(bash "./scripts/bench/torch_blas_env.sh") # PyTorch's fastest OpenBLAS kernels here
echo "PyTorch reference: OpenBLAS ${TORCH_BLAS:-with its own kernel choice}"
T=${1:-$(nproc)}; R=${2:-3}; NEW=${NEW:-256}
MS=${MONOSCOPE:-build/monoscope}
W=${BENCH_DIR:-/tmp/monoscope-bench}
mkdir -p "$W"
export OMP_NUM_THREADS=$T MONOSCOPE_NO_PROGRESS=1
[ -d "$W/gpt2s" ] || "$MS" random-model --arch gpt2 --layers 12 --d-model 768 --heads 12 --d-mlp 3072 \
    --vocab 50257 --ctx 1024 --seed 0 --out "$W/gpt2s" >/dev/null
PROMPT=$(/usr/bin/python3 -c "import random; random.seed(1); print(' '.join(str(random.randrange(50000)) for _ in range(16)))")

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }
gen_rate() { # extra options -> new tokens/s, load time subtracted
    local t0 t1 t2 n
    t0=$(now); "$MS" generate --model "$W/gpt2s" --ids "$PROMPT" -n 0 --print-ids "$@" >/dev/null
    t1=$(now); n=$("$MS" generate --model "$W/gpt2s" --ids "$PROMPT" -n "$NEW" --print-ids "$@" | wc -w)
    t2=$(now)
    awk -v n="$n" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {printf "%.2f\n", n / ((c - b) - (b - a))}'
}

cached=(); full=(); torch=()
for r in $(seq "$R"); do
    c=$(gen_rate); f=$(gen_rate --no-kv-cache)
    # PyTorch at its best: sleeping waiters, and without the OpenBLAS core pin this environment sets
    t=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $TORCH_BLAS OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 \
        scripts/bench/generate_torch.py --threads "$T" --new "$NEW" --prompt 16 --repeats 1 | awk '{print $2}')
    cached+=("$c"); full+=("$f"); torch+=("$t")
    echo "round $r: monoscope KV cache $c, no cache $f, PyTorch cached $t new tokens/s"
done
m() { printf '%s\n' "$@" | median; }
echo "threads $T, median of $R rounds, $NEW new tokens after 16, GPT-2-small shape, load average $(cut -d" " -f1-3 /proc/loadavg)"
echo "monoscope generate, KV cache:      $(m "${cached[@]}") tokens/s"
echo "monoscope generate, --no-kv-cache: $(m "${full[@]}") tokens/s"
echo "PyTorch, past_key_values loop:     $(m "${torch[@]}") tokens/s"
