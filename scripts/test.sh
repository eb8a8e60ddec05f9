#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds the sanitizer (ASan + UBSan) configuration
# in build-test/, and runs every test with ctest on all cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --with-tests
# Outside references for the tokenizer tests come from npm (package-lock.json pins them).
if [ ! -d tests/node/node_modules ]; then
  (cd tests/node && npm ci --no-audit --no-fund --silent)
fi
# An optimised build for the numerically heavy tests (SAE training to convergence), then the
# sanitizer build that runs the suite.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target monoscope monoscope_shared
# The other GEMM back-end (issue 15): a build without oneDNN, on which the reference tests run again.
cmake -S . -B build-openblas -DCMAKE_BUILD_TYPE=Release -DMONOSCOPE_ONEDNN=OFF >/dev/null
cmake --build build-openblas -j"$(nproc)" --target monoscope monoscope_shared
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMONOSCOPE_SANITIZE=ON \
      -DMONOSCOPE_FAST_BIN="$PWD/build/monoscope" -DMONOSCOPE_OPENBLAS_BIN="$PWD/build-openblas/monoscope" >/dev/null
cmake --build build-test -j"$(nproc)"
(cd build-test && ctest --output-on-failure -j"$(nproc)" "$@")
# Fuzzing budget (issue 13): with clang, the libFuzzer build in build-fuzz/ runs every harness for
# MONOSCOPE_FUZZ_SECONDS (8 s, seed 1: the same inputs on every machine; 12 readers: about 2.5 minutes) on seeds from the project's writers plus
# the committed regressions. Skipped without clang, or with MONOSCOPE_FUZZ_SECONDS=0. Only whole-suite
# runs (no ctest arguments) include it.
if [ $# -eq 0 ] && [ "${MONOSCOPE_FUZZ_SECONDS:-8}" != 0 ] && command -v clang >/dev/null; then
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMONOSCOPE_FUZZ=ON \
        -DMONOSCOPE_FUZZ_SECONDS="${MONOSCOPE_FUZZ_SECONDS:-8}" >/dev/null
  cmake --build build-fuzz -j"$(nproc)" --target fuzzers
  (cd build-fuzz && ctest --output-on-failure -R '^fuzz_(seeds|smoke_)')
fi
