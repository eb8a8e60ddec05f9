#!/usr/bin/env bash
# scripts/fuzz.sh [--runs N] [--jobs J] [SECONDS-PER-READER] [READER...]: a fuzzing campaign over every
# reader (or the ones named), each libFuzzer harness for SECONDS (default 600) or, with --runs, until it
# has run N inputs (SECONDS then the cap), J harnesses at a time (default 1) under `nice -n 10` (the
# machine is shared). Builds the clang fuzz configuration in build-fuzz/ (-DMONOSCOPE_FUZZ=ON),
# regenerates the seed corpora with the project's writers, and keeps each reader's grown corpus in
# build-fuzz/fuzz-work/<reader>/corpus between campaigns. Prints a Markdown table: reader, executions,
# crashes in monoscope's code and crashes inside libhdf5 on corrupt files (tests/fuzz/run_fuzzer.sh
# classifies them; reproducers and their reports in build-fuzz/fuzz-work/<reader>/crashes; copy each of
# ours to tests/fuzz/regressions/<reader>/ once fixed). Exits non-zero when monoscope crashed.
# MONOSCOPE_FUZZ_FORK=N gives each harness N libFuzzer jobs at once (default 1; with --jobs 1, N = nproc
# gives one slow reader the whole machine). MONOSCOPE_FUZZ_TIMEOUT: seconds per input that count as a hang.
# The long campaign the README reports: scripts/fuzz.sh --runs 1000000 --jobs 2 7200
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=0 JOBS=1
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    *) break ;;
  esac
done
SECS=${1:-600}
export MONOSCOPE_FUZZ_RUNS=$RUNS
export MONOSCOPE_FUZZ_SEED=${MONOSCOPE_FUZZ_SEED:-0} # 0: libFuzzer picks a new seed each run (explores; ctest smoke runs use 1)
export MONOSCOPE_FUZZ_FORK=${MONOSCOPE_FUZZ_FORK:-1} # keep fuzzing past libhdf5's own crashes (run_fuzzer.sh)
shift || true
READERS=${*:-"safetensors st_index hf_config tokenizer_json vocab_merges gguf llama2c tokenizer_bin capture_input concept_rules probe_h5 labels_h5 acts_h5 sae_h5 saelens h5_struct"}
command -v clang >/dev/null || { echo "fuzz.sh: clang is needed (scripts/install-deps.sh --with-tests)" >&2; exit 1; }
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMONOSCOPE_FUZZ=ON >/dev/null
nice -n 10 cmake --build build-fuzz -j"$(nproc)" --target fuzzers monoscope >/dev/null
nice -n 10 bash tests/fuzz/make_seeds.sh build-fuzz/monoscope build-fuzz/fuzz-seeds
echo "| reader | executions | crashes in monoscope | crashes inside libhdf5 | seconds |"
echo "| --- | ---: | ---: | ---: | ---: |"
mkdir -p build-fuzz/fuzz-work
# one reader: its table row into build-fuzz/fuzz-work/<reader>.row, its status into .rc
one() {
  local r=$1 t0=$SECONDS line rc=0
  line=$(nice -n 10 bash tests/fuzz/run_fuzzer.sh "build-fuzz/tests/fuzz/fuzz_$r" "$r" "$SECS" build-fuzz/fuzz-seeds build-fuzz/fuzz-work) || rc=1
  read -r name execs ours hdf5 <<<"$line"
  echo "| $name | $execs | $ours | $hdf5 | $((SECONDS - t0)) |" > "build-fuzz/fuzz-work/$r.row"
  echo $rc > "build-fuzz/fuzz-work/$r.rc"
}
running=0
for r in $READERS; do
  rm -f "build-fuzz/fuzz-work/$r.row" "build-fuzz/fuzz-work/$r.rc"
  one "$r" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n || true; running=$((running - 1)); fi
done
wait
fail=0
for r in $READERS; do
  cat "build-fuzz/fuzz-work/$r.row" 2>/dev/null || echo "| $r | (did not finish) | | | |"
  [ "$(cat "build-fuzz/fuzz-work/$r.rc" 2>/dev/null)" = 0 ] || fail=1
done
exit $fail
