"""Gemma 3 text in Hugging Face layout (issue 14): Gemma 2's block (embeddings × sqrt(d_model) rounded to
the model dtype, (1 + w) RMSNorms before and after attention and MLP, GeGLU, query_pre_attn_scalar) plus
per-head q/k RMSNorm (1 + w) before RoPE (hook_q_normed / hook_k_normed), RoPE base rope_local_base_freq
on sliding layers and rope_theta (with linear rope_scaling) on global ones, sliding layers from
sliding_window_pattern or layer_types, no soft-capping when the config has null. Both "gemma3_text" and
the multimodal "gemma3" layout (text_config, weights under language_model.model.*). Random weights, F32
and BF16; every hook site and the logits match tests/py/torch_ref.py (float64) within
|diff| <= 1e-4 * max|ref| + 1e-5; the worst relative error is printed. capture -> sae train -> sae eval."""
import json
import os

import numpy as np
import torch

import mstest
from mstest import check, finish, run
import fx_hf

TMP = mstest.TMP
V, T, L, DH = 96, 40, 4, 16
rng = np.random.default_rng(14)
SEQS = [list(map(int, rng.integers(0, V, T))), list(map(int, rng.integers(0, V, T)))]
WORST = {}


def case(tag, dtype, multimodal=False, layer_types=None):
    def t():
        W, cfg = fx_hf.gemma2_weights(48, L, 4, 2, DH, 96, V, seed=len(tag))
        r = np.random.default_rng(len(tag) + 7)
        for l in range(L):
            for n in ("q_norm", "k_norm"):
                W[f"layers.{l}.self_attn.{n}.weight"] = (0.3 * r.standard_normal(DH)).astype(np.float32)
        text = {"model_type": "gemma3_text", "head_dim": DH, "query_pre_attn_scalar": 24,
                "attn_logit_softcapping": None, "final_logit_softcapping": None, "sliding_window": 6,
                "sliding_window_pattern": 3, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
                "rope_scaling": {"rope_type": "linear", "factor": 8.0}, "hidden_activation": "gelu_pytorch_tanh",
                "rms_norm_eps": 1e-6, "tie_word_embeddings": True}
        if layer_types:
            text["layer_types"] = layer_types
        d = os.path.join(TMP, tag)
        if multimodal:  # config: text_config inside; tensors: language_model.model.* (+ a vision tensor we ignore)
            base = fx_hf.config_json(cfg, True)
            base.update(text)
            conf = {"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"], "text_config": base,
                    "vision_config": {"model_type": "siglip_vision_model"}}
            Wm = {"language_model.model." + k: v for k, v in W.items()}
            Wm["vision_tower.vision_model.post_layernorm.weight"] = np.ones(8, np.float32)
            Ws = fx_hf.write_hf(d, Wm, cfg, dtype=dtype, prefix=False)
            with open(os.path.join(d, "config.json"), "w") as fh:
                json.dump(conf, fh)
            Ws = {k[len("language_model.model."):]: v for k, v in Ws.items() if k.startswith("language_model.")}
        else:
            Ws = fx_hf.write_hf(d, W, cfg, dtype=dtype, config_extra=text)
        types = layer_types or ["full_attention" if (l + 1) % 3 == 0 else "sliding_attention" for l in range(L)]
        cfg.update(arch="gemma3", eps=1e-6, query_pre_attn_scalar=24, attn_softcap=None, final_softcap=None,
                   sliding_window=6, layer_types=types, qk_norm=True, rope_theta=1000000.0, rope_local_theta=10000.0,
                   rope_scaling={"rope_type": "linear", "factor": 8.0},
                   embed_dtype=torch.bfloat16 if dtype == "BF16" else torch.float32)
        info = run("info", d).stdout
        want_local = " ".join(str(l) for l, ty in enumerate(types) if ty == "sliding_attention")
        assert f"sliding_window: 6 on layers {want_local}\n" in info, info
        assert "qk_norm: yes" in info and "rope_local_theta: 10000" in info and "softcap" not in info, info
        hooks = run("hooks", "--model", d).stdout
        assert "blocks.0.attn.hook_q_normed" in hooks and "blocks.3.attn.hook_k_normed" in hooks, hooks
        errs = fx_hf.site_errors(d, Ws, cfg, SEQS, tag)
        assert len(errs) > 40 and "blocks.2.attn.hook_q_normed" in errs
        worst = max(errs, key=errs.get)
        WORST[tag] = errs[worst]
        print(f"  {tag}: {len(errs)} sites, worst relative error {errs[worst]:.2e} at {worst}")
        pat = fx_hf.ours(d, SEQS, "blocks.*.attn.hook_pattern", tag=tag + "_p")
        for l, ty in enumerate(types):
            row = pat[f"blocks.{l}.attn.hook_pattern"][:, :, 20, :]
            assert np.all(row[..., :15] == 0) == (ty == "sliding_attention") and np.all(row[..., 15:21] > 0), l
        fx_hf.sae_smoke(tag, d, V, T)
    return t


check("gemma3_text F32, sliding_window_pattern, linear rope_scaling on global layers", case("gemma3_F32", "F32"))
check("gemma3 multimodal layout BF16, layer_types", case("gemma3_mm_BF16", "BF16", True,
      ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]))
if WORST:
    print(f"worst relative error over all sites: {max(WORST.values()):.2e}")
finish()
