"""Executes every notebook in notebooks/ against outputs the CLI writes here (a small random model,
a capture, a TopK SAE), so the notebooks keep reading our on-disk formats correctly with h5py."""
import glob, os
import nbformat
from nbconvert.preprocessors import ExecutePreprocessor
from mstest import run, check, finish, TMP, SRC

model = os.path.join(TMP, "model")
acts = os.path.join(TMP, "acts.h5")
sae = os.path.join(TMP, "sae.h5")
corpus = os.path.join(TMP, "corpus.txt")
with open(os.path.join(SRC, "README.md")) as f:
    open(corpus, "w").write(f.read())

run("random-model", "--arch", "gpt2", "--layers", "2", "--d-model", "64", "--heads", "2",
    "--d-mlp", "128", "--vocab", "400", "--ctx", "64", "--seed", "3", "--out", model)
run("capture", "--model", model, "--input", corpus, "--hooks", "blocks.*.hook_resid_post",
    "--ctx", "64", "--max-tokens", "8192", "--out", acts, "--overwrite")
run("sae", "train", "--acts", acts, "--hook", "blocks.1.hook_resid_post", "--arch", "topk",
    "--k", "4", "--expansion", "2", "--batch", "512", "--tokens", "16k", "--out", sae)


def provenance():
    # the dictionary names the model its activations came from (attributes are fixed-length in one
    # file and variable-length in the other, ASCII or UTF-8: all must be read)
    import h5py
    with h5py.File(acts) as a, h5py.File(sae) as s:
        m = a.attrs["model"]
        m = m.decode() if isinstance(m, bytes) else m
        assert m == model, m
        assert s.attrs["model"] == m, s.attrs["model"]


check("sae file names the model", provenance)


def execute(path):
    nb = nbformat.read(path, as_version=4)
    env = {"MONOSCOPE_ACTS": acts, "MONOSCOPE_SAE": sae, "MONOSCOPE_NB_OUT": TMP}
    os.environ.update(env)
    ExecutePreprocessor(timeout=300, kernel_name="python3").preprocess(
        nb, {"metadata": {"path": os.path.dirname(path)}})
    # every code cell ran without error (an error raises above) and produced its figures
    assert os.path.getsize(os.path.join(TMP, "nb_density.png")) > 0


for nb_path in sorted(glob.glob(os.path.join(SRC, "notebooks", "*.ipynb"))):
    check(os.path.basename(nb_path), lambda p=nb_path: execute(p))
finish()
