"""train-lm's validation baselines (issue 11 item 5): the unigram (add-one) and interpolated Witten-Bell
bigram losses it stores in training_log.h5 equal a NumPy computation written here from the definitions
in src/train/ngram.h, on a tiny corpus: the training stream and the validation windows rebuilt from
`monoscope tokenize` ids (documents joined by <|endoftext|>; the validation windows are the first
val_batches x batch consecutive windows of ctx tokens, wrapping), so nothing the code under test
computed enters the reference. The validation text has pairs the training text lacks (back-off) and
fewer windows than are scored (wrap-around)."""
import json, os

import h5py
import numpy as np

from mstest import run, check, finish, TMP

TRAIN_DOCS = ["In the beginning God created the heaven and the earth.",
              "And the earth was without form, and void; and darkness was upon the face of the deep.",
              "int main(void) { return 0; }  /* the end */",
              "#define MAX(a, b) ((a) > (b) ? (a) : (b))",
              "A fortune: you will be hungry again in one hour.",
              "And God said, Let there be light: and there was light."] * 3
VAL_DOCS = ["And God saw the light, that it was good.", "static int f(int x) { return x + 1; } /* x */",
            "Quotations: \"the deep\" and (the face)."]


def write_jsonl(path, docs):
    with open(path, "w") as f:
        for d in docs:
            f.write(json.dumps({"text": d, "source": "test"}) + "\n")


TRAIN, VAL, TOK, OUT = (os.path.join(TMP, n) for n in ("train.jsonl", "val.jsonl", "tok", "lm"))
write_jsonl(TRAIN, TRAIN_DOCS)
write_jsonl(VAL, VAL_DOCS)
run("tokenizer", "train", "--corpus", TRAIN, "--vocab", 300, "--out", TOK)
V = len(json.load(open(os.path.join(TOK, "vocab.json"))))
EOS = json.load(open(os.path.join(TOK, "vocab.json")))["<|endoftext|>"]
B, T, NB = 2, 8, 8


def stream(docs):
    ids = []
    for d in docs:
        ids += [int(t) for t in run("tokenize", "--model", TOK, "--text", d).stdout.split()] + [EOS]
    return np.array(ids, dtype=np.int64)


def val_windows(s):
    """(inputs, targets) of the NB x B windows train-lm validates on: window w starts at w*T, wraps."""
    n_win = (len(s) - 1) // T if len(s) > T + 1 else 1
    ins, tgs = [], []
    for i in range(NB):
        for b in range(B):
            o = ((i * B + b) % n_win) * T
            idx = (o + np.arange(T + 1)) % len(s)
            ins.append(s[idx[:-1]])
            tgs.append(s[idx[1:]])
    return np.concatenate(ins), np.concatenate(tgs)


def reference(tr, va):
    c_uni = np.bincount(tr, minlength=V).astype(np.float64)
    p_uni = (c_uni + 1) / (len(tr) + V)
    pairs = np.zeros((V, V))
    np.add.at(pairs, (tr[:-1], tr[1:]), 1)
    c_a = pairs.sum(1)
    u_a = (pairs > 0).sum(1)
    a, b = val_windows(va)
    p_bi = np.where(c_a[a] > 0, (pairs[a, b] + u_a[a] * p_uni[b]) / np.maximum(c_a[a] + u_a[a], 1), p_uni[b])
    return -np.log(p_uni[b]).mean(), -np.log(p_bi).mean(), len(b)


def t_baselines():
    tr, va = stream(TRAIN_DOCS), stream(VAL_DOCS)
    assert (va[:-1] * V + va[1:])[~np.isin(va[:-1] * V + va[1:], tr[:-1] * V + tr[1:])].size > 0, "no unseen pair"
    assert NB * B > (len(va) - 1) // T, "the windows do not wrap"
    p = run("train-lm", "--corpus", TRAIN, "--val", VAL, "--tokenizer", TOK, "--layers", 1, "--d-model", 16,
            "--heads", 2, "--d-mlp", 32, "--ctx", T, "--batch", B, "--steps", 2, "--val-batches", NB, "--out", OUT)
    uni, bi, n = reference(tr, va)
    with h5py.File(os.path.join(OUT, "training_log.h5")) as f:
        got_uni, got_bi = f.attrs["val_loss_unigram"], f.attrs["val_loss_bigram"]
    assert abs(got_uni - uni) < 1e-9 and abs(got_bi - bi) < 1e-9, (got_uni, uni, got_bi, bi)
    assert f"({n} targets): unigram {uni:.4f}, bigram {bi:.4f}" in p.stderr, p.stderr
    assert bi < uni, (bi, uni)


check("unigram and bigram validation losses equal numpy's", t_baselines)
finish()
