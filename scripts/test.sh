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
cmake --build build -j"$(nproc)" --target monoscope
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMONOSCOPE_SANITIZE=ON \
      -DMONOSCOPE_FAST_BIN="$PWD/build/monoscope" >/dev/null
cmake --build build-test -j"$(nproc)"
cd build-test && ctest --output-on-failure -j"$(nproc)" "$@"
