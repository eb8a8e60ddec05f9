#!/usr/bin/env bash
# bench_sae.sh: SAE training throughput, monoscope vs PyTorch (CPU), same thread count, same run.
#
#   TopK  d_in 768, d_sae 24576, k 32, batch 4096, synthetic activations:
#     monoscope `sae train --arch topk`            tokens/s
#     PyTorch, sparse decoder (embedding_bag gather of the k active rows, as OpenAI's code)
#     PyTorch, dense decoder
#     the encoder GEMM (4096x768 . 768x24576) alone, timed in C against the OpenBLAS monoscope links
#     (and through torch.mm): batch / t_gemm is the encoder-GEMM bound on tokens/s
#   ReLU + L1 at the same size: monoscope `sae train --arch relu` (one run of RELU_STEPS steps, its
#   reported loop rate) vs PyTorch dense.
#
# monoscope's rate is steady state: two runs of N1 and N2 steps, (N2-N1)*batch divided by the
# difference of the training-loop times it reports (tokens / reported tokens/s) (initialisation and the first step cancel);
# REPS such pairs, median. PyTorch: WARMUP untimed steps, then STEPS timed steps, median.
# Both get OMP_WAIT_POLICY=PASSIVE and THREADS threads (torch.set_num_threads / MONOSCOPE_THREADS).
#
# usage: bash scripts/bench_sae.sh            (env: BIN, THREADS, REPS, STEPS, WORK, D_SAE, K, BATCH)
# Not a test: takes several minutes on 2 cores; do not run while the machine is busy.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/monoscope}
PY=/usr/bin/python3
THREADS=${THREADS:-$(nproc)}
REPS=${REPS:-3}
STEPS=${STEPS:-4}
D_IN=768
D_SAE=${D_SAE:-24576}
K=${K:-32}
BATCH=${BATCH:-4096}
WORK=${WORK:-$(mktemp -d /tmp/bench_sae.XXXXXX)}
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$THREADS MONOSCOPE_THREADS=$THREADS MONOSCOPE_NO_PROGRESS=1
HOOK=blocks.0.hook_resid_post
N1=2
N2=$((N1 + STEPS))
[ -x "$BIN" ] || { echo "bench_sae: no monoscope binary at $BIN (build it or set BIN)" >&2; exit 1; }
mkdir -p "$WORK"
echo "bench_sae: $(date -u +%FT%TZ)  $(nproc) cores, THREADS=$THREADS, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "  d_in $D_IN  d_sae $D_SAE  k $K  batch $BATCH  reps $REPS  steps $STEPS  work $WORK"

# ---- synthetic activations: sparse combinations of 4*d_in random unit directions + noise
ACTS=$WORK/acts.h5
TOKENS=$(( (N2 + 2) * BATCH ))
$PY - "$ACTS" "$HOOK" "$D_IN" "$TOKENS" <<'EOF'
import sys, numpy as np, h5py
path, hook, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ctx = 128
n_seq = (n + ctx - 1) // ctx
rng = np.random.default_rng(0)
D = rng.standard_normal((4 * d, d)).astype(np.float32)
D /= np.linalg.norm(D, axis=1, keepdims=True)
with h5py.File(path, "w") as f:
    ds = f.create_dataset("acts/" + hook, (n_seq, ctx, d), np.float32)
    f["tokens"] = np.zeros((n_seq, ctx), np.int32)
    for s0 in range(0, n_seq, 16):
        m = min(16, n_seq - s0) * ctx
        idx = rng.integers(0, 4 * d, size=(m, 24))
        mag = rng.uniform(0.5, 1.5, size=(m, 24)).astype(np.float32) * (rng.random((m, 24)) < 0.7)
        x = np.einsum("mj,mjd->md", mag, D[idx]) + 0.02 * rng.standard_normal((m, d)).astype(np.float32)
        ds[s0:s0 + m // ctx] = x.reshape(-1, ctx, d)
    f.attrs["n_seq"] = n_seq
    f.attrs["ctx"] = ctx
    f.attrs["model"] = "synthetic"
EOF

# ---- the encoder GEMM in C, against the OpenBLAS monoscope links
CACHE=$(dirname "$BIN")/CMakeCache.txt
OBLAS=$(sed -n 's/^OPENBLAS_LIB:FILEPATH=//p' "$CACHE" 2>/dev/null || true)
OINC=$(sed -n 's/^CBLAS_INCLUDE:PATH=//p' "$CACHE" 2>/dev/null || true)
GEMM_S=""
if [ -n "$OBLAS" ] && [ -n "$OINC" ]; then
    cat > "$WORK/sgemm.c" <<'EOF'
// C(M,N) = A(M,K) . B(K,N), row-major float32, the SAE encoder's shape; prints the median seconds.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
int main(int argc, char **argv) {
    int M = atoi(argv[1]), K = atoi(argv[2]), N = atoi(argv[3]), reps = atoi(argv[4]);
    float *A = aligned_alloc(64, (size_t)M * K * 4), *B = aligned_alloc(64, (size_t)K * N * 4), *C = aligned_alloc(64, (size_t)M * N * 4);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)((i * 40503u) % 1000) / 1000.0f - 0.5f;
    double t[64];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N); // warm-up
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
        t[r] = now() - t0;
    }
    qsort(t, reps, sizeof t[0], cmp);
    printf("%.6f %.1f\n", t[reps / 2], 2.0 * M * N * K / t[reps / 2] / 1e9);
    return 0;
}
EOF
    if cc -O2 -I"$OINC" "$WORK/sgemm.c" "$OBLAS" -fopenmp -lm -o "$WORK/sgemm" 2>"$WORK/sgemm.log"; then
        read -r GEMM_S GEMM_GF < <("$WORK/sgemm" "$BATCH" "$D_IN" "$D_SAE" 5)
    fi
fi
[ -n "$GEMM_S" ] || { echo "bench_sae: could not build the sgemm timer (see $WORK/sgemm.log)" >&2; GEMM_S=nan; GEMM_GF=nan; }
TORCH_GEMM=$($PY "$ROOT/scripts/bench_sae_torch.py" --variant gemm --threads "$THREADS" --d-sae "$D_SAE" --batch "$BATCH" --steps 5)

# ---- monoscope: steady-state tokens/s from the loop times of an N1- and an N2-step run
ours() { # arch extra-args... -> prints one rate per rep
    local arch=$1; shift
    for r in $(seq "$REPS"); do
        local t1 t2
        for n in $N1 $N2; do
            "$BIN" sae train --acts "$ACTS" --hook "$HOOK" --out "$WORK/ours_$arch.h5" --arch "$arch" --d-sae "$D_SAE" \
                --batch "$BATCH" --tokens $((n * BATCH)) --checkpoint-every 0 --seed "$r" --threads "$THREADS" "$@" \
                2> "$WORK/ours_${arch}_$n.log" >/dev/null || { echo "bench_sae: sae train failed, see $WORK/ours_${arch}_$n.log" >&2; exit 1; }
            # loop time = tokens / (tokens/s): the rate is printed with more significant digits
            local secs
            secs=$(sed -n 's/^sae train: \([0-9]*\) tokens in [0-9.]* s (\([0-9.]*\) tokens\/s).*/\1 \2/p' "$WORK/ours_${arch}_$n.log" |
                   $PY -c "import sys; t, r = map(float, sys.stdin.read().split()); print(t / r)")
            if [ "$n" = "$N1" ]; then t1=$secs; else t2=$secs; fi
        done
        $PY -c "print(${STEPS} * ${BATCH} / max(1e-9, $t2 - $t1))"
    done
}
median() { $PY -c "import sys, statistics; v = [float(x) for x in sys.stdin.read().split()]; print(statistics.median(v))"; }
field() { $PY -c "import sys, json; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

say() { echo "$@"; }
say ""
$PY - "$BATCH" "$GEMM_S" "$GEMM_GF" "$TORCH_GEMM" <<'EOF2'
import sys, json
B, s, gf, tg = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
print("encoder GEMM %dx768 . 768x%d: OpenBLAS %.3f s (%s GFLOP/s) -> bound %.0f tokens/s; torch.mm %.3f s (%.0f tokens/s)"
      % (B, tg["d_sae"], s, gf, B / s, tg["median_step_s"], tg["tokens_per_s"]))
EOF2

say "TopK k=$K (tokens/s):"
OURS_TOPK_ALL=$(ours topk --k "$K" | $PY -c "import sys; print(' '.join('%.0f' % float(v) for v in sys.stdin.read().split()))")
OURS_TOPK=$(echo "$OURS_TOPK_ALL" | median)
L0_TOPK=$(sed -n 's/.*L0 \([0-9.]*\) .*/\1/p' "$WORK/ours_topk_$N2.log" | tail -1)
printf "  monoscope sae train       %8.0f   (median of steady-state runs: %s; L0 %s)\n" "$OURS_TOPK" "$OURS_TOPK_ALL" "${L0_TOPK:-?}"
T_SPARSE=$($PY "$ROOT/scripts/bench_sae_torch.py" --variant topk-sparse --threads "$THREADS" --d-sae "$D_SAE" --k "$K" --batch "$BATCH" --steps $((STEPS + 1)))
printf "  PyTorch sparse decoder    %8.0f   (step s: %s)\n" "$(field "$T_SPARSE" tokens_per_s)" "$(field "$T_SPARSE" step_s)"
T_DENSE=$($PY "$ROOT/scripts/bench_sae_torch.py" --variant topk-dense --threads "$THREADS" --d-sae "$D_SAE" --k "$K" --batch "$BATCH" --steps "$STEPS")
printf "  PyTorch dense decoder     %8.0f   (step s: %s)\n" "$(field "$T_DENSE" tokens_per_s)" "$(field "$T_DENSE" step_s)"
$PY -c "
o, s, d, b = $OURS_TOPK, $(field "$T_SPARSE" tokens_per_s), $(field "$T_DENSE" tokens_per_s), $BATCH / $GEMM_S
print('  ratios: monoscope / PyTorch sparse %.2fx, / PyTorch dense %.2fx, / encoder-GEMM bound %.1f %%' % (o / s, o / d, 100 * o / b))"

# ReLU: one run of RELU_STEPS steps, the loop rate monoscope reports (its first steps run with the
# dense codes of the initialisation, so this is a lower bound on its steady state)
RELU_STEPS=${RELU_STEPS:-2}
say "ReLU + L1 (tokens/s):"
"$BIN" sae train --acts "$ACTS" --hook "$HOOK" --out "$WORK/ours_relu.h5" --arch relu --d-sae "$D_SAE" --l1 5 \
    --batch "$BATCH" --tokens $((RELU_STEPS * BATCH)) --checkpoint-every 0 --seed 1 --threads "$THREADS" \
    2> "$WORK/ours_relu.log" >/dev/null || { echo "bench_sae: sae train --arch relu failed, see $WORK/ours_relu.log" >&2; exit 1; }
OURS_RELU=$(sed -n 's/^sae train: [0-9]* tokens in [0-9.]* s (\([0-9.]*\) tokens\/s).*/\1/p' "$WORK/ours_relu.log")
L0_RELU=$(sed -n 's/.*L0 \([0-9.]*\) .*/\1/p' "$WORK/ours_relu.log" | tail -1)
printf "  monoscope sae train       %8.0f   (%s steps incl. the first; L0 %s)\n" "$OURS_RELU" "$RELU_STEPS" "${L0_RELU:-?}"
T_RELU=$($PY "$ROOT/scripts/bench_sae_torch.py" --variant relu-dense --threads "$THREADS" --d-sae "$D_SAE" --batch "$BATCH" --steps "$RELU_STEPS" --l1 5)
printf "  PyTorch dense             %8.0f   (step s: %s)\n" "$(field "$T_RELU" tokens_per_s)" "$(field "$T_RELU" step_s)"
$PY -c "print('  ratio: monoscope / PyTorch dense %.2fx' % ($OURS_RELU / $(field "$T_RELU" tokens_per_s)))"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
