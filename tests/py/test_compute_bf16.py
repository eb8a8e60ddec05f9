"""capture --compute bf16 (issues 14 and 15): the weight matrices are held in bfloat16 from the load on,
not beside float32 copies, and the products run on them in place.

1. Every hook site and the logits of a bf16 capture are within the README's bf16 bound of the float64
   reference (tests/py/torch_ref.py) for each family and loader: GPT-2 (F32 file, tied; Conv1D
   transposes), Qwen3 (BF16, untied, q/k norms, GQA), Gemma 2 (BF16, tied, embed scale, post-norms,
   soft-caps, sliding window), Pythia (fused q|k|v rows), and GGUF and llama2.c files (read whole, then
   held). Bound: relative L2 error <= 0.03 per site (tests/test_hooks_forward.c, BF16_SITE_BOUND);
   masked -inf scores must match exactly. hook_embed of a BF16 file is exact (its rows are the file's).
2. Memory: on a model whose float32 weights take 260 MiB, the bf16 capture's peak resident set above
   that of a tiny model's capture is under 60 % of those float32 bytes (held in bf16: ~50 %), from a
   Hugging Face directory and from the same model as GGUF (held layer by layer as it is read), while
   the f32 capture's is above 100 % (the measurement sees weights at all).
3. generate --compute bf16 (cached and uncached): each greedy token is the float64 reference's argmax
   on the same prefix, up to near-ties (its reference logit within 1 % of the logit range of the max);
   sae eval --compute bf16: the clean cross-entropy within 1 % of the f32 evaluation's, and every CE
   figure finite."""
import json
import os
import subprocess

import numpy as np
import torch

import fx_gguf
import fx_hf
import fx_llama2c
import mstest
import torch_ref
from mstest import check, finish, run

TMP = mstest.TMP
BOUND = 0.03
rng = np.random.default_rng(23)
WORST = {}


def compare(tag, model, W, cfg, seqs):
    _, ref = torch_ref.forward(W, cfg, np.asarray(seqs))
    got = fx_hf.ours(model, seqs, "*", tag=tag, extra=("--compute", "bf16"))
    missing = sorted(set(ref) - set(got))
    assert not missing, f"sites missing from the bf16 capture: {missing[:5]}"
    worst, worst_at = 0.0, None
    for name, want in ref.items():
        g = got[name]
        inf = np.isinf(want)
        assert np.array_equal(np.isinf(g), inf), f"{name}: -inf mask differs"
        rel = np.linalg.norm(g[~inf] - want[~inf]) / max(np.linalg.norm(want[~inf]), 1e-30)
        assert rel <= BOUND, f"{tag} {name}: relative L2 error {rel:.4f} > {BOUND}"
        if rel > worst:
            worst, worst_at = rel, name
    assert worst > 0, f"{tag}: bf16 capture equals float64 exactly: the bf16 products did not run"
    WORST[tag] = worst
    print(f"  {tag}: {len(ref)} sites, worst relative L2 error {worst:.4f} at {worst_at}")
    return got


def seqs_for(V, T, n=2):
    return [list(map(int, rng.integers(0, V, T))) for _ in range(n)]


def gpt2():
    V, T = 96, 24
    W, cfg = fx_hf.gpt2_weights(64, 2, 4, 128, V, 32, tied=True, seed=3)
    d = os.path.join(TMP, "b_gpt2")
    Ws = fx_hf.write_hf(d, W, cfg, dtype="F32")
    compare("gpt2 F32 tied", d, Ws, cfg, seqs_for(V, T))


def qwen3():
    V, T = 96, 24
    W, cfg = fx_hf.llama_family_weights(64, 2, 4, 2, 16, 96, V, qk_norm=True, tied=False, seed=4)
    d = os.path.join(TMP, "b_qwen3")
    Ws = fx_hf.write_hf(d, W, cfg, dtype="BF16", config_extra={"model_type": "qwen3", "architectures": ["X"],
                                                                 "head_dim": 16, "attention_bias": False,
                                                                 "use_sliding_window": False})
    seqs = seqs_for(V, T)
    got = compare("qwen3 BF16 untied", d, Ws, cfg, seqs)
    emb = np.asarray(Ws["embed_tokens.weight"], np.float64)[np.asarray(seqs)]
    assert np.array_equal(got["hook_embed"], emb), "hook_embed of a BF16 file differs from its rows"


def gemma2():
    V, T = 96, 24
    W, cfg = fx_hf.gemma2_weights(48, 3, 4, 2, 16, 96, V, seed=5)
    conf = {"model_type": "gemma2", "architectures": ["Gemma2ForCausalLM"], "head_dim": 16,
            "query_pre_attn_scalar": 24, "attn_logit_softcapping": 3.0, "final_logit_softcapping": 5.0,
            "sliding_window": 6, "hidden_activation": "gelu_pytorch_tanh", "hidden_act": "gelu_pytorch_tanh",
            "rms_norm_eps": 1e-6, "tie_word_embeddings": True}
    d = os.path.join(TMP, "b_gemma2")
    Ws = fx_hf.write_hf(d, W, cfg, dtype="BF16", config_extra=conf)
    cfg.update(eps=1e-6, query_pre_attn_scalar=24, attn_softcap=3.0, final_softcap=5.0, sliding_window=6,
               layer_types=None, embed_dtype=torch.bfloat16)
    compare("gemma2 BF16 tied", d, Ws, cfg, seqs_for(V, T))


def neox():
    V, T = 96, 24
    W, cfg = fx_hf.neox_weights(64, 2, 4, 128, V, seed=6)
    cfg.update(parallel=True, rotary_pct=0.5)
    conf = {"model_type": "gpt_neox", "architectures": ["GPTNeoXForCausalLM"], "rotary_pct": 0.5,
            "rotary_emb_base": 10000, "use_parallel_residual": True, "layer_norm_eps": 1e-5,
            "hidden_act": "gelu", "tie_word_embeddings": False, "bos_token_id": 0, "eos_token_id": 0}
    d = os.path.join(TMP, "b_neox")
    Ws = fx_hf.write_hf(d, W, cfg, dtype="F32", config_extra=conf)
    compare("pythia F32 fused qkv", d, Ws, cfg, seqs_for(V, T))


def gguf_and_llama2c():
    V, T = 96, 24
    W, cfg = fx_hf.llama_weights(64, 2, 4, 2, 96, V, 32, tied=False, seed=7)
    p = os.path.join(TMP, "b.gguf")
    Ws = fx_gguf.from_weights(p, W, cfg, dtype="F16")
    compare("gguf llama F16", p, Ws, cfg, seqs_for(V, T))
    b = os.path.join(TMP, "b.bin")
    fx_llama2c.write(b, W, cfg)
    compare("llama2.c f32", b, W, cfg, seqs_for(V, T))


def memory():
    # ru_maxrss of RUSAGE_CHILDREN is the largest of any child waited for: each capture is measured
    # from a Python process of its own that runs only it
    big, tiny = os.path.join(TMP, "b_big"), os.path.join(TMP, "b_tiny")
    # llama, C 1024, 4 layers, F 2816, V 8192 untied: 4 x (4 x 1M + 3 x 2.9M) + 2 x 8.4M = 67.1M weights
    run("random-model", "--arch", "llama", "--out", big, "--layers", 4, "--d-model", 1024, "--heads", 8,
        "--d-mlp", 2816, "--vocab", 8192, "--ctx", 64, "--dtype", "bf16", "--overwrite", fast=True)
    run("random-model", "--arch", "llama", "--out", big + ".gguf", "--layers", 4, "--d-model", 1024, "--heads", 8,
        "--d-mlp", 2816, "--vocab", 8192, "--ctx", 64, "--dtype", "bf16", "--format", "gguf", "--overwrite", fast=True)
    run("random-model", "--arch", "llama", "--out", tiny, "--layers", 4, "--d-model", 64, "--heads", 4,
        "--vocab", 512, "--ctx", 64, "--overwrite", fast=True)
    n_weights = 4 * (4 * 1024 * 1024 + 3 * 2816 * 1024) + 2 * 8192 * 1024
    f32_mib = n_weights * 4 / 2 ** 20
    ids = os.path.join(TMP, "b_mem.ids")
    with open(ids, "w") as fh:
        fh.write("\n".join(" ".join(map(str, rng.integers(300, 500, 32))) for _ in range(2)) + "\n")
    res = {}
    for tag, model, compute in (("tiny", tiny, "bf16"), ("f32", big, "f32"), ("bf16", big, "bf16"),
                                ("bf16 gguf", big + ".gguf", "bf16")):
        out = os.path.join(TMP, f"b_mem_{tag}.h5")
        args = ["capture", "--model", model, "--input", ids, "--input-format", "ids", "--ctx", 32,
                "--hooks", "blocks.3.hook_resid_post,logits", "--compute", compute, "--out", out, "--overwrite"]
        code = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True); "
                "assert p.returncode == 0, p.stderr; print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        p = subprocess.run(["/usr/bin/python3", "-c", code, mstest.FAST_BIN, *map(str, args)], capture_output=True,
                           text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
        assert p.returncode == 0, p.stderr
        res[tag] = int(p.stdout.split()[-1]) / 1024.0
    over_f32, over_bf16, over_gguf = (res[k] - res["tiny"] for k in ("f32", "bf16", "bf16 gguf"))
    print(f"  float32 weights {f32_mib:.0f} MiB; peak RSS above a tiny model's: f32 capture {over_f32:.0f} MiB, "
          f"bf16 capture {over_bf16:.0f} MiB ({over_bf16 / f32_mib:.0%} of the float32 weights), "
          f"from GGUF {over_gguf:.0f} MiB ({over_gguf / f32_mib:.0%})")
    assert over_f32 > f32_mib, "the f32 capture's peak RSS does not even hold its weights: measurement broken"
    assert over_bf16 < 0.6 * f32_mib, f"bf16 capture holds {over_bf16:.0f} MiB: weights not held in bf16"
    assert over_gguf < 0.6 * f32_mib, f"bf16 capture of the GGUF holds {over_gguf:.0f} MiB: not held layer by layer"


def generate_and_eval():
    V, T = 96, 24
    W, cfg = fx_hf.llama_family_weights(64, 2, 4, 2, 16, 96, V, tied=False, seed=8)
    d = os.path.join(TMP, "b_gen")
    Ws = fx_hf.write_hf(d, W, cfg, dtype="BF16", config_extra={"model_type": "llama", "architectures": ["X"],
                                                                 "head_dim": 16})
    prompt = [int(x) for x in rng.integers(0, V, 5)]
    runs = {}
    for extra in ((), ("--no-kv-cache",)):
        p = run("generate", "--model", d, "--ids", " ".join(map(str, prompt)), "-n", 12, "--print-ids",
                "--compute", "bf16", *extra)
        runs[extra] = [int(x) for x in p.stdout.split()]
    for extra, gen in runs.items():
        assert len(gen) == 12, gen
        ref, _ = torch_ref.forward(Ws, cfg, np.asarray([prompt + gen]))
        ref = np.asarray(ref, np.float64)[0]
        for i, tok in enumerate(gen):
            row = ref[len(prompt) + i - 1]
            assert row[tok] >= row.max() - 0.01 * (row.max() - row.min()), \
                f"generate {extra}: token {i} ({tok}) is not the reference's argmax ({int(row.argmax())})"
    ids = os.path.join(TMP, "b_eval.ids")
    with open(ids, "w") as fh:
        fh.write("\n".join(" ".join(map(str, rng.integers(0, V, T))) for _ in range(8)) + "\n")
    acts, sae = os.path.join(TMP, "b_eval_acts.h5"), os.path.join(TMP, "b_eval_sae.h5")
    hk = "blocks.1.hook_resid_post"
    run("capture", "--model", d, "--input", ids, "--input-format", "ids", "--ctx", T, "--hooks", hk, "--out", acts,
        "--overwrite")
    run("sae", "train", "--acts", acts, "--hook", hk, "--arch", "topk", "--k", 4, "--expansion", 2, "--batch", 32,
        "--tokens", 300, "--out", sae, "--overwrite")
    ev = {}
    for compute in ("f32", "bf16"):
        js = json.loads(run("sae", "eval", "--sae", sae, "--acts", acts, "--model", d, "--compute", compute, "--json",
                            "--no-store").stdout)
        ev[compute] = js["downstream"] if "downstream" in js else js
    flat = {c: {k: v for k, v in e.items() if isinstance(v, (int, float))} for c, e in ev.items()}
    a, b = flat["f32"]["ce_clean"], flat["bf16"]["ce_clean"]
    assert abs(a - b) <= 0.01 * abs(a), f"clean CE f32 {a} vs bf16 {b}"
    assert all(np.isfinite(flat["bf16"][k]) for k in ("ce_clean", "ce_splice", "ce_zero_ablate")), flat["bf16"]
    print(f"  generate bf16: cached and uncached follow the reference; sae eval clean CE f32 {a:.4f}, bf16 {b:.4f}")


def bf16_available():
    p = run("capture", "--model", os.path.join(TMP, "b_probe"), "--input", os.path.join(TMP, "b_probe.ids"),
            "--input-format", "ids", "--ctx", 4, "--hooks", "hook_embed", "--compute", "bf16",
            "--out", os.path.join(TMP, "b_probe.h5"), "--overwrite", ok=None)
    return p.returncode == 0 or print(f"NOTE: bf16 products unavailable here, checks skipped: {p.stderr.strip()}")


HAVE = fx_hf.capture_available()
if HAVE:
    run("random-model", "--arch", "llama", "--out", os.path.join(TMP, "b_probe"), "--layers", 1, "--overwrite")
    open(os.path.join(TMP, "b_probe.ids"), "w").write("1 2 3 4\n")
if HAVE and bf16_available():
    check("gpt2 F32 tied: bf16-held capture vs float64 reference", gpt2)
    check("qwen3 BF16 untied: bf16-held capture vs float64 reference, hook_embed exact", qwen3)
    check("gemma2 BF16 tied: bf16-held capture vs float64 reference", gemma2)
    check("pythia F32: bf16-held capture vs float64 reference", neox)
    check("GGUF F16 and llama2.c: held after a whole-file read", gguf_and_llama2c)
    check("bf16 capture holds the weights in half the memory", memory)
    check("generate and sae eval with --compute bf16", generate_and_eval)
    if WORST:
        print(f"worst relative L2 error over all bf16 sites: {max(WORST.values()):.4f} (bound {BOUND})")
finish()
