#!/usr/bin/env bash
# Installs the Debian packages monoscope needs to build and test, skipping those already present.
set -euo pipefail
BUILD_PKGS="build-essential cmake pkg-config libhdf5-dev libopenblas-dev libopenblas-openmp-dev
  liblapacke-dev libdnnl-dev libpng-dev libjson-c-dev libpcre2-dev libfreetype-dev fonts-dejavu-core fonts-noto-cjk"
TEST_PKGS="python3 python3-torch python3-numpy python3-h5py python3-matplotlib python3-nbconvert
  python3-nbformat python3-ipykernel jupyter-nbconvert clang libclang-rt-14-dev"
# Text for the offline training corpus (scripts/make-corpus.sh), python3 to assemble it, h5py and numpy
# for the main job's REPORT.md (scripts/demo_report.py)
CORPUS_PKGS="python3 python3-h5py python3-numpy bible-kjv bible-kjv-text fortunes fortunes-min dict-devil dict-jargon libc6-dev"
want="$BUILD_PKGS $CORPUS_PKGS"
[ "${1:-}" = "--with-tests" ] && want="$want $TEST_PKGS"
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js + npm run the outside tokenizer reference; a machine may already have them from elsewhere
# (e.g. a nodejs build that bundles npm and conflicts with Debian's npm package).
if [ "${1:-}" = "--with-tests" ] && ! command -v npm >/dev/null; then missing="$missing nodejs npm"; fi
if [ -n "$missing" ]; then
  echo "installing:$missing" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >&2
fi
