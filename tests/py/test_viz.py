"""monoscope viz heatmap|text|dashboard|summary on synthetic files (tests/py/vizdata.py): every PNG
is read back and checked against numpy (the SAE encoding recomputed here) and against properties:
dimensions follow features/tokens, the largest activation has viridis' extreme colour, labels
have ink, CJK tokens render, text chunks carry the command, errors are one line."""
import os
import shutil
import numpy as np
import h5py
import mstest
from mstest import run, check, finish, TMP
import vizdata as vd

D_IN, D_SAE, CTX, N_SEQ = 16, 48, 24, 40
SAE = os.path.join(TMP, "sae.h5")
ACTS = os.path.join(TMP, "acts.h5")
vd.make_acts(ACTS, N_SEQ, CTX, D_IN)
W_enc, b_enc, b_dec = vd.make_sae(SAE, D_IN, D_SAE, log=True, eval_=True)
with h5py.File(ACTS, "r") as f:
    X = f["acts/blocks.0.hook_resid_post"][:]
    TOK = f["tokens"][:]
CODES = vd.encode(X.reshape(-1, D_IN), W_enc, b_enc, b_dec).reshape(N_SEQ, CTX, D_SAE)
VIRIDIS_TOP = np.array([253, 231, 37])  # matplotlib viridis(1.0) = (0.993248, 0.906157, 0.143936)


def ink(img, x, y, w, h):
    reg = img[y:y + h, x:x + w].astype(float)
    luma = reg @ np.array([0.2126, 0.7152, 0.0722])
    return int((luma < 128).sum())


def heatmap(seq, feats, out):
    p = run("viz", "heatmap", "--sae", SAE, "--acts", ACTS, "--seq", seq, "--features", ",".join(map(str, feats)), "--out", out)
    img, t = vd.read_png(out)
    return img, t, vd.layout(t)


def col_at(L, c):
    """(x of column c's cells, y shift of its panel): long sequences wrap into panels (README)."""
    panels, per, dy = L["panels"]
    return L["grid"][0] + (c % per) * L["cell"][0], (c // per) * dy


def t_heatmap():
    seq, feats = 3, [5, 1, 12, 40, 7]
    img, t, L = heatmap(seq, feats, os.path.join(TMP, "h5.png"))
    assert L["rows"] == 5 and L["cols"] == CTX
    gx, gy = L["grid"]
    cw, chh = L["cell"]
    a = CODES[seq][:, feats].T  # (rows, tokens)
    i, j = np.unravel_index(np.argmax(a), a.shape)
    x, dy = col_at(L, j)
    px = img[gy + dy + i * chh + chh // 2, x + cw // 2].astype(int)
    assert np.abs(px - VIRIDIS_TOP).max() <= 1, f"max cell colour {px}"
    # every other cell is darker than the extreme (the map is monotone in luminance)
    for r in range(5):
        for c in range(CTX):
            if (r, c) != (i, j) and a[r, c] < a[i, j] - 1e-3:
                x, dy = col_at(L, c)
                q = img[gy + dy + r * chh + chh // 2, x + cw // 2].astype(int)
                assert np.abs(q - VIRIDIS_TOP).max() > 1, (r, c)
    # labels
    rx, rw = L["rowlab"]
    for r in range(5):
        assert ink(img, rx, gy + r * chh, rw + 2, chh) > 5, f"row label {r}"
    cy, ch = L["collab"]
    for c in range(CTX):
        x, dy = col_at(L, c)
        assert ink(img, x, cy + dy, cw, ch) > 0, f"column label {c}"
    # the colorbar against matplotlib's viridis (an independent implementation of the map)
    from matplotlib import cm
    bx, by, bw, bh = L["cbar"]
    for yy in range(0, bh, 7):
        want = np.array(cm.get_cmap("viridis")(1.0 - yy / (bh - 1))[:3]) * 255
        got = img[by + yy, bx + bw // 2].astype(float)
        assert np.abs(got - want).max() <= 2.5, (yy, got, want)
    assert "monoscope viz heatmap" in t["Command"] and "--features" in t["Command"], t["Command"]
    assert SAE in t["Inputs"] and ACTS in t["Inputs"]
    # dimensions follow the numbers of features
    img2, _, L2 = heatmap(seq, list(range(14)), os.path.join(TMP, "h14.png"))
    img3, _, L3 = heatmap(seq, list(range(20)), os.path.join(TMP, "h20.png"))
    assert img3.shape[0] - img2.shape[0] == 6 * chh * L["panels"][0], (img2.shape, img3.shape, L["panels"])
    assert img3.shape[1] == img2.shape[1]


def t_heatmap_cjk_and_positions():
    # find a sequence with the split CJK character (token 10 then 11)
    seq = next(s for s in range(N_SEQ) if any(TOK[s, p] == 10 and TOK[s, p + 1] == 11 for p in range(CTX - 1)))
    pos = next(p for p in range(CTX - 1) if TOK[seq, p] == 10 and TOK[seq, p + 1] == 11)
    out = os.path.join(TMP, "cjk.png")
    run("viz", "heatmap", "--sae", SAE, "--acts", ACTS, "--seq", seq, "--top", 4, "--out", out)
    img, t = vd.read_png(out)
    L = vd.layout(t)
    gx, gy = L["grid"]
    cw, chh = L["cell"]
    cy, ch = L["collab"]
    x, dy = col_at(L, pos + 1)
    n_cjk = ink(img, x, cy + dy, cw, ch)
    assert n_cjk > 15, f"CJK label ink {n_cjk}"
    # --top 4: the 4 features with the largest activation on this sequence, in order
    want = [int(x) for x in np.argsort(-CODES[seq].max(0), kind="stable")[:4]]
    assert L["rows"] == 4
    got = [int(x) for x in t["Inputs"].split("features=")[1].split(";")[0].split(",")]
    assert got == want, (got, want)
    # positions: width follows the number of tokens
    o2 = os.path.join(TMP, "pos.png")
    run("viz", "heatmap", "--sae", SAE, "--acts", ACTS, "--seq", seq, "--features", "1,2", "--positions", "0-19", "--out", o2)
    o3 = os.path.join(TMP, "pos2.png")
    run("viz", "heatmap", "--sae", SAE, "--acts", ACTS, "--seq", seq, "--features", "1,2", "--positions", "0-23", "--out", o3)
    a2, t2 = vd.read_png(o2)
    a3, t3 = vd.read_png(o3)
    L2, L3 = vd.layout(t2), vd.layout(t3)
    assert L2["cols"] == 20 and L3["cols"] == 24
    # the grid is as wide as one panel's columns (a page at most), the rest wraps below
    w2, w3 = L2["panels"][1] * L2["cell"][0], L3["panels"][1] * L3["cell"][0]
    assert a3.shape[1] - a2.shape[1] == w3 - w2, (a2.shape, a3.shape, L2["panels"], L3["panels"])
    assert w3 <= 1200 and a3.shape[0] - a2.shape[0] == (L3["panels"][0] - L2["panels"][0]) * L3["panels"][2], (a2.shape, a3.shape)


def t_text():
    out = os.path.join(TMP, "text.png")
    seq, f = 5, 1
    run("viz", "text", "--sae", SAE, "--acts", ACTS, "--seq", seq, "--feature", f, "--width", 500, "--out", out)
    img, t = vd.read_png(out)
    assert img.shape[1] == 500
    orange = np.array([255, 140, 0])
    n_full = int((np.abs(img.astype(int) - orange).max(2) == 0).sum())
    assert CODES[seq][:, f].max() > 0
    assert n_full > 50, f"no token on full orange ({n_full})"
    assert "viz text" in t["Command"]
    # --feature top: the feature with the largest activation on the sequence (numpy's codes), same picture
    best = int(np.argmax(CODES[seq].max(0)))
    top, named = os.path.join(TMP, "text_top.png"), os.path.join(TMP, "text_named.png")
    run("viz", "text", "--sae", SAE, "--acts", ACTS, "--seq", seq, "--feature", "top", "--width", 500, "--out", top)
    run("viz", "text", "--sae", SAE, "--acts", ACTS, "--seq", seq, "--feature", best, "--width", 500, "--out", named)
    assert np.array_equal(vd.read_png(top)[0], vd.read_png(named)[0]), best


def t_dashboard():
    out = os.path.join(TMP, "dash")
    feats = [0, 1, 2, 10, 11, 47]
    run("viz", "dashboard", "--sae", SAE, "--acts", ACTS, "--features", ",".join(map(str, feats)), "--top-k", 5,
        "--context", 4, "--out", out)
    for f in feats:
        p = os.path.join(out, f"feature_{f:05d}.png")
        img, t = vd.read_png(p)
        assert img.shape[1] == 980 and img.shape[0] > 400, img.shape
        assert "viz dashboard" in t["Command"] and "top_k=5" in t["Inputs"]
        assert ink(img, 0, 0, img.shape[1], img.shape[0]) > 2000
    idx, _ = vd.read_png(os.path.join(out, "index_000.png"))
    assert idx.shape[0] > 6 * 20
    # a memory budget small enough to force several groups gives identical pages
    out2 = os.path.join(TMP, "dash2")
    p = run("viz", "dashboard", "--sae", SAE, "--acts", ACTS, "--features", ",".join(map(str, feats)), "--top-k", 5,
            "--context", 4, "--mem-mb", 16, "--out", out2)
    for f in feats:
        a, _ = vd.read_png(os.path.join(out, f"feature_{f:05d}.png"))
        b, _ = vd.read_png(os.path.join(out2, f"feature_{f:05d}.png"))
        assert a.shape == b.shape and (a == b).all(), f


def t_summary():
    sae2 = os.path.join(TMP, "sae_l1.h5")
    vd.make_sae(sae2, D_IN, D_SAE, hook="blocks.1.hook_resid_post", seed=3, log=True, eval_=True)
    out = os.path.join(TMP, "summary")
    run("viz", "summary", "--sae", f"{SAE},{sae2}", "--out", out, "--dpi", 150)
    for name in ("density.png", "l0_ev.png", "dead.png", "training.png"):
        img, t = vd.read_png(os.path.join(out, name))
        assert "viz summary" in t["Command"] and sae2 in t["Inputs"]
        assert ink(img, 0, 0, img.shape[1], img.shape[0]) > 500, name
    a, _ = vd.read_png(os.path.join(out, "density.png"))
    assert a.shape[0] == round(460 * 1.5) and a.shape[1] > round(720 * 1.5), a.shape  # --dpi scales the figure (legend beside it)
    # a dictionary without /eval: metrics computed from --acts, else the figures are skipped
    bare = os.path.join(TMP, "sae_bare.h5")
    vd.make_sae(bare, D_IN, D_SAE)
    out2 = os.path.join(TMP, "summary2")
    shutil.rmtree(out2, ignore_errors=True)
    p = run("viz", "summary", "--sae", bare, "--out", out2)
    assert not os.path.exists(os.path.join(out2, "density.png")) and "skipped" in p.stderr
    run("viz", "summary", "--sae", bare, "--acts", ACTS, "--out", out2)
    for name in ("density.png", "l0_ev.png", "dead.png"):
        assert os.path.exists(os.path.join(out2, name)), name


def many_saes(tag, same_l0=False):
    """4 architectures x 6 layers; several dictionaries share (L0, EV) exactly, and with same_l0 every
    L0 is 32 (the degenerate x range)."""
    files = []
    for li in range(6):
        for ai, arch in enumerate(("relu", "topk", "batchtopk", "jumprelu")):
            path = os.path.join(TMP, f"{tag}_l{li}_{arch}.h5")
            vd.make_sae(path, D_IN, D_SAE, hook=f"blocks.{li}.hook_resid_post", seed=li * 4 + ai, log=True, eval_=True)
            with h5py.File(path, "a") as f:
                f.attrs["architecture"] = arch
                f.attrs["k"] = 8 if arch in ("topk", "batchtopk") else 0
                if arch in ("batchtopk", "jumprelu"):
                    f["threshold"] = np.full(D_SAE, 0.1, np.float32)
                g = f["eval"]
                if same_l0:
                    g.attrs["l0"] = 32.0
                    g.attrs["explained_variance"] = 0.80 + 0.02 * li if ai < 3 else 0.9  # 3 coincide per layer
                elif ai < 3 and li < 2:  # three of four architectures coincide on layers 0 and 1
                    g.attrs["l0"] = 20.0 + li
                    g.attrs["explained_variance"] = 0.85
                    g.attrs["ce_recovered"] = 0.9
                g.attrs["dead_frac"] = 0.05 * ai + 0.01 * li
            files.append(path)
    return files


def overlap(a, b):
    return a[2] > 0 and b[2] > 0 and a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def check_scatter(img, L):
    H, W = img.shape[:2]
    assert tuple(L["size"]) == (W, H)
    lg = L["legend"]
    assert lg[0] >= 0 and lg[1] >= 0 and lg[0] + lg[2] <= W and lg[1] + lg[3] <= H, f"legend {lg} outside {W}x{H}"
    assert ink(img, *lg) > 200, "legend has text"
    panels = 2 if "area1" in L else 1
    for q in range(panels):
        area = L[f"area{q}"]
        assert not overlap(area, lg), "legend over the data area"
        (x0, x1), (y0, y1) = L[f"xr{q}"], L[f"yr{q}"]
        for lo, hi in ((x0, x1), (y0, y1)):  # padded, readable: not 31.999..32.001
            assert hi - lo >= 0.05 * max(abs(lo), abs(hi), 1e-9) and hi - lo > 1e-6, (lo, hi)
        n = L[f"n{q}"]
        mk = [L[f"mk{q}_{i}"] for i in range(n)]
        lb = [L[f"lb{q}_{i}"] for i in range(n)]
        placed = sum(1 for b in lb if b[2] > 0)
        assert placed >= n - 2, f"only {placed} of {n} labels placed"
        for i in range(n):
            m = mk[i][:4]
            assert m[2] > 0 and overlap(m, area) and not overlap(m, lg), f"marker {i} {m}"
            for j in range(n):
                if j != i:
                    assert not overlap(m, mk[j][:4]), f"markers {i} {j} overlap: {m} {mk[j]}"
                    assert not overlap(lb[i], lb[j]), f"labels {i} {j} overlap: {lb[i]} {lb[j]}"
                    assert not overlap(lb[i], mk[j][:4]), f"label {i} covers marker {j}"
            b = lb[i]
            if b[2]:
                assert not overlap(b, lg), f"label {i} under the legend"
                assert b[0] >= area[0] and b[1] >= area[1] and b[0] + b[2] <= area[0] + area[2] and b[1] + b[3] <= area[1] + area[3], \
                    f"label {i} {b} leaves the area {area}"
                assert ink(img, *b[:4]) > 5, f"label {i} has no glyphs"
            # pixels: the marker's centre shows its own fill colour (nothing drawn over it)
            cx, cy = m[0] + m[2] // 2, m[1] + m[3] // 2
            assert tuple(img[cy, cx]) == tuple(mk[i][4:7]), f"marker {i} centre {img[cy, cx]} != {mk[i][4:7]}"
        # distinct (colour, shape) per dictionary: colour and the marker's pixel mask
        sig = set()
        for i in range(n):
            x, y, w, h = mk[i][:4]
            mask = (np.abs(img[y:y + h, x:x + w].astype(int) - np.array(mk[i][4:7])).max(2) == 0)
            sig.add((tuple(mk[i][4:7]), mask.tobytes()))
        assert len(sig) == n, f"{n - len(sig)} dictionaries share a colour and shape"


def t_summary_many():
    for tag, same in (("many", False), ("flat", True)):
        files = many_saes(tag, same)
        out = os.path.join(TMP, f"summary_{tag}")
        run("viz", "summary", "--sae", ",".join(files), "--out", out)
        img, t = vd.read_png(os.path.join(out, "l0_ev.png"))
        assert "Layout" in t, "l0_ev.png has no Layout chunk"
        L = vd.layout(t)
        check_scatter(img, L)
        if same:
            assert L["xr0"][0] <= 30 and L["xr0"][1] >= 34, L["xr0"]
        d, td = vd.read_png(os.path.join(out, "dead.png"))
        D = vd.layout(td)
        H, W = d.shape[:2]
        lg = D["legend"]
        assert lg[0] + lg[2] <= W and lg[1] + lg[3] <= H and not overlap(lg, D["area"])
        bars = [D[f"bar{i}"] for i in range(D["n"])]
        vals = [D[f"val{i}"] for i in range(D["n"])]
        assert len(bars) == len(files)
        for i, b in enumerate(bars):
            assert not overlap(b[:4], lg)
            for j in range(i):
                assert not overlap(b[:4], bars[j][:4]), f"bars {i} {j} overlap"
                assert not overlap(vals[i], vals[j]), f"value labels {i} {j} overlap"
            # the bar's fill colour shows at its centre column, above the base line
            x, y, w, h = b[:4]
            col = d[y + 1:y + h - 1, x + 1:x + w - 1].reshape(-1, 3)
            assert (np.abs(col.astype(int) - np.array(b[4:7])).max(1) == 0).sum() > 0, f"bar {i} colour"
        sig = set()
        for b in bars:  # colour and hatch distinguish every bar
            x, y, w, h = b[:4]
            hh = min(h, 12)
            patch = d[y + h - hh:y + h, x:x + min(w, 8)].astype(int)
            sig.add((tuple(b[4:7]), (np.abs(patch - np.array(b[4:7])).max(2) == 0).tobytes()))
        assert len(sig) == len(bars), f"{len(bars) - len(sig)} bars look alike"


def safetensors(path):
    import json, struct
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        a, e = v["data_offsets"]
        assert v["dtype"] == "F32"
        out[k] = np.frombuffer(b[8 + n + a:8 + n + e], np.float32).reshape(v["shape"])
    return out


def t_model():
    """--model: a random GPT-2 with a byte-level tokenizer (CJK splits into byte tokens)."""
    model = os.path.join(TMP, "rm")
    run("random-model", "--arch", "gpt2", "--out", model, "--d-model", 32, "--layers", 2, "--vocab", 400)
    sae = os.path.join(TMP, "sae_rm.h5")
    W_enc, _, _ = vd.make_sae(sae, 32, 40, hook="blocks.1.hook_resid_post", model="rm", bias=0.0)
    out = os.path.join(TMP, "hm_model.png")
    text = "Hello \u4e2d\u6587 world,\tnew\nline"
    run("viz", "heatmap", "--sae", sae, "--model", model, "--text", text, "--top", 5, "--out", out)
    img, t = vd.read_png(out)
    L = vd.layout(t)
    n_tok = L["cols"]
    assert n_tok > 15 and L["rows"] == 5
    assert text in t["Inputs"] and text in t["Command"]  # iTXt: UTF-8 survives
    gx, gy = L["grid"]
    cw, chh = L["cell"]
    cy, ch = L["collab"]
    for c in range(n_tok):
        x, dy = col_at(L, c)
        assert ink(img, x, cy + dy, cw, ch) > 0, f"column {c}"
    # BOS only on request (as capture): one more column, labelled <bos>
    out_bos = os.path.join(TMP, "hm_model_bos.png")
    run("viz", "heatmap", "--sae", sae, "--model", model, "--text", text, "--top", 5, "--prepend-bos", "--out", out_bos)
    assert vd.layout(vd.read_png(out_bos)[1])["cols"] == n_tok + 1
    # a long text wraps into panels of at most a page of grid (1200 px at 100 dpi): every column's
    # cell (at its panel's place) has the colour of its activation's rank, every label has ink
    long_text = " ".join(["The cat sat on the mat, and then it slept."] * 7)
    out_long = os.path.join(TMP, "hm_long.png")
    run("viz", "heatmap", "--sae", sae, "--model", model, "--text", long_text, "--features", "0,1", "--out", out_long)
    img_l, t_l = vd.read_png(out_long)
    L = vd.layout(t_l)
    panels, per, dy = L["panels"]
    assert L["cols"] > 100 and panels == -(-L["cols"] // per) and panels >= 2, L
    assert per * L["cell"][0] <= 1200 and img_l.shape[1] <= 1500, (L, img_l.shape)
    gx, gy = L["grid"]
    cw, chh = L["cell"]
    cy, ch = L["collab"]
    for c in range(L["cols"]):
        x, yoff = gx + (c % per) * cw, (c // per) * dy
        assert ink(img_l, x, cy + yoff, cw, ch) > 0, f"column label {c}"
        cell = img_l[gy + yoff + chh // 2, x + cw // 2].astype(int)
        assert not (cell >= 250).all(), f"column {c}: no cell at its panel's place"
    for sub in ("heatmap", "text"):
        h = run("viz", sub, "--help").stdout
        assert "%%" not in h and "100 % zoom" in h and "--prepend-bos" in h, h
    tv = os.path.join(TMP, "tv_model.png")
    run("viz", "text", "--sae", sae, "--model", model, "--text", text, "--feature", 3, "--out", tv)
    # dashboard with the logit lens, checked against numpy: W_U (gamma * centred W_dec[f])
    acts = os.path.join(TMP, "acts_rm.h5")
    vd.make_acts(acts, 10, 16, 32, hook="blocks.1.hook_resid_post")
    d = os.path.join(TMP, "dash_rm")
    run("viz", "dashboard", "--sae", sae, "--acts", acts, "--model", model, "--features", "0-3", "--out", d)
    w = safetensors(os.path.join(model, "model.safetensors"))
    WU, gam = w["transformer.wte.weight"], w["transformer.ln_f.weight"]
    with h5py.File(sae, "r") as f:
        W_dec = f["W_dec"][:]
    for fi in range(4):
        _, tx = vd.read_png(os.path.join(d, f"feature_{fi:05d}.png"))
        pos, neg = tx["LogitLens"].split(" ")
        got_pos = [int(x.split(":")[0]) for x in pos[1:].split(",")]
        got_neg = [int(x.split(":")[0]) for x in neg[1:].split(",")]
        v = W_dec[fi].astype(np.float64)
        lg = WU.astype(np.float64) @ ((v - v.mean()) * gam)
        order = np.argsort(-lg)
        assert got_pos[:5] == [int(i) for i in order[:5]], (got_pos, order[:5])
        assert got_neg[:5] == [int(i) for i in order[::-1][:5]], (got_neg, order[::-1][:5])
        vals = [float(x.split(":")[1]) for x in pos[1:].split(",")]
        assert abs(vals[0] - lg[order[0]]) < 1e-4 * max(1, abs(lg[order[0]]))


def t_errors():
    p = run("viz", "heatmap", "--sae", SAE, "--acts", ACTS, "--seq", 999, "--out", os.path.join(TMP, "x.png"), ok=False)
    assert len(p.stderr.strip().splitlines()) == 1 and "999" in p.stderr
    p = run("viz", "heatmap", "--sae", SAE, "--out", os.path.join(TMP, "x.png"), ok=False)
    p = run("viz", "text", "--sae", SAE, "--acts", ACTS, "--seq", 0, "--feature", 9999, "--out", os.path.join(TMP, "x.png"), ok=False)
    p = run("viz", "dashboard", "--sae", os.path.join(TMP, "none.h5"), "--acts", ACTS, "--out", os.path.join(TMP, "d"), ok=False)
    assert "none.h5" in p.stderr
    p = run("viz", "nope", ok=False)
    for sub in ("heatmap", "text", "dashboard", "summary"):
        h = run("viz", sub, "--help")
        assert "--out" in h.stdout and "usage" in h.stdout


check("heatmap", t_heatmap)
check("heatmap_cjk_positions", t_heatmap_cjk_and_positions)
check("text", t_text)
check("dashboard", t_dashboard)
check("summary", t_summary)
check("summary_many", t_summary_many)
check("model", t_model)
check("errors", t_errors)
finish()
