"""SentencePiece-style BPE with byte fallback.
llama2.c tokenizer.bin: a small vocabulary (scores from a mini BPE training run written here, with
deliberate score ties) is checked against an independent Python transcription of llama2.c's encode():
dummy " " prefix, UTF-8 grouping, byte fallback (<0xNN> = id byte+3), then "merge the adjacent pair
whose concatenation is the highest-scoring piece, leftmost on ties" until none is left.
Llama tokenizer.json (BPE, byte_fallback, Prepend/Replace ▁ normalizer): the same pieces with ▁ and
rank-ordered merges, checked against a Python transcription of Hugging Face's BPE (chars -> ids or
byte fallback, merge the lowest-rank pair, leftmost first).
Decoding: ▁ / space -> ' ', <0xNN> -> byte, the dummy-prefix space dropped: decode(encode(x)) == x,
even for invalid UTF-8 (byte fallback is lossless)."""
import json, os, random, struct, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest
from mstest import check, run, finish, TMP

TRAIN = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
         "One day, she saw a big, red ball. She wanted to play with it. Lily ran to the ball and kicked it. "
         "The ball went very high! Her mom said: \"Be careful, Lily!\" They played all day and were happy. "
         "Tom and Sam went to the shop to buy some bread and milk, then they walked home together.")


def train_pieces(n_merges):
    """A tiny BPE training run over words (with a leading space): returns merged pieces in order."""
    words = [(" " + w).encode() for w in TRAIN.split(" ")]
    seqs = [[bytes([b]) for b in w] for w in words]
    out = []
    for _ in range(n_merges):
        counts = {}
        for s in seqs:
            for a, b in zip(s, s[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        (a, b), c = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        out.append((a, b))
        for s in seqs:
            i = 0
            while i < len(s) - 1:
                if s[i] == a and s[i + 1] == b:
                    s[i:i + 2] = [a + b]
                i += 1
    return out


MERGES = train_pieces(120)


def build_vocab():
    """llama2.c layout: <unk>, BOS, EOS, 256 byte pieces, then single chars, then merged pieces."""
    pieces = [b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [b"<0x%02X>" % i for i in range(256)]
    scores = [0.0] * len(pieces)
    singles = [bytes([c]) for c in sorted(set(TRAIN.encode()))] + ["é".encode(), "ü".encode(), "你".encode(), "好".encode()]
    for i, p in enumerate(singles):
        pieces.append(p)
        scores.append(-1000.0 - i)
    for i, (a, b) in enumerate(MERGES):
        if a + b in pieces:
            continue
        pieces.append(a + b)
        scores.append(-float(i // 3))  # groups of 3 share a score: ties go to the leftmost pair
    return pieces, scores


PIECES, SCORES = build_vocab()


def write_bin(path, pieces, scores):
    with open(path, "wb") as f:
        f.write(struct.pack("<i", max(len(p) for p in pieces)))
        for p, s in zip(pieces, scores):
            f.write(struct.pack("<fi", s, len(p)))
            f.write(p)


TOKBIN = os.path.join(TMP, "tokenizer.bin")
write_bin(TOKBIN, PIECES, SCORES)


def llama2c_encode(text, bos=False):
    """Transcription of llama2.c run.c encode() over bytes."""
    lookup = {p: i for i, p in enumerate(PIECES)}
    sc = [struct.unpack("<f", struct.pack("<f", s))[0] for s in SCORES]  # float32, as stored
    toks = [1] if bos else []
    if text:
        toks.append(lookup[b" "])
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and (text[j] & 0xC0) == 0x80 and j - i < 4:
            j += 1
        buf = text[i:j]
        if buf in lookup:
            toks.append(lookup[buf])
        else:
            toks += [b + 3 for b in buf]
        i = j
    while True:
        best, best_id, best_idx = -1e10, -1, -1
        for k in range(len(toks) - 1):
            tid = lookup.get(PIECES[toks[k]] + PIECES[toks[k + 1]], -1)
            if tid != -1 and sc[tid] > best:
                best, best_id, best_idx = sc[tid], tid, k
        if best_idx == -1:
            break
        toks[best_idx:best_idx + 2] = [best_id]
    return toks


def ours(model, data, bos=False):
    path = os.path.join(TMP, "input.bin")
    with open(path, "wb") as f:
        f.write(data)
    out = run("tokenize", "--model", model, "--file", path, *(["--bos"] if bos else [])).stdout.split()
    return [int(x) for x in out]


def decode(model, ids):
    p = subprocess.run([mstest.BIN, "tokenize", "--model", model, "--decode", "--ids", " ".join(map(str, ids))],
                       capture_output=True)
    assert p.returncode == 0, p.stderr
    return p.stdout[:-1]


def samples():
    rng = random.Random(7)
    alphabet = list("abcdefghijklmnopqrstuvwxyz    ,.!") + ["é", "ü", "你", "好", "ß", "€", "😀", "\n", "\t", "Ω"]
    out = [b"Once upon a time, there was a little girl named Lily.", b"the ball", b"x", b" ", b"  two  spaces ",
           "unknown: ß€😀 Ω — known: é ü 你好".encode(), b"bad \x80\xff \xe2\x82 \xc3", b"\x00nul\x01", b""]
    for _ in range(12):
        out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))).encode())
    words = TRAIN.split(" ")
    for _ in range(6):
        out.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 30))).encode())
    return out


def t_llama2c_encode():
    bad = []
    for s in samples():
        want, got = llama2c_encode(s), ours(TOKBIN, s)
        if got != want:
            bad.append(f"{s!r}: ours {got} want {want}")
    assert not bad, "\n".join(bad)


def t_ties_exercised():
    # the sample text must actually hit merges that share a score (else the tie rule is untested)
    s = samples()[0]
    used = {SCORES[i] for i in llama2c_encode(s) if i >= 259}
    assert len(PIECES) > 300 and any(SCORES.count(x) > 1 for x in used)


def t_bos_and_fallback():
    ids = ours(TOKBIN, "a😀".encode(), bos=True)
    assert ids[0] == 1
    assert ids[-4:] == [b + 3 for b in "😀".encode()], ids


def t_roundtrip():
    for s in samples():
        assert decode(TOKBIN, ours(TOKBIN, s)) == s, s
        assert decode(TOKBIN, ours(TOKBIN, s, bos=True)) == s, s


# ---- Llama-style tokenizer.json: same pieces with ▁, merges by rank
META = "\u2581"


def hf_vocab():
    vocab = {}
    for i, p in enumerate(PIECES):
        if i < 3:
            s = ["<unk>", "<s>", "</s>"][i]
        else:
            s = p.decode("utf-8").replace(" ", META)
        vocab.setdefault(s, i)
    merges = []
    for a, b in MERGES:
        sa, sb = a.decode().replace(" ", META), b.decode().replace(" ", META)
        if sa in vocab and sb in vocab and sa + sb in vocab:
            merges.append([sa, sb])
    return vocab, merges


def write_llama_json():
    vocab, merges = hf_vocab()
    d = os.path.join(TMP, "llama_hf")
    os.makedirs(d, exist_ok=True)
    tj = {"version": "1.0", "added_tokens": [
            {"id": 0, "content": "<unk>", "special": True}, {"id": 1, "content": "<s>", "special": True},
            {"id": 2, "content": "</s>", "special": True}],
          "normalizer": {"type": "Sequence", "normalizers": [
              {"type": "Prepend", "prepend": META}, {"type": "Replace", "pattern": {"String": " "}, "content": META}]},
          "pre_tokenizer": None,
          "post_processor": {"type": "TemplateProcessing", "single": [
              {"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]},
          "decoder": {"type": "Sequence", "decoders": [
              {"type": "Replace", "pattern": {"String": META}, "content": " "}, {"type": "ByteFallback"},
              {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
          "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "fuse_unk": True,
                    "byte_fallback": True, "vocab": vocab, "merges": [" ".join(m) for m in merges]}}
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    return d, vocab, merges


def hf_bpe_encode(text, vocab, merges):
    """Hugging Face BPE (byte_fallback) on the normalized string: lowest rank first, leftmost."""
    if not text:
        return []
    norm = META + text.replace(" ", META)
    ranks = {(a, b): i for i, (a, b) in enumerate(merges)}
    syms = []
    for ch in norm:
        if ch in vocab:
            syms.append(ch)
        else:
            syms += ["<0x%02X>" % b for b in ch.encode()]
    while True:
        cands = [(ranks[(syms[k], syms[k + 1])], k) for k in range(len(syms) - 1) if (syms[k], syms[k + 1]) in ranks]
        if not cands:
            break
        _, k = min(cands)
        syms[k:k + 2] = [syms[k] + syms[k + 1]]
    return [vocab[s] for s in syms]


def t_llama_tokenizer_json():
    d, vocab, merges = write_llama_json()
    assert len(merges) > 50
    bad = []
    for s in samples():
        try:
            text = s.decode("utf-8")
        except UnicodeDecodeError:
            continue
        want, got = hf_bpe_encode(text, vocab, merges), ours(d, s)
        if got != want:
            bad.append(f"{s!r}: ours {got} want {want}")
        if decode(d, got) != s:
            bad.append(f"{s!r}: round trip gives {decode(d, got)!r}")
    assert not bad, "\n".join(bad)
    assert ours(d, b"Lily", bos=True)[0] == 1  # BOS from the post_processor template


check("tokenizer.bin == Python llama2.c encode()", t_llama2c_encode)
check("score ties are exercised", t_ties_exercised)
check("--bos and byte fallback", t_bos_and_fallback)
check("decode(encode(x)) == x (with and without BOS, invalid UTF-8 too)", t_roundtrip)
check("Llama tokenizer.json == Python HF BPE with byte fallback", t_llama_tokenizer_json)
finish()
