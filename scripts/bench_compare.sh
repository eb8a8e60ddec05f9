#!/usr/bin/env bash
# bench_compare.sh: is NEW slower than OLD? Two `monoscope` binaries (e.g. the pre-refactor
# reference and this tree's build/monoscope) timed on the same work, in interleaved rounds
# (OLD, NEW, OLD, NEW, ...: a shared machine's speed drifts by tens of percent within minutes, so
# ratios are taken per round), medians over rounds. Also checks that both write the same numbers.
#
#   capture     a GPT-2-small-shaped random model (12 layers, d_model 768, 12 heads, d_mlp 3072,
#               vocab 50257), all 12 blocks.*.hook_resid_post to HDF5, 4 x 256 tokens per batch,
#               CAPTURE_SEQS x 256 tokens; wall-clock of the whole command
#   sae train   TopK (k 32) d_in 768 -> D_SAE on synthetic activations, batch BATCH, STEPS steps;
#               wall-clock of the whole command (start-up and the first steps included)
#   identity    every architecture (topk, batchtopk, jumprelu, relu) trained by both on the same
#               small problem: weights and training-log losses compared bit for bit; the capture
#               outputs' /acts and /tokens too
#
# usage: bash scripts/bench_compare.sh OLD NEW [rounds]
#   env: THREADS (default nproc), CAPTURE_SEQS (16), D_SAE (24576), BATCH (4096), STEPS (4), WORK
# Prints per-round times, then "median OLD/NEW ratio" per benchmark (> 1: NEW faster).
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,18p' "$0"; exit 2; }
OLD=$(realpath "$1"); NEW=$(realpath "$2"); ROUNDS=${3:-3}
PY=/usr/bin/python3
THREADS=${THREADS:-$(nproc)}
CAPTURE_SEQS=${CAPTURE_SEQS:-16}
D_IN=768; D_SAE=${D_SAE:-24576}; BATCH=${BATCH:-4096}; STEPS=${STEPS:-4}
WORK=${WORK:-$(mktemp -d /tmp/bench_compare.XXXXXX)}
HOOK=blocks.0.hook_resid_post
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$THREADS MONOSCOPE_THREADS=$THREADS MONOSCOPE_NO_PROGRESS=1
mkdir -p "$WORK"
echo "bench_compare: $(date -u +%FT%TZ)  $(nproc) cores, THREADS=$THREADS, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  OLD $OLD"
echo "  NEW $NEW"
echo "  capture $CAPTURE_SEQS x 256 tokens; sae train topk $D_IN -> $D_SAE, batch $BATCH, $STEPS steps; work $WORK"

# ---- inputs: the model (written by NEW; both read it), random ids, synthetic activations
[ -d "$WORK/gpt2s" ] || "$NEW" random-model --arch gpt2 --layers 12 --d-model 768 --heads 12 --d-mlp 3072 \
    --vocab 50257 --ctx 1024 --seed 0 --out "$WORK/gpt2s" >/dev/null
$PY -c "
import random; random.seed(0)
print('\n'.join(' '.join(str(random.randrange(50257)) for _ in range(256)) for _ in range($CAPTURE_SEQS)))" > "$WORK/ids.txt"
make_acts() { $PY "$(dirname "$0")/bench/synth_acts.py" "$1" "$HOOK" "$2" "$3"; } # path d n_tokens
[ -f "$WORK/acts.h5" ] || make_acts "$WORK/acts.h5" "$D_IN" $(((STEPS + 1) * BATCH))
[ -f "$WORK/small.h5" ] || make_acts "$WORK/small.h5" 64 16384

now() { date +%s.%N; }
capture() { # bin out
    "$1" capture --model "$WORK/gpt2s" --input "$WORK/ids.txt" --input-format ids --ctx 256 --batch 4 \
        --hooks 'blocks.*.hook_resid_post' --out "$2" --overwrite >/dev/null 2>"$2.log"
}
train() { # bin out args...
    local bin=$1 out=$2; shift 2
    rm -f "$out" "$out.ckpt"
    "$bin" sae train --acts "$WORK/acts.h5" --hook "$HOOK" --out "$out" --arch topk --k 32 --d-sae "$D_SAE" \
        --batch "$BATCH" --tokens $((STEPS * BATCH)) --checkpoint-every 0 --seed 1 --threads "$THREADS" "$@" \
        >/dev/null 2>"$out.log"
}
timed() { local t0; t0=$(now); "$@" || { echo "bench_compare: '$*' failed (see its .log)" >&2; exit 1; }; $PY -c "print($(now) - $t0)"; }
median() { $PY -c "import sys, statistics; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

declare -a co cn to tn rc rt
for r in $(seq "$ROUNDS"); do
    a=$(timed capture "$OLD" "$WORK/cap_old.h5"); b=$(timed capture "$NEW" "$WORK/cap_new.h5")
    c=$(timed train "$OLD" "$WORK/sae_old.h5"); d=$(timed train "$NEW" "$WORK/sae_new.h5")
    co+=("$a"); cn+=("$b"); to+=("$c"); tn+=("$d")
    rc+=("$($PY -c "print($a / $b)")"); rt+=("$($PY -c "print($c / $d)")")
    printf "round %d: capture OLD %.2f s NEW %.2f s | sae train OLD %.2f s NEW %.2f s\n" "$r" "$a" "$b" "$c" "$d"
done
tokens=$((CAPTURE_SEQS * 256))
printf "\nmedians over %d rounds (threads %s):\n" "$ROUNDS" "$THREADS"
printf "  capture    OLD %6.2f s  NEW %6.2f s  (%d tokens: OLD %.0f, NEW %.0f tokens/s)  OLD/NEW %.3f\n" \
    "$(median "${co[@]}")" "$(median "${cn[@]}")" "$tokens" "$($PY -c "print($tokens / $(median "${co[@]}"))")" \
    "$($PY -c "print($tokens / $(median "${cn[@]}"))")" "$(median "${rc[@]}")"
printf "  sae train  OLD %6.2f s  NEW %6.2f s  (%d tokens: OLD %.0f, NEW %.0f tokens/s)  OLD/NEW %.3f\n" \
    "$(median "${to[@]}")" "$(median "${tn[@]}")" $((STEPS * BATCH)) "$($PY -c "print($STEPS * $BATCH / $(median "${to[@]}"))")" \
    "$($PY -c "print($STEPS * $BATCH / $(median "${tn[@]}"))")" "$(median "${rt[@]}")"

# ---- identity: the same numbers from both binaries
same() { # a.h5 b.h5 -> "identical" or the first difference (datasets bit for bit, /training_log's
         # seconds column excluded; root attributes but those naming the run)
    $PY - "$1" "$2" <<'EOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
names = []
a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
for n in sorted(names):
    if n not in b: print("differ: %s missing" % n); sys.exit()
    x, y = a[n][()], b[n][()]
    if n == "training_log":
        cols = [c.decode() if isinstance(c, bytes) else c for c in a[n].attrs["columns"]]
        keep = [i for i, c in enumerate(cols) if c != "seconds"]
        x, y = x[:, keep], y[:, keep]
    same = x.shape == y.shape and (x.tolist() == y.tolist() if x.dtype == object else x.tobytes() == y.tobytes())
    if not same: print("differ: %s" % n); sys.exit()
# attributes too, but for the ones naming the run (command line, paths, timings)
skip = {"command", "acts", "sae", "out", "date", "created", "seconds", "wall_seconds"}
for k in sorted(set(a.attrs) | set(b.attrs)):
    if k in skip: continue
    if k not in a.attrs or k not in b.attrs or np.asarray(a.attrs[k]).tolist() != np.asarray(b.attrs[k]).tolist():
        print("differ: attribute %s" % k); sys.exit()
print("identical (%d datasets, attributes but the run's paths)" % len(names))
EOF
}
echo "  capture outputs: $(same "$WORK/cap_old.h5" "$WORK/cap_new.h5")"
echo "  topk $D_IN -> $D_SAE: $(same "$WORK/sae_old.h5" "$WORK/sae_new.h5")"
for arch in topk batchtopk jumprelu relu; do
    for w in old new; do
        bin=$OLD; [ $w = new ] && bin=$NEW
        rm -f "$WORK/id_$w.h5"
        "$bin" sae train --acts "$WORK/small.h5" --hook "$HOOK" --out "$WORK/id_$w.h5" --arch "$arch" --k 8 \
            --d-sae 512 --batch 1024 --tokens 16384 --checkpoint-every 0 --seed 3 --threads "$THREADS" \
            >/dev/null 2>"$WORK/id_$w.log" || { echo "bench_compare: $arch ($w) failed, see $WORK/id_$w.log" >&2; exit 1; }
    done
    echo "  $arch 64 -> 512, 16 steps: $(same "$WORK/id_old.h5" "$WORK/id_new.h5")"
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
