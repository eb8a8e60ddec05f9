"""Synthetic activations in the acts.h5 layout (README "On-disk formats") for SAE tests.

A known random dictionary of n_features unit vectors in d_in dimensions (superposition when
n_features > d_in); every token is a sparse non-negative combination of them:

    x = sum_i c_i * D[i] + noise,   c_i = active_i * m_i,   m_i ~ U(mag_lo, mag_hi)

active_i is Bernoulli(p) independently per feature (uncorrelated), or, with correlated=True,
features come in groups of `group` whose activations are driven by one Gaussian copula with
within-group correlation rho (marginal probability still p), so features co-occur.

Writes /acts/<hook> [n_seq, ctx, d_in] (float32 or float16), /tokens, /vocab and the root
attributes, plus /synthetic/dictionary [n_features, d_in] (float32) and the generation
parameters as attributes of /synthetic, so tests can compare learned to planted features.

Usable as a module (make(...), oracle_ev(...), mean_max_cos(...)) or a script:
    /usr/bin/python3 tests/py/synth_acts.py --out a.h5 --hook blocks.0.hook_resid_post --n-seq 100
"""
import argparse
import numpy as np


def dictionary(n_features, d_in, seed):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_features, d_in))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return D.astype(np.float32)


def codes(n_tokens, n_features, p, rng, correlated=False, group=8, rho=0.6, mag_lo=0.5, mag_hi=1.5):
    """(n_tokens, n_features) float32 non-negative sparse coefficients."""
    if correlated:
        n_groups = (n_features + group - 1) // group
        shared = rng.standard_normal((n_tokens, n_groups)).repeat(group, axis=1)[:, :n_features]
        own = rng.standard_normal((n_tokens, n_features))
        z = np.sqrt(rho) * shared + np.sqrt(1 - rho) * own  # each z ~ N(0,1), corr rho within group
        thr = _norm_ppf(1 - p)
        active = z > thr
    else:
        active = rng.random((n_tokens, n_features)) < p
    mag = rng.uniform(mag_lo, mag_hi, (n_tokens, n_features)).astype(np.float32)
    return (active * mag).astype(np.float32)


def _norm_ppf(q):
    # inverse normal CDF by bisection (no scipy dependency)
    from math import erf, sqrt
    lo, hi = -10.0, 10.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if 0.5 * (1 + erf(mid / sqrt(2))) < q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def make(path, hooks=("blocks.0.hook_resid_post",), d_in=64, n_features=512, n_seq=256, ctx=64,
         p=None, active_mean=6.0, correlated=False, dtype="float32", noise=0.0, seed=0, scale=1.0,
         extra_dims=None, mag_lo=0.5, mag_hi=1.5, chunk_seq=None):
    """Writes the file; returns (D, C) for the first hook: the dictionary [n_features, d_in] and
    the codes of the first slab of sequences [<= 16384 tokens, n_features] (x = scale * C @ D + noise). Every hook gets its own dictionary (seed + hook index).
    `extra_dims` (e.g. (8, 8) with d_in=64) stores the site shape [n_seq, ctx, *extra_dims]."""
    import h5py
    if p is None:
        p = active_mean / n_features
    n = n_seq * ctx
    first = None
    with h5py.File(path, "w") as f:
        rng_tok = np.random.default_rng(seed + 1000)
        f["tokens"] = rng_tok.integers(0, 256, (n_seq, ctx)).astype(np.int32)
        vt = h5py.string_dtype("ascii")
        f.create_dataset("vocab", data=np.array([b"<%d>" % i if i < 32 else bytes([i]) for i in range(256)], dtype=object), dtype=vt)
        f.attrs["model"] = "synthetic"
        f.attrs["architecture"] = "synthetic"
        f.attrs["d_model"] = d_in
        f.attrs["ctx"] = ctx
        f.attrs["n_seq"] = n_seq
        f.attrs["dtype"] = dtype
        f.attrs["hooks"] = ",".join(hooks)
        f.attrs["monoscope_version"] = "synthetic"
        f.attrs["command"] = "synth_acts.py"
        g = f.create_group("synthetic")
        g.attrs.update(dict(d_in=d_in, n_features=n_features, p=p, correlated=int(correlated),
                            noise=noise, seed=seed, scale=scale, mag_lo=mag_lo, mag_hi=mag_hi))
        shape = (n_seq, ctx) + (tuple(extra_dims) if extra_dims else (d_in,))
        for h_i, hook in enumerate(hooks):
            D = dictionary(n_features, d_in, seed + 17 * h_i)
            rng = np.random.default_rng(seed + 31 * h_i + 1)
            kw = {}
            if chunk_seq:
                kw["chunks"] = (chunk_seq, ctx) + shape[2:]
            ds = f.create_dataset("acts/" + hook, shape=shape, dtype=dtype, **kw)
            # generated in slabs of sequences so memory stays small for large files
            per = max(1, 16384 // ctx)
            C0 = None
            for s0 in range(0, n_seq, per):
                m = min(per, n_seq - s0)
                C = codes(m * ctx, n_features, p, rng, correlated, mag_lo=mag_lo, mag_hi=mag_hi)
                X = C @ D
                if noise > 0:
                    X += noise * rng.standard_normal(X.shape).astype(np.float32)
                X *= scale
                ds[s0:s0 + m] = X.reshape((m,) + shape[1:]).astype(dtype)
                if C0 is None:
                    C0 = C
            g["dictionary" if h_i == 0 else "dictionary_%d" % h_i] = D
            if first is None:
                first = (D, C0)
    return first


def oracle_ev(X, D, C, k=None):
    """Explained variance of the best reconstruction the planted model allows with at most k
    active features per token: the planted dictionary with each token's k largest true
    coefficients (k=None: all of them, i.e. the noise floor). EV = 1 - E||x - x_hat||^2 / E||x - mean||^2."""
    if k is not None and k < C.shape[1]:
        Ck = C.copy()
        part = np.argpartition(-Ck, k, axis=1)[:, k:]
        np.put_along_axis(Ck, part, 0, axis=1)
    else:
        Ck = C
    R = X - Ck @ D
    return 1.0 - (R ** 2).sum() / ((X - X.mean(0)) ** 2).sum()


def mean_max_cos(D_planted, W_dec):
    """For each planted feature, the best cosine with any learned decoder row; their mean."""
    A = D_planted / np.linalg.norm(D_planted, axis=1, keepdims=True)
    B = W_dec / np.maximum(np.linalg.norm(W_dec, axis=1, keepdims=True), 1e-12)
    return float((A @ B.T).max(axis=1).mean())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--hook", action="append", help="hook name (repeatable)")
    ap.add_argument("--d-in", type=int, default=64)
    ap.add_argument("--n-features", type=int, default=512)
    ap.add_argument("--n-seq", type=int, default=256)
    ap.add_argument("--ctx", type=int, default=64)
    ap.add_argument("--active-mean", type=float, default=6.0, help="expected active features per token")
    ap.add_argument("--correlated", action="store_true")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    make(a.out, tuple(a.hook or ["blocks.0.hook_resid_post"]), a.d_in, a.n_features, a.n_seq, a.ctx,
         active_mean=a.active_mean, correlated=a.correlated, dtype=a.dtype, noise=a.noise, seed=a.seed,
         scale=a.scale)
