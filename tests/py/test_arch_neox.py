"""GPT-NeoX / Pythia in Hugging Face layout (issue 14 item 2): fused query_key_value rows ordered
(head, q|k|v, d_head), partial rotary (rotary_pct: rotate_half on the first int(d_head * pct) dims of
each head), LayerNorm with bias, exact-erf gelu, untied embed_out, use_parallel_residual true
(x + attn(ln1(x)) + mlp(ln2(x))) and false (sequential). Random weights with the real tensor names and
config keys, F32 and BF16; every hook site and the logits match tests/py/torch_ref.py (float64, from
the HF modeling semantics) within |diff| <= 1e-4 * max|ref| + 1e-5; the worst relative error is printed.
Under the parallel residual blocks.L.hook_resid_mid does not exist (as in TransformerLens): capture
refuses it by name. capture -> sae train -> sae eval runs on both."""
import os

import numpy as np

import mstest
from mstest import check, finish, run
import fx_hf

TMP = mstest.TMP
WORST = {}
V, T = 96, 40
rng = np.random.default_rng(2)
SEQS = [list(map(int, rng.integers(0, V, T))), list(map(int, rng.integers(0, V, T)))]


def case(tag, dtype, parallel, pct):
    def t():
        W, cfg = fx_hf.neox_weights(64, 2, 4, 128, V, seed=len(tag))
        cfg.update(parallel=parallel, rotary_pct=pct)
        d = os.path.join(TMP, tag)
        conf = {"model_type": "gpt_neox", "architectures": ["GPTNeoXForCausalLM"], "rotary_pct": pct,
                "rotary_emb_base": 10000, "use_parallel_residual": parallel, "layer_norm_eps": 1e-5,
                "hidden_act": "gelu", "tie_word_embeddings": False, "bos_token_id": 0, "eos_token_id": 0}
        Ws = fx_hf.write_hf(d, W, cfg, dtype=dtype, config_extra=conf)
        info = run("info", d).stdout
        assert "gpt_neox" in info and dtype in info and "layernorm" in info, info
        assert f"rotary_dims: {int(16 * pct)} of d_head 16" in info, info
        assert ("parallel_residual: yes" in info) == parallel, info
        errs = fx_hf.site_errors(d, Ws, cfg, SEQS, tag)
        assert len(errs) > 20
        assert ("blocks.0.hook_resid_mid" in errs) != parallel
        worst = max(errs, key=errs.get)
        WORST[tag] = errs[worst]
        print(f"  {tag}: {len(errs)} sites, worst relative error {errs[worst]:.2e} at {worst}")
        if parallel:
            ids = os.path.join(TMP, tag + "_mid.ids")
            open(ids, "w").write(" ".join(map(str, SEQS[0])) + "\n")
            r = run("capture", "--model", d, "--input", ids, "--input-format", "ids", "--ctx", T, "--hooks",
                    "blocks.0.hook_resid_mid", "--out", os.path.join(TMP, tag + "_mid.h5"), ok=False)
            assert r.returncode != 0 and "hook_resid_mid" in r.stderr, r.stderr
        fx_hf.sae_smoke(tag, d, V, T)
    return t


check("gpt_neox F32, parallel residual, rotary_pct 0.25", case("neox_par_F32", "F32", True, 0.25))
check("gpt_neox BF16, sequential residual, rotary_pct 0.5", case("neox_seq_BF16", "BF16", False, 0.5))
if WORST:
    print(f"worst relative error over all sites: {max(WORST.values()):.2e}")
finish()
