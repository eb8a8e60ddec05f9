"""`monoscope train-lm` (issue 11 item 3) against references written here, never against numbers the
code under test produced:
- one batch's loss and EVERY parameter gradient against an independent float64 PyTorch GPT-2 (autograd)
  built from the parameters the hidden `--dump-grads FILE` option writes (step 0 of the run: the batch,
  the parameters before and after the update, the unclipped gradients);
- the same step's AdamW update against torch.optim.AdamW (decay on matrices and embeddings only) on those
  gradients, clipped by a global norm computed here;
- training on a small slice of scripts/make-corpus.sh's corpus lowers the validation loss well below
  ln(vocab), and the written Hugging Face directory's logits (`monoscope capture`) match
  tests/py/torch_ref.py on the same safetensors;
- a run killed after a checkpoint and resumed ends bit-identical to an uninterrupted one.
"""
import json, math, os, subprocess

import h5py
import numpy as np
import torch

import mstest
from mstest import run, check, finish, TMP, SRC
import fx_hf
import torch_ref


def T(*p):
    return os.path.join(TMP, *p)


# ---------------------------------------------------------------- fixtures: corpus slice + tokenizer
CORPUS = T("corpus")
if not os.path.exists(os.path.join(CORPUS, "val.jsonl")):
    subprocess.run(["bash", os.path.join(SRC, "scripts", "make-corpus.sh"), CORPUS], check=True, capture_output=True)


def slice_jsonl(src, dst, max_bytes):
    """The first documents of src up to max_bytes (deterministic), skipping the C headers (long)."""
    n = 0
    with open(src) as f, open(dst, "w") as g:
        for line in f:
            if '"libc6-dev' in line:
                continue
            g.write(line)
            n += len(line)
            if n >= max_bytes:
                break


TRAIN, VAL = T("train.jsonl"), T("val.jsonl")
slice_jsonl(os.path.join(CORPUS, "train.jsonl"), TRAIN, 300_000)
slice_jsonl(os.path.join(CORPUS, "val.jsonl"), VAL, 40_000)
TOK = T("tok")
if not os.path.exists(os.path.join(TOK, "merges.txt")):
    run("tokenizer", "train", "--corpus", TRAIN, "--vocab", 512, "--out", TOK, fast=True)
VOCAB = len(json.load(open(os.path.join(TOK, "vocab.json"))))


# ---------------------------------------------------------------- the reference GPT-2 (float64, autograd)
def ref_loss(P, inputs, targets, n_head, L):
    """Mean cross-entropy of GPT-2 on params P (dict name -> float64 tensors in monoscope's layout:
    per-layer tensors stacked on the first axis, matrices (out, in))."""
    B, Tn = inputs.shape
    C = P["wte"].shape[1]
    F = P["fcw"].shape[0] // L
    ln = lambda x, w, b: torch.nn.functional.layer_norm(x, (C,), w, b, eps=1e-5)
    x = P["wte"][inputs] + P["wpe"][:Tn]
    hs = C // n_head
    mask = torch.ones(Tn, Tn, dtype=torch.bool).tril()
    for l in range(L):
        qkvw = P["qkvw"].view(L, 3 * C, C)[l]
        h = ln(x, P["ln1w"][l], P["ln1b"][l]) @ qkvw.T + P["qkvb"][l]
        q, k, v = (t.view(B, Tn, n_head, hs).transpose(1, 2) for t in h.split(C, dim=-1))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hs)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, Tn, C)
        x = x + y @ P["attprojw"].view(L, C, C)[l].T + P["attprojb"][l]
        h = ln(x, P["ln2w"][l], P["ln2b"][l]) @ P["fcw"].view(L, F, C)[l].T + P["fcb"][l]
        h = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h ** 3)))
        x = x + h @ P["fcprojw"].view(L, C, F)[l].T + P["fcprojb"][l]
    logits = ln(x, P["lnfw"], P["lnfb"]) @ P["wte"].T
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


NAMES = ["wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb", "ln2w", "ln2b", "fcw", "fcb",
         "fcprojw", "fcprojb", "lnfw", "lnfb"]
DECAY = {"wte", "wpe", "qkvw", "attprojw", "fcw", "fcprojw"}
SHAPE = dict(layers=2, d_model=32, heads=4, d_mlp=80, ctx=16)
DUMP = T("dump.h5")
LR, WD, CLIP = 1e-3, 0.1, 0.05  # a small clip, so the dumped step is clipped


def dump():
    if not os.path.exists(DUMP):
        run("train-lm", "--corpus", TRAIN, "--tokenizer", TOK, "--layers", SHAPE["layers"], "--d-model", SHAPE["d_model"],
            "--heads", SHAPE["heads"], "--d-mlp", SHAPE["d_mlp"], "--ctx", SHAPE["ctx"], "--batch", 3, "--steps", 10,
            "--warmup-frac", 0.2, "--lr", LR, "--weight-decay", WD, "--clip", CLIP, "--seed", 7, "--threads", 2,
            "--dump-grads", DUMP)
    return h5py.File(DUMP, "r")


def test_grads():
    with dump() as f:
        P = {n: torch.tensor(f[n][:], dtype=torch.float64, requires_grad=True) for n in NAMES}
        inputs = torch.tensor(f["inputs"][:], dtype=torch.long)
        targets = torch.tensor(f["targets"][:], dtype=torch.long)
        loss = ref_loss(P, inputs, targets, int(f.attrs["n_head"]), SHAPE["layers"])
        loss.backward()
        got = float(f.attrs["loss"])
        assert abs(got - loss.item()) <= 1e-5 * loss.item(), f"loss {got} != reference {loss.item()}"
        assert abs(loss.item() - math.log(VOCAB)) < 0.5, f"initial loss {loss.item()} far from ln V"
        for n in NAMES:
            g, want = f["g" + n][:].astype(np.float64), P[n].grad.numpy()
            err = np.linalg.norm(g - want) / max(np.linalg.norm(want), 1e-30)
            assert np.linalg.norm(want) > 0, f"{n}: reference gradient is zero"
            assert err < 1e-4, f"gradient {n}: relative error {err:.2e}"
        norm = math.sqrt(sum(float((P[n].grad ** 2).sum()) for n in NAMES))
        assert abs(float(f.attrs["grad_norm"]) - norm) < 1e-4 * norm


def test_adamw():
    with dump() as f:
        P = {n: torch.nn.Parameter(torch.tensor(f[n][:], dtype=torch.float32)) for n in NAMES}
        G = {n: torch.tensor(f["g" + n][:], dtype=torch.float64) for n in NAMES}
        norm = math.sqrt(sum(float((g ** 2).sum()) for g in G.values()))
        scale = min(1.0, CLIP / norm)
        assert scale < 1, "test setup: the step should be clipped"
        lr0 = LR * 1 / math.ceil(0.2 * 10)  # warm-up step 1 of 2
        assert abs(float(f.attrs["lr"]) - lr0) < 1e-12
        for n in NAMES:
            P[n].grad = (G[n] * scale).float()
        opt = torch.optim.AdamW([{"params": [P[n] for n in NAMES if n in DECAY], "weight_decay": WD},
                                 {"params": [P[n] for n in NAMES if n not in DECAY], "weight_decay": 0.0}],
                                lr=lr0, betas=(0.9, 0.95), eps=1e-8)
        opt.step()
        for n in NAMES:
            got, want = f["p1" + n][:], P[n].detach().numpy()
            assert np.allclose(got, want, rtol=1e-5, atol=1e-7), f"{n}: max diff {np.abs(got - want).max():.3e}"


# ---------------------------------------------------------------- training, HF output, resume
MODEL = T("lm")
RUN = ["--corpus", TRAIN, "--val", VAL, "--tokenizer", TOK, "--layers", 1, "--d-model", 64, "--heads", 4,
       "--d-mlp", 256, "--ctx", 32, "--batch", 8, "--steps", 200, "--lr", 3e-3, "--val-every", 50, "--threads", 2]


def log_of(d):
    with h5py.File(os.path.join(d, "training_log.h5"), "r") as f:
        cols = [c.decode() if isinstance(c, bytes) else c for c in f.attrs["columns"]]
        return cols, f["training_log"][:]


def test_loss_falls():
    run("train-lm", *RUN, "--out", MODEL, fast=True)
    cols, log = log_of(MODEL)
    assert cols == ["step", "lr", "train_loss", "val_loss", "grad_norm", "tokens_per_s"], cols
    assert log.shape[0] == 200 and np.array_equal(log[:, 0], np.arange(200))
    val = log[~np.isnan(log[:, 3]), 3]
    assert len(val) == 4, log[:, 3]
    first_val_step = int(log[~np.isnan(log[:, 3]), 0][0])
    assert first_val_step == 49
    assert val[-1] < math.log(VOCAB) - 1.5, f"val loss {val[-1]:.3f} not well below ln V = {math.log(VOCAB):.3f}"
    assert val[-1] < val[0], val
    lr = log[:, 1]  # warm-up 10 steps to 3e-3, cosine to 3e-4
    assert abs(lr[9] - 3e-3) < 1e-12 and abs(lr[-1] - 3e-4) < 1e-6 and lr[5] < lr[9] and lr[100] > lr[150]


def test_hf_logits():
    W = fx_hf.read_safetensors(os.path.join(MODEL, "model.safetensors"))
    cfg = json.load(open(os.path.join(MODEL, "config.json")))
    assert cfg["n_layer"] == 1 and cfg["n_embd"] == 64 and cfg["vocab_size"] == VOCAB, cfg
    seqs = [list(np.random.default_rng(1).integers(0, VOCAB, 20)) for _ in range(2)]
    want, _ = torch_ref.forward(W, {"arch": "gpt2", "n_head": 4}, seqs)
    got = fx_hf.logits(MODEL, seqs, tag="lm")
    fx_hf.assert_close("logits of the trained model", got, want)
    ids = run("tokenize", "--model", MODEL, "--text", "In the beginning").stdout
    assert ids.strip(), "tokenizer of the written model"


RES = ["--corpus", TRAIN, "--tokenizer", TOK, "--layers", 2, "--d-model", 32, "--heads", 2, "--d-mlp", 64,
       "--ctx", 16, "--batch", 4, "--steps", 60, "--checkpoint-every", 20, "--val", VAL, "--val-every", 25,
       "--val-batches", 2, "--threads", 2]


def model_bytes(d):
    cols, log = log_of(d)
    keep = [i for i, c in enumerate(cols) if c != "tokens_per_s"]  # wall-clock: may differ
    return open(os.path.join(d, "model.safetensors"), "rb").read(), log[:, keep].tobytes()


def test_resume():
    import shutil
    a, b = T("res_a"), T("res_b")
    for d in (a, b):
        shutil.rmtree(d, ignore_errors=True)
    run("train-lm", *RES, "--out", a)
    os.makedirs(b)
    mstest.kill_after_checkpoint(["train-lm", *RES, "--out", b], os.path.join(b, "model.safetensors"),
                                 os.path.join(b, "checkpoint.h5"))
    run("train-lm", *RES, "--out", b, "--resume")
    assert not os.path.exists(os.path.join(b, "checkpoint.h5")), "checkpoint left after a finished run"
    ma, la = model_bytes(a)
    mb, lb = model_bytes(b)
    assert ma == mb, "resumed model differs from the uninterrupted run"
    assert la == lb, "resumed training log differs"


def test_killed_at_many_points():
    """SIGKILL at five points of a run (before its first checkpoint, and at its first checkpoint plus
    0, 20, 45 and 70 % of the uninterrupted run's time: between later checkpoints and inside the
    final write): weights on disk mean a complete directory (model.safetensors is written last), and
    --resume from the checkpoint (or a rerun where none was written) ends byte-identical to the
    uninterrupted run, model and log."""
    import shutil, time
    a, b = T("kill_ref"), T("kill_b")
    shutil.rmtree(a, ignore_errors=True)
    args = lambda d, *extra: ["train-lm", *[120 if x == 60 else x for x in RES], "--out", d, *extra]
    t0 = time.time()
    run(*args(a))
    t_ref = time.time() - t0
    ref = model_bytes(a)
    outcome = []
    for frac, after_ckpt in ((0.05, False), (0.0, True), (0.2, True), (0.45, True), (0.7, True)):
        shutil.rmtree(b, ignore_errors=True)
        os.makedirs(b)
        ck = os.path.join(b, "checkpoint.h5")
        outcome.append(mstest.kill_at(args(b), ck, t_ref, frac, after_ckpt))
        if outcome[-1] != "finished" and os.path.exists(os.path.join(b, "model.safetensors")):
            # killed after the weights (written last: the directory's commit point), before the
            # checkpoint's removal: the directory is the finished one, compared below
            outcome[-1] = "committed"
            if os.path.exists(ck):  # a kill as the process exits finds it removed already
                os.remove(ck)
        elif outcome[-1] != "finished":
            run(*args(b, *(["--resume"] if outcome[-1] == "resumed" else [])))
        assert not os.path.exists(ck), "checkpoint left after a finished run"
        assert not [x for x in os.listdir(b) if ".tmp." in x], "temp files of the killed run left behind"
        assert model_bytes(b) == ref, f"kill {frac} ({outcome[-1]}): the result differs from the uninterrupted run"
    print(f"  uninterrupted run {t_ref:.1f} s; kills: {' '.join(outcome)}", flush=True)
    assert outcome.count("resumed") >= 2, outcome


def test_errors():
    base = ["--tokenizer", TOK, "--layers", 1, "--d-model", 32, "--heads", 4, "--d-mlp", 64, "--ctx", 8,
            "--steps", 2, "--out", T("err")]
    bad = T("bad.jsonl")
    with open(bad, "w") as f:
        f.write('{"text": "fine"}\n{"no_text": 1}\n')
    p = run("train-lm", "--corpus", bad, *base, ok=False)
    assert "bad.jsonl:2" in p.stderr, p.stderr
    p = run("train-lm", "--corpus", TRAIN, *[30 if x == 32 else x for x in base], ok=False)
    assert "inconsistent shape" in p.stderr, p.stderr
    # a checkpoint of other settings is refused on --resume
    import shutil
    res = [x if x != 60 else 61 for x in RES]
    b = T("res_b2")
    shutil.rmtree(b, ignore_errors=True)
    os.makedirs(b)
    mstest.kill_after_checkpoint(["train-lm", *RES, "--out", b], os.path.join(b, "model.safetensors"),
                                 os.path.join(b, "checkpoint.h5"))
    p = run("train-lm", *res, "--out", b, "--resume", ok=False)
    assert "checkpoint.h5" in p.stderr, p.stderr


check("loss and every gradient match float64 torch", test_grads)
check("one AdamW step matches torch.optim.AdamW", test_adamw)
check("200 steps lower the validation loss well below ln V", test_loss_falls)
check("the HF directory loads: capture logits match torch_ref", test_hf_logits)
check("--resume after a kill ends bit-identical", test_resume)
check("killed with SIGKILL at five points: --resume (or a rerun) ends byte-identical", test_killed_at_many_points)
check("bad corpus, bad shape, a checkpoint of other settings: one error line", test_errors)
finish()
