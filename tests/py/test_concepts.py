"""`monoscope concepts label` (probes/concepts.c): on a hand-written text with known spans, exactly the
tokens whose bytes overlap a span are labelled, with the real GPT-2 byte-level BPE (../shared) and a
llama2.c SentencePiece tokenizer.bin (written here, beside the real stories260K checkpoint), including
characters split over several tokens. References: token byte spans from the vocabularies themselves
(vocab.json's byte table, the pieces written here), spans from Python's `re` on the bytes. The labels'
/tokens equal a capture's /tokens for the same arguments."""
import json, os, re, shutil, struct
import h5py
import numpy as np
import mstest
from mstest import run, check, TMP, SHARED

TEXT = ('In 1611 the KING said "Let there be light" (Genesis 1:3).\n'
        'int main(void) { return 42; } /* a C comment */\n'
        'Café crème, naïve 漢字 and 𝔘nicode; she told him: “Ça va”.\n')
RULES = {  # byte-level patterns Python's re reads the same way on the UTF-8 bytes
    "digits": "[0-9]+", "quoted": "\"([^\"\\n]*)\"", "parens": "\\(([^()]*)\\)", "kanji": "漢字",
    "fraktur": "𝔘", "accented": "é|è|ï|Ç", "comment": "/\\*[\\s\\S]*?\\*/", "line_start": "(?m)^.",
}


def T(*p):
    return os.path.join(TMP, *p)


def byte_spans(pattern, text_bytes):
    """(start, end) byte spans of the rule: group 1 when the pattern has one (as concepts.c)."""
    rx = re.compile(pattern.encode())
    g = 1 if rx.groups else 0
    return [(m.start(g), m.end(g)) for m in rx.finditer(text_bytes)]


def expected(token_bytes, text_bytes, spans, skip_lead=0):
    """Token i is labelled when its byte range [s, e) overlaps a span (zero-width spans: the token
    holding that byte). skip_lead: bytes the token stream has before the text (SPM's dummy space)."""
    out, pos = [], -skip_lead
    for b in token_bytes:
        s, e = max(pos, 0), max(pos + len(b), 0)
        pos += len(b)
        hit = any((s < me and ms < e) if me > ms else (s <= ms < e) for ms, me in spans)
        out.append(int(hit))
    assert pos == len(text_bytes), (pos, len(text_bytes))
    return out


def rows_to_stream(tokens, bos):
    return [int(t) for row in tokens for i, t in enumerate(row) if t >= 0 and not (bos is not None and i == 0)]


def label(model, inp, ctx, extra=(), fmt="text", rules=RULES, out="labels.h5"):
    rp = T("rules.json")
    with open(rp, "w") as f:
        json.dump(rules, f, ensure_ascii=False)
    args = ["concepts", "label", "--model", model, "--input", inp, "--input-format", fmt, "--ctx", ctx, "--out", T(out), "--overwrite", *extra]
    if rules is not None:
        args += ["--rules", rp]
    run(*args)
    with h5py.File(T(out)) as f:
        return f["tokens"][:], {k: f["concepts/" + k][:] for k in f["concepts"]}


def check_labels(tokens, concepts, tok_bytes, text, bos=None, skip_lead=0):
    tb = text.encode()
    stream = rows_to_stream(tokens, bos)
    flat_idx = [(r, i) for r, row in enumerate(tokens) for i, t in enumerate(row) if t >= 0 and not (bos is not None and i == 0)]
    pieces = [tok_bytes(t) for t in stream]
    for name, pat in RULES.items():
        exp = expected(pieces, tb, byte_spans(pat, tb), skip_lead)
        got = [int(concepts[name][r, i]) for r, i in flat_idx]
        assert got == exp, (name, [(pieces[i], got[i], exp[i]) for i in range(len(exp)) if got[i] != exp[i]])
        assert sum(exp) > 0, name
        if bos is not None:
            assert (concepts[name][:, 0] == 0).all() and (tokens[:, 0] == bos).all()
        assert (concepts[name][tokens < 0] == 0).all()


# ---- GPT-2: a random-weight model with the real GPT-2 vocabulary and merges
G2 = T("g2real")


def gpt2_model():
    if not os.path.exists(os.path.join(G2, "config.json")):
        run("random-model", "--arch", "gpt2", "--out", G2, "--layers", 1, "--d-model", 32, "--heads", 2, "--vocab", 50257, "--seed", 1)
        for n in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(SHARED, "tokenizers", "gpt2", n), os.path.join(G2, n))
    return G2


def gpt2_bytes():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    dec = {chr(c): b for b, c in zip(bs, cs)}
    with open(os.path.join(SHARED, "tokenizers", "gpt2", "vocab.json"), encoding="utf-8") as f:
        vocab = {i: bytes(dec[ch] for ch in s) for s, i in json.load(f).items()}
    return lambda t: vocab[t]


def gpt2_text():
    model = gpt2_model()
    src = T("text.txt")
    with open(src, "w", encoding="utf-8") as f:
        f.write(TEXT)
    tb = gpt2_bytes()
    toks, c = label(model, src, 16)
    check_labels(toks, c, tb, TEXT)
    # a character split over tokens: every token holding a byte of 𝔘 is labelled
    split = [t for t in rows_to_stream(toks, None) if tb(t) and not tb(t).decode("utf-8", "ignore")]
    assert split, "expected 𝔘 or 漢 to be split over byte tokens"
    # with BOS, and the same rows as capture
    toks, c = label(model, src, 12, ["--prepend-bos"])
    check_labels(toks, c, tb, TEXT, bos=50256)
    run("capture", "--model", model, "--input", src, "--hooks", "blocks.0.hook_resid_post", "--ctx", 12, "--prepend-bos",
        "--out", T("cap.h5"), "--overwrite")
    with h5py.File(T("cap.h5")) as f:
        assert np.array_equal(f["tokens"][:], toks)


def gpt2_jsonl_defaults():
    model = gpt2_model()
    src = T("docs.jsonl")
    docs = ["The KING said 12.", "int x = 3; // note\nShe went (home).", "Genesis 1:3 and 2:4",
            "Acts 10\n\n1 There was\n2 A devout man",
            "Psalms 35\n\n1 Plead my cause.\n2 Take hold of shield.\nThe 3 of them\n"]  # make-corpus.sh's KJV form
    with open(src, "w") as f:
        for d in docs:
            f.write(json.dumps({"text": d}) + "\n")
    toks, c = label(model, src, 5, fmt="jsonl", rules=None)
    run("capture", "--model", model, "--input", src, "--input-format", "jsonl", "--hooks", "blocks.0.hook_resid_post",
        "--ctx", 5, "--out", T("capj.h5"), "--overwrite")
    with h5py.File(T("capj.h5")) as f:
        assert np.array_equal(f["tokens"][:], toks)
    tb = gpt2_bytes()
    want = {"digits": {b"12", b" 3", b" 1", b":", b"3", b" 2", b"4"}, "all_caps": {b" KING"}, "c_keyword": {b"int"},
            "c_comment": {b" //", b" note"}, "in_parens": {b"home"}, "pronoun": {b"She"}, "verse_ref": {b"Genesis", b" 1", b":", b"3", b" 2", b"4", b"Acts", b" 10", b"1", b"2"},
            "capitalised": {b"The", b"She", b"Genesis"}, "line_start": {b"The", b"int", b"She", b"Gen", b"Genesis"}}
    for name, ws in want.items():
        got = {tb(int(t)) for t in toks[c[name] == 1]}
        for w in ws & set(tb(int(t)) for t in toks[toks >= 0]):
            if name in ("digits",) and w == b":":
                continue
            assert w in got, (name, w, got)
    # verse_ref in the corpus' form: the chapter title and each verse line's number, not other numbers
    vr = {tb(int(t)) for t in toks[c["verse_ref"] == 1]}
    assert {b"Ps", b" 35", b"1", b"2"} & {tb(int(t)) for t in toks[toks >= 0]} <= vr, vr
    assert not vr & {b" Plead", b" Take", b" 3", b" 12", b"12", b" them"}, vr
    assert not c["digits"][toks >= 0][[tb(int(t)) == b"The" for t in toks[toks >= 0]]].any()
    assert {tb(int(t)) for t in toks[c["punctuation"] == 1]} >= {b".", b";", b"(", b")."} & {tb(int(t)) for t in toks[toks >= 0]}


def gpt2_packed():
    """--pack: /tokens equal capture --pack's row for row, and the label stream is every document's
    labels (from an unpacked run whose rows each hold a whole document) followed by a 0 for the
    separator, cut into the same full windows (BOS first with --prepend-bos, never labelled)."""
    model = gpt2_model()
    src = T("docs.jsonl")  # gpt2_jsonl_defaults' documents
    for extra in ([], ["--prepend-bos"]):
        toks, c = label(model, src, 5, fmt="jsonl", rules=None, extra=["--pack", *extra], out="packed.h5")
        run("capture", "--model", model, "--input", src, "--input-format", "jsonl", "--pack", *extra,
            "--hooks", "blocks.0.hook_resid_post", "--ctx", 5, "--out", T("capp.h5"), "--overwrite")
        with h5py.File(T("capp.h5")) as f:
            assert np.array_equal(f["tokens"][:], toks), "packed /tokens differ from capture --pack's"
        whole, cw = label(model, src, 64, fmt="jsonl", rules=None, out="whole.h5")
        nb = 1 if extra else 0
        for name in c:
            stream = np.concatenate([np.append(cw[name][d][whole[d] >= 0], 0) for d in range(len(whole))])
            per_row = 5 - nb
            n = len(stream) // per_row
            want = stream[:n * per_row].reshape(n, per_row)
            assert np.array_equal(c[name][:, nb:], want), name
            assert not nb or not c[name][:, 0].any(), name


# ---- SentencePiece (llama2.c tokenizer.bin beside the real stories260K checkpoint)
def spm_pieces():
    pieces = [b"<unk>", b"<s>", b"</s>"] + [b"<0x%02X>" % i for i in range(256)]
    words = [b" ", b"t", b"h", b"e", b"i", b"n", b"a", b" t", b" th", b" the", b"in", b"he", b"er", b" a", b"on"]
    pieces += [bytes([c]) for c in range(32, 127) if bytes([c]) not in words] + words + ["é".encode(), "Ca".encode()]
    pieces += [b"<pad%d>" % i for i in range(512 - len(pieces))]
    scores = [0.0] * 259 + [-(i / 10) if i < 400 else -1e6 for i in range(len(pieces) - 259)]
    scores = [0.0] * 259 + [float(len(p)) if not p.startswith(b"<pad") else -1e6 for p in pieces[259:]]
    return pieces, scores


def spm():
    d = T("spm")
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(SHARED, "models", "stories260K", "stories260K.bin"), os.path.join(d, "m.bin"))
    pieces, scores = spm_pieces()
    with open(os.path.join(d, "tokenizer.bin"), "wb") as f:
        f.write(struct.pack("<i", max(len(p) for p in pieces)))
        for p, s in zip(pieces, scores):
            f.write(struct.pack("<fi", s, len(p)))
            f.write(p)

    def tok_bytes(t):
        p = pieces[t]
        m = re.fullmatch(rb"<0x([0-9A-F]{2})>", p)
        return bytes([int(m.group(1), 16)]) if m else (b"" if t < 3 else p)
    src = T("text_spm.txt")
    with open(src, "w", encoding="utf-8") as f:
        f.write(TEXT)
    model = os.path.join(d, "m.bin")
    toks, c = label(model, src, 20, ["--prepend-bos"], out="spm_labels.h5")
    stream = rows_to_stream(toks, 1)
    assert tok_bytes(stream[0]).startswith(b" "), "dummy prefix expected"
    check_labels(toks, c, tok_bytes, TEXT, bos=1, skip_lead=1)
    assert sum(1 for t in stream if 3 <= t < 259) >= 7  # byte fallback: 漢字, 𝔘, “ ” ... split into bytes
    run("capture", "--model", model, "--input", src, "--hooks", "blocks.0.hook_resid_post", "--ctx", 20, "--prepend-bos",
        "--out", T("cap_spm.h5"), "--overwrite")
    with h5py.File(T("cap_spm.h5")) as f:
        assert np.array_equal(f["tokens"][:], toks)


def errors():
    model = gpt2_model()
    src = T("text.txt")
    p = run("concepts", "label", "--model", model, "--input", src, "--ctx", 8, "--out", T("x.h5"), "--rules", T("bad.json"), ok=False)
    with open(T("bad.json"), "w") as f:
        json.dump({"oops": "(unclosed"}, f)
    p = run("concepts", "label", "--model", model, "--input", src, "--ctx", 8, "--out", T("x.h5"), "--rules", T("bad.json"), ok=False)
    assert "oops" in p.stderr and "offset" in p.stderr, p.stderr


check("GPT-2 BPE: exactly the tokens overlapping each span; split characters; /tokens == capture's", gpt2_text)
check("GPT-2 BPE, jsonl, built-in rules; /tokens == capture's", gpt2_jsonl_defaults)
check("--pack: /tokens == capture --pack's; labels are the documents' labels with separators, packed", gpt2_packed)
check("SentencePiece (llama2.c tokenizer.bin, byte fallback): exact labels; /tokens == capture's", spm)
check("errors: missing rules file, bad pattern", errors)
mstest.finish()
