"""Bad tokenizer input: missing or corrupt vocab.json / merges.txt / tokenizer.json / tokenizer.bin,
bad ids and bad options give one error line and a non-zero exit, never a crash (ASan/UBSan build)."""
import json, os, shutil, struct, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest
from mstest import check, run, finish, TMP, SHARED

GPT2 = os.path.join(SHARED, "tokenizers", "gpt2")


def fails(*args, mention=None):
    p = run(*args, ok=False)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, p.stderr
    if mention:
        assert mention in p.stderr, (mention, p.stderr)
    return p


def mkdir(name):
    d = os.path.join(TMP, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def t_missing():
    fails("tokenize", "--model", os.path.join(TMP, "nope"), "--text", "x", mention="nope")
    d = mkdir("empty_dir")
    fails("tokenize", "--model", d, "--text", "x")
    d = mkdir("vocab_only")
    shutil.copy(os.path.join(GPT2, "vocab.json"), d)
    fails("tokenize", "--model", d, "--text", "x", mention="merges.txt")
    fails("tokenize", "--model", os.path.join(d, "vocab.json"), "--text", "x", mention="merges.txt")


def t_corrupt_vocab_merges():
    vocab = open(os.path.join(GPT2, "vocab.json"), "rb").read()
    merges = open(os.path.join(GPT2, "merges.txt"), "rb").read()
    d = mkdir("trunc_vocab")
    write(os.path.join(d, "vocab.json"), vocab[: len(vocab) // 2])
    write(os.path.join(d, "merges.txt"), merges)
    fails("tokenize", "--model", d, "--text", "x", mention="vocab.json")
    d = mkdir("list_vocab")
    write(os.path.join(d, "vocab.json"), b"[1, 2, 3]")
    write(os.path.join(d, "merges.txt"), merges)
    fails("tokenize", "--model", d, "--text", "x", mention="vocab.json")
    d = mkdir("bad_ids")
    write(os.path.join(d, "vocab.json"), b'{"a": "zero", "b": 1}')
    write(os.path.join(d, "merges.txt"), b"a b\n")
    fails("tokenize", "--model", d, "--text", "x", mention="vocab.json")
    d = mkdir("bad_merge")
    write(os.path.join(d, "vocab.json"), vocab)
    write(os.path.join(d, "merges.txt"), merges[:1000] + b"\nnot_a_token another_one\n")
    fails("tokenize", "--model", d, "--text", "x", mention="merges.txt")
    d = mkdir("garbage_merges")
    write(os.path.join(d, "vocab.json"), vocab)
    write(os.path.join(d, "merges.txt"), bytes(range(256)) * 4)
    fails("tokenize", "--model", d, "--text", "x", mention="merges.txt")
    d = mkdir("binary_vocab")
    write(os.path.join(d, "vocab.json"), bytes(range(256)) * 4)
    write(os.path.join(d, "merges.txt"), merges)
    fails("tokenize", "--model", d, "--text", "x", mention="vocab.json")


def t_corrupt_tokenizer_json():
    vocab = json.load(open(os.path.join(GPT2, "vocab.json"), encoding="utf-8"))
    good = {"model": {"type": "BPE", "vocab": vocab, "merges": ["\u0120 t"]},
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
            "decoder": {"type": "ByteLevel"}}
    d = mkdir("tj_ok")
    write(os.path.join(d, "tokenizer.json"), json.dumps(good).encode())
    run("tokenize", "--model", d, "--text", "x")  # the base case loads
    data = json.dumps(good).encode()
    cases = {
        "trunc": data[: len(data) // 3],
        "empty": b"",
        "notjson": b"\x00\x01garbage",
        "nomodel": json.dumps({"pre_tokenizer": None}).encode(),
        "unigram": json.dumps({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}).encode(),
        "badregex": json.dumps(dict(good, pre_tokenizer={"type": "Split", "pattern": {"Regex": "(unclosed"},
                                                         "behavior": "Isolated"})).encode(),
        "badmerge": json.dumps(dict(good, model=dict(good["model"], merges=["zzzq qqqz"]))).encode(),
        "mergetype": json.dumps(dict(good, model=dict(good["model"], merges=[5]))).encode(),
        "vocabtype": json.dumps(dict(good, model=dict(good["model"], vocab=[1, 2]))).encode(),
        "unknown_pretok": json.dumps(dict(good, pre_tokenizer={"type": "BertPreTokenizer"})).encode(),
        "unknown_norm": json.dumps(dict(good, normalizer={"type": "Lowercase"})).encode(),
        "added_bad": json.dumps(dict(good, added_tokens=[{"id": "x"}])).encode(),
    }
    for name, blob in cases.items():
        d = mkdir("tj_" + name)
        write(os.path.join(d, "tokenizer.json"), blob)
        try:
            fails("tokenize", "--model", d, "--text", "x", mention="tokenizer.json")
            fails("tokenize", "--model", os.path.join(d, "tokenizer.json"), "--text", "x", mention="tokenizer.json")
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}")


def t_corrupt_tokenizer_bin():
    pieces = [b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [b"<0x%02X>" % i for i in range(256)] + [b" ", b"a", b" a"]
    blob = struct.pack("<i", 6) + b"".join(struct.pack("<fi", -1.0, len(p)) + p for p in pieces)
    ok = write(os.path.join(TMP, "tokenizer.bin"), blob)
    run("tokenize", "--model", ok, "--text", "a a")
    for name, data in {"short": blob[:2], "trunc": blob[:-2], "trunc_hdr": blob[:-5],
                       "neglen": blob[:4] + struct.pack("<fi", 0.0, -5) + b"xx",
                       "hugelen": blob[:4] + struct.pack("<fi", 0.0, 1 << 30),
                       "maxlen0": struct.pack("<i", 0) + blob[4:], "zeros": bytes(64)}.items():
        p = write(os.path.join(TMP, f"tokenizer_{name}.bin"), data)
        try:
            fails("tokenize", "--model", p, "--text", "a", mention=p)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}")


def t_bad_ids_and_options():
    fails("tokenize", "--model", GPT2, "--decode", "--ids", "1 2 50257", mention="50257")
    fails("tokenize", "--model", GPT2, "--decode", "--ids", "1 x 3")
    fails("tokenize", "--model", GPT2, "--decode", "--ids", "-4")
    fails("tokenize", "--model", GPT2, "--decode")
    fails("tokenize", "--model", GPT2)
    fails("tokenize", "--model", GPT2, "--text", "a", "--file", "b")
    fails("tokenize", "--text", "a")
    fails("tokenize", "--model", GPT2, "--bogus")
    fails("tokenize", "--model", GPT2, "--file", os.path.join(TMP, "no_such_input.txt"), mention="no_such_input")
    assert "--model" in run("tokenize", "--help").stdout


def t_empty_and_edge():
    assert run("tokenize", "--model", GPT2, "--text", "").stdout == "\n"
    assert run("tokenize", "--model", GPT2, "--text", "", "--bos").stdout == "50256\n"
    assert run("tokenize", "--model", GPT2, "--decode", "--ids", "").stdout == "\n"
    assert run("tokenize", "--model", GPT2, "--decode", "--ids", "50256,15496").stdout == "<|endoftext|>Hello\n"


check("missing files", t_missing)
check("corrupt vocab.json / merges.txt", t_corrupt_vocab_merges)
check("corrupt tokenizer.json", t_corrupt_tokenizer_json)
check("corrupt tokenizer.bin", t_corrupt_tokenizer_bin)
check("bad ids and options", t_bad_ids_and_options)
check("empty input and edge cases", t_empty_and_edge)
finish()
