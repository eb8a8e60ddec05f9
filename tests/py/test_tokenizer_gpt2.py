"""GPT-2 byte-level BPE: monoscope's ids must equal js-tiktoken's "gpt2" encoding (an independent
implementation, tests/node) on a varied corpus, from vocab.json + merges.txt and from an equivalent
tokenizer.json; a tokenizer.json naming its own Split regex (Llama-3 style) or a Digits step must
use it (checked against a Python re-implementation of split + byte-level BPE on ASCII text, where
Python's `re` can express the same pattern); decode(encode(x)) == x for valid UTF-8.

Invalid UTF-8: references take Unicode strings, so bytes that are not UTF-8 are first decoded with
replacement (WHATWG rule, one U+FFFD per maximal ill-formed subpart). The node script does exactly
that with TextDecoder; Python's bytes.decode('utf-8', 'replace') follows the same rule (checked)."""
import base64, json, os, re, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest
from mstest import check, run, finish, TMP, SHARED, SRC

GPT2 = os.path.join(SHARED, "tokenizers", "gpt2")
NODE_DIR = os.path.join(SRC, "tests", "node")

CORPUS = [
    b"Hello, world! This is a test of the GPT-2 tokenizer.",
    b"The quick brown fox jumps over the lazy dog. It's 4:30pm; they'll be here soon, won't they?",
    b"CONTRACTIONS: IT'S, I'LL, WE'RE, THEY'VE, I'M, HE'D, DON'T -- uppercase 'S 'T 'RE stay split",
    b"Mixed: it's we're they've I'm he'd she'll o'clock rock'n'roll 'quoted' ''double''",
    b"def f(x):\n    return x ** 2  # square\n\nfor i in range(10):\n\tprint(f(i), end='')\n",
    b"int main(void) { int a[3] = {1, 2, 3}; return a[0] + a[1]*a[2]; } // C code\r\n",
    b"{\"key\": [1, 2.5, -3e10, null, true], \"url\": \"https://example.com/a?b=c&d=e#f\"}",
    "日本語のテキストと中文文本，还有한국어 텍스트。".encode(),
    "Emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ☃️ ❤️‍🔥".encode(),
    b"Digits: 0 1 12 123 1234 12345 123456789012345678901234567890 3.14159 1,000,000 2024-01-01",
    "Unicode digits: ٠١٢٣ ४५६ ½ ² Ⅻ".encode(),
    b"spaces:  two   three    four     five\t\ttabs\t \t mixed",
    b"trailing spaces   ",
    b"trailing newline\n",
    b"trailing newlines\n\n\n",
    b"   leading spaces",
    b"\n\nleading newlines",
    b"line1\nline2\r\nline3\n \n  \n   x",
    b"Punctuation!!! ??? ... --- ;;; ::: (((nested))) [[x]] {{y}} <<z>> @#$%^&*_+=|\\/~`",
    "Combining marks: e\u0301 a\u0300 o\u0308 n\u0303 \u0915\u094d\u0937 Z\u0351\u0352\u0353alg\u0354o".encode(),
    "Accents: café naïve résumé Ångström Øre straße ĳ ŉ".encode(),
    "Greek Ελληνικά, Cyrillic кириллица, Arabic العربية, Hebrew עברית, Thai ภาษาไทย".encode(),
    "Unicode spaces:\u00a0nbsp\u2003em\u3000ideographic\u2028ls\u2029ps end \u180e mvs\u180e\u180e x \u180eb".encode(),
    b"<|endoftext|>special token in text<|endoftext|>",
    b"a",
    b" ",
    b"\n",
    b"",
    b"x" * 300 + b" " + b"ab" * 200,
    b" " * 50 + b"\n" + b" " * 7 + b"end",
    # invalid UTF-8: lone continuation, truncated sequences, overlong, surrogate, > U+10FFFF, 0xFF
    b"bad \x80 byte",
    b"trunc \xe2\x82 seq and \xf0\x9f\x98 emoji",
    b"overlong \xc0\xaf \xe0\x80\xaf surrogate \xed\xa0\x80 big \xf4\x90\x80\x80 ff \xff\xfe",
    b"\xc3",
    b"latin-1 caf\xe9 na\xefve",
    b"mixed \xe4\xbd\xa0\xe5\xa5 \xe5\xa5\xbd\x80\x80x",
    b"nul \x00 byte and \x01\x02 controls \x7f",
]


def node_ids(items):
    p = subprocess.run(["node", os.path.join(NODE_DIR, "gpt2_ref.mjs")], cwd=NODE_DIR, capture_output=True,
                       input=json.dumps([base64.b64encode(x).decode() for x in items]), text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def ours(model, data, bos=False):
    path = os.path.join(TMP, "input.bin")
    with open(path, "wb") as f:
        f.write(data)
    args = ["tokenize", "--model", model, "--file", path] + (["--bos"] if bos else [])
    out = run(*args).stdout.strip()
    return [int(x) for x in out.split()] if out else []


def decode(model, ids):
    p = subprocess.run([mstest.BIN, "tokenize", "--model", model, "--decode", "--ids", " ".join(map(str, ids))],
                       capture_output=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.endswith(b"\n")
    return p.stdout[:-1]


REF = None


def reference():
    global REF
    if REF is None:
        REF = node_ids(CORPUS)
    return REF


SEP = b"<|endoftext|>"  # an added token: both sides encode the text between two separately


def compare(model, items=None):
    """One CLI call for the whole corpus joined by <|endoftext|>; per-item calls only to report."""
    ref = reference()
    idx = [i for i in range(len(CORPUS)) if items is None or i in items]
    joined = SEP.join(CORPUS[i] for i in idx)
    want = []
    for k, i in enumerate(idx):
        want += ([50256] if k else []) + ref[i]
    got = ours(model, joined)
    if got == want:
        return
    bad = []
    for i in idx:
        g = ours(model, CORPUS[i])
        if g != ref[i]:
            bad.append(f"{CORPUS[i][:60]!r}: ours {g[:20]} ref {ref[i][:20]}")
    assert not bad, "\n".join(bad) or "joined corpus differs"


def t_replacement_rule():
    # the node reference and Python agree on the replacement rule for every invalid sample
    ref = node_ids([x.decode("utf-8", "replace").encode() for x in CORPUS])
    assert ref == reference()


def t_vocab_merges():
    compare(GPT2)


def t_vocab_json_file():
    compare(os.path.join(GPT2, "vocab.json"), items={0, 3, 8})


def t_roundtrip():
    valid = []
    for x in CORPUS:
        try:
            x.decode("utf-8")
            valid.append(x)
        except UnicodeDecodeError:
            pass
    x = SEP.join(valid)
    assert decode(GPT2, ours(GPT2, x)) == x
    assert decode(GPT2, ours(GPT2, "naïve 你好 😀".encode())) == "naïve 你好 😀".encode()


def t_bos():
    ids = ours(GPT2, b"hi there", bos=True)
    assert ids[0] == 50256 and ids[1:] == reference()[0][:0] + ours(GPT2, b"hi there"), ids


# ---- tokenizer.json built from the same files
def load_gpt2():
    vocab = json.load(open(os.path.join(GPT2, "vocab.json"), encoding="utf-8"))
    merges = [l for l in open(os.path.join(GPT2, "merges.txt"), encoding="utf-8").read().split("\n")
              if l and not l.startswith("#version")]
    return vocab, merges


def write_tokenizer_json(name, pre_tokenizer, merges_as_pairs=False, model_extra=None):
    vocab, merges = load_gpt2()
    d = os.path.join(TMP, name)
    os.makedirs(d, exist_ok=True)
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
             "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
             "vocab": vocab, "merges": [m.split(" ") for m in merges] if merges_as_pairs else merges}
    model.update(model_extra or {})
    tj = {"version": "1.0", "truncation": None, "padding": None,
          "added_tokens": [{"id": 50256, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                            "rstrip": False, "normalized": True, "special": True}],
          "normalizer": None, "pre_tokenizer": pre_tokenizer, "post_processor": None,
          "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
          "model": model}
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    return d


BYTELEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}


def t_tokenizer_json_strings():
    compare(write_tokenizer_json("tj_str", BYTELEVEL))


def t_tokenizer_json_pairs():
    d = write_tokenizer_json("tj_pairs", BYTELEVEL, merges_as_pairs=True)
    compare(d)
    compare(os.path.join(d, "tokenizer.json"), items={1, 8, 33})


# ---- independent Python byte-level BPE (GPT-2's encoder.py algorithm, over bytes)
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class PyBPE:
    def __init__(self):
        self.vocab, merges = load_gpt2()
        self.ranks = {tuple(m.split(" ")): i for i, m in enumerate(merges)}
        self.b2u = bytes_to_unicode()

    def word(self, b):
        w = [self.b2u[x] for x in b]
        while len(w) > 1:
            pairs = [(self.ranks.get((w[i], w[i + 1]), 1 << 30), i) for i in range(len(w) - 1)]
            r, _ = min(pairs)
            if r == 1 << 30:
                break
            a, c = w[min(pairs)[1]], w[min(pairs)[1] + 1]
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == c:
                    out.append(a + c)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            w = out
        return [self.vocab[t] for t in w]

    def encode(self, pieces):
        return [i for p in pieces for i in self.word(p.encode())]


# Llama 3's pattern; on ASCII text \p{L} = [A-Za-z], \p{N} = [0-9], so Python's re can run it.
LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
GPT2_RE = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


def py_split(pattern, s):
    # ASCII text only: inside a class \p{L} -> A-Za-z, \p{N} -> 0-9; outside -> [A-Za-z], [0-9]
    p = pattern.replace(r"[^\r\n\p{L}\p{N}]", "[^\r\nA-Za-z0-9]").replace(r"[^\s\p{L}\p{N}]", r"[^\sA-Za-z0-9]")
    p = p.replace(r"\p{L}", "[A-Za-z]").replace(r"\p{N}", "[0-9]")
    return re.findall(re.compile(p, re.ASCII), s)


ASCII_SAMPLES = [
    "Numbers 1 12 123 1234 12345 1234567 and 3.14159, 2024-01-01",
    "IT'S I'LL WE'RE it's i'll we're They'Ve",
    "tabs\tand  spaces   here\n\n\nnewlines\r\n  indented\n",
    "x=1234567890;y=[1,22,333,4444]  # trailing  ",
    "Hello!!! How are you??? (fine)...",
]


def t_custom_split_llama3():
    d = write_tokenizer_json("tj_llama3", {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]})
    bpe = PyBPE()
    # hand-checked splits, so the Python translation of the pattern is itself verified
    assert py_split(LLAMA3, "ab 12345 IT'S") == ["ab", " ", "123", "45", " IT", "'S"]
    assert py_split(GPT2_RE, "ab 12345 IT'S") == ["ab", " 12345", " IT", "'", "S"]
    want = []
    for k, s in enumerate(ASCII_SAMPLES):
        want += ([50256] if k else []) + bpe.encode(py_split(LLAMA3, s))
    joined = "<|endoftext|>".join(ASCII_SAMPLES).encode()
    got = ours(d, joined)
    assert got == want, (got, want)
    assert got != ours(GPT2, joined)  # digit groups of 1-3 and uppercase contractions differ


def t_python_bpe_matches_gpt2():
    # the Python reference agrees with js-tiktoken on GPT-2's own pattern (validates PyBPE)
    bpe = PyBPE()
    ref = node_ids([s.encode() for s in ASCII_SAMPLES])
    for s, r in zip(ASCII_SAMPLES, ref):
        assert bpe.encode(py_split(GPT2_RE, s)) == r, s


def t_digits_step():
    d = write_tokenizer_json("tj_digits", {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True}, BYTELEVEL]})
    bpe = PyBPE()
    want = []
    for k, s in enumerate(ASCII_SAMPLES):
        pieces = [q for p in re.split(r"([0-9])", s) if p for q in py_split(GPT2_RE, p)]
        want += ([50256] if k else []) + bpe.encode(pieces)
    assert ours(d, "<|endoftext|>".join(ASCII_SAMPLES).encode()) == want


def t_white_space_property():
    # \s is Unicode's White_Space (tiktoken's Rust regex, HF's Oniguruma, Python's regex): U+0085 is
    # a space, U+FEFF is not. JavaScript's \s differs on exactly these two, so they are checked
    # here against hand-written splits + the Python BPE instead of js-tiktoken.
    bpe = PyBPE()
    cases = {"a\u0085\u0085b": ["a", "\u0085", "\u0085", "b"],
             "x\n\n\ufeff\ny": ["x", "\n", "\n", "\ufeff", "\n", "y"],
             "a \ufeffb": ["a", " \ufeff", "b"]}
    for text, pieces in cases.items():
        assert ours(GPT2, text.encode()) == bpe.encode(pieces), repr(text)


def t_ignore_merges():
    # ignore_merges: a word that is itself a token is emitted whole; GPT-2's merges reach the same
    # token for ordinary words, so ids must not change on the corpus
    d = write_tokenizer_json("tj_ign", BYTELEVEL, model_extra={"ignore_merges": True})
    compare(d, items={0, 1, 4, 7})


def t_speed():
    # ~1 MB of English-like text (a pseudo-random mix of words) must tokenize quickly even here
    import random, time
    rng = random.Random(1)
    words = open(os.path.join(GPT2, "merges.txt"), encoding="utf-8").read().split()[1000:6000]
    words = [w.replace("\u0120", "") for w in words if w.isascii() and w.isalpha()]
    text = []
    n = 0
    while n < 1_000_000:
        w = rng.choice(words) + rng.choice([" ", " ", " ", ", ", ". ", "\n"])
        text.append(w)
        n += len(w)
    path = os.path.join(TMP, "big.txt")
    with open(path, "w") as f:
        f.write("".join(text))
    t0 = time.time()
    out = run("tokenize", "--model", GPT2, "--file", path).stdout.split()
    dt = time.time() - t0
    print(f"  1 MB: {len(out)} tokens in {dt:.2f} s (this build; sanitizer builds are ~5-10x slower)")
    assert len(out) > 100_000
    assert dt < 30, dt


check("node reference and Python agree on the replacement rule", t_replacement_rule)
check("vocab.json + merges.txt == js-tiktoken gpt2", t_vocab_merges)
check("vocab.json path form", t_vocab_json_file)
check("decode(encode(x)) == x on valid UTF-8", t_roundtrip)
check("--bos prepends <|endoftext|>", t_bos)
check("tokenizer.json (merges as strings) == js-tiktoken", t_tokenizer_json_strings)
check("tokenizer.json (merges as pairs) == js-tiktoken", t_tokenizer_json_pairs)
check("Python BPE reference == js-tiktoken on ASCII", t_python_bpe_matches_gpt2)
check("tokenizer.json Split regex (Llama 3) is used", t_custom_split_llama3)
check("tokenizer.json Digits(individual) step", t_digits_step)
check("\\s is Unicode White_Space (U+0085 yes, U+FEFF no)", t_white_space_property)
check("ignore_merges", t_ignore_merges)
check("1 MB tokenizes fast", t_speed)
finish()
