"""scripts/make-corpus.sh: two runs give identical files; train.jsonl / val.jsonl are valid JSONL
with every expected source, ~2 % validation by the documented hash rule and no document in both;
spot checks against the package files read here directly (a Bible verse, a header file, a Jargon
entry, a fortune). Then `tokenizer train --vocab 4096` on the training split (optimised build)
finishes well under a minute and round-trips the validation split.
Skipped, with a message, when the Debian packages are absent (scripts/install-deps.sh installs them)."""
import hashlib, json, os, re, shutil, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mstest import check, run, finish, TMP, SRC, FAST_BIN

PKGS = ["bible-kjv", "bible-kjv-text", "fortunes", "fortunes-min", "dict-devil", "dict-jargon", "libc6-dev"]
SCRIPT = os.path.join(SRC, "scripts", "make-corpus.sh")


def installed(p):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
    return r.returncode == 0 and "install ok installed" in r.stdout


missing = [p for p in PKGS if not installed(p)]
if missing:
    print("SKIP make-corpus.sh: Debian packages not installed: %s (bash scripts/install-deps.sh)" % " ".join(missing))
    sys.exit(0)

A, B = os.path.join(TMP, "corpus_a"), os.path.join(TMP, "corpus_b")
for d in (A, B):
    shutil.rmtree(d, ignore_errors=True)
t0 = time.time()
subprocess.run(["bash", SCRIPT, A], check=True)
SECONDS = time.time() - t0
subprocess.run(["bash", SCRIPT, B], check=True)


def load(split):
    docs = []
    with open(os.path.join(A, split + ".jsonl"), "rb") as f:
        for n, line in enumerate(f, 1):
            o = json.loads(line.decode("utf-8"))  # strict UTF-8 and JSON, one object per line
            assert set(o) == {"text", "source"}, (split, n, set(o))
            assert isinstance(o["text"], str) and o["text"].strip(), (split, n)
            assert isinstance(o["source"], str) and ":" in o["source"], (split, n, o["source"])
            docs.append(o)
    return docs


TRAIN, VAL = load("train"), load("val")


def t_deterministic():
    for name in ("train.jsonl", "val.jsonl"):
        with open(os.path.join(A, name), "rb") as fa, open(os.path.join(B, name), "rb") as fb:
            assert fa.read() == fb.read(), name + " differs between two runs"
    assert SECONDS < 60, "make-corpus.sh took %.1f s" % SECONDS


def t_sources_and_split():
    pkgs = {d["source"].split(":")[0] for d in TRAIN}
    assert pkgs == {"bible-kjv", "fortunes", "fortunes-min", "dict-devil", "dict-jargon", "libc6-dev"}, pkgs
    assert {d["source"].split(":")[0] for d in VAL} <= pkgs
    size = sum(len(d["text"].encode("utf-8")) for d in TRAIN + VAL)
    assert 5e6 < size < 50e6, size
    frac = len(VAL) / (len(TRAIN) + len(VAL))
    assert 0.01 < frac < 0.035, frac
    train_texts = {d["text"] for d in TRAIN}
    assert len(train_texts) == len(TRAIN), "duplicate documents in train.jsonl"
    for split, docs in (("train", TRAIN), ("val", VAL)):
        for d in docs:
            h = hashlib.sha256(d["text"].encode("utf-8")).digest()
            assert (int.from_bytes(h[:8], "big") % 50 == 0) == (split == "val"), (split, d["source"])
    assert not train_texts & {d["text"] for d in VAL}


def t_content():
    docs = {d["source"]: d["text"] for d in TRAIN + VAL}
    assert docs["bible-kjv:Genesis 1"].startswith("Genesis 1\n\n1 In the beginning God created the heaven and the earth.\n")
    assert ("16 For God so loved the world, that he gave his only begotten Son, that whosoever believeth in him "
            "should not perish, but have everlasting life.") in docs["bible-kjv:John 3"]
    assert sum(s.startswith("bible-kjv:") for s in docs) == 1189  # chapters in the KJV
    with open("/usr/include/stdio.h", "rb") as f:
        assert docs["libc6-dev:/usr/include/stdio.h"] == f.read().decode("utf-8")
    assert "A person who enjoys exploring the details of programmable systems" in docs["dict-jargon:hacker"]
    assert docs["dict-devil:abasement"].startswith("ABASEMENT, n.")
    texts = {d["text"] for d in TRAIN + VAL}
    riddles = open("/usr/share/games/fortunes/riddles", encoding="utf-8").read()
    cookies = [c.strip("\n") + "\n" for c in re.split(r"^%$", riddles, flags=re.M) if c.strip()]
    assert len(cookies) > 100 and all(c in texts for c in cookies), "cookies of riddles are missing"


def t_tokenizer_on_corpus():
    out = os.path.join(TMP, "tok4096")
    shutil.rmtree(out, ignore_errors=True)
    t = time.time()
    run("tokenizer", "train", "--corpus", os.path.join(A, "train.jsonl"), "--vocab", 4096, "--out", out, fast=True)
    took = time.time() - t
    assert took < 30, "tokenizer training took %.1f s" % took
    assert len(json.load(open(os.path.join(out, "vocab.json"), encoding="utf-8"))) == 4096
    text = "".join(d["text"] for d in VAL)
    path = os.path.join(TMP, "val.txt")
    with open(path, "wb") as f:
        f.write(text.encode("utf-8"))
    ids = run("tokenize", "--model", out, "--file", path, fast=True).stdout.split()
    assert len(text.encode("utf-8")) / len(ids) > 2.8, "bytes per token on val: %.2f" % (len(text.encode()) / len(ids))
    back = b""
    for i in range(0, len(ids), 8000):  # one argument holds at most 128 KiB
        d = subprocess.run([FAST_BIN, "tokenize", "--model", out, "--decode", "--ids", " ".join(ids[i:i + 8000])],
                           capture_output=True, check=True)
        assert d.stdout.endswith(b"\n")
        back += d.stdout[:-1]  # raw bytes: a chunk may end inside a UTF-8 character
    assert back == text.encode("utf-8"), "decode(encode(val)) != val"


check("two runs give identical files, in under a minute", t_deterministic)
check("valid JSONL, every source, ~2 % validation by the hash rule, disjoint splits", t_sources_and_split)
check("documents match the package files", t_content)
check("tokenizer train --vocab 4096 on the corpus: fast, round-trips val", t_tokenizer_on_corpus)
finish()
