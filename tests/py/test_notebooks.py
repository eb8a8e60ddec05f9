"""Executes every notebook in notebooks/ against outputs the CLI writes here (a small random model,
a capture of JSONL paragraphs, so rows end in padding, a TopK SAE, concept labels, ridge probes and
`sae match`), so the notebooks keep reading our on-disk formats correctly with h5py.
read_outputs.ipynb reads in chunks of 7 rows and skips padding; its explained variance and L0 must
equal a whole-array NumPy computation over the real tokens. concepts_probes.ipynb recomputes every
probe's held-out F1 from the stored weights (and asserts it equals probe.h5's); its concept shares
and /match numbers must equal what this test reads directly."""
import glob, json, os
import numpy as np
import nbformat
from nbconvert.preprocessors import ExecutePreprocessor
from mstest import run, check, finish, TMP, SRC

model = os.path.join(TMP, "model")
acts = os.path.join(TMP, "acts.h5")
sae = os.path.join(TMP, "sae.h5")
corpus = os.path.join(TMP, "corpus.jsonl")
with open(os.path.join(SRC, "README.md")) as f:
    paras = [p for p in f.read().split("\n\n") if p.strip()]
with open(corpus, "w") as f:
    f.writelines(json.dumps({"text": p}) + "\n" for p in paras)

run("random-model", "--arch", "gpt2", "--layers", "2", "--d-model", "64", "--heads", "2",
    "--d-mlp", "128", "--vocab", "400", "--ctx", "64", "--seed", "3", "--out", model)
run("capture", "--model", model, "--input", corpus, "--input-format", "jsonl", "--hooks", "blocks.*.hook_resid_post",
    "--ctx", "64", "--max-tokens", "8192", "--out", acts, "--overwrite")
run("sae", "train", "--acts", acts, "--hook", "blocks.1.hook_resid_post", "--arch", "topk",
    "--k", "4", "--expansion", "2", "--batch", "512", "--tokens", "16k", "--out", sae)


labels = os.path.join(TMP, "labels.h5")
probe = os.path.join(TMP, "probe.h5")
run("concepts", "label", "--model", model, "--input", corpus, "--input-format", "jsonl", "--ctx", "64", "--out", labels)
run("probe", "train", "--acts", acts, "--hook", "blocks.1.hook_resid_post", "--labels", labels, "--all", "--out", probe)
run("sae", "match", "--sae", sae, "--acts", acts, "--labels", labels, "--probe", probe)


def provenance():
    # the dictionary names the model its activations came from
    import h5py
    with h5py.File(acts) as a, h5py.File(sae) as s:
        m = a.attrs["model"]
        assert m == model, m
        assert (a["tokens"][:] < 0).any(), "the fixture should have padding"
        assert s.attrs["model"] == m, s.attrs["model"]


check("sae file names the model", provenance)


def execute(path):
    nb = nbformat.read(path, as_version=4)
    env = {"MONOSCOPE_ACTS": acts, "MONOSCOPE_SAE": sae, "MONOSCOPE_NB_OUT": TMP, "MONOSCOPE_NB_CHUNK": "7",
           "MONOSCOPE_LABELS": labels, "MONOSCOPE_PROBE": probe}
    os.environ.update(env)
    ExecutePreprocessor(timeout=300, kernel_name="python3").preprocess(
        nb, {"metadata": {"path": os.path.dirname(path)}})
    # every code cell ran without error (an error raises above); then the notebook's own outputs
    CHECKS[os.path.basename(path)]()


def check_read_outputs():
    assert os.path.getsize(os.path.join(TMP, "nb_density.png")) > 0
    got = json.load(open(os.path.join(TMP, "nb_metrics.json")))
    want = whole_array_metrics()
    assert got["tokens"] == want["tokens"], (got, want)
    for k in ("explained_variance", "l0"):
        assert abs(got[k] - want[k]) <= 1e-6 * max(1.0, abs(want[k])), (k, got, want)


def whole_array_metrics():
    # the reference: every real token at once, TopK as the README defines it
    import h5py
    with h5py.File(acts) as a, h5py.File(sae) as s:
        h = s.attrs["hook"]
        ids = a["tokens"][:]
        x = a["acts"][h][:][ids >= 0].astype(np.float64)
        W_enc, W_dec, b_enc, b_dec, k = (s["W_enc"][:], s["W_dec"][:], s["b_enc"][:], s["b_dec"][:], int(s.attrs["k"]))
    pre = np.maximum((x - b_dec) @ W_enc + b_enc, 0)
    keep = np.argsort(-pre, axis=1, kind="stable")[:, :k]
    z = np.zeros_like(pre)
    np.put_along_axis(z, keep, np.take_along_axis(pre, keep, 1), 1)
    x_hat = z @ W_dec + b_dec
    ev = 1 - ((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    return {"tokens": len(x), "explained_variance": float(ev), "l0": float((z > 0).sum(1).mean())}


def check_concepts_probes():
    import h5py
    assert os.path.getsize(os.path.join(TMP, "nb_concepts.png")) > 0
    got = json.load(open(os.path.join(TMP, "nb_concepts.json")))
    with h5py.File(labels) as f, h5py.File(probe) as p, h5py.File(sae) as s:
        real = f["tokens"][:] >= 0
        for c in f["concepts"]:
            assert abs(got["share"][c] - f["concepts"][c][:][real].mean()) < 1e-12, c
        assert sorted(got["probe_f1"]) == sorted(p["probes"]), got["probe_f1"]
        for c in p["probes"]:
            assert abs(got["probe_f1"][c] - p["probes"][c].attrs["f1"]) < 1e-6, c
        names = [str(c) for c in s["match"].attrs["concepts"]]
        for i, c in enumerate(names):
            assert got["match_feature"][c] == int(s["match/feature"][i, 0]), c
            assert got["match_f1"][c] == float(s["match/f1"][i, 0]), c
    print(f"  concepts_probes: {len(got['probe_f1'])} probes' held-out F1 recomputed from their weights", flush=True)


CHECKS = {"read_outputs.ipynb": check_read_outputs, "concepts_probes.ipynb": check_concepts_probes}
for nb_path in sorted(glob.glob(os.path.join(SRC, "notebooks", "*.ipynb"))):
    check(os.path.basename(nb_path), lambda p=nb_path: execute(p))
finish()
