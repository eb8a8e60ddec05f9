// load_hf.c: Hugging Face checkpoint directories: config.json + model.safetensors, or shards listed
// in model.safetensors.index.json. model_type "gpt2", "llama" and its variants "mistral", "qwen2",
// "qwen3" (parse_llama_variant), and "gpt_neox" (Pythia); F32/F16/BF16 tensors are
// converted to float32 in the [out, in] layout of model.h:
//   gpt2  Conv1D weights are stored [in, out] -> transposed; c_attn (C, 3C) is split into q, k, v.
//   llama q/k_proj are in Hugging Face's rotate_half order -> cfg.rope_style = MS_ROPE_HALF
//         (weights kept as they are; the forward pass pairs dimension i with i + d_head/2).
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/json_util.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "util/util.h"

typedef struct {
    const char *dir;
    ms_safetensors **shards;
    int n_shards;
    const char *prefix;    // "transformer." / "model."
    float *tmp;            // scratch for transposes, grown on demand
    size_t tmp_len;
} hf_ctx;

// Finds a tensor with or without the architecture's prefix, in any shard.
static const ms_st_tensor *hf_find(hf_ctx *c, const char *name, const ms_safetensors **from) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s", c->prefix, name);
    for (int pass = 0; pass < 2; pass++)
        for (int s = 0; s < c->n_shards; s++) {
            const ms_st_tensor *t = ms_safetensors_find(c->shards[s], pass == 0 ? buf : name);
            if (t) { if (from) *from = c->shards[s]; return t; }
        }
    return NULL;
}

// Copies tensor `name` of on-disk shape (d0[, d1]) to out as float32; transpose: out is (d1, d0).
static int hf_get(hf_ctx *c, const char *name, int64_t d0, int64_t d1, int transpose, float *out) {
    const ms_safetensors *st = NULL;
    const ms_st_tensor *t = hf_find(c, name, &st);
    if (!t) {
        ms_error("%s: missing tensor '%s%s'", c->dir, c->prefix, name);
        return -1;
    }
    int ndim = d1 < 0 ? 1 : 2;
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[96] = "", want[64];
        for (int i = 0; i < t->ndim && strlen(got) < 64; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (ndim == 1) snprintf(want, sizeof want, "%lld", (long long)d0);
        else snprintf(want, sizeof want, "%lld, %lld", (long long)d0, (long long)d1);
        ms_error("%s: tensor '%s' has shape [%s] but config.json implies [%s]", st->path, t->name, got, want);
        return -1;
    }
    if (t->dtype != MS_DT_F32 && t->dtype != MS_DT_F16 && t->dtype != MS_DT_BF16 && t->dtype != MS_DT_F64) {
        ms_error("%s: tensor '%s' has dtype %s; expected F32, F16 or BF16", st->path, t->name, ms_dtype_name(t->dtype));
        return -1;
    }
    size_t n = (size_t)d0 * (size_t)(d1 < 0 ? 1 : d1);
    if (!transpose) {
        const int rc = ms_tensor_to_f32(t->dtype, t->data, n, out) ? -1 : ms_weights_check_finite(st->path, t->name, out, n);
        ms_safetensors_release(st, t);
        return rc;
    }
    if (c->tmp_len < n) {
        free(c->tmp);
        c->tmp = ms_malloc(n * sizeof(float));
        c->tmp_len = n;
    }
    const int rc = ms_tensor_to_f32(t->dtype, t->data, n, c->tmp) || ms_weights_check_finite(st->path, t->name, c->tmp, n);
    ms_safetensors_release(st, t);
    if (rc) return -1;
    // (d0, d1) -> (d1, d0) in 32 x 32 tiles: a plain loop writes a new cache line per element
    // (GPT-2's 768 x 3072 Conv1D weights took longer to transpose than to read)
    enum { TILE = 32 };
    for (int64_t i0 = 0; i0 < d0; i0 += TILE)
        for (int64_t j0 = 0; j0 < d1; j0 += TILE) {
            const int64_t i1 = i0 + TILE < d0 ? i0 + TILE : d0, j1 = j0 + TILE < d1 ? j0 + TILE : d1;
            for (int64_t j = j0; j < j1; j++)
                for (int64_t i = i0; i < i1; i++) out[j * d0 + i] = c->tmp[i * d1 + j];
        }
    return 0;
}

// Reads an int member into *dst; required: error if absent. Returns -1 on error.
static int cfg_int(json_object *o, const char *key, int *dst, int required, const char *path) {
    int64_t v;
    int r = ms_json_get_int(o, key, &v, path);
    if (r < 0) return -1;
    if (r == 0) {
        if (required) { ms_error("%s: missing \"%s\"", path, key); return -1; }
        return 0;
    }
    if (v < 0 || v > INT32_MAX) { ms_error("%s: \"%s\" = %lld is out of range", path, key, (long long)v); return -1; }
    *dst = (int)v;
    return 0;
}
static int cfg_float(json_object *o, const char *key, float *dst, const char *path) {
    double v;
    int r = ms_json_get_double(o, key, &v, path);
    if (r < 0) return -1;
    if (r == 1) *dst = (float)v;
    return 0;
}

static int parse_gpt2(json_object *o, ms_config *cfg, const char *path) {
    cfg->arch = MS_ARCH_GPT2;
    cfg->n_ctx = -1;
    cfg->d_mlp = -1;
    cfg->norm_eps = 1e-5f;
    cfg->vocab_size = 50257;
    cfg->bos_id = cfg->eos_id = 50256;
    if (cfg_int(o, "n_embd", &cfg->d_model, 1, path) || cfg_int(o, "n_layer", &cfg->n_layer, 1, path) ||
        cfg_int(o, "n_head", &cfg->n_head, 1, path) || cfg_int(o, "n_positions", &cfg->n_ctx, 0, path) ||
        cfg_int(o, "n_inner", &cfg->d_mlp, 0, path) || cfg_int(o, "vocab_size", &cfg->vocab_size, 0, path) ||
        cfg_float(o, "layer_norm_epsilon", &cfg->norm_eps, path) ||
        cfg_int(o, "bos_token_id", &cfg->bos_id, 0, path) || cfg_int(o, "eos_token_id", &cfg->eos_id, 0, path))
        return -1;
    if (cfg->n_ctx < 0 && cfg_int(o, "n_ctx", &cfg->n_ctx, 1, path)) return -1;
    if (cfg->d_mlp < 0) cfg->d_mlp = 4 * cfg->d_model; // n_inner null or absent
    const char *act = "gelu_new";
    if (ms_json_get_string(o, "activation_function", &act, path) < 0) return -1;
    if (strcmp(act, "gelu_new") && strcmp(act, "gelu_pytorch_tanh")) {
        ms_error("%s: activation_function \"%s\" is not supported (gpt2 needs gelu_new)", path, act);
        return -1;
    }
    int b = 0;
    if (ms_json_get_bool(o, "scale_attn_by_inverse_layer_idx", &b, path) < 0) return -1;
    if (b) { ms_error("%s: scale_attn_by_inverse_layer_idx is not supported", path); return -1; }
    cfg->n_kv_head = cfg->n_head;
    cfg->d_head = 0; // d_model / n_head, checked by ms_model_alloc_weights
    cfg->rope_style = MS_ROPE_NONE;
    cfg->tied_embeddings = 1; // HF default for gpt2
    return 0;
}

// config.json "rope_scaling": absent, null or rope_type "default": plain RoPE; "llama3": its four
// parameters; any other type is refused (its frequencies would be silently wrong).
static int parse_rope_scaling(json_object *o, ms_rope_scaling *r, const char *path) {
    json_object *rs;
    memset(r, 0, sizeof *r);
    if (!json_object_object_get_ex(o, "rope_scaling", &rs) || !rs) return 0;
    if (!json_object_is_type(rs, json_type_object)) { ms_error("%s: \"rope_scaling\" is not an object", path); return -1; }
    const char *type = NULL;
    if (ms_json_get_string(rs, "rope_type", &type, path) < 0) return -1;
    if (!type && ms_json_get_string(rs, "type", &type, path) < 0) return -1; // older configs
    if (!type || !strcmp(type, "default")) return 0;
    if (!strcmp(type, "linear")) { // positions / factor (Gemma 3's global layers)
        r->type = MS_ROPE_SCALING_LINEAR;
        if (cfg_float(rs, "factor", &r->factor, path)) return -1;
        if (r->factor <= 0) { ms_error("%s: rope_scaling needs a positive \"factor\"", path); return -1; }
        return 0;
    }
    if (strcmp(type, "llama3")) {
        ms_error("%s: rope_scaling type \"%s\" is not supported (supported: llama3, linear)", path, type);
        return -1;
    }
    r->type = MS_ROPE_SCALING_LLAMA3;
    r->low_freq_factor = 1.0f;  // Hugging Face's defaults where a key is absent
    r->high_freq_factor = 4.0f;
    if (cfg_float(rs, "factor", &r->factor, path) || cfg_float(rs, "low_freq_factor", &r->low_freq_factor, path) ||
        cfg_float(rs, "high_freq_factor", &r->high_freq_factor, path) ||
        cfg_int(rs, "original_max_position_embeddings", &r->original_ctx, 1, path)) {
        char why[1024];
        snprintf(why, sizeof why, "%s", ms_last_error());
        ms_error("%s (in \"rope_scaling\")", why); // which object lacks the key
        return -1;
    }
    if (r->factor <= 0) { ms_error("%s: rope_scaling needs a positive \"factor\"", path); return -1; }
    return 0;
}

// The llama family's differences from Llama itself, by model_type (all on the Llama weight names):
//   mistral: sliding_window (null: none); qwen2: q/k/v biases; qwen3: per-head q/k RMSNorm.
// Qwen's per-layer sliding window (use_sliding_window) is refused.
static int parse_llama_variant(json_object *o, const char *model_type, ms_config *cfg, const char *path) {
    if (!strcmp(model_type, "mistral")) {
        memset(cfg->local_layer, 1, sizeof cfg->local_layer); // every layer slides
        return cfg_int(o, "sliding_window", &cfg->sliding_window, 0, path);
    }
    int sw = 0;
    if (ms_json_get_bool(o, "use_sliding_window", &sw, path) < 0) return -1;
    if (sw) { ms_error("%s: use_sliding_window = true is not supported for %s", path, model_type); return -1; }
    cfg->qkv_bias = !strcmp(model_type, "qwen2");
    cfg->qk_norm = !strcmp(model_type, "qwen3");
    return 0;
}

static int parse_llama(json_object *o, ms_config *cfg, const char *path) {
    cfg->arch = MS_ARCH_LLAMA;
    cfg->norm_eps = 1e-6f;   // LlamaConfig default
    cfg->rope_theta = 10000.0f;
    cfg->n_ctx = 2048;
    cfg->vocab_size = 32000;
    cfg->bos_id = cfg->eos_id = -1;
    cfg->n_kv_head = -1;
    cfg->d_head = -1;
    if (cfg_int(o, "hidden_size", &cfg->d_model, 1, path) || cfg_int(o, "intermediate_size", &cfg->d_mlp, 1, path) ||
        cfg_int(o, "num_hidden_layers", &cfg->n_layer, 1, path) ||
        cfg_int(o, "num_attention_heads", &cfg->n_head, 1, path) ||
        cfg_int(o, "num_key_value_heads", &cfg->n_kv_head, 0, path) || cfg_int(o, "head_dim", &cfg->d_head, 0, path) ||
        cfg_float(o, "rms_norm_eps", &cfg->norm_eps, path) || cfg_float(o, "rope_theta", &cfg->rope_theta, path) ||
        cfg_int(o, "max_position_embeddings", &cfg->n_ctx, 0, path) ||
        cfg_int(o, "vocab_size", &cfg->vocab_size, 0, path))
        return -1;
    // bos/eos may be a list (Llama 3 instruct); take the first
    const char *keys[2] = {"bos_token_id", "eos_token_id"};
    int *dst[2] = {&cfg->bos_id, &cfg->eos_id};
    for (int i = 0; i < 2; i++) {
        json_object *v;
        if (json_object_object_get_ex(o, keys[i], &v) && json_object_is_type(v, json_type_array) &&
            json_object_array_length(v) > 0)
            *dst[i] = json_object_get_int(json_object_array_get_idx(v, 0));
        else if (cfg_int(o, keys[i], dst[i], 0, path))
            return -1;
    }
    if (cfg->n_kv_head < 0) cfg->n_kv_head = cfg->n_head;
    if (cfg->d_head < 0) cfg->d_head = 0; // d_model / n_head, checked by ms_model_alloc_weights
    int tie = 0, b = 0;
    if (ms_json_get_bool(o, "tie_word_embeddings", &tie, path) < 0) return -1;
    cfg->tied_embeddings = tie;
    if (parse_rope_scaling(o, &cfg->rope_scaling, path)) return -1;
    if (ms_json_get_bool(o, "attention_bias", &b, path) < 0) return -1;
    if (b) { ms_error("%s: attention_bias = true is not supported", path); return -1; }
    if (ms_json_get_bool(o, "mlp_bias", &b, path) < 0) return -1;
    if (b) { ms_error("%s: mlp_bias = true is not supported", path); return -1; }
    const char *act = "silu";
    if (ms_json_get_string(o, "hidden_act", &act, path) < 0) return -1;
    if (strcmp(act, "silu")) { ms_error("%s: hidden_act \"%s\" is not supported (llama needs silu)", path, act); return -1; }
    cfg->rope_style = MS_ROPE_HALF;
    return 0;
}

// GPT-NeoX / Pythia: LayerNorm with bias, exact gelu, partial rotary (rotary_pct of each head,
// rotate_half), parallel residual by default, untied embed_out.
static int parse_neox(json_object *o, ms_config *cfg, const char *path) {
    cfg->arch = MS_ARCH_NEOX;
    cfg->norm_eps = 1e-5f;
    cfg->rope_theta = 10000.0f;
    cfg->n_ctx = 2048;
    cfg->vocab_size = 50432;
    cfg->bos_id = cfg->eos_id = 0;
    double pct = 0.25;
    int par = 1, b = 1;
    if (cfg_int(o, "hidden_size", &cfg->d_model, 1, path) || cfg_int(o, "intermediate_size", &cfg->d_mlp, 1, path) ||
        cfg_int(o, "num_hidden_layers", &cfg->n_layer, 1, path) ||
        cfg_int(o, "num_attention_heads", &cfg->n_head, 1, path) ||
        cfg_float(o, "layer_norm_eps", &cfg->norm_eps, path) || cfg_float(o, "rotary_emb_base", &cfg->rope_theta, path) ||
        cfg_float(o, "rope_theta", &cfg->rope_theta, path) || cfg_int(o, "max_position_embeddings", &cfg->n_ctx, 0, path) ||
        cfg_int(o, "vocab_size", &cfg->vocab_size, 0, path) || cfg_int(o, "bos_token_id", &cfg->bos_id, 0, path) ||
        cfg_int(o, "eos_token_id", &cfg->eos_id, 0, path) || ms_json_get_double(o, "rotary_pct", &pct, path) < 0 ||
        ms_json_get_bool(o, "use_parallel_residual", &par, path) < 0 || ms_json_get_bool(o, "attention_bias", &b, path) < 0)
        return -1;
    if (!b) { ms_error("%s: attention_bias = false is not supported for gpt_neox", path); return -1; }
    const char *act = "gelu";
    if (ms_json_get_string(o, "hidden_act", &act, path) < 0) return -1;
    if (strcmp(act, "gelu")) { ms_error("%s: hidden_act \"%s\" is not supported (gpt_neox needs gelu)", path, act); return -1; }
    if (parse_rope_scaling(o, &cfg->rope_scaling, path)) return -1;
    if (cfg->n_head <= 0 || cfg->d_model % cfg->n_head) { ms_error("%s: hidden_size is not a multiple of num_attention_heads", path); return -1; }
    cfg->n_kv_head = cfg->n_head;
    cfg->d_head = cfg->d_model / cfg->n_head;
    cfg->rotary_dims = (int)(cfg->d_head * pct); // Hugging Face: int(head_size * rotary_pct)
    if (pct <= 0 || cfg->rotary_dims < 2) { ms_error("%s: rotary_pct %g leaves no rotary dims", path, pct); return -1; }
    cfg->rotary_dims &= ~1;
    cfg->parallel_residual = par;
    cfg->rope_style = MS_ROPE_HALF;
    int tie = 0;
    if (ms_json_get_bool(o, "tie_word_embeddings", &tie, path) < 0) return -1;
    cfg->tied_embeddings = tie;
    return 0;
}

// Gemma 2 on the Llama weight names: GeGLU (gelu_pytorch_tanh), embeddings × sqrt(C) rounded to the
// checkpoint's dtype (set by the caller, which knows it), RMSNorm gains stored as w and applied as
// (1 + w) (1 added at load), post-attention and post-MLP norms, explicit head_dim, query_pre_attn_scalar,
// attention and final-logit soft-capping, sliding window on the layers `layer_types` names
// "sliding_attention" (absent: the even layers, as Gemma 2 defines it), tied embeddings.
//
// Gemma 3 text (gemma3 = 1) on the same names: per-head q/k RMSNorm (1 + w) before RoPE, rope_theta on
// the global layers (with rope_scaling, linear) and rope_local_base_freq unscaled on the sliding ones,
// sliding layers from `layer_types` or else all but every sliding_window_pattern-th, soft-capping only
// where the config sets it.
static int parse_gemma(json_object *o, int gemma3, ms_config *cfg, const char *path) {
    cfg->arch = MS_ARCH_LLAMA;
    cfg->norm_eps = 1e-6f;
    cfg->rope_theta = 10000.0f;
    cfg->n_ctx = 8192;
    cfg->vocab_size = 256000;
    cfg->bos_id = 2, cfg->eos_id = 1;
    cfg->n_kv_head = -1;
    cfg->d_head = 256;
    float qscale = 256, soft_a = 0, soft_f = 0;
    int pattern = 6;
    if (gemma3) {
        cfg->rope_theta = 1000000.0f, cfg->rope_local_theta = 10000.0f, cfg->n_ctx = 131072, cfg->vocab_size = 262208;
        cfg->sliding_window = 4096, cfg->qk_norm = 1;
        cfg->n_head = 8, cfg->n_kv_head = 4; // Gemma3TextConfig's defaults: the 4B's text_config omits them
        if (cfg_float(o, "rope_local_base_freq", &cfg->rope_local_theta, path) ||
            cfg_int(o, "sliding_window_pattern", &pattern, 0, path))
            return -1;
        if (pattern < 1) { ms_error("%s: sliding_window_pattern must be positive", path); return -1; }
    }
    if (cfg_int(o, "hidden_size", &cfg->d_model, 1, path) || cfg_int(o, "intermediate_size", &cfg->d_mlp, 1, path) ||
        cfg_int(o, "num_hidden_layers", &cfg->n_layer, 1, path) ||
        cfg_int(o, "num_attention_heads", &cfg->n_head, !gemma3, path) ||
        cfg_int(o, "num_key_value_heads", &cfg->n_kv_head, 0, path) || cfg_int(o, "head_dim", &cfg->d_head, 0, path) ||
        cfg_float(o, "rms_norm_eps", &cfg->norm_eps, path) || cfg_float(o, "rope_theta", &cfg->rope_theta, path) ||
        cfg_int(o, "max_position_embeddings", &cfg->n_ctx, 0, path) || cfg_int(o, "vocab_size", &cfg->vocab_size, 0, path) ||
        cfg_int(o, "bos_token_id", &cfg->bos_id, 0, path) || cfg_int(o, "eos_token_id", &cfg->eos_id, 0, path) ||
        cfg_float(o, "query_pre_attn_scalar", &qscale, path) || cfg_float(o, "attn_logit_softcapping", &soft_a, path) ||
        cfg_float(o, "final_logit_softcapping", &soft_f, path) || cfg_int(o, "sliding_window", &cfg->sliding_window, 0, path))
        return -1;
    if (cfg->n_kv_head < 0) cfg->n_kv_head = cfg->n_head;
    if (qscale <= 0) { ms_error("%s: query_pre_attn_scalar must be positive", path); return -1; }
    cfg->attn_scale = (float)(1.0 / sqrt((double)qscale));
    cfg->attn_softcap = soft_a;
    cfg->logit_softcap = soft_f;
    const char *act = "gelu_pytorch_tanh";
    if (ms_json_get_string(o, "hidden_activation", &act, path) < 0) return -1;
    if (strcmp(act, "gelu_pytorch_tanh")) { ms_error("%s: hidden_activation \"%s\" is not supported (gemma needs gelu_pytorch_tanh)", path, act); return -1; }
    if (parse_rope_scaling(o, &cfg->rope_scaling, path)) return -1;
    json_object *lt;
    if (json_object_object_get_ex(o, "layer_types", &lt) && lt) {
        if (!json_object_is_type(lt, json_type_array) || (int)json_object_array_length(lt) != cfg->n_layer) {
            ms_error("%s: \"layer_types\" must list num_hidden_layers entries", path);
            return -1;
        }
        for (int l = 0; l < cfg->n_layer && l < MS_MAX_LAYERS; l++)
            cfg->local_layer[l] = !strcmp(json_object_get_string(json_object_array_get_idx(lt, l)), "sliding_attention");
    } else {
        for (int l = 0; l < MS_MAX_LAYERS; l++) cfg->local_layer[l] = gemma3 ? (l + 1) % pattern != 0 : l % 2 == 0;
    }
    int tie = 1;
    if (ms_json_get_bool(o, "tie_word_embeddings", &tie, path) < 0) return -1;
    cfg->tied_embeddings = tie;
    cfg->mlp = MS_MLP_GEGLU;
    cfg->post_norms = 1;
    cfg->rope_style = MS_ROPE_HALF;
    return 0;
}

// Gemma's norms compute x̂ · (1 + w): store 1 + w as the gain (float32, as HF adds it).
static void gemma_gains(ms_model *m) {
    const int C = m->cfg.d_model;
    float *g[5];
    for (int l = 0; l < m->n_layer_loaded; l++) {
        ms_layer_weights *w = &m->w.layers[l];
        g[0] = w->ln1_w, g[1] = w->ln1_post_w, g[2] = w->ln2_w, g[3] = w->ln2_post_w;
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < C; i++) g[k][i] += 1.0f;
    }
    for (int i = 0; i < C; i++) m->w.lnf_w[i] += 1.0f;
    for (int l = 0; m->cfg.qk_norm && l < m->n_layer_loaded; l++) // Gemma 3's per-head q/k norms: 1 + w too
        for (int i = 0; i < m->cfg.d_head; i++) m->w.layers[l].q_norm_w[i] += 1.0f, m->w.layers[l].k_norm_w[i] += 1.0f;
}

// Opens model.safetensors, or every shard named by model.safetensors.index.json.
static int open_shards(hf_ctx *c) {
    char *single = ms_path_join(c->dir, "model.safetensors");
    char *index = ms_path_join(c->dir, "model.safetensors.index.json");
    int rc = -1;
    if (ms_file_exists(single)) {
        c->shards = ms_calloc(1, sizeof *c->shards);
        c->shards[0] = ms_safetensors_open(single);
        if (c->shards[0]) { c->n_shards = 1; rc = 0; }
    } else if (ms_file_exists(index)) {
        json_object *idx = ms_json_read_file(index), *wm;
        if (!idx) goto done;
        if (!json_object_object_get_ex(idx, "weight_map", &wm) || !json_object_is_type(wm, json_type_object)) {
            ms_error("%s: no \"weight_map\" object", index);
            json_object_put(idx);
            goto done;
        }
        int n = json_object_object_length(wm);
        const char **files = ms_calloc((size_t)n + 1, sizeof *files);
        int nf = 0;
        json_object_object_foreach(wm, k, v) {
            (void)k;
            if (!json_object_is_type(v, json_type_string) || strchr(json_object_get_string(v), '/')) {
                ms_error("%s: weight_map entry for '%s' is not a plain file name", index, k);
                free(files);
                json_object_put(idx);
                goto done;
            }
            const char *f = json_object_get_string(v);
            int seen = 0;
            for (int i = 0; i < nf; i++) seen |= !strcmp(files[i], f);
            if (!seen) files[nf++] = f;
        }
        c->shards = ms_calloc((size_t)nf + 1, sizeof *c->shards);
        rc = 0;
        for (int i = 0; i < nf && rc == 0; i++) {
            char *p = ms_path_join(c->dir, files[i]);
            c->shards[i] = ms_safetensors_open(p);
            free(p);
            if (c->shards[i]) c->n_shards++;
            else rc = -1;
        }
        free(files);
        json_object_put(idx);
    } else {
        ms_error("%s: no model.safetensors or model.safetensors.index.json", c->dir);
    }
done:
    free(single);
    free(index);
    return rc;
}

static int load_gpt2_weights(hf_ctx *c, ms_model *m) {
    const ms_config *g = &m->cfg;
    int64_t C = g->d_model, F = g->d_mlp, V = g->vocab_size;
    ms_weights *w = &m->w;
    if (hf_get(c, "wte.weight", V, C, 0, w->wte) || hf_get(c, "wpe.weight", g->n_ctx, C, 0, w->wpe)) return -1;
    ms_model_hold_layer(m, -1);
    char n[128];
#define GET(fmt, d0, d1, tr, dst) (snprintf(n, sizeof n, fmt, L), hf_get(c, n, d0, d1, tr, dst))
    for (int L = 0; L < m->n_layer_loaded; L++) {
        ms_layer_weights *l = &w->layers[L];
        if (GET("h.%d.ln_1.weight", C, -1, 0, l->ln1_w) || GET("h.%d.ln_1.bias", C, -1, 0, l->ln1_b) ||
            GET("h.%d.ln_2.weight", C, -1, 0, l->ln2_w) || GET("h.%d.ln_2.bias", C, -1, 0, l->ln2_b) ||
            GET("h.%d.attn.c_proj.weight", C, C, 1, l->wo) || GET("h.%d.attn.c_proj.bias", C, -1, 0, l->bo) ||
            GET("h.%d.mlp.c_fc.weight", C, F, 1, l->w_in) || GET("h.%d.mlp.c_fc.bias", F, -1, 0, l->b_in) ||
            GET("h.%d.mlp.c_proj.weight", F, C, 1, l->w_out) || GET("h.%d.mlp.c_proj.bias", C, -1, 0, l->b_out))
            return -1;
        // c_attn: (C, 3C) [in, out]; output columns [0,C) are q, [C,2C) k, [2C,3C) v
        size_t n3 = (size_t)(3 * C * C);
        float *qkv = ms_malloc(n3 * sizeof(float)), *b3 = ms_malloc((size_t)(3 * C) * sizeof(float));
        if (GET("h.%d.attn.c_attn.weight", C, 3 * C, 1, qkv) || GET("h.%d.attn.c_attn.bias", 3 * C, -1, 0, b3)) {
            free(qkv); free(b3);
            return -1;
        }
        memcpy(l->wq, qkv, (size_t)(C * C) * sizeof(float)); // rows of the transposed (3C, C)
        memcpy(l->wk, qkv + C * C, (size_t)(C * C) * sizeof(float));
        memcpy(l->wv, qkv + 2 * C * C, (size_t)(C * C) * sizeof(float));
        memcpy(l->bq, b3, (size_t)C * sizeof(float));
        memcpy(l->bk, b3 + C, (size_t)C * sizeof(float));
        memcpy(l->bv, b3 + 2 * C, (size_t)C * sizeof(float));
        free(qkv); free(b3);
        ms_model_hold_layer(m, L); // with hold_bf16: to bfloat16 now, before the next layer's float32
    }
#undef GET
    if (hf_get(c, "ln_f.weight", C, -1, 0, w->lnf_w) || hf_get(c, "ln_f.bias", C, -1, 0, w->lnf_b)) return -1;
    if (!g->tied_embeddings && w->unembed && hf_get(c, "lm_head.weight", V, C, 0, w->unembed)) return -1;
    return 0;
}

static int load_llama_weights(hf_ctx *c, ms_model *m) {
    const ms_config *g = &m->cfg;
    int64_t C = g->d_model, F = g->d_mlp, V = g->vocab_size;
    int64_t Q = (int64_t)g->n_head * g->d_head, KV = (int64_t)g->n_kv_head * g->d_head;
    ms_weights *w = &m->w;
    if (hf_get(c, "embed_tokens.weight", V, C, 0, w->wte)) return -1;
    ms_model_hold_layer(m, -1);
    char n[128];
#define GET(fmt, d0, d1, dst) (snprintf(n, sizeof n, fmt, L), hf_get(c, n, d0, d1, 0, dst))
    for (int L = 0; L < m->n_layer_loaded; L++) {
        ms_layer_weights *l = &w->layers[L];
        // post-norm models (Gemma 2): post_attention_layernorm normalizes the attention output and
        // pre_feedforward_layernorm is the MLP's input norm
        if (g->post_norms && (GET("layers.%d.pre_feedforward_layernorm.weight", C, -1, l->ln2_w) ||
                              GET("layers.%d.post_attention_layernorm.weight", C, -1, l->ln1_post_w) ||
                              GET("layers.%d.post_feedforward_layernorm.weight", C, -1, l->ln2_post_w)))
            return -1;
        if (GET("layers.%d.input_layernorm.weight", C, -1, l->ln1_w) ||
            GET("layers.%d.self_attn.q_proj.weight", Q, C, l->wq) ||
            GET("layers.%d.self_attn.k_proj.weight", KV, C, l->wk) ||
            GET("layers.%d.self_attn.v_proj.weight", KV, C, l->wv) ||
            GET("layers.%d.self_attn.o_proj.weight", C, Q, l->wo) ||
            (!g->post_norms && GET("layers.%d.post_attention_layernorm.weight", C, -1, l->ln2_w)) ||
            GET("layers.%d.mlp.gate_proj.weight", F, C, l->w_gate) ||
            GET("layers.%d.mlp.up_proj.weight", F, C, l->w_in) ||
            GET("layers.%d.mlp.down_proj.weight", C, F, l->w_out))
            return -1;
        if (g->qkv_bias && (GET("layers.%d.self_attn.q_proj.bias", Q, -1, l->bq) ||
                            GET("layers.%d.self_attn.k_proj.bias", KV, -1, l->bk) ||
                            GET("layers.%d.self_attn.v_proj.bias", KV, -1, l->bv)))
            return -1;
        if (g->qk_norm && (GET("layers.%d.self_attn.q_norm.weight", g->d_head, -1, l->q_norm_w) ||
                           GET("layers.%d.self_attn.k_norm.weight", g->d_head, -1, l->k_norm_w)))
            return -1;
        ms_model_hold_layer(m, L);
    }
#undef GET
    if (hf_get(c, "norm.weight", C, -1, 0, w->lnf_w)) return -1;
    if (!g->tied_embeddings && w->unembed && hf_get(c, "lm_head.weight", V, C, 0, w->unembed)) return -1;
    return 0;
}

// query_key_value (3C, C) rows ordered (head, q|k|v, Dh), bias likewise -> the stacked q|k|v layout
// of model.h (wq, wk, wv rows h*Dh + d).
static int load_neox_qkv(hf_ctx *c, const ms_config *g, int L, ms_layer_weights *l) {
    const int64_t C = g->d_model, H = g->n_head, Dh = g->d_head;
    float *w = ms_malloc((size_t)(3 * C * C) * sizeof(float)), *b = ms_malloc((size_t)(3 * C) * sizeof(float));
    char n[128], nb[128];
    snprintf(n, sizeof n, "layers.%d.attention.query_key_value.weight", L);
    snprintf(nb, sizeof nb, "layers.%d.attention.query_key_value.bias", L);
    int rc = hf_get(c, n, 3 * C, C, 0, w) || hf_get(c, nb, 3 * C, -1, 0, b) ? -1 : 0;
    float *dst_w[3] = {l->wq, l->wk, l->wv}, *dst_b[3] = {l->bq, l->bk, l->bv};
    for (int64_t h = 0; rc == 0 && h < H; h++)
        for (int j = 0; j < 3; j++) {
            const int64_t src = (h * 3 + j) * Dh; // first row of head h's q, k or v
            memcpy(dst_w[j] + h * Dh * C, w + src * C, (size_t)(Dh * C) * sizeof(float));
            memcpy(dst_b[j] + h * Dh, b + src, (size_t)Dh * sizeof(float));
        }
    free(w);
    free(b);
    return rc;
}

static int load_neox_weights(hf_ctx *c, ms_model *m) {
    const ms_config *g = &m->cfg;
    int64_t C = g->d_model, F = g->d_mlp, V = g->vocab_size;
    ms_weights *w = &m->w;
    if (hf_get(c, "embed_in.weight", V, C, 0, w->wte)) return -1;
    ms_model_hold_layer(m, -1);
    char n[128];
#define GET(fmt, d0, d1, dst) (snprintf(n, sizeof n, fmt, L), hf_get(c, n, d0, d1, 0, dst))
    for (int L = 0; L < m->n_layer_loaded; L++) {
        ms_layer_weights *l = &w->layers[L];
        // post-norm models (Gemma 2): post_attention_layernorm normalizes the attention output and
        // pre_feedforward_layernorm is the MLP's input norm
        if (g->post_norms && (GET("layers.%d.pre_feedforward_layernorm.weight", C, -1, l->ln2_w) ||
                              GET("layers.%d.post_attention_layernorm.weight", C, -1, l->ln1_post_w) ||
                              GET("layers.%d.post_feedforward_layernorm.weight", C, -1, l->ln2_post_w)))
            return -1;
        if (GET("layers.%d.input_layernorm.weight", C, -1, l->ln1_w) || GET("layers.%d.input_layernorm.bias", C, -1, l->ln1_b) ||
            GET("layers.%d.post_attention_layernorm.weight", C, -1, l->ln2_w) ||
            GET("layers.%d.post_attention_layernorm.bias", C, -1, l->ln2_b) || load_neox_qkv(c, g, L, l) ||
            GET("layers.%d.attention.dense.weight", C, C, l->wo) || GET("layers.%d.attention.dense.bias", C, -1, l->bo) ||
            GET("layers.%d.mlp.dense_h_to_4h.weight", F, C, l->w_in) || GET("layers.%d.mlp.dense_h_to_4h.bias", F, -1, l->b_in) ||
            GET("layers.%d.mlp.dense_4h_to_h.weight", C, F, l->w_out) || GET("layers.%d.mlp.dense_4h_to_h.bias", C, -1, l->b_out))
            return -1;
        ms_model_hold_layer(m, L);
    }
#undef GET
    if (hf_get(c, "final_layer_norm.weight", C, -1, 0, w->lnf_w) || hf_get(c, "final_layer_norm.bias", C, -1, 0, w->lnf_b))
        return -1;
    if (!g->tied_embeddings && w->unembed && hf_get(c, "embed_out.weight", V, C, 0, w->unembed)) return -1;
    return 0;
}

int ms_load_hf(const char *dir, ms_model *m) {
    hf_ctx c = {.dir = dir};
    int rc = -1;
    char *cfg_path = ms_path_join(dir, "config.json");
    json_object *o = NULL;
    if (!ms_file_exists(cfg_path)) { ms_error("%s: no config.json (not a Hugging Face checkpoint directory)", dir); goto done; }
    if (!(o = ms_json_read_file(cfg_path))) goto done;
    if (!json_object_is_type(o, json_type_object)) { ms_error("%s: not a JSON object", cfg_path); goto done; }
    const char *mt = NULL;
    if (ms_json_get_string(o, "model_type", &mt, cfg_path) < 0) goto done;
    if (!mt) { ms_error("%s: missing \"model_type\"", cfg_path); goto done; }
    memset(&m->cfg, 0, sizeof m->cfg);
    if (!strcmp(mt, "gpt2")) {
        if (parse_gpt2(o, &m->cfg, cfg_path)) goto done;
        c.prefix = "transformer.";
    } else if (!strcmp(mt, "llama") || !strcmp(mt, "mistral") || !strcmp(mt, "qwen2") || !strcmp(mt, "qwen3")) {
        if (parse_llama(o, &m->cfg, cfg_path) || parse_llama_variant(o, mt, &m->cfg, cfg_path)) goto done;
        c.prefix = "model.";
    } else if (!strcmp(mt, "gemma2") || !strcmp(mt, "gemma3_text")) {
        if (parse_gemma(o, mt[5] == '3', &m->cfg, cfg_path)) goto done;
        c.prefix = "model.";
    } else if (!strcmp(mt, "gemma3")) { // multimodal: the text model only; the vision tower is left unread
        json_object *tc;
        if (!json_object_object_get_ex(o, "text_config", &tc) || !json_object_is_type(tc, json_type_object)) {
            ms_error("%s: gemma3 config without a \"text_config\" object", cfg_path);
            goto done;
        }
        if (parse_gemma(tc, 1, &m->cfg, cfg_path)) goto done;
        c.prefix = "language_model.model.";
    } else if (!strcmp(mt, "gpt_neox")) {
        if (parse_neox(o, &m->cfg, cfg_path)) goto done;
        c.prefix = "gpt_neox.";
    } else {
        ms_error("%s: unsupported model_type \"%s\" (supported: gpt2, llama, mistral, qwen2, qwen3, gemma2, gemma3_text, gemma3, gpt_neox)", cfg_path, mt);
        goto done;
    }
    if (m->cfg.arch == MS_ARCH_GPT2) { // llama read it in parse_llama (default false there)
        int tie = 1;
        if (ms_json_get_bool(o, "tie_word_embeddings", &tie, cfg_path) < 0) goto done;
        m->cfg.tied_embeddings = tie;
    }
    snprintf(m->cfg.source_format, sizeof m->cfg.source_format, "hf");
    if (open_shards(&c)) goto done;
    // A missing lm_head means the checkpoint relies on tying, whatever the config says.
    const char *head = m->cfg.arch == MS_ARCH_NEOX ? "embed_out.weight" : "lm_head.weight";
    if (!m->cfg.tied_embeddings && !hf_find(&c, head, NULL)) m->cfg.tied_embeddings = 1;
    // Before allocating: a config that implies more weights than the files hold is corrupt (and
    // must not make us try to allocate absurd sizes).
    {
        const ms_config *g = &m->cfg;
        double Dh = g->d_head > 0 ? g->d_head : (g->n_head > 0 ? (double)g->d_model / g->n_head : 0);
        double C = g->d_model, Q = g->n_head * Dh, KV = g->n_kv_head * Dh;
        double need = (double)g->vocab_size * C + (g->arch == MS_ARCH_GPT2 ? (double)g->n_ctx * C : 0) + // wte, wpe
                      (double)g->n_layer * (2 * C * Q + 2 * C * KV + (g->arch == MS_ARCH_LLAMA ? 3.0 : 2.0) * C * g->d_mlp);
        double have = 0;
        for (int s = 0; s < c.n_shards; s++)
            for (int i = 0; i < c.shards[s]->n_tensors; i++) {
                const ms_st_tensor *t = &c.shards[s]->tensors[i];
                double n = 1;
                for (int d = 0; d < t->ndim; d++) n *= (double)t->shape[d];
                have += n;
            }
        if (need > have) {
            ms_error("%s: config implies at least %.0f parameters but the safetensors hold %.0f", cfg_path, need, have);
            goto done;
        }
    }
    const char *emb_name = m->cfg.arch == MS_ARCH_GPT2 ? "wte.weight" : m->cfg.arch == MS_ARCH_NEOX ? "embed_in.weight"
                                                                                                 : "embed_tokens.weight";
    const ms_st_tensor *emb = hf_find(&c, emb_name, NULL);
    snprintf(m->cfg.source_dtype, sizeof m->cfg.source_dtype, "%s", emb ? ms_dtype_name(emb->dtype) : "?");
    if (m->cfg.post_norms && emb) { // Gemma: sqrt(C) as a tensor of the model's dtype, as HF computes it
        float e = sqrtf((float)m->cfg.d_model);
        if (emb->dtype == MS_DT_BF16) e = ms_bf16_to_f32(ms_f32_to_bf16(e));
        else if (emb->dtype == MS_DT_F16) e = ms_f16_to_f32(ms_f32_to_f16(e));
        m->cfg.embed_scale = e;
    }
    if (ms_model_alloc_weights(m)) goto done; // its message names the model path
    if (!m->header_only) {
        rc = m->cfg.arch == MS_ARCH_GPT2 ? load_gpt2_weights(&c, m)
           : m->cfg.arch == MS_ARCH_NEOX ? load_neox_weights(&c, m) : load_llama_weights(&c, m);
        if (rc) goto done;
        if (m->cfg.post_norms) gemma_gains(m);
    }
    rc = 0;
    // tokenizer: optional, but a broken one is an error
    char *tj = ms_path_join(dir, "tokenizer.json"), *vj = ms_path_join(dir, "vocab.json"), *mg = ms_path_join(dir, "merges.txt");
    int has_tok = ms_file_exists(tj) || (ms_file_exists(vj) && ms_file_exists(mg));
    free(tj); free(vj); free(mg);
    if (has_tok) {
        m->tok = ms_tokenizer_load_hf(dir);
        if (!m->tok) rc = -1;
    }
done:
    for (int i = 0; i < c.n_shards; i++) ms_safetensors_close(c.shards[i]);
    free(c.shards);
    free(c.tmp);
    if (o) json_object_put(o);
    free(cfg_path);
    return rc;
}
