"""`monoscope tokenizer train` against an independent byte-level BPE trainer written here in plain
Python (dict counting, a full recount every step): the same merges in the same order and the same
vocab.json; the trained tokenizer then loads in `monoscope tokenize`, encodes the corpus to the ids
a reference GPT-2 encoder (rank-ordered merges, also written here) gives, and decodes back to it.

The pre-tokenizer is GPT-2's regex, rebuilt with Python's `re` (the `regex` module, which has
\\p{L}, is not a Debian test dependency): \\p{L} and \\p{N} become explicit classes built from
unicodedata categories, and \\s becomes Unicode White_Space ([\\t-\\r\\x85] + category Z*), which is
what the tokenizer's PCRE2 pattern means (README: tokenize)."""
import json, os, re, shutil, subprocess, sys, unicodedata
from collections import Counter
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mstest import check, run, finish, TMP, BIN


# ---------------------------------------------------------------- the reference
def bytes_to_unicode():
    """GPT-2's table: printable Latin-1 bytes stand for themselves, the rest map to U+0100 upward."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def char_class(pred):
    """A `re` character-class body for every code point whose category satisfies pred."""
    out, start, prev = [], None, None
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            ok = False
        else:
            ok = pred(unicodedata.category(chr(cp)))
        if ok and start is None:
            start = cp
        if not ok and start is not None:
            out.append("\\U%08x-\\U%08x" % (start, cp - 1))
            start = None
    if start is not None:
        out.append("\\U%08x-\\U%08x" % (start, 0x10FFFF))
    return "".join(out)


def gpt2_pattern():
    L = char_class(lambda c: c.startswith("L"))
    N = char_class(lambda c: c.startswith("N"))
    WS = "\\t-\\r\\x85" + char_class(lambda c: c.startswith("Z"))
    p = (f"'s|'t|'re|'ve|'m|'ll|'d| ?[{L}]+| ?[{N}]+| ?[^{WS}{L}{N}]+|[{WS}]+(?![^{WS}])|[{WS}]+")
    return re.compile(p)


def pretokenize(pat, text):
    """Every match and every gap between matches, in order (HF's Split with 'isolated')."""
    pieces, pos = [], 0
    for m in pat.finditer(text):
        if m.start() > pos:
            pieces.append(text[pos:m.start()])
        if m.end() > m.start():
            pieces.append(m.group(0))
        pos = m.end()
    if pos < len(text):
        pieces.append(text[pos:])
    return pieces


def byte_ids():
    """Token ids 0..255: bytes ordered by the code point GPT-2's table gives them."""
    b2u = bytes_to_unicode()
    order = sorted(range(256), key=lambda b: ord(b2u[b]))
    return {b: i for i, b in enumerate(order)}, [b2u[b] for b in order]


def ref_train(pat, docs, n_merges):
    """Plain BPE: recount every pair each step; most frequent wins, ties to the smallest (left, right)."""
    ids, _ = byte_ids()
    words = Counter()
    for d in docs:
        for piece in pretokenize(pat, d):
            words[tuple(ids[b] for b in piece.encode("utf-8"))] += 1
    merges = []
    for k in range(n_merges):
        pairs = Counter()
        for w, c in words.items():
            for p in zip(w, w[1:]):
                pairs[p] += c
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        new, merged = 256 + k, Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += c
        words = merged
        merges.append(best)
    return merges


def ref_vocab(merges):
    _, toks = byte_ids()
    toks = list(toks)
    for a, b in merges:
        toks.append(toks[a] + toks[b])
    toks.append("<|endoftext|>")
    return toks


def ref_encode(pat, text, merges):
    """GPT-2's encoder: per piece, repeatedly merge the adjacent pair of lowest merge rank."""
    ids, _ = byte_ids()
    rank = {p: k for k, p in enumerate(merges)}
    out = []
    for piece in pretokenize(pat, text):
        w = [ids[b] for b in piece.encode("utf-8")]
        while len(w) > 1:
            cands = [(rank[p], i) for i, p in enumerate(zip(w, w[1:])) if p in rank]
            if not cands:
                break
            r, _ = min(cands)
            a, b = merges[r]
            nw, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    nw.append(256 + r)
                    i += 2
                else:
                    nw.append(w[i])
                    i += 1
            w = nw
        out += w
    return out


# ---------------------------------------------------------------- the corpus
def corpus_docs():
    """A few KB of mixed text: prose with contractions, verse numbers, C code (quotes, backslashes,
    tabs), runs of spaces and newlines, digits, Latin-1 and CJK text, emoji, Cyrillic, Greek."""
    prose = [
        "It's the king's horse, and they're sure we'll find what you'd lost; I'm not, they've said.",
        "The quick brown fox jumps over the lazy dog.  The dog didn't care!\n\nNext paragraph...",
        "In the beginning God created the heaven and the earth.",
        "Café déjà vu — naïve façade, crème brûlée; Straße, Übermaß, øre, Ærø.",
        "東京は日本の首都です。北京是中国的首都。서울은 한국의 수도입니다.",
        "Привет, мир! Ελληνικά γράμματα: αβγδε. Emoji: 🙂🚀 and ✓ ✗ ★.",
        "Numbers: 3.14159, 2718281828, 1,000,000 and 42nd; year 1611; verse 3:16.",
        "\"Quoted,\" she said — 'single' and `backticks` — (parens) [brackets] {braces}.",
    ]
    code = [
        '#include <stdio.h>\nint main(void) {\n\tprintf("hello, world\\n");\n\treturn 0;\n}\n',
        "static inline int max(int a, int b) { return a > b ? a : b; }   // why: branchless\n",
        "for (size_t i = 0; i < n; i++)\n    y[i] += alpha * x[i];\n\n\n",
        'const char *s = "a\\\\b\\"c";  /* escaped */\t\t x->y = &z;\n',
    ]
    verses = ["%d %s" % (i + 1, t) for i, t in enumerate([
        "And God said, Let there be light: and there was light.",
        "And God saw the light, that it was good: and God divided the light from the darkness.",
        "And God called the light Day, and the darkness he called Night.",
    ])]
    docs = []
    for r in range(4):
        docs += [p * (1 + r % 2) for p in prose]
        docs += code
        docs.append("Genesis %d\n\n" % (r + 1) + "\n".join(verses))
        docs.append("   leading spaces, trailing spaces   \n\t\ttabs\r\nCRLF line\n" * (r + 1))
    return docs


def write_corpus(name, docs):
    path = os.path.join(TMP, name)
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"text": d, "source": "test"}, ensure_ascii=(len(d) % 2 == 0)) + "\n")
        f.write("\n")  # a blank line is skipped
    return path


PAT = gpt2_pattern()
DOCS = corpus_docs()
CORPUS = write_corpus("corpus.jsonl", DOCS)
VOCAB = 256 + 400 + 1
OUT = os.path.join(TMP, "tok")


def read_merges(d):
    lines = open(os.path.join(d, "merges.txt"), encoding="utf-8").read().split("\n")
    assert lines[0].startswith("#version"), lines[0]
    return [l for l in lines[1:] if l]


def t_same_merges_as_reference():
    shutil.rmtree(OUT, ignore_errors=True)
    run("tokenizer", "train", "--corpus", CORPUS, "--vocab", VOCAB, "--out", OUT)
    ref = ref_train(PAT, DOCS, VOCAB - 257)
    assert len(ref) == VOCAB - 257, len(ref)
    toks = ref_vocab(ref)
    want = ["%s %s" % (toks[a], toks[b]) for a, b in ref]
    got = read_merges(OUT)
    assert len(got) == len(want), (len(got), len(want))
    for k, (g, w) in enumerate(zip(got, want)):
        assert g == w, "merge %d: got %r, reference %r" % (k, g, w)
    vocab = json.load(open(os.path.join(OUT, "vocab.json"), encoding="utf-8"))
    assert vocab == {t: i for i, t in enumerate(toks)}, "vocab.json differs from the reference"
    assert vocab["<|endoftext|>"] == VOCAB - 1
    # the corpus has ties (pairs of equal count), so the tie rule was exercised
    assert any('"' in t or "\\" in t for t in vocab), "no token with a JSON escape was learned"


def t_encode_decode_round_trip():
    text = "\n".join(DOCS)
    path = os.path.join(TMP, "corpus.txt")
    with open(path, "wb") as f:
        f.write(text.encode("utf-8"))
    p = run("tokenize", "--model", OUT, "--file", path)
    ids = [int(x) for x in p.stdout.split()]
    merges = [tuple(m) for m in ref_train(PAT, DOCS, VOCAB - 257)]
    assert ids == ref_encode(PAT, text, merges), "encoding differs from the reference GPT-2 encoder"
    assert len(ids) < len(text.encode("utf-8")) / 2, "the merges barely compress the corpus they came from"
    # bytes, not text mode: text mode would turn the corpus's \r\n into \n
    d = subprocess.run([BIN, "tokenize", "--model", OUT, "--decode", "--ids", " ".join(map(str, ids))],
                       capture_output=True, check=True)
    assert d.stdout == text.encode("utf-8") + b"\n", "decode(encode(corpus)) != corpus"


def t_runs_out_of_pairs():
    path = write_corpus("tiny.jsonl", ["ab ab abc", "abc"])
    out = os.path.join(TMP, "tiny_tok")
    shutil.rmtree(out, ignore_errors=True)
    run("tokenizer", "train", "--corpus", path, "--vocab", 1000, "--out", out)
    ref = ref_train(PAT, ["ab ab abc", "abc"], 1000)
    toks = ref_vocab(ref)
    assert read_merges(out) == ["%s %s" % (toks[a], toks[b]) for a, b in ref]
    vocab = json.load(open(os.path.join(out, "vocab.json"), encoding="utf-8"))
    assert len(vocab) == 257 + len(ref) < 1000
    ids = run("tokenize", "--model", out, "--text", "abc ab").stdout.split()
    assert len(ids) == 2, ids


def t_errors():
    bad = os.path.join(TMP, "bad.jsonl")
    with open(bad, "w") as f:
        f.write('{"text": "fine"}\n{"text": 3}\n')
    p = run("tokenizer", "train", "--corpus", bad, "--vocab", 300, "--out", os.path.join(TMP, "x"), ok=False)
    assert "bad.jsonl:2" in p.stderr, p.stderr
    with open(bad, "w") as f:
        f.write('{"text": "fine"}\nnot json\n')
    p = run("tokenizer", "train", "--corpus", bad, "--vocab", 300, "--out", os.path.join(TMP, "x"), ok=False)
    assert "bad.jsonl:2" in p.stderr, p.stderr
    run("tokenizer", "train", "--corpus", CORPUS, "--vocab", 257, "--out", os.path.join(TMP, "x"), ok=False)
    run("tokenizer", "train", "--corpus", os.path.join(TMP, "nope.jsonl"), "--vocab", 300, "--out", os.path.join(TMP, "x"), ok=False)
    run("tokenizer", "train", "--vocab", 300, ok=False)
    run("tokenizer", "frobnicate", ok=False)
    assert "train" in run("tokenizer", "--help").stdout
    assert "--vocab" in run("tokenizer", "train", "--help").stdout


check("same merges and vocab.json as the Python reference trainer", t_same_merges_as_reference)
check("the trained tokenizer loads, encodes like GPT-2's encoder, decodes back", t_encode_decode_round_trip)
check("a corpus that runs out of pairs gives a smaller vocabulary", t_runs_out_of_pairs)
check("bad corpus lines and options: one error line", t_errors)
finish()
