"""capture with text and JSONL input (random-model HF checkpoint with its byte-level BPE tokenizer):
rows are the tokenizer's ids (as `monoscope tokenize` gives them) cut into ctx windows, optionally
after BOS; /vocab decodes them back to the input; activations match torch_ref."""
import json
import os

import h5py
import numpy as np

import mstest
import fx_hf
import torch_ref

T = mstest.TMP
MODEL = os.path.join(T, "g2")
if not os.path.exists(os.path.join(MODEL, "config.json")):
    mstest.run("random-model", "--arch", "gpt2", "--out", MODEL, "--layers", 2, "--seed", 4)
TEXT = "Once upon a time, there was a tiny model.\nIt counted 12345 tokens!  Then   it slept.\n"


def tokenize(text):
    p = os.path.join(T, "tok_in.txt")
    with open(p, "w") as f:
        f.write(text)
    return [int(x) for x in mstest.run("tokenize", "--model", MODEL, "--file", p).stdout.split()]


def windows(ids, ctx, bos=None):
    step = ctx - (bos is not None)
    return [([bos] if bos is not None else []) + ids[i:i + step] for i in range(0, len(ids), step)]


def rows(f):
    return [[int(x) for x in r if x >= 0] for r in f["tokens"][:]]


def test_text():
    src = os.path.join(T, "corpus.txt")
    with open(src, "w") as f:
        f.write(TEXT)
    out = os.path.join(T, "text.h5")
    mstest.run("capture", "--model", MODEL, "--input", src, "--hooks", "blocks.1.hook_resid_post", "--ctx", 8,
               "--out", out, "--overwrite", "--prepend-bos")
    info = dict(l.split(": ", 1) for l in mstest.run("info", MODEL).stdout.strip().splitlines())
    bos = int(info["bos_id"])
    ids = tokenize(TEXT)
    with h5py.File(out, "r") as f:
        got = rows(f)
        assert got == windows(ids, 8, bos), (got, windows(ids, 8, bos))
        vocab = f["vocab"][:]
        assert b"".join(vocab[i] for r in got for i in r[1:]) == TEXT.encode()
        W = fx_hf.read_safetensors(os.path.join(MODEL, "model.safetensors"))
        cfg = json.load(open(os.path.join(MODEL, "config.json")))
        rcfg = dict(arch="gpt2", n_head=cfg["n_head"], eps=cfg.get("layer_norm_epsilon", 1e-5))
        acts = f["acts/blocks.1.hook_resid_post"][:]
        for i, r in enumerate(got):
            _, ref = torch_ref.forward(W, rcfg, r)
            want = ref["blocks.1.hook_resid_post"]
            assert np.abs(acts[i, :len(r)] - want).max() <= 1e-4 * np.abs(want).max(), i


def test_jsonl():
    docs = ["First document here.", "", "Second, longer document that needs more than one window of tokens."]
    src = os.path.join(T, "corpus.jsonl")
    with open(src, "w") as f:
        for d in docs:
            f.write(json.dumps({"text": d, "id": 1}) + "\n")
        f.write("\n")  # blank lines are skipped
    out = os.path.join(T, "jsonl.h5")
    mstest.run("capture", "--model", MODEL, "--input", src, "--input-format", "jsonl", "--hooks", "logits",
               "--ctx", 6, "--out", out, "--overwrite")
    want = [w for d in docs if d for w in windows(tokenize(d), 6)]
    with h5py.File(out, "r") as f:
        assert rows(f) == want
        assert f["acts/logits"].shape == (len(want), 6, int(f.attrs["vocab_size"]))


def test_jsonl_errors():
    bad = os.path.join(T, "bad.jsonl")
    with open(bad, "w") as f:
        f.write('{"text": "ok"}\n{"text": 3}\n')
    p = mstest.run("capture", "--model", MODEL, "--input", bad, "--input-format", "jsonl", "--hooks", "logits",
                   "--ctx", 6, "--out", os.path.join(T, "bad.h5"), ok=False)
    assert "bad.jsonl line 2" in p.stderr, p.stderr
    with open(bad, "w") as f:
        f.write('{"text": "ok"\n')
    p = mstest.run("capture", "--model", MODEL, "--input", bad, "--input-format", "jsonl", "--hooks", "logits",
                   "--ctx", 6, "--out", os.path.join(T, "bad.h5"), ok=False)
    assert "bad.jsonl line 1" in p.stderr and "JSON" in p.stderr, p.stderr


def test_text_streams():
    # --max-tokens on text reads only what it needs: the input is a pipe whose writer sends 400 kB and
    # then holds it open without end; a reader that wants the whole file never returns (killed after
    # 300 s: the test fails). The rows are the tokenizer's ids of the text.
    import subprocess, threading, time
    fifo = os.path.join(T, "endless.fifo")
    if os.path.exists(fifo):
        os.remove(fifo)
    os.mkfifo(fifo)
    line = "The fox saw 12 dogs; then it ran.\n  Indented, it said 'hello'.\n"
    text = line * (400_000 // len(line))
    stop = threading.Event()

    def writer():
        try:
            with open(fifo, "w") as f:
                f.write(text)
                f.flush()
                stop.wait(300)
        except BrokenPipeError:  # the reader took what it needed and closed the pipe
            pass

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    out = os.path.join(T, "fifo.h5")
    try:
        p = subprocess.run([mstest.BIN, "capture", "--model", MODEL, "--input", fifo, "--hooks", "blocks.0.hook_resid_post",
                            "--ctx", "16", "--max-tokens", "2000", "--out", out, "--overwrite"],
                           capture_output=True, text=True, timeout=300)
    finally:
        stop.set()
    assert p.returncode == 0, p.stderr
    ids = tokenize(text[:20000])
    with h5py.File(out, "r") as f:
        got = [t for r in rows(f) for t in r]
    assert got == ids[:2000], (got[:20], ids[:20])


mstest.check("text input: windows, BOS, /vocab, values", test_text)
mstest.check("text input is read as it is needed (a pipe that never ends, --max-tokens)", test_text_streams)
mstest.check("jsonl input: one document per line", test_jsonl)
mstest.check("jsonl errors name the line", test_jsonl_errors)
mstest.finish()
