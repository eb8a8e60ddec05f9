#!/usr/bin/env bash
# An 8 B model on this machine (issue 14): writes a Llama-3.1-8B-shaped checkpoint with random bf16
# weights (scripts/bench/write_8b.py: 16 GB, four shards, the real names, config and layout; never
# committed), then measures with /usr/bin/time, for
#   1. `monoscope info` (headers only),
#   2. a capture of the first two layers (hook_embed, blocks.0/1.hook_resid_post; 4 x 128 tokens):
#      only layers 0-1 and the embedding are read and held (float32), not the 30 others nor lm_head,
#   3. the whole model with --compute bf16 (hook_embed, blocks.1 and blocks.31.hook_resid_post and the
#      logits; 4 x 128 tokens): every matrix held in bf16, converted layer by layer as it is read,
# the peak RSS and the wall time. The captures' hook_embed rows are checked against the embedding
# rows read straight from the safetensors shard with NumPy (bf16 -> f32 exactly); blocks 0-1's
# outputs must be finite and non-constant; the bf16 pass's blocks.1 output within 3 % (relative L2)
# of the f32 pass's, and its last block and logits finite and non-constant.
# usage: scripts/bench_8b.sh   (BENCH_DIR, default /tmp/monoscope-8b: needs 16 GB of disk;
#        KEEP=1 keeps the checkpoint afterwards; build/ must be a Release build)
set -euo pipefail
cd "$(dirname "$0")/.."
MS=${MONOSCOPE:-build/monoscope}
W=${BENCH_DIR:-/tmp/monoscope-8b}
PY=/usr/bin/python3
mkdir -p "$W"
[ -s "$W/model/config.json" ] || { echo "bench_8b: writing the checkpoint to $W/model"; $PY scripts/bench/write_8b.py "$W/model"; }
echo "bench_8b: $(date -u +%FT%TZ)  $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB RAM, load: $(cut -d' ' -f1-3 /proc/loadavg)"
measure() { # label cmd... -> "label: wall s, peak RSS GB"
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$W/time.txt" "$@" > "$W/out.txt" 2> "$W/err.txt" || { cat "$W/err.txt"; exit 1; }
    read -r wall kb < "$W/time.txt"
    awk -v l="$label" -v w="$wall" -v k="$kb" 'BEGIN { printf "  %-44s %7.1f s   peak RSS %6.2f GiB\n", l, w, k / 1048576 }'
}
measure "info (headers only)" "$MS" info "$W/model"
grep -E "^(architecture|n_layer|d_model|n_kv_head|d_mlp|vocab_size|parameters|rope|dtype):" "$W/out.txt" | sed 's/^/    /'
$PY -c "
import numpy as np
rng = np.random.default_rng(1)
print('\n'.join(' '.join(map(str, rng.integers(0, 128256, 128))) for _ in range(4)))" > "$W/ids.txt"
rm -f "$W/acts.h5"
measure "capture of layers 0-1 (4 x 128 tokens)" env OMP_NUM_THREADS=$(nproc) "$MS" capture --model "$W/model" \
    --input "$W/ids.txt" --input-format ids --ctx 128 --batch 4 \
    --hooks hook_embed,blocks.0.hook_resid_post,blocks.1.hook_resid_post --out "$W/acts.h5"
rm -f "$W/full.h5"
measure "whole model, --compute bf16, with logits" env OMP_NUM_THREADS=$(nproc) "$MS" capture --model "$W/model" \
    --input "$W/ids.txt" --input-format ids --ctx 128 --batch 4 --compute bf16 \
    --hooks hook_embed,blocks.1.hook_resid_post,blocks.31.hook_resid_post,logits --out "$W/full.h5"
grep -o "captured.*" "$W/err.txt" | sed 's/^/    /' || true
$PY - "$W" <<'EOF'
import json, os, sys
import h5py, numpy as np
w = sys.argv[1]
idx = json.load(open(os.path.join(w, "model", "model.safetensors.index.json")))["weight_map"]
shard = os.path.join(w, "model", idx["model.embed_tokens.weight"])
with open(shard, "rb") as f:
    n = int.from_bytes(f.read(8), "little")
    meta = json.loads(f.read(n))["model.embed_tokens.weight"]
    base = 8 + n + meta["data_offsets"][0]
    C = meta["shape"][1]
    ids = np.loadtxt(os.path.join(w, "ids.txt"), dtype=np.int64)
    want = np.empty(ids.shape + (C,), np.float32)
    for (s, t), tok in np.ndenumerate(ids):
        f.seek(base + int(tok) * C * 2)
        want[s, t] = (np.frombuffer(f.read(C * 2), np.uint16).astype(np.uint32) << 16).view(np.float32)
    far = int(ids.max()) * C * 2 + base
with h5py.File(os.path.join(w, "acts.h5"), "r") as f:
    got = f["acts/hook_embed"][...]
    post = [f[f"acts/blocks.{l}.hook_resid_post"][...] for l in (0, 1)]
assert np.array_equal(got, want), "hook_embed differs from the shard's embedding rows"
assert all(np.isfinite(p).all() and p.std() > 0 for p in post), "non-finite or constant block outputs"
with h5py.File(os.path.join(w, "full.h5"), "r") as f:
    assert np.array_equal(f["acts/hook_embed"][...], want), "bf16 pass: hook_embed differs from the shard's rows"
    b1 = f["acts/blocks.1.hook_resid_post"][...].astype(np.float64)
    last, logits = f["acts/blocks.31.hook_resid_post"][...], f["acts/logits"][...]
rel = np.linalg.norm(b1 - post[1]) / np.linalg.norm(post[1])
assert rel <= 0.03, f"bf16 pass: blocks.1 off the f32 pass by {rel:.4f} (relative L2)"
assert all(np.isfinite(a).all() and a.std() > 0 for a in (last, logits)), "bf16 pass: non-finite or constant output"
print(f"  bf16 whole pass: blocks.1 within {rel:.4f} (relative L2) of the f32 pass; logits {logits.shape}, "
      f"finite, std {logits.std():.3g}")
print(f"  hook_embed equals the shard's rows (read up to {far / 2**30:.2f} GiB into it); blocks 0-1 finite, "
      f"std {post[0].std():.3g}, {post[1].std():.3g}")
EOF
[ "${KEEP:-0}" = 1 ] || rm -rf "$W"
