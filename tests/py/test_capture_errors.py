"""Bad input to the llama2.c loader, generate and capture: one error line naming the problem,
a non-zero exit, no crash; and no output file left behind."""
import os
import struct

import mstest
import fx_llama2c

T = mstest.TMP
W, cfg = fx_llama2c.random_weights(32, 48, 2, 4, 2, 40, 16, shared=True, seed=3)
MODEL = os.path.join(T, "ok.bin")
fx_llama2c.write(MODEL, W, cfg)


def write(name, text, mode="w"):
    p = os.path.join(T, name)
    with open(p, mode) as f:
        f.write(text)
    return p


IDS = write("ids.txt", "1 2 3\n4 5 6 7\n")


def fails(*args, expect):
    p = mstest.run(*args, ok=False)
    lines = [l for l in p.stderr.strip().splitlines() if l]
    assert len(lines) == 1, f"expected one error line, got {p.stderr!r}"
    assert expect in lines[0], f"{expect!r} not in {lines[0]!r}"
    return lines[0]


def cap(*extra, out="out.h5", ids=IDS, model=MODEL, ctx=8, hooks="blocks.0.hook_resid_post"):
    return ("capture", "--model", model, "--input", ids, "--input-format", "ids", "--hooks", hooks, "--ctx", ctx,
            "--out", os.path.join(T, out) if not out.startswith("/") else out, *extra)


def test_truncated():
    raw = open(MODEL, "rb").read()
    p = write("trunc.bin", raw[:-100], "wb")
    line = fails("info", p, expect="trunc.bin")
    assert "truncated" in line
    p = write("long.bin", raw + b"\0" * 8, "wb")
    fails("info", p, expect="size mismatch")
    p = write("header.bin", raw[:20], "wb")
    fails("info", p, expect="header.bin")
    p = write("garbage.bin", struct.pack("<7i", 32, 48, -5, 4, 2, 40, 16) + b"\0" * 64, "wb")
    fails("info", p, expect="garbage.bin")
    p = write("gqa.bin", struct.pack("<7i", 32, 48, 2, 4, 3, 40, 16) + b"\0" * 64, "wb")
    fails("info", p, expect="n_kv_head")
    fails("info", os.path.join(T, "missing.bin"), expect="missing.bin")
    fails("generate", "--model", os.path.join(T, "trunc.bin"), expect="truncated")


def test_generate_bad_ids():
    fails("generate", "--model", MODEL, "--ids", "1 40", expect="outside the vocabulary")
    fails("generate", "--model", MODEL, "--ids", "1 x 3", expect="not a token id")
    fails("generate", "--model", MODEL, "--ids", "1 -3", expect="negative")
    fails("generate", "--model", MODEL, "--ids", " ".join(["1"] * 17), expect="context")
    fails("generate", "--model", MODEL, "--ids", "  ", expect="empty")
    fails("generate", "--model", MODEL, "--prompt", "hello", expect="tokenizer")


def test_capture_bad_input():
    fails(*cap(ids=write("oov.txt", "1 2\n3 40\n")), expect="oov.txt line 2")
    fails(*cap(ids=write("long.txt", "1 2 3 4 5 6 7 8 9\n")), expect="exceed --ctx")
    fails(*cap(ctx=17), expect="exceeds the model's context")
    fails(*cap(ids=write("empty.txt", "")), expect="empty input")
    fails(*cap(ids=write("blank.txt", "\n  \n")), expect="empty input")
    fails(*cap(ids=os.path.join(T, "nope.txt")), expect="nope.txt")
    fails(*cap(hooks="blocks.7.hook_resid_post"), expect="matches no hook site")
    fails(*cap(hooks="blocks.0.hook_pos_embed"), expect="matches no hook site")
    fails(*cap(out="/nonexistent-dir/x.h5"), expect="x.h5")
    fails("capture", "--model", MODEL, "--input", IDS, "--hooks", "logits", "--ctx", 8, "--out",
          os.path.join(T, "t.h5"), expect="tokenizer")  # text input needs a tokenizer
    left = [f for f in os.listdir(T) if f.startswith("out.h5")]
    assert not left, f"failed runs left {left}"


def test_refuses_overwrite():
    for f in os.listdir(T):
        if f.startswith("exists.h5"):
            os.remove(os.path.join(T, f))
    mstest.run(*cap(out="exists.h5"))
    fails(*cap(out="exists.h5"), expect="--overwrite")
    mstest.run(*cap("--overwrite", out="exists.h5"))
    p = mstest.run(*cap("--resume", out="exists.h5"))  # complete: nothing to do
    assert "already complete" in p.stderr


def test_usage():
    fails("capture", "--model", MODEL, expect="--input")
    fails("capture", *cap()[1:], "--dtype", "f64", expect="--dtype")
    fails("generate", expect="--model")
    fails("info", expect="PATH")


mstest.check("truncated / corrupt llama2.c checkpoints", test_truncated)
mstest.check("generate: bad ids, too long, empty, no tokenizer", test_generate_bad_ids)
mstest.check("capture: bad ids, too long, empty, unwritable, bad hooks", test_capture_bad_input)
mstest.check("capture refuses to overwrite without --overwrite", test_refuses_overwrite)
mstest.check("usage errors", test_usage)
mstest.finish()
