"""Safety of options: every command's --out refuses to replace an existing file (or non-empty
directory) without --overwrite, with one error line naming it, and leaves it untouched; sae train
--resume still continues from its checkpoint; sizes larger than the dictionary (--k, --k-aux,
--l0-target > d_sae) are errors, not silent clamps."""
import os
import mstest
from mstest import run, check, TMP
import synth_acts

HOOK = "blocks.0.hook_resid_post"


def T(*p):
    return os.path.join(TMP, *p)


ACTS = T("acts.h5")
synth_acts.make(ACTS, d_in=16, n_features=32, n_seq=16, ctx=16)
TRAIN = ("sae", "train", "--acts", ACTS, "--hook", HOOK, "--d-sae", 32, "--k", 4, "--batch", 64)


def refused(args, path):
    before = open(path, "rb").read() if os.path.isfile(path) else None
    p = run(*args, ok=False)
    lines = [l for l in p.stderr.splitlines() if "error" in l]
    assert len(lines) == 1 and path in lines[0] and "--overwrite" in lines[0], p.stderr
    if before is not None:
        assert open(path, "rb").read() == before, "refused output was modified"


def sae_train():
    out = T("sae.h5")
    run(*TRAIN, "--out", out)
    refused((*TRAIN, "--out", out), out)
    run(*TRAIN, "--out", out, "--overwrite")
    # --resume with nothing to resume and the output present: nothing to do, success
    p = run(*TRAIN, "--out", out, "--resume")
    assert "nothing to resume" in p.stderr, p.stderr


def sae_encode_import_export():
    sae = T("sae.h5")
    if not os.path.exists(sae):
        run(*TRAIN, "--out", sae)
    feats = T("feats.h5")
    run("sae", "encode", "--sae", sae, "--acts", ACTS, "--out", feats)
    refused(("sae", "encode", "--sae", sae, "--acts", ACTS, "--out", feats), feats)
    run("sae", "encode", "--sae", sae, "--acts", ACTS, "--out", feats, "--overwrite")
    d = T("lens")
    os.makedirs(d, exist_ok=True)  # an empty directory is not a replacement
    run("sae", "export", "--sae", sae, "--out", d)
    refused(("sae", "export", "--sae", sae, "--out", d), d)
    run("sae", "export", "--sae", sae, "--out", d, "--overwrite")
    imp = T("imported.h5")
    run("sae", "import", d, "--out", imp)
    refused(("sae", "import", d, "--out", imp), imp)
    run("sae", "import", d, "--out", imp, "--overwrite")


def random_model():
    for fmt, out in (("hf", T("model")), ("gguf", T("model.gguf"))):
        args = ("random-model", "--arch", "gpt2", "--format", fmt, "--out", out)
        run(*args)
        refused(args, out)
        run(*args, "--overwrite")


def sizes_beyond_dictionary():
    out = T("toolarge.h5")
    base = ("sae", "train", "--acts", ACTS, "--hook", HOOK, "--d-sae", 32, "--batch", 64, "--out", out)
    for extra, name in (((("--k", 500)), "--k"), ((("--k", 4, "--k-aux", 33)), "--k-aux"),
                        ((("--arch", "relu", "--l0-target", 40)), "--l0-target")):
        p = run(*base, *extra, ok=False)
        assert name in p.stderr and "32" in p.stderr, p.stderr
        assert not os.path.exists(out)


def model_mismatch_warns():
    import h5py, shutil
    sae = T("sae.h5")
    if not os.path.exists(sae):
        run(*TRAIN, "--out", sae)
    other = T("acts_other.h5")
    shutil.copy(ACTS, other)
    with h5py.File(other, "a") as f:
        f.attrs["model"] = "other-model"
    for args in (("sae", "encode", "--sae", sae, "--acts", other, "--out", T("f_other.h5"), "--overwrite"),
                 ("sae", "eval", "--sae", sae, "--acts", other)):
        p = run(*args)
        w = [l for l in p.stderr.splitlines() if "warning" in l]
        assert len(w) == 1 and "synthetic" in w[0] and "other-model" in w[0], p.stderr
    p = run("sae", "encode", "--sae", sae, "--acts", ACTS, "--out", T("f_same.h5"))
    assert "warning" not in p.stderr, p.stderr


def glob_header_names_each_site():
    # a --hook glob over sites of different sizes: the header gives each site's d_in (from the file)
    import h5py
    m = T("mixmodel")
    run("random-model", "--arch", "gpt2", "--layers", 1, "--d-model", 32, "--heads", 4, "--d-mlp", 96, "--ctx", 32,
        "--out", m, "--overwrite")
    ids = T("mix_ids.txt")
    open(ids, "w").write("\n".join(" ".join(str((7 * i + j) % 200) for j in range(32)) for i in range(40)) + "\n")
    acts = T("mix.h5")
    run("capture", "--model", m, "--input", ids, "--input-format", "ids", "--ctx", 32, "--hooks",
        "blocks.0.hook_resid_post,blocks.0.mlp.hook_post", "--out", acts, "--overwrite")
    p = run("sae", "train", "--acts", acts, "--hook", "blocks.0.*", "--k", 4, "--expansion", 2, "--batch", 64,
            "--tokens", 256, "--out", T("mix_sae.h5"), "--overwrite")
    with h5py.File(acts, "r") as f:
        for name, ds in f["acts"].items():
            d = ds.shape[-1]
            assert f"site {name}: d_in {d}, d_sae {2 * d} " in p.stderr, (name, d, p.stderr)


def strings_are_str():
    # h5py gives back str for UTF-8 variable-length strings and bytes for fixed-length ones: every
    # string attribute monoscope writes (capture, sae train, sae eval, sae encode) must read as str
    import h5py
    import numpy as np
    if not os.path.exists(T("mix.h5")):
        glob_header_names_each_site()
    sae = T("mix_sae_0.h5")
    run("sae", "train", "--acts", T("mix.h5"), "--hook", "blocks.0.hook_resid_post", "--k", 4, "--expansion", 2,
        "--batch", 64, "--tokens", 256, "--out", sae, "--overwrite")
    run("sae", "eval", "--sae", sae, "--acts", T("mix.h5"))
    run("sae", "encode", "--sae", sae, "--acts", T("mix.h5"), "--out", T("mix_feats.h5"), "--overwrite")
    bad = []
    for path in (T("mix.h5"), sae, T("mix_feats.h5")):
        with h5py.File(path, "r") as f:
            objs = [("/", f)]
            f.visititems(lambda n, o: objs.append((n, o)))
            for name, o in objs:
                for k, v in o.attrs.items():
                    items = v.ravel().tolist() if isinstance(v, np.ndarray) else [v]
                    if any(isinstance(x, (bytes, np.bytes_)) for x in items):
                        bad.append(f"{os.path.basename(path)}:{name}@{k}")
    assert not bad, "string attributes read as bytes: " + ", ".join(bad)


check("sae train refuses an existing --out without --overwrite; --resume", sae_train)
check("sae encode/export/import refuse an existing --out", sae_encode_import_export)
check("random-model refuses an existing --out", random_model)
check("--k/--k-aux/--l0-target larger than d_sae are errors", sizes_beyond_dictionary)
check("an SAE used on another model's activations: one warning naming both", model_mismatch_warns)
check("a --hook glob over sites of different sizes: the header names each site's d_in", glob_header_names_each_site)
check("every string attribute of acts.h5, sae.h5 (with /eval) and feats.h5 reads as str in h5py", strings_are_str)
mstest.finish()
