#!/usr/bin/env bash
# Set-up in one command: installs the missing Debian packages, builds build/monoscope (Release),
# and runs the main job (scripts/demo.sh) on the built-in default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
bash scripts/demo.sh
