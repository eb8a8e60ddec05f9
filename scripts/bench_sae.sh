#!/usr/bin/env bash
# bench_sae.sh: SAE training throughput (issue 3), monoscope vs PyTorch (CPU), same thread count,
# same invocation. d_in 768, d_sae 24576, batch 4096, synthetic activations.
#
#   encoder-product bound  the dense encoder product (4096x768 . 768x24576 + b) alone, every way this
#                          machine offers (scripts/bench/enc_gemm_rate.c: OpenBLAS sgemm, oneDNN f32
#                          in one call and in the trainer's row blocks; oneDNN bf16), fastest per
#                          precision: batch / seconds is the bound on tokens/s
#   TopK k=32              monoscope `sae train --arch topk` in f32 and with --encoder-dtype bf16;
#                          PyTorch with a sparse decoder (embedding_bag of the k active rows, as in
#                          OpenAI's code) and, in the first round only (slow), with a dense one
#   ReLU + L1              monoscope `sae train --arch relu` started (--init-from) from a ReLU SAE whose
#                          codes are as sparse as a trained one's (each latent fires on ~L0_INIT/d_sae
#                          of tokens), i.e. the steady state of a long run; PyTorch dense, whose cost
#                          does not depend on the codes
#
# monoscope's rate is its steady state: from the wall-clock column of /training_log, the tokens of
# steps SKIP+1..SKIP+STEPS over their time (oneDNN's kernel generation and the first step excluded).
# PyTorch: 1 untimed step, then STEPS timed steps, median. Both get OMP_WAIT_POLICY=PASSIVE and
# THREADS threads. This VM's speed drifts by tens of percent within minutes, so every round runs
# everything back to back and ratios are taken per round; the summary gives medians over rounds.
#
# usage: bash scripts/bench_sae.sh [rounds]     (env: BIN, THREADS, STEPS, SKIP, D_SAE, K, BATCH, WORK)
# Not a test: ~3 minutes per round on 2 cores; do not run while the machine is busy.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TORCH_BLAS=$(bash "$ROOT/scripts/bench/torch_blas_env.sh") # PyTorch's fastest OpenBLAS kernels here
echo "PyTorch reference: OpenBLAS ${TORCH_BLAS:-with its own kernel choice}"
BIN=${BIN:-$ROOT/build/monoscope}
RATE=${RATE:-$(dirname "$BIN")/enc_gemm_rate}
PY=/usr/bin/python3
ROUNDS=${1:-3}
THREADS=${THREADS:-$(nproc)}
STEPS=${STEPS:-4}
SKIP=${SKIP:-2}
D_IN=768
D_SAE=${D_SAE:-24576}
K=${K:-32}
BATCH=${BATCH:-4096}
L0_INIT=${L0_INIT:-64}
WORK=${WORK:-$(mktemp -d /tmp/bench_sae.XXXXXX)}
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$THREADS MONOSCOPE_THREADS=$THREADS MONOSCOPE_NO_PROGRESS=1
HOOK=blocks.0.hook_resid_post
N=$((SKIP + STEPS))
for f in "$BIN" "$RATE"; do
    [ -x "$f" ] || { echo "bench_sae: no $f (cmake --build build --target monoscope enc_gemm_rate)" >&2; exit 1; }
done
mkdir -p "$WORK"
echo "bench_sae: $(date -u +%FT%TZ)  $(nproc) cores, THREADS=$THREADS, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "  d_in $D_IN  d_sae $D_SAE  k $K  batch $BATCH  rounds $ROUNDS  steps $STEPS (after $SKIP)  work $WORK"

# ---- synthetic activations: sparse combinations of 4*d_in random unit directions + noise
ACTS=$WORK/acts.h5
$PY "$ROOT/scripts/bench/synth_acts.py" "$ACTS" "$HOOK" "$D_IN" "$(( (N + 2) * BATCH ))"

# ---- a ReLU SAE in the sparse regime of a trained one (sae.h5 layout, README): random unit decoder
# rows, encoder = decoderᵀ, each b_enc at minus its latent's (1 - L0_INIT/d_sae) quantile on a sample
RELU_INIT=$WORK/relu_init.h5
$PY - "$ACTS" "$HOOK" "$RELU_INIT" "$D_SAE" "$L0_INIT" <<'EOF'
import sys, numpy as np, h5py
acts, hook, out, S, l0 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
with h5py.File(acts) as f:
    X = f["acts/" + hook][:32].reshape(-1, f["acts/" + hook].shape[-1]).astype(np.float32)
d = X.shape[1]
rng = np.random.default_rng(1)
Wd = rng.standard_normal((S, d)).astype(np.float32)
Wd /= np.linalg.norm(Wd, axis=1, keepdims=True)
bd = X.mean(0).astype(np.float32)
We = np.ascontiguousarray(Wd.T)
pre = (X - bd) @ We
be = -np.quantile(pre, 1 - l0 / S, axis=0).astype(np.float32)
with h5py.File(out, "w") as f:
    f["W_enc"], f["W_dec"], f["b_enc"], f["b_dec"] = We, Wd, be, bd
    f.attrs["architecture"] = "relu"
    f.attrs["d_in"], f.attrs["d_sae"], f.attrs["k"] = d, S, 0
    f.attrs["hook"] = hook
EOF

median() { $PY -c "import sys, statistics; v = [float(x) for x in sys.stdin.read().split()]; print(statistics.median(v))"; }
m() { printf '%s\n' "$@" | median; }
field() { $PY -c "import sys, json; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
ratio() { $PY -c "print($1 / $2)"; }

# monoscope, one run of N steps -> "tokens/s L0" over steps SKIP+1..N from /training_log
ours() { # tag args...
    local tag=$1; shift
    rm -f "$WORK/ours_$tag.h5"
    "$BIN" sae train --acts "$ACTS" --hook "$HOOK" --out "$WORK/ours_$tag.h5" --overwrite --d-sae "$D_SAE" --batch "$BATCH" \
        --tokens $((N * BATCH)) --checkpoint-every 0 --seed 1 --threads "$THREADS" "$@" \
        2> "$WORK/ours_$tag.log" >/dev/null || { echo "bench_sae: sae train ($tag) failed, see $WORK/ours_$tag.log" >&2; exit 1; }
    $PY - "$WORK/ours_$tag.h5" "$SKIP" <<'EOF'
import sys, h5py
with h5py.File(sys.argv[1]) as f:
    log = f["training_log"]
    cols = [c.decode() if isinstance(c, bytes) else c for c in log.attrs["columns"]]
    L = log[:]
skip = int(sys.argv[2])
tok, sec, l0 = (L[:, cols.index(c)] for c in ("tokens", "seconds", "l0"))
a, b = skip - 1, len(L) - 1
print("%.1f %.1f" % ((tok[b] - tok[a]) / (sec[b] - sec[a]), l0[a + 1:].mean()), end=" ")
EOF
    # the encoder product's share of this run's own training loop after its first step (same
    # process, same moments: immune to the machine's drift between runs), and the milliseconds per
    # step outside the product
    sed -n 's/^sae train: encoder product .*(\([0-9.]*\) % after its first step; the rest of a step: \([0-9.]*\) ms)/\1 \2/p' "$WORK/ours_$tag.log"
}
torch_rate() { # variant steps [args] -> tokens/s
    local v=$1 s=$2; shift 2
    local j
    # PyTorch at its best: sleeping waiters, no OpenBLAS core pin (that pin is for our tests)
    j=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $TORCH_BLAS OMP_WAIT_POLICY=PASSIVE $PY "$ROOT/scripts/bench_sae_torch.py" --variant "$v" --threads "$THREADS" --d-sae "$D_SAE" --k "$K" \
        --batch "$BATCH" --steps "$s" "$@")
    field "$j" tokens_per_s
}

declare -a s32 rest32 sbf bf32 bbf16 o32 obf ots otd orelu trelu r32 rbf rbf_ts r32_ts rrelu l0relu
for r in $(seq "$ROUNDS"); do
    "$RATE" "$BATCH" "$D_IN" "$D_SAE" 3 > "$WORK/gemm_$r.txt" 2> "$WORK/gemm_$r.err"
    g32=$(awk '/_f32/ {print $2}' "$WORK/gemm_$r.txt" | sort -g | head -1)
    gbf=$(awk '/_bf16/ {print $2}' "$WORK/gemm_$r.txt" | sort -g | head -1)
    b32=$($PY -c "print($BATCH / $g32)"); bb=$($PY -c "print($BATCH / $gbf)")
    read -r a _ sh32 ms32 < <(ours topk_f32 --arch topk --k "$K")
    read -r b _ shbf _ < <(ours topk_bf16 --arch topk --k "$K" --encoder-dtype bf16)
    ts=$(torch_rate topk-sparse "$STEPS")
    read -r rl l0 _ < <(ours relu --arch relu --l1 5 --init-from "$RELU_INIT")
    tr=$(torch_rate relu-dense 2 --l1 5)
    s32+=("$sh32"); rest32+=("$ms32"); sbf+=("$shbf"); bf32+=("$b32"); bbf16+=("$bb"); o32+=("$a"); obf+=("$b"); ots+=("$ts"); orelu+=("$rl"); trelu+=("$tr"); l0relu+=("$l0")
    r32+=("$(ratio "$a" "$b32")"); rbf+=("$(ratio "$b" "$bb")"); r32_ts+=("$(ratio "$a" "$ts")"); rbf_ts+=("$(ratio "$b" "$ts")")
    rrelu+=("$(ratio "$rl" "$tr")")
    line="round $r: bound f32 $(printf %.0f "$b32") bf16 $(printf %.0f "$bb") | topk f32 $(printf %.0f "$a") bf16 $(printf %.0f "$b") PyTorch sparse $(printf %.0f "$ts")"
    if [ "$r" = 1 ]; then
        td=$(torch_rate topk-dense 2); otd+=("$td")
        line="$line dense $(printf %.0f "$td")"
    fi
    echo "$line | relu $(printf %.0f "$rl") (L0 $l0) PyTorch dense $(printf %.0f "$tr")  [tokens/s]"
    echo "  encoder product alone (s, GFLOP/s): $(tr '\n' ' ' < "$WORK/gemm_$r.txt")"
    echo "  encoder product's share of monoscope's own training loop: f32 $sh32 % (the rest of a step $ms32 ms), bf16 $shbf %"
done
echo ""
echo "medians over $ROUNDS rounds (tokens/s; ratios are medians of per-round ratios), threads $THREADS:"
printf "  encoder-product bound     f32 %6.0f   bf16 %6.0f   (kernels: %s)\n" "$(m "${bf32[@]}")" "$(m "${bbf16[@]}")" \
    "$(sort -u "$WORK"/gemm_*.err | tr '\n' ';')"
printf "  TopK  monoscope f32       %6.0f   = %.1f %% of the f32 bound, %.2fx PyTorch sparse\n" "$(m "${o32[@]}")" \
    "$($PY -c "print(100 * $(m "${r32[@]}"))")" "$(m "${r32_ts[@]}")"
printf "  TopK  monoscope bf16      %6.0f   = %.1f %% of the bf16 bound, %.2fx PyTorch sparse\n" "$(m "${obf[@]}")" \
    "$($PY -c "print(100 * $(m "${rbf[@]}"))")" "$(m "${rbf_ts[@]}")"
printf "  encoder product's share of monoscope's training loop (same process): f32 %s %% (the rest of a step %s ms), bf16 %s %%\n" \
    "$(m "${s32[@]}")" "$(m "${rest32[@]}")" "$(m "${sbf[@]}")"
printf "  TopK  PyTorch sparse      %6.0f   dense (round 1) %s\n" "$(m "${ots[@]}")" "$(printf %.0f "${otd[0]}")"
printf "  ReLU  monoscope f32       %6.0f   (L0 %s) = %.2fx PyTorch dense (%s)\n" "$(m "${orelu[@]}")" "$(m "${l0relu[@]}")" \
    "$(m "${rrelu[@]}")" "$(printf %.0f "$(m "${trelu[@]}")")"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
