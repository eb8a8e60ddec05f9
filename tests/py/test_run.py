"""`monoscope run` (ablate / steer / patch) and `monoscope hooks` on tiny random GPT-2 and Llama
checkpoints, against tests/py/torch_ref.py (float64 PyTorch) with the same edits applied as
TransformerLens-style hooks written here: next-token logits and probabilities over the whole
vocabulary within 1e-4 of the reference's scale, greedy continuations equal. `hooks` lists exactly
the sites torch_ref produces and capture accepts, each captured with its listed shape. Bad edits
give one error line."""
import json
import os

import h5py
import numpy as np
import torch

import mstest
from mstest import check, finish, run
import fx_hf
import torch_ref
import vizdata

TMP = mstest.TMP
V, CTX, C = 64, 32, 32
rng = np.random.default_rng(11)
IDS = [int(x) for x in rng.integers(0, V, 9)]
SRC = [int(x) for x in rng.integers(0, V, 6)]   # patch source: shorter than the prompt
LONG = [int(x) for x in rng.integers(0, V, 12)]  # and longer


def gpt2_model():
    W, cfg = fx_hf.gpt2_weights(C, 2, 4, 64, V, CTX, seed=3)
    d = os.path.join(TMP, "gpt2")
    return d, fx_hf.write_hf(d, W, cfg), cfg


def llama_model():
    W, cfg = fx_hf.llama_weights(C, 2, 4, 2, 48, V, CTX, seed=4)
    Whf, cfg_hf = fx_hf.hf_llama(W, cfg)
    d = os.path.join(TMP, "llama")
    return d, fx_hf.write_hf(d, Whf, cfg), cfg_hf


MODELS = {"gpt2": gpt2_model(), "llama": llama_model()}


def ours(model, ids, *edits, n=0):
    """(clean, edited) dicts of logits/probs (V,) by id, and generated id lists, from run --json."""
    p = run("run", "--model", model, "--ids", " ".join(map(str, ids)), "--top", V, "--json", "-n", n, *edits)
    out = json.loads(p.stdout)
    assert out["prompt_ids"] == list(ids)
    res = []
    for w in ("clean", "edited"):
        top = out[w]["top"]
        assert len(top) == V and sorted(e["id"] for e in top) == list(range(V))
        assert all(top[i]["prob"] >= top[i + 1]["prob"] for i in range(V - 1)), "not sorted by probability"
        logits, probs = np.zeros(V), np.zeros(V)
        for e in top:
            logits[e["id"]], probs[e["id"]] = e["logit"], e["prob"]
        res.append((logits, probs, out[w]["generated"]))
    return res


def ref_last(W, cfg, ids, edits=None):
    logits, _ = torch_ref.forward(W, cfg, ids, edits=edits)
    lg = logits[-1]
    p = np.exp(lg - lg.max())
    return lg, p / p.sum()


def ref_greedy(W, cfg, ids, n, edits):
    ids = list(ids)
    for _ in range(n):
        lg, _ = ref_last(W, cfg, ids, edits)
        ids.append(int(np.argmax(lg)))
    return ids[-n:]


def compare(arch, edit_args, edits, n=0):
    model, W, cfg = MODELS[arch]
    (lc, pc, gc), (le, pe, ge) = ours(model, IDS, *edit_args, n=n)
    rl, rp = ref_last(W, cfg, IDS)
    fx_hf.assert_close("clean logits", lc, rl)
    fx_hf.assert_close("clean probs", pc, rp)
    el, ep = ref_last(W, cfg, IDS, edits)
    fx_hf.assert_close("edited logits", le, el)
    fx_hf.assert_close("edited probs", pe, ep)
    assert np.abs(ep - rp).max() > 1e-3, "the edit changed nothing: a vacuous test"
    if n:
        assert gc == torch_ref.greedy(W, cfg, IDS, n), "clean continuation differs"
        assert ge == ref_greedy(W, cfg, IDS, n, edits), f"edited continuation {ge} differs"


def zero_head(dim, h):
    def f(t):
        idx = [slice(None)] * t.dim()
        idx[dim] = h
        t[tuple(idx)] = 0
        return t
    return f


def patch_from(src_act, head_major=False):
    """Overwrite positions [0, m) (head-major: the (m, m) corner) with the source run's activation."""
    src = torch.as_tensor(src_act)

    def f(t):
        if head_major:
            m = min(t.shape[2], src.shape[1])
            t[:, :, :m, :m] = src[:, :m, :m]
        else:
            m = min(t.shape[1], src.shape[0])
            t[:, :m] = src[:m]
        return t
    return f


def _patch_head(t, src, head):
    src = torch.as_tensor(src)
    m = min(t.shape[1], src.shape[0])
    t[:, :m, head] = src[:m, head]
    return t


def sae_file(arch, hook, d_in, name):
    path = os.path.join(TMP, name)
    vizdata.make_sae(path, d_in, 16, hook=hook, seed=2)
    with h5py.File(path) as f:
        return path, np.asarray(f["W_dec"][...], np.float64)


for arch in ("gpt2", "llama"):
    check(f"{arch}: ablate a whole site (blocks.0.hook_mlp_out)",
          lambda a=arch: compare(a, ["--ablate", "blocks.0.hook_mlp_out"],
                                 {"blocks.0.hook_mlp_out": lambda t: t * 0}))
    check(f"{arch}: ablate one head of hook_z, with generation",
          lambda a=arch: compare(a, ["--ablate", "blocks.1.attn.hook_z:head=2"],
                                 {"blocks.1.attn.hook_z": zero_head(2, 2)}, n=4))
    check(f"{arch}: ablate a kv head of hook_v and a head of hook_pattern",
          lambda a=arch: compare(a, ["--ablate", "blocks.0.attn.hook_v:head=1", "--ablate", "blocks.1.attn.hook_pattern:head=3"],
                                 {"blocks.0.attn.hook_v": zero_head(2, 1), "blocks.1.attn.hook_pattern": zero_head(1, 3)}))

    def steer(a=arch):
        path, W_dec = sae_file(a, "blocks.0.hook_resid_post", C, f"steer_{a}.h5")
        vec = torch.as_tensor(W_dec[5] * 4.0)
        compare(a, ["--steer", "blocks.0.hook_resid_post:feature=5,scale=4", "--sae", path],
                {"blocks.0.hook_resid_post": lambda t: t + vec}, n=3)
    check(f"{arch}: steer by an SAE feature (blocks.0.hook_resid_post, scale 4)", steer)

    def patch(a=arch, src_ids=SRC):
        model, W, cfg = MODELS[a]
        _, h = torch_ref.forward(W, cfg, src_ids)
        compare(a, ["--patch", "blocks.0.hook_resid_mid", "--from-ids", " ".join(map(str, src_ids))],
                {"blocks.0.hook_resid_mid": patch_from(h["blocks.0.hook_resid_mid"])}, n=3)
    check(f"{arch}: patch hook_resid_mid from a shorter prompt", patch)
    check(f"{arch}: patch hook_resid_mid from a longer prompt", lambda a=arch: patch(a, LONG))

    def patch_pattern(a=arch):
        model, W, cfg = MODELS[a]
        _, h = torch_ref.forward(W, cfg, SRC)
        compare(a, ["--patch", "blocks.1.attn.hook_pattern", "--patch", "blocks.0.attn.hook_z:head=1",
                    "--from-ids", " ".join(map(str, SRC))],
                {"blocks.1.attn.hook_pattern": patch_from(h["blocks.1.attn.hook_pattern"], head_major=True),
                 "blocks.0.attn.hook_z": lambda t: _patch_head(t, h["blocks.0.attn.hook_z"], 1)})
    check(f"{arch}: patch hook_pattern (all heads) and one head of hook_z", patch_pattern)

    def patch_scale(a=arch):
        # LN freezing: the norms' divisors (hook_scale) taken from another (longer) prompt are honoured
        model, W, cfg = MODELS[a]
        _, h = torch_ref.forward(W, cfg, LONG)
        compare(a, ["--patch", "blocks.1.ln1.hook_scale", "--patch", "ln_final.hook_scale",
                    "--from-ids", " ".join(map(str, LONG))],
                {"blocks.1.ln1.hook_scale": patch_from(h["blocks.1.ln1.hook_scale"]),
                 "ln_final.hook_scale": patch_from(h["ln_final.hook_scale"])}, n=2)
    check(f"{arch}: patch ln1 / ln_final hook_scale (frozen norms)", patch_scale)


def edits_in_order():
    # steer then ablate the same site: the ablation wins; ablate then steer: only the vector remains
    path, W_dec = sae_file("gpt2", "blocks.1.hook_resid_pre", C, "order.h5")
    vec = torch.as_tensor(W_dec[3] * 2.0)
    compare("gpt2", ["--ablate", "blocks.1.hook_resid_pre", "--steer", "blocks.1.hook_resid_pre:feature=3,scale=2",
                     "--sae", path], {"blocks.1.hook_resid_pre": lambda t: t * 0 + vec})


check("edits at one site apply in the order given", edits_in_order)


def hooks_listing(arch):
    model, W, cfg = MODELS[arch]
    T = 8
    lines = run("hooks", "--model", model, "--ctx", T).stdout.strip().splitlines()
    listed = {}
    for ln in lines:
        name, shape = ln.split(None, 1)
        listed[name] = tuple(json.loads(shape))
    names = [ln.split()[0] for ln in lines]
    _, ref = torch_ref.forward(W, cfg, IDS[:T])
    assert set(listed) == set(ref), f"listed vs torch_ref: {sorted(set(listed) ^ set(ref))}"
    assert names[0] == "hook_embed" and names[-1] == "logits" and names.index("blocks.0.hook_resid_post") < names.index("blocks.1.hook_resid_pre")
    for name in ref:
        assert listed[name] == ref[name].shape, f"{name}: listed {listed[name]} != {ref[name].shape}"
    got = fx_hf.ours(model, [IDS[:T]], ",".join(names), tag=f"hooks_{arch}")
    for name in names:
        assert got[name].shape == (1,) + listed[name], f"{name}: captured {got[name].shape}"
    sym = run("hooks", "--model", model).stdout
    assert "blocks.0.attn.hook_pattern" in sym and "[4, pos, pos]" in sym, sym


check("hooks: gpt2 sites = torch_ref's = capture's, with their shapes", lambda: hooks_listing("gpt2"))
check("hooks: llama sites = torch_ref's = capture's, with their shapes", lambda: hooks_listing("llama"))


def text_output():
    model = MODELS["gpt2"][0]
    out = run("run", "--model", model, "--ids", " ".join(map(str, IDS)), "--ablate", "blocks.0.hook_attn_out",
              "--top", 3, "-n", 2).stdout
    rows = [ln for ln in out.splitlines() if ln.strip()[:1].isdigit()]
    assert len(rows) == 3 and rows[0].split()[1].startswith("#"), out
    assert "clean" in out and "edited" in out, out


check("table output: K ranks side by side, #id tokens without a tokenizer", text_output)


def errors():
    g = MODELS["gpt2"][0]
    ids = ["--model", g, "--ids", "1 2 3"]
    good_sae, _ = sae_file("gpt2", "blocks.0.hook_resid_post", C, "err_sae.h5")
    wrong_hook, _ = sae_file("gpt2", "blocks.1.hook_resid_post", C, "err_hook.h5")
    wrong_din, _ = sae_file("gpt2", "blocks.0.hook_resid_post", C + 8, "err_din.h5")
    cases = [
        ([*ids, "--ablate", "blocks.0.hook_nonsense"], "blocks.0.hook_nonsense"),
        ([*ids, "--ablate", "blocks.7.hook_resid_post"], "blocks.7.hook_resid_post"),
        ([*ids, "--ablate", "blocks.0.attn.hook_rot_q"], "hook_rot_q"),  # llama only
        ([*ids, "--ablate", "blocks.0.attn.hook_z:head=4"], "head 4"),
        ([*ids, "--ablate", "blocks.0.hook_resid_post:head=0"], "head"),
        ([*ids, "--ablate", "blocks.0.attn.hook_z:heads=1"], "head=H"),
        ([*ids, "--steer", "blocks.0.hook_resid_post:feature=1"], "--sae"),
        ([*ids, "--steer", "blocks.0.hook_resid_post:feature=1", "--sae", wrong_hook], "blocks.1.hook_resid_post"),
        ([*ids, "--steer", "blocks.0.hook_resid_post:feature=1", "--sae", wrong_din], "d_in"),
        ([*ids, "--steer", "blocks.0.hook_resid_post:feature=99", "--sae", good_sae], "feature 99"),
        ([*ids, "--steer", "blocks.0.hook_resid_post", "--sae", good_sae], "feature"),
        ([*ids, "--patch", "blocks.0.hook_resid_post"], "--from"),
        ([*ids, "--patch", "blocks.0.hook_resid_post", "--from-ids", "1 999"], "999"),
        (["--model", g, "--ids", "1 2 3", "--prompt", "x"], "--prompt"),
        (["--model", g, "--prompt", "hello"], "tokenizer"),
    ]
    for args, word in cases:
        p = run("run", *args, ok=False)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("monoscope: error: ") and word in lines[0], (args, p.stderr)
    p = run("hooks", "--model", g, "--ctx", 999, ok=False)
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


check("bad edits: one error line naming the problem", errors)
finish()
