#!/usr/bin/env bash
# run_fuzzer.sh FUZZER READER SECONDS SEEDS WORK: runs one libFuzzer harness for SECONDS on the seed
# corpus SEEDS/READER plus the committed regressions, collecting new inputs in WORK/READER/corpus and
# reproducers in WORK/READER/crashes. libFuzzer stops at a finding; each reproducer is replayed once
# and classified by tests/fuzz/classify.py by the first stack frame that is not a runtime's or libc's: inside
# libhdf5 ("hdf5": a bug of the HDF5 library on a corrupt file, which monoscope cannot validate
# before HDF5 parses it) or anywhere else ("ours"). After an hdf5 finding the fuzzer is restarted on
# the grown corpus for the time left; after one of ours it stops. A reproducer that does not
# reproduce on replay (a timeout while the machine was loaded) is reported on stderr, not counted.
# Prints "READER executions ours hdf5"; exits non-zero when there is any "ours" finding.
# Seed: MONOSCOPE_FUZZ_SEED (default 1), so the ctest smoke runs replay the same mutation sequence
# on every machine (a slower one runs a prefix of it) and CI does not fail at random on a finding no
# developer can reproduce; scripts/fuzz.sh campaigns pass a new seed per run to explore.
# MONOSCOPE_FUZZ_FORK=N (scripts/fuzz.sh campaigns: 1): libFuzzer's -fork=N with crashes, OOMs and
# timeouts ignored, so a reader that keeps hitting libhdf5's own crashes (tests/fuzz/contained-libhdf5/)
# keeps fuzzing instead of paying a restart and a corpus reload per finding (acts_h5 and sae_h5 lost
# most of a 60 s run to that); every reproducer is still classified afterwards, and one of ours
# still fails the run. N > 1 runs N jobs at once, for a reader that should have every core.
# Limits: 512 MB per allocation and 1 GB RSS (a reader asking for more on a small input is a
# finding), 10 s per input (a hang), one process (the machine is shared).
set -uo pipefail
FUZZER=$1 READER=$2 SECONDS_=$3 SEEDS=$4 WORK=$5
HERE=$(cd "$(dirname "$0")" && pwd)
dir=$WORK/$READER
mkdir -p "$dir/corpus" "$dir/crashes"
# MONOSCOPE_FUZZ_RUNS=N: stop once N inputs have run (scripts/fuzz.sh --runs), SECONDS still the cap.
# MONOSCOPE_FUZZ_TIMEOUT: seconds per input that count as a hang (default 10).
RUNS=${MONOSCOPE_FUZZ_RUNS:-0}
opts=(-max_len=65536 -timeout="${MONOSCOPE_FUZZ_TIMEOUT:-10}" -rss_limit_mb=1024 -malloc_limit_mb=512 -seed="${MONOSCOPE_FUZZ_SEED:-1}")
[ -f "$HERE/dict/$READER.dict" ] && opts+=(-dict="$HERE/dict/$READER.dict")
fork=() # only for the fuzzing runs; a reproducer is replayed in-process
[ "${MONOSCOPE_FUZZ_FORK:-0}" -ge 1 ] && fork=(-fork="$MONOSCOPE_FUZZ_FORK" -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
inputs=("$dir/corpus")
[ -d "$SEEDS/$READER" ] && inputs+=("$SEEDS/$READER")
[ -d "$HERE/regressions/$READER" ] && inputs+=("$HERE/regressions/$READER")
# A 16 MB quarantine (ASan's default: 256 MB) still catches a use after free within an input, and
# freed blocks are reused within a few inputs instead of every allocation touching fresh pages: HDF5
# allocates thousands of blocks per file opened, and the HDF5 harnesses ran 1.8x faster for it.
# Reports unsymbolized (a job's crash costs no llvm-symbolizer run); classify.py symbolizes the
# replays' frames in one batch.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0:quarantine_size_mb=16:symbolize=0}
export LSAN_OPTIONS=suppressions=$HERE/../lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export MONOSCOPE_NO_PROGRESS=1 OMP_NUM_THREADS=1
# The readers in-process, without ms_h5_open's walk in a child (src/io/h5util.h): a fork per open
# would cost most of the throughput, and the fuzzer is here to find what libhdf5 would crash on. Each
# such input, copied to regressions/, is replayed by ctest with the walk on, where it must be refused.
export MONOSCOPE_H5_WALK=${MONOSCOPE_H5_WALK:-0}

execs=0 ours=0 hdf5=0 start=$SECONDS runs=0
: > "$dir/log"
while left=$((SECONDS_ - (SECONDS - start))); [ "$left" -gt 0 ] && [ "$ours" -eq 0 ] && [ "$runs" -lt 100 ] &&
      { [ "$RUNS" -eq 0 ] || [ "$execs" -lt "$RUNS" ]; }; do
  runs=$((runs + 1))
  before=$(find "$dir/crashes" -type f ! -name '*.report' | sort)
  want=()
  [ "$RUNS" -gt 0 ] && want=(-runs=$((RUNS - execs)))
  "$FUZZER" "${opts[@]}" ${fork[@]+"${fork[@]}"} ${want[@]+"${want[@]}"} -max_total_time="$left" -print_final_stats=1 -artifact_prefix="$dir/crashes/" \
    "${inputs[@]}" > "$dir/run.log" 2>&1
  cat "$dir/run.log" >> "$dir/log"
  n=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$dir/run.log" | grep -oE '[0-9]+$' | tail -1)
  [ -n "$n" ] || n=$(grep -oE '^#[0-9]+' "$dir/run.log" | tail -1 | tr -d '#')
  execs=$((execs + ${n:-0}))
  new=$(comm -13 <(echo "$before") <(find "$dir/crashes" -type f ! -name '*.report' | sort))
  [ -n "$new" ] || break # finished its time without a finding
  # every reproducer replayed once, nproc at a time, and classified (classify.py)
  read -r _ h _ o _ _ < <(python3 "$HERE/classify.py" "$FUZZER" "$(nproc)" "${opts[*]}" $new)
  hdf5=$((hdf5 + ${h:-0})) ours=$((ours + ${o:-1}))
done
rm -f "$dir/run.log"
echo "$READER $execs $ours $hdf5"
[ "$ours" -eq 0 ]
