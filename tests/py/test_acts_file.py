"""The activations file's one reader (src/io/acts.c) and the typed attribute readers (src/io/h5util.c):
files with more than 64 hook sites, n_seq capping the rows, and attributes or datasets of the wrong
type or shape, each of which must give exactly one error line naming the file and the object (no crash).
References: numpy on the very arrays written with h5py."""
import json, os
import h5py
import numpy as np
import mstest
from mstest import run, check, TMP
import sae_ref as R

D_IN, D_SAE = 6, 24
N_HOOKS = 70  # more than the 64 names the old viewer reader kept


def T(*p):
    return os.path.join(TMP, *p)


def hook(i):
    return "blocks.%d.hook_resid_post" % i


def make_sae(tag, p, arch, hook_name):
    d = T("dir_" + tag)
    R.write_saelens_dir(d, p, R.saelens_cfg("v6", arch, D_IN, D_SAE, hook=hook_name))
    run("sae", "import", d, "--out", T(tag + ".h5"))
    return T(tag + ".h5")


def one_error(args, *needles):
    p = run(*args, ok=False)
    lines = [l for l in p.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one error line, got {p.stderr!r}"
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


rng = np.random.default_rng(7)
P = R.random_params(rng, D_IN, D_SAE, "standard", scale=2.0)
LAST = hook(N_HOOKS - 1)
SAE = make_sae("sae_many", P, "standard", LAST)
DATA = {hook(i): (rng.standard_normal((5, 4, D_IN)) * (1 + i)).astype(np.float32) for i in range(N_HOOKS)}


def write_many(path, n_seq=None, extra=None):
    with h5py.File(path, "w") as f:
        f["tokens"] = rng.integers(0, 50, (5, 4)).astype(np.int32)
        for h, a in DATA.items():
            f["acts/" + h] = a
        if n_seq is not None:
            f.attrs["n_seq"] = n_seq
        if extra:
            extra(f)


def reference(x):
    x = x.reshape(-1, D_IN).astype(np.float64)
    f, _ = R.torch_encode(P, x, "standard")
    xh = R.torch_decode(P, f)
    return {"n_tokens": x.shape[0], "mse": ((x - xh) ** 2).sum() / x.size, "l0": (f != 0).sum(1).mean()}


def many_hooks():
    write_many(T("many.h5"))
    # the SAE's own hook is the 70th (sorted by name it is neither first nor last)
    j = json.loads(run("sae", "eval", "--sae", SAE, "--acts", T("many.h5"), "--json", "--no-store").stdout)
    ref = reference(DATA[LAST])
    assert j["n_tokens"] == ref["n_tokens"], (j, ref)
    assert abs(j["mse"] - ref["mse"]) <= 1e-4 * ref["mse"] and abs(j["l0"] - ref["l0"]) < 1e-9, (j, ref)
    # the viewers' reader finds every hook too (it used to stop at 64 names)
    out = T("heat_many")
    run("viz", "heatmap", "--sae", SAE, "--acts", T("many.h5"), "--seq", 4, "--out", out)
    # training streams a hook beyond the 64th
    run("sae", "train", "--acts", T("many.h5"), "--hook", hook(66), "--out", T("many_sae.h5"), "--d-sae", 12,
        "--k", 2, "--tokens", 40, "--batch", 8, "--threads", 1)


def n_seq_caps_rows():
    write_many(T("partial.h5"), n_seq=3)
    j = json.loads(run("sae", "eval", "--sae", SAE, "--acts", T("partial.h5"), "--json", "--no-store").stdout)
    ref = reference(DATA[LAST][:3])
    assert j["n_tokens"] == 12 and abs(j["mse"] - ref["mse"]) <= 1e-4 * ref["mse"], (j, ref)


def wrong_types():
    ev = ("sae", "eval", "--sae", SAE, "--no-store", "--acts")
    write_many(T("nseq_float.h5"), n_seq=2.5)
    one_error(ev + (T("nseq_float.h5"),), "nseq_float.h5", "'n_seq'", "float", "expected one integer")
    write_many(T("nseq_str.h5"), n_seq="3")
    one_error(ev + (T("nseq_str.h5"),), "nseq_str.h5", "'n_seq'", "string")
    write_many(T("nseq_vec.h5"), n_seq=np.array([3, 4], np.int64))
    one_error(ev + (T("nseq_vec.h5"),), "nseq_vec.h5", "'n_seq'", "2 values")
    write_many(T("nseq_neg.h5"), n_seq=-1)
    one_error(ev + (T("nseq_neg.h5"),), "nseq_neg.h5", "n_seq")
    write_many(T("model_int.h5"), extra=lambda f: f.attrs.__setitem__("model", 5))
    one_error(("sae", "train", "--acts", T("model_int.h5"), "--hook", LAST, "--out", T("x.h5")), "model_int.h5", "'model'")
    # datasets of the wrong kind
    write_many(T("tok_float.h5"), extra=lambda f: (f.__delitem__("tokens"), f.__setitem__("tokens", np.zeros((5, 4), np.float32))))
    one_error(ev + (T("tok_float.h5"),), "tok_float.h5", "/tokens")
    write_many(T("acts_int.h5"), extra=lambda f: f.__setitem__("acts/blocks.99.hook_x", np.zeros((5, 4, 6), np.int32)))
    one_error(ev + (T("acts_int.h5"),), "acts_int.h5", "/acts/blocks.99.hook_x", "float16/float32/float64")
    write_many(T("acts_2d.h5"), extra=lambda f: f.__setitem__("acts/blocks.99.hook_x", np.zeros((5, 4), np.float32)))
    one_error(ev + (T("acts_2d.h5"),), "acts_2d.h5", "/acts/blocks.99.hook_x", "2 dims")
    write_many(T("rows.h5"), extra=lambda f: f.__setitem__("acts/blocks.99.hook_x", np.zeros((4, 4, 6), np.float32)))
    one_error(ev + (T("rows.h5"),), "rows.h5", "4 rows")
    # the SAE file: a core attribute of the wrong type
    bad = T("sae_k_str.h5")
    with open(SAE, "rb") as a, open(bad, "wb") as b:
        b.write(a.read())
    with h5py.File(bad, "r+") as f:
        del f.attrs["k"]
        f.attrs["k"] = "eight"
    one_error(("sae", "eval", "--sae", bad, "--acts", T("many.h5"), "--no-store"), "sae_k_str.h5", "'k'", "string")


def eval_round_trip():
    """/eval written by `sae eval`, read back by the summary through the SAE file module."""
    s = T("stored.h5")
    with open(SAE, "rb") as a, open(s, "wb") as b:
        b.write(a.read())
    j = json.loads(run("sae", "eval", "--sae", s, "--acts", T("many.h5"), "--json").stdout)
    with h5py.File(s) as f:
        g = f["eval"]
        assert abs(g.attrs["l0"] - j["l0"]) < 1e-12 and g["feature_density"].shape == (D_SAE,)
    run("viz", "summary", "--sae", s, "--out", T("summary_ok"))
    assert os.path.exists(T("summary_ok", "density.png"))
    with h5py.File(s, "r+") as f:
        del f["eval"].attrs["l0"]
        f["eval"].attrs["l0"] = "many"
    one_error(("viz", "summary", "--sae", s, "--out", T("summary_bad")), "stored.h5", "/eval", "'l0'", "string")


check("more than 64 hook sites", many_hooks)
check("n_seq caps the rows", n_seq_caps_rows)
check("wrong attribute and dataset types: one error line", wrong_types)
check("/eval round trip through the SAE file module", eval_round_trip)
mstest.finish()
