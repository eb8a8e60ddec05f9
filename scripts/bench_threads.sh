#!/usr/bin/env bash
# Threads on a shared machine (issue 16 item 7): wall time of a layer-0 capture of NSEQ x 256 tokens (default 20,480)
# (GPT-2-small-shaped random model) with 2 threads, unloaded and while 2 CPU-bound
# busy loops load the cores, for this build and for an older binary given as $1 (e.g. one from
# before the CLI defaulted to OMP_WAIT_POLICY=PASSIVE). Runs alternate; medians of R rounds.
# usage: [NSEQ=80] scripts/bench_threads.sh OLD_BINARY [rounds]   (build/ must be a Release build)
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$1; R=${2:-5}; NSEQ=${NSEQ:-80}
NEW=build/monoscope
W=${BENCH_DIR:-/tmp/monoscope-bench-threads}
mkdir -p "$W"
export MONOSCOPE_NO_PROGRESS=1 OMP_NUM_THREADS=2
unset OMP_WAIT_POLICY GOMP_SPINCOUNT
[ -d "$W/gpt2s" ] || "$NEW" random-model --arch gpt2 --layers 12 --d-model 768 --heads 12 --d-mlp 3072 \
    --vocab 50257 --ctx 1024 --seed 0 --out "$W/gpt2s" >/dev/null
/usr/bin/python3 -c "
import random; random.seed(0)
print('\n'.join(' '.join(str(random.randrange(50257)) for _ in range(256)) for _ in range($NSEQ)))" > "$W/ids.txt"
run() { # binary -> wall seconds
    local t0 t1
    t0=$(date +%s.%N)
    "$1" capture --model "$W/gpt2s" --input "$W/ids.txt" --input-format ids --ctx 256 --batch 4 \
        --hooks blocks.0.hook_resid_post --out "$W/acts.h5" --overwrite >/dev/null 2>&1
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
measure() { # label
    local o=() n=()
    for _ in $(seq "$R"); do o+=("$(run "$OLD")"); n+=("$(run "$NEW")"); done
    echo "$1: old $(printf '%s\n' "${o[@]}" | median) s [${o[*]}], new $(printf '%s\n' "${n[@]}" | median) s [${n[*]}]"
}
run "$NEW" >/dev/null # warm the page cache
measure "unloaded (other users' load: $(cut -d' ' -f1 /proc/loadavg))"
pids=()
for _ in 1 2; do /usr/bin/python3 -c 'while True: pass' & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
sleep 1
measure "loaded by 2 busy loops"
