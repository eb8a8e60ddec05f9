#!/usr/bin/env python3
"""REPORT.md of the main job (scripts/demo.sh): links every figure and states every number measured in
the run, read from the files the run wrote (training_log.h5 of each model, `sae eval --json`, the SAE
files' /eval, the sparse codes of `sae encode`, timings.tsv); nothing is written by hand.

    demo_report.py OUT                      writes OUT/REPORT.md
    demo_report.py --top-features N CODES   prints the N features active on most tokens, comma-separated
"""
import json, os, sys

import h5py
import numpy as np


def density(codes):
    """Fraction of the tokens each feature is active on, (d_sae,), and the number of tokens."""
    with h5py.File(codes) as f:
        n = int(f.attrs["n_tokens"])
        return np.bincount(f["indices"][:], minlength=int(f.attrs["d_sae"])) / max(n, 1), n


DENSE = 0.1  # features active on more tokens than this are listed apart: they rarely mean one thing


def top_features(codes, n):
    """The n features active on most tokens among those active on at most DENSE of them."""
    d, _ = density(codes)
    order = np.lexsort((np.arange(len(d)), -d))  # most tokens first, ties by index
    return [int(i) for i in order if 0 < d[i] <= DENSE][:n]


def byte_decoder():
    """GPT-2's byte <-> unicode table, inverted: vocab.json's symbols back to bytes."""
    # printable Latin-1 bytes map to themselves, the others to 256, 257, ... in byte order
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, extra = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def token_texts(tokenizer_dir):
    vocab = json.load(open(os.path.join(tokenizer_dir, "vocab.json"), encoding="utf-8"))
    dec = byte_decoder()
    texts = {}
    for sym, i in vocab.items():
        raw = bytes(dec[c] for c in sym) if all(c in dec for c in sym) else sym.encode()
        texts[i] = raw.decode("utf-8", errors="replace")
    return texts


def legible(s):
    """A token as viz draws it: · space, ↵ newline, → tab; safe inside a Markdown table cell."""
    s = s.replace(" ", "·").replace("\n", "↵").replace("\t", "→").replace("\r", "<0x0D>")
    return "`" + s.replace("|", "\\|").replace("`", "ˋ") + "`"


def feature_rows(codes, tokens_text, features, n_tokens_shown=6, context=6):
    """Per feature: density, max activation, its top tokens by summed activation (with their share
    of the feature's total activation) and the context of its largest activation."""
    with h5py.File(codes) as f:
        indptr, indices, values, toks = f["indptr"][:], f["indices"][:], f["values"][:], f["tokens"][:]
        n, ctx = int(f.attrs["n_tokens"]), int(f.attrs["ctx"])
    pos = np.repeat(np.arange(n), np.diff(indptr))
    rows = []
    for feat in features:
        m = indices == feat
        p, v = pos[m], values[m].astype(np.float64)
        ids = toks[p]
        mass = np.bincount(ids, weights=v, minlength=1)
        top = np.argsort(-mass, kind="stable")[:n_tokens_shown]
        tops = ", ".join(f"{legible(tokens_text.get(int(t), f'#{t}'))} {100 * mass[t] / v.sum():.0f} %" for t in top if mass[t] > 0)
        at = int(p[np.argmax(v)])
        lo = max(at - context, at - at % ctx)
        ctx_text = "".join(tokens_text.get(int(t), f"#{t}") for t in toks[lo:at])
        rows.append((feat, len(p) / n, float(v.max()), tops, ctx_text, tokens_text.get(int(toks[at]), "")))
    return rows


def lm_numbers(model_dir):
    with h5py.File(os.path.join(model_dir, "training_log.h5")) as f:
        cols = [c.decode() if isinstance(c, bytes) else c for c in f.attrs["columns"]]
        log = f["training_log"][:]
        r = {k: float(f.attrs[k]) for k in ("val_loss_unigram", "val_loss_bigram")}
        cmd = f.attrs["command"]
        r["command"] = cmd.decode() if isinstance(cmd, bytes) else cmd
    col = {c: log[:, i] for i, c in enumerate(cols)}
    val = col["val_loss"][~np.isnan(col["val_loss"])]
    r.update(steps=len(log), val_loss=float(val[-1]), train_loss=float(col["train_loss"][-1]),
             tokens_per_s=float(np.median(col["tokens_per_s"])))
    info = dict(l.split(": ", 1) for l in open(model_dir.rstrip("/") + ".info").read().splitlines() if ": " in l)
    r["parameters"] = int(info["parameters"])
    return r


def fmt_eval(e):
    d = e.get("downstream", {})
    ce = d.get("ce_recovered")
    ce_s = "n/a" if ce is None else f"{ce:.3f}" + ("" if d.get("ce_recovered_valid", True) else " (unreliable: ΔCE < 0.01)")
    return e, d, ce_s


def write_report(out):
    L = []
    w = L.append
    timings = [l.split("\t") for l in open(os.path.join(out, "timings.tsv")).read().splitlines() if l]
    m1, m4 = lm_numbers(os.path.join(out, "lm")), lm_numbers(os.path.join(out, "lm4"))
    w("# monoscope main job: report\n")
    w("Written by `scripts/demo.sh` (`scripts/demo_report.py`); every number below was measured in this run.\n")
    w("## Timings\n")
    w("| stage | seconds |\n| --- | ---: |")
    for name, sec in timings:
        w(f"| {name} | {float(sec):.1f} |")
    w("\nA model stage of a few seconds means the model came from the cache (`scripts/demo.sh --no-cache` retrains).\n")
    w("## Language models\n")
    w("Validation loss in nats/token on the validation split (the same windows for all four numbers); the "
      "baselines are estimated on the training split by `train-lm` (unigram: add-one; bigram: interpolated "
      "Witten–Bell).\n")
    w("| model | parameters | steps | train loss | val loss | unigram baseline | bigram baseline | tokens/s (median) |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, m in (("1 layer (`lm/`)", m1), ("4 layers (`lm4/`)", m4)):
        w(f"| {name} | {m['parameters']:,} | {m['steps']} | {m['train_loss']:.3f} | **{m['val_loss']:.3f}** | "
          f"{m['val_loss_unigram']:.3f} | {m['val_loss_bigram']:.3f} | {m['tokens_per_s']:,.0f} |")
    w("")
    below = lambda m: m["val_loss"] < min(m["val_loss_unigram"], m["val_loss_bigram"])
    w(f"Below both baselines: 1 layer {'yes' if below(m1) else '**no**'}, 4 layers {'yes' if below(m4) else '**no**'} "
      f"(val loss − bigram: {m1['val_loss'] - m1['val_loss_bigram']:+.3f} and {m4['val_loss'] - m4['val_loss_bigram']:+.3f}); "
      f"4 layers − 1 layer: {m4['val_loss'] - m1['val_loss']:+.3f} nats/token. Commands:\n")
    for name, m in (("1 layer", m1), ("4 layers", m4)):
        w(f"- {name}: `{m['command']}`")
    e, d, ce = fmt_eval(json.load(open(os.path.join(out, "sae.eval.json"))))
    w("\n## The 1-layer model's MLP dictionary (`blocks.0.mlp.hook_post`, TopK k 16, 2048 features)\n")
    w(f"Explained variance **{e['explained_variance']:.3f}**, L0 {e['l0']:.1f}, dead {100 * e['dead_frac']:.1f} %, "
      f"CE loss recovered **{ce}** (clean {d.get('ce_clean', float('nan')):.3f}, with the SAE spliced in "
      f"{d.get('ce_splice', float('nan')):.3f}, zero-ablated {d.get('ce_zero_ablate', float('nan')):.3f} nats/token), "
      f"over {e['n_tokens']:,} tokens.\n")
    w("![heatmap of a corpus window](heatmap.png)\n")
    w("![heatmap of a verse](heatmap_prose.png)\n")
    w("![heatmap of C code](heatmap_code.png)\n")
    w("![the most active feature on the window](text.png)\n")
    codes = os.path.join(out, "codes.h5")
    dens, _ = density(codes)
    w(f"Dashboards (with the logit lens) of the 64 features active on most tokens among those active on at most "
      f"{100 * DENSE:.0f} % of them: [contact sheet](dashboard/index_000.png). "
      f"Features denser than that: {int((dens > DENSE).sum())}.\n")
    texts = token_texts(os.path.join(out, "tokenizer"))
    feats = top_features(codes, 16)
    w(f"### Top features (active on most tokens, at most {100 * DENSE:.0f} % of them)\n")
    w("Top tokens: the tokens carrying most of the feature's summed activation (share of it); context: the "
      "tokens before its largest activation, which is on the **bold** token.\n")
    w("| feature | density | max | top tokens | largest activation in context |")
    w("| --- | ---: | ---: | --- | --- |")
    for feat, dens, mx, tops, ctx_text, at in feature_rows(codes, texts, feats):
        ctx_cell = (legible(ctx_text) if ctx_text else "(start of a window)") + " **" + legible(at) + "**"
        w(f"| [{feat}](dashboard/feature_{feat:05d}.png) | {100 * dens:.2f} % | {mx:.2f} | {tops} | {ctx_cell} |")
    w("\n## The 4-layer model: one dictionary per layer (`blocks.L.hook_resid_post`, TopK k 16, 1024 features)\n")
    w("| site | explained variance | L0 | dead | CE loss recovered | CE clean / spliced / zero-ablated |")
    w("| --- | ---: | ---: | ---: | ---: | --- |")
    for l in range(m4_layers(out)):
        e, d, ce = fmt_eval(json.load(open(os.path.join(out, f"sae4.blocks.{l}.eval.json"))))
        w(f"| `blocks.{l}.hook_resid_post` | {e['explained_variance']:.3f} | {e['l0']:.1f} | {100 * e['dead_frac']:.1f} % | "
          f"{ce} | {d.get('ce_clean', float('nan')):.3f} / {d.get('ce_splice', float('nan')):.3f} / "
          f"{d.get('ce_zero_ablate', float('nan')):.3f} |")
    w("\n![density](summary4/density.png) ![L0 vs EV](summary4/l0_ev.png)\n")
    w("![dead](summary4/dead.png) ![training](summary4/training.png)\n")
    concepts_section(out, w)
    with open(os.path.join(out, "REPORT.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(L) + "\n")


def concepts_section(out, w):
    """Probe F1 per layer of the 4-layer model (probes4/sweep.tsv) and, per concept, the 1-layer
    dictionary's best single feature beside the linear probe on the same site (the SAE's /match)."""
    sweep = os.path.join(out, "probes4", "sweep.tsv")
    if not os.path.exists(sweep):
        return
    with h5py.File(os.path.join(out, "labels.h5")) as f:
        real = f["tokens"][:] >= 0
        share = {c: float(f["concepts"][c][:][real].mean()) for c in f["concepts"]}
    rows = [l.split("\t") for l in open(sweep).read().splitlines()]
    head, rows = rows[0], rows[1:]
    col = {n: i for i, n in enumerate(head)}
    layers = sorted({int(r[col["layer"]]) for r in rows})
    f1 = {(r[col["concept"]], int(r[col["layer"]])): float(r[col["f1"]]) for r in rows}
    concepts = sorted({r[col["concept"]] for r in rows})
    w("\n## Concepts: linear probes and the features that isolate them\n")
    w("Concept labels come from `monoscope concepts label`'s built-in rules on the sample's documents "
      "(`--pack`: documents joined by EOS into full windows exactly as the captures are, so the labels line up "
      "with the dictionary's own training capture; the 4-layer probes use that model's 131,072 captured tokens, "
      "the 1-layer match its first 131,072). "
      "F1 on held-out sequences (a seeded 20 % of them, `probe` defaults).\n")
    w("**Ridge probes on each layer of the 4-layer model** (`blocks.L.hook_resid_post`; "
      "[figure](probes4/sweep.png)):\n")
    w("| concept | share of tokens | " + " | ".join(f"layer {l}" for l in layers) + " |")
    w("| --- | ---: | " + " | ".join("---:" for _ in layers) + " |")
    for c in concepts:
        w(f"| {c} | {100 * share.get(c, float('nan')):.1f} % | " +
          " | ".join(f"{f1.get((c, l), float('nan')):.3f}" for l in layers) + " |")
    with h5py.File(os.path.join(out, "sae.h5")) as s:
        m = s["match"]
        names = [str(c) for c in m.attrs["concepts"]]
        feat, mf1, prec, rec, pf1 = m["feature"][:, 0], m["f1"][:, 0], m["precision"][:, 0], m["recall"][:, 0], m["probe_f1"][:]
    w("\n**The 1-layer model's MLP dictionary against the same concepts** (`sae match --probe`: the feature and "
      "threshold chosen on the training sequences, scored on the held-out ones; the probe: ridge on "
      "`blocks.0.mlp.hook_post`; [figure](match.png)):\n")
    w("| concept | best feature | F1 | precision | recall | probe F1 | |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    strong = []
    for c, ft, a, p, r, q in zip(names, feat, mf1, prec, rec, pf1):
        note = "one feature beats the linear probe" if a > q else ""
        if a >= 0.8:
            strong.append(c)
        w(f"| {c} | {ft} | **{a:.3f}** | {p:.3f} | {r:.3f} | {q:.3f} | {note} |")
    w(f"\nConcepts with a feature of F1 ≥ 0.8: {', '.join(strong) if strong else 'none'} "
      f"({len(strong)} of {len(names)}).\n")


def m4_layers(out):
    return sum(1 for l in range(64) if os.path.exists(os.path.join(out, f"sae4.blocks.{l}.eval.json")))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--top-features":
        print(",".join(map(str, sorted(top_features(sys.argv[3], int(sys.argv[2]))))))
    elif len(sys.argv) == 2:
        write_report(sys.argv[1])
    else:
        sys.exit(__doc__)
