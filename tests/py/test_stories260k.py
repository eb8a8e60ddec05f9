"""stories260K (real llama2.c checkpoint, ../shared): logits at every position match torch_ref, and
greedy generation from BOS is deterministic and equals torch_ref's greedy decoding."""
import os

import h5py
import numpy as np

import mstest
import fx_llama2c
import torch_ref

MODEL = os.path.join(mstest.SHARED, "models", "stories260K", "stories260K.bin")
W, CFG = fx_llama2c.read(MODEL)
SEQS = [[1], [1, 403, 407, 261, 378, 259, 100, 7], [1] + [int(x) for x in np.random.default_rng(0).integers(0, 512, 120)],
        [5, 511, 0, 2, 300, 300, 300, 17, 42, 99, 1, 1, 250]]
CTX = 128


def capture_logits(seqs, name):
    ids = os.path.join(mstest.TMP, name + ".txt")
    with open(ids, "w") as f:
        f.write("\n".join(" ".join(map(str, s)) for s in seqs) + "\n")
    out = os.path.join(mstest.TMP, name + ".h5")
    mstest.run("capture", "--model", MODEL, "--input", ids, "--input-format", "ids", "--hooks", "logits",
               "--ctx", CTX, "--out", out, "--batch", 3, "--overwrite")
    with h5py.File(out, "r") as f:
        return f["tokens"][:], f["acts/logits"][:]


def test_logits():
    toks, lg = capture_logits(SEQS, "logits")
    assert lg.shape == (len(SEQS), CTX, 512), lg.shape
    for i, s in enumerate(SEQS):
        assert list(toks[i, :len(s)]) == s and (toks[i, len(s):] == -1).all()
        ref, _ = torch_ref.forward(W, CFG, s)  # float64 reference
        got = lg[i, :len(s)]
        # tolerance: 1e-4 relative to the logits' scale at every position (float32 vs float64)
        err = np.abs(got - ref).max() / np.abs(ref).max()
        assert err < 1e-4, f"sequence {i}: max error {err:.2e} relative"
        assert (lg[i, len(s):] == 0).all(), "padding must be zero"


def test_greedy():
    n = 40
    a = mstest.run("generate", "--model", MODEL, "-n", n, "--print-ids").stdout.split()
    b = mstest.run("generate", "--model", MODEL, "-n", n, "--print-ids").stdout.split()
    assert a == b, "greedy generation is not deterministic"
    ref = torch_ref.greedy(W, CFG, [1], n)
    if 2 in ref:  # generation stops after EOS
        ref = ref[:ref.index(2) + 1]
    assert [int(x) for x in a] == ref, f"\nours  {a}\ntorch {ref}"


def test_generate_ids_prompt():
    prompt = [1, 403, 407, 261]
    a = [int(x) for x in mstest.run("generate", "--model", MODEL, "--ids", " ".join(map(str, prompt)), "-n", 10,
                                    "--print-ids").stdout.split()]
    ref = torch_ref.greedy(W, CFG, prompt, 10)
    if 2 in ref:
        ref = ref[:ref.index(2) + 1]
    assert a == ref, (a, ref)


def test_info():
    out = mstest.run("info", MODEL).stdout
    kv = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert kv["architecture"] == "llama" and kv["format"] == "llama2c" and kv["dtype"] == "F32"
    assert (kv["n_layer"], kv["d_model"], kv["n_head"], kv["n_kv_head"], kv["d_mlp"], kv["vocab_size"], kv["n_ctx"]) == \
        ("5", "64", "8", "4", "172", "512", "512")
    assert kv["tokenizer"] == "none" and kv["tied_embeddings"] == "yes"
    assert int(kv["parameters"]) == sum(v.size for v in W.values())


mstest.check("logits match torch at every position", test_logits)
mstest.check("greedy from BOS deterministic and equal to torch", test_greedy)
mstest.check("generate from --ids equals torch greedy", test_generate_ids_prompt)
mstest.check("info", test_info)
mstest.finish()
