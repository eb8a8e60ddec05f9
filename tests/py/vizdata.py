"""Synthetic inputs for the viz tests, the demo images and scripts/bench_dashboard.sh: a small
vocabulary (words, whitespace, a CJK character split over two tokens, an invalid byte), an
activations file in the README layout, and a ReLU SAE whose feature f responds to word f, so the
pictures have a known answer. Also a minimal PNG reader (zlib + struct) used by the tests."""
import struct, zlib
import numpy as np
import h5py

WORDS = [b" the", b" cat", b" sat", b" on", b" mat", b".", b"\n", b" dog", b" ran", b"\t",
         b"\xe4\xb8", b"\xad", b"\xe6\x96\x87", b" and", b" a", b"\xff", b"Once", b" upon", b" time", b","]


def vocab():
    return list(WORDS)


def embeddings(d_in, seed=0):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((len(WORDS), d_in)).astype(np.float32)
    return e / np.linalg.norm(e, axis=1, keepdims=True) * np.sqrt(d_in)


def make_acts(path, n_seq, ctx, d_in, hook="blocks.0.hook_resid_post", seed=0, dtype="float32", chunk=None):
    """Sequences of random words (the CJK pair always adjacent), activation = embedding + noise."""
    rng = np.random.default_rng(seed)
    V = len(WORDS)
    E = embeddings(d_in, 0)  # the directions make_sae's features read; seed only varies the text and noise
    with h5py.File(path, "w") as f:
        f.attrs["model"] = "synthetic"
        f.attrs["ctx"] = ctx
        f.attrs["n_seq"] = n_seq
        f.attrs["d_model"] = d_in
        dt = h5py.string_dtype(encoding="ascii")
        voc = f.create_dataset("vocab", (V,), dtype=dt)
        for i, w in enumerate(WORDS):
            voc[i] = w
        tk = f.create_dataset("tokens", (n_seq, ctx), dtype="int32")
        ac = f.create_dataset("acts/" + hook, (n_seq, ctx, d_in), dtype=dtype)
        step = chunk or max(1, 65536 // ctx)
        for s0 in range(0, n_seq, step):
            n = min(step, n_seq - s0)
            ids = rng.integers(0, V, size=(n, ctx)).astype(np.int32)
            ids[ids == 11] = 14                       # the CJK tail only after its head:
            head = np.argwhere(ids[:, :-1] == 10)
            ids[head[:, 0], head[:, 1] + 1] = 11
            ids[:, -1][ids[:, -1] == 10] = 14
            x = E[ids] + 0.3 * rng.standard_normal((n, ctx, d_in)).astype(np.float32)
            tk[s0:s0 + n] = ids
            ac[s0:s0 + n] = x.astype(dtype)
    return E


def make_sae(path, d_in, d_sae, hook="blocks.0.hook_resid_post", seed=0, log=False, eval_=False, model="synthetic", bias=None):
    """ReLU SAE: feature f reads the direction of word f % V (plus a little noise), bias -0.5 d_in."""
    rng = np.random.default_rng(seed + 1)
    E = embeddings(d_in, 0)
    V = len(WORDS)
    W_enc = np.stack([E[f % V] / np.sqrt(d_in) + 0.05 * rng.standard_normal(d_in) for f in range(d_sae)], 1).astype(np.float32)
    b_enc = np.full(d_sae, -0.5 * np.sqrt(d_in) if bias is None else bias, np.float32)
    W_dec = (W_enc.T / np.linalg.norm(W_enc.T, axis=1, keepdims=True)).astype(np.float32)
    b_dec = np.zeros(d_in, np.float32)
    with h5py.File(path, "w") as f:
        f["W_enc"] = W_enc
        f["W_dec"] = W_dec
        f["b_enc"] = b_enc
        f["b_dec"] = b_dec
        f.attrs["architecture"] = "relu"
        f.attrs["d_in"] = d_in
        f.attrs["d_sae"] = d_sae
        f.attrs["k"] = 0
        f.attrs["hook"] = hook
        f.attrs["model"] = model
        if log:
            steps = np.arange(0, 2000, 50, dtype=np.float64)
            r = 1 + 0.3 * seed  # each dictionary its own curves
            L = np.stack([steps, steps * 4096, 2.0 * np.exp(-steps / (400 * r)) + 0.1 * r, 60 * np.exp(-steps / 300) + 10 * r,
                          1 - 0.8 * np.exp(-steps / (500 * r))], 1)
            ds = f.create_dataset("training_log", data=L)
            ds.attrs["columns"] = ["step", "tokens", "loss", "l0", "explained_variance"]
        if eval_:
            g = f.create_group("eval")
            dens = 10 ** rng.uniform(-6, -0.5, d_sae)
            dens[rng.random(d_sae) < 0.1] = 0
            g["feature_density"] = dens
            g.attrs["l0"] = float(rng.uniform(10, 60))
            g.attrs["explained_variance"] = float(rng.uniform(0.6, 0.95))
            g.attrs["dead_frac"] = float(np.mean(dens == 0))
            g.attrs["ce_recovered"] = float(rng.uniform(0.7, 0.99))
    return W_enc, b_enc, b_dec


def encode(x, W_enc, b_enc, b_dec):
    return np.maximum((x - b_dec) @ W_enc + b_enc, 0)


def read_png(path, fast=True):
    """Minimal PNG reader: chunks, CRCs and text chunks parsed here; pixels decoded here (fast=False,
    slow: Python loops over Paeth/Average filters) or by matplotlib's imread (an independent decoder).
    Returns (pixels (h,w,3) uint8, texts)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, texts = 8, b"", {}
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        crc = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        assert zlib.crc32(typ + body) & 0xFFFFFFFF == crc, f"bad CRC in {typ}"
        if typ == b"IHDR":
            w, h, depth, ct, _, _, inter = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and inter == 0
        elif typ == b"IDAT":
            idat += body
        elif typ == b"tEXt":
            k, v = body.split(b"\0", 1)
            texts[k.decode("latin-1")] = v.decode("latin-1")
        elif typ == b"iTXt":
            k, rest = body.split(b"\0", 1)
            comp, _method = rest[0], rest[1]
            _lang, rest = rest[2:].split(b"\0", 1)
            _tk, v = rest.split(b"\0", 1)
            texts[k.decode("latin-1")] = (zlib.decompress(v) if comp else v).decode("utf-8")
        pos += 12 + n
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[ct]
    if fast:
        import matplotlib.image
        img = np.rint(matplotlib.image.imread(path)[:, :, :3] * 255).astype(np.uint8)
        assert img.shape[:2] == (h, w)
        return img, texts
    raw = zlib.decompress(idat)
    stride = w * ch
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)], np.uint8).astype(np.int32)
        cur = np.zeros(stride, np.int32)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) & 255
        else:
            for i in range(stride):
                a = cur[i - ch] if i >= ch else 0
                b = prev[i]
                c = prev[i - ch] if i >= ch else 0
                if f == 1:
                    p = a
                elif f == 3:
                    p = (a + b) // 2
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[i] = (line[i] + p) & 255
        out[y] = cur
        prev = cur
    img = out.reshape(h, w, ch)
    if ch == 1:
        img = np.repeat(img, 3, 2)
    elif ch == 2:
        img = np.repeat(img[:, :, :1], 3, 2)
    elif ch == 4:
        img = img[:, :, :3]
    return img, texts


def layout(texts):
    """The 'Layout' chunk of a heatmap as a dict of int/float tuples."""
    d = {}
    for kv in texts["Layout"].split():
        k, v = kv.split("=")
        vals = tuple(float(x) if "." in x or "e" in x else int(x) for x in v.split(","))
        d[k] = vals if len(vals) > 1 else vals[0]
    return d
