"""Synthetic activations for the benchmarks: sparse combinations of 4*d random unit directions
plus noise, written as an activations file (/acts/<hook> [n_seq, 128, d] float32, /tokens zeros).
usage: synth_acts.py PATH HOOK D N_TOKENS"""
import sys
import h5py
import numpy as np

path, hook, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ctx = 128
n_seq = (n + ctx - 1) // ctx
rng = np.random.default_rng(0)
D = rng.standard_normal((4 * d, d)).astype(np.float32)
D /= np.linalg.norm(D, axis=1, keepdims=True)
with h5py.File(path, "w") as f:
    ds = f.create_dataset("acts/" + hook, (n_seq, ctx, d), np.float32)
    f["tokens"] = np.zeros((n_seq, ctx), np.int32)
    for s0 in range(0, n_seq, 16):
        m = min(16, n_seq - s0) * ctx
        idx = rng.integers(0, 4 * d, size=(m, 24))
        mag = rng.uniform(0.5, 1.5, size=(m, 24)).astype(np.float32) * (rng.random((m, 24)) < 0.7)
        x = np.einsum("mj,mjd->md", mag, D[idx]) + 0.02 * rng.standard_normal((m, d)).astype(np.float32)
        ds[s0:s0 + m // ctx] = x.reshape(-1, ctx, d)
    f.attrs["n_seq"] = n_seq
    f.attrs["ctx"] = ctx
    f.attrs["model"] = "synthetic"
