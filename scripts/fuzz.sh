#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS-PER-READER] [READER...]: a fuzzing campaign over every reader (or the ones
# named), one libFuzzer harness at a time under `nice -n 10` (the machine is shared). Builds the clang
# fuzz configuration in build-fuzz/ (-DMONOSCOPE_FUZZ=ON), regenerates the seed corpora with the
# project's writers, and keeps each reader's grown corpus in build-fuzz/fuzz-work/<reader>/corpus
# between campaigns. Prints a Markdown table: reader, executions, crashes in monoscope's code and
# crashes inside libhdf5 on corrupt files (tests/fuzz/run_fuzzer.sh classifies them; reproducers and
# their reports in build-fuzz/fuzz-work/<reader>/crashes; copy each of ours to
# tests/fuzz/regressions/<reader>/ once fixed). Exits non-zero when monoscope crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-600}
export MONOSCOPE_FUZZ_SEED=${MONOSCOPE_FUZZ_SEED:-0} # 0: libFuzzer picks a new seed each run (explores; ctest smoke runs use 1)
export MONOSCOPE_FUZZ_FORK=${MONOSCOPE_FUZZ_FORK:-1} # keep fuzzing past libhdf5's own crashes (run_fuzzer.sh)
shift || true
READERS=${*:-"safetensors st_index hf_config tokenizer_json vocab_merges gguf llama2c tokenizer_bin acts_h5 sae_h5 saelens h5_struct"}
command -v clang >/dev/null || { echo "fuzz.sh: clang is needed (scripts/install-deps.sh --with-tests)" >&2; exit 1; }
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMONOSCOPE_FUZZ=ON >/dev/null
nice -n 10 cmake --build build-fuzz -j"$(nproc)" --target fuzzers monoscope >/dev/null
nice -n 10 bash tests/fuzz/make_seeds.sh build-fuzz/monoscope build-fuzz/fuzz-seeds
echo "| reader | executions | crashes in monoscope | crashes inside libhdf5 | seconds |"
echo "| --- | ---: | ---: | ---: | ---: |"
fail=0
for r in $READERS; do
  line=$(nice -n 10 bash tests/fuzz/run_fuzzer.sh "build-fuzz/tests/fuzz/fuzz_$r" "$r" "$SECS" build-fuzz/fuzz-seeds build-fuzz/fuzz-work) || fail=1
  read -r name execs ours hdf5 <<<"$line"
  echo "| $name | $execs | $ours | $hdf5 | $SECS |"
done
exit $fail
