// load_gguf.c: GGUF checkpoints (llama.cpp's layout) for general.architecture "llama" (Llama 1-3.x,
// Mistral), "qwen2", "qwen3", "gemma2" and "gpt2". Tensors (F32/F16/BF16, Q8_0 dequantized) become
// float32 [out, in]: GGUF lists dimensions fastest-first, so a [out, in] matrix has ne = {in, out}
// and its bytes are already row-major [out][in]; no transpose is needed. The semantics are llama.cpp's
// (src/llama-model.cpp, convert_hf_to_gguf.py):
//   llama   q/k rows in interleaved RoPE order (the converter undoes Hugging Face's permutation) ->
//           MS_ROPE_INTERLEAVED; Llama 3.1/3.2 carry rope_freqs.weight, one divisor per frequency
//           (computed from the llama3 rope_scaling) -> MS_ROPE_SCALING_FACTORS; rope.scaling.type
//           "linear" with rope.scaling.factor -> MS_ROPE_SCALING_LINEAR.
//   qwen2   q/k/v biases, rotate_half order kept (no permutation) -> MS_ROPE_HALF; qwen3: per-head
//           q/k RMSNorm (attn_q_norm / attn_k_norm) instead of biases, explicit attention.key_length.
//   gemma2  norms stored as 1 + w already (the converter adds the 1): loaded as they are; post-norms
//           post_attention_norm / post_ffw_norm, ffn_norm is the MLP's input norm; GeGLU; the
//           embedding times sqrt(d_model) in float32; attention and final logit soft-caps;
//           attention.sliding_window on the even layers (llama.cpp's pattern 2); scores scaled by
//           1/sqrt(key_length), except Gemma-2-27B (46 layers), whose query_pre_attn_scalar is
//           d_model / n_head -- the one size where the two differ, as llama.cpp decides it.
//   gemma3  as gemma2, plus per-head q/k norms (1 + w stored), no attention soft-cap (final one if
//           present), sliding layers all but every 6th with RoPE base 10000 unscaled, the others on
//           rope.freq_base with rope.scaling (linear); Gemma-3-27B (62 layers) scaled by d_model / n_head.
//   gptneox fused attn_qkv rows [q | k | v] (the converter reorders Hugging Face's (head, q|k|v, Dh)
//           rows) with biases, LayerNorm with bias, partial rotary (rope.dimension_count) in rotate_half
//           order, use_parallel_residual; the MLP's gelu is the exact one of the Hugging Face model
//           (llama.cpp computes it with the tanh approximation).
// The tokenizer comes from the tokenizer.ggml.* metadata.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/gguf.h"
#include "model/model.h"
#include "util/util.h"

typedef struct {
    ms_gguf *g;
    const char *arch;   // metadata key prefix
    int gemma;          // 2 or 3 for gemma2 / gemma3, else 0
} gg_ctx;

static int meta_int(gg_ctx *c, const char *key, int *dst, int required) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", c->arch, key);
    int64_t v;
    int r = ms_gguf_get_int(c->g, k, &v);
    if (r < 0) return -1;
    if (r == 0) {
        if (required) { ms_error("%s: missing metadata '%s'", c->g->path, k); return -1; }
        return 0;
    }
    if (v < 0 || v > INT32_MAX) { ms_error("%s: metadata '%s' = %lld is out of range", c->g->path, k, (long long)v); return -1; }
    *dst = (int)v;
    return 0;
}
static int meta_float(gg_ctx *c, const char *key, float *dst) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", c->arch, key);
    double v;
    int r = ms_gguf_get_float(c->g, k, &v);
    if (r < 0) return -1;
    if (r == 1) *dst = (float)v;
    return 0;
}

// Converts tensor `name` with torch shape [d0] or [d0, d1] (ne = {d1, d0}) into out.
static int gg_get(gg_ctx *c, const char *name, int64_t d0, int64_t d1, float *out) {
    const ms_gguf_tensor *t = ms_gguf_find_tensor(c->g, name);
    if (!t) { ms_error("%s: missing tensor '%s'", c->g->path, name); return -1; }
    int ok = d1 < 0 ? (t->ne[0] == d0 && t->ne[1] == 1) : (t->ne[0] == d1 && t->ne[1] == d0);
    ok = ok && t->ne[2] == 1 && t->ne[3] == 1;
    if (!ok) {
        ms_error("%s: tensor '%s' has ne = {%lld, %lld, %lld, %lld} but the metadata implies {%lld, %lld}", c->g->path,
                 name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                 (long long)(d1 < 0 ? d0 : d1), (long long)(d1 < 0 ? 1 : d0));
        return -1;
    }
    const size_t n = (size_t)d0 * (size_t)(d1 < 0 ? 1 : d1);
    const int rc = ms_gguf_tensor_to_f32(c->g, t, out) ? -1 : ms_weights_check_finite(c->g->path, name, out, n);
    ms_gguf_release(c->g, t);
    return rc;
}

// The pre-tokenizer split pattern for llama.cpp's tokenizer.ggml.pre names we know; NULL = GPT-2's.
static const char *pre_pattern(const char *pre) {
    if (!pre) return NULL;
    if (!strcmp(pre, "llama3") || !strcmp(pre, "llama-v3") || !strcmp(pre, "llama-bpe") || !strcmp(pre, "smaug-bpe"))
        return "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
               "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    // starcoder / smollm / refact: llama.cpp (like tokenizer.json's Digits + ByteLevel) first cuts
    // every digit out as its own piece, then applies GPT-2's rule to the gaps. One regex does the
    // same: a digit alone, no space glued to digits, and a whitespace run may end before a digit
    // as it would at the end of a gap.
    if (!strcmp(pre, "starcoder") || !strcmp(pre, "smollm") || !strcmp(pre, "refact"))
        return "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+|\\s+(?![^\\s\\p{N}])|\\s+";
    // "gpt-2" and "default" are GPT-2's rule. An unknown name may split differently: say so once
    // (stderr, not an error: the ids are still those of GPT-2's rule, which most models share).
    if (strcmp(pre, "gpt-2") && strcmp(pre, "gpt2") && strcmp(pre, "default"))
        fprintf(stderr, "monoscope: warning: tokenizer.ggml.pre \"%s\" is not known; using GPT-2's "
                        "pre-tokenizer split, which may differ from the original tokenizer's\n", pre);
    return NULL;
}

static int load_tokenizer(gg_ctx *c, ms_model *m) {
    const char *model = NULL, *pre = NULL;
    if (ms_gguf_get_str(c->g, "tokenizer.ggml.model", &model) < 0 || ms_gguf_get_str(c->g, "tokenizer.ggml.pre", &pre) < 0)
        return -1;
    if (!model || !strcmp(model, "none") || !strcmp(model, "no_vocab")) return 0;
    ms_tok_kind kind;
    if (!strcmp(model, "gpt2")) kind = MS_TOK_BYTE_BPE;
    else if (!strcmp(model, "llama")) kind = MS_TOK_SPM_BPE;
    else { ms_error("%s: unsupported tokenizer.ggml.model \"%s\" (supported: gpt2, llama)", c->g->path, model); return -1; }
    const ms_gguf_kv *tk = ms_gguf_find_kv(c->g, "tokenizer.ggml.tokens");
    if (!tk || tk->type != MS_GGUF_ARRAY || tk->arr_type != MS_GGUF_STRING || tk->arr_n == 0 || tk->arr_n > INT32_MAX) {
        ms_error("%s: tokenizer.ggml.tokens missing or not a string array", c->g->path);
        return -1;
    }
    int n = (int)tk->arr_n;
    const ms_gguf_kv *sc = ms_gguf_find_kv(c->g, "tokenizer.ggml.scores");
    const ms_gguf_kv *ty = ms_gguf_find_kv(c->g, "tokenizer.ggml.token_type");
    const ms_gguf_kv *mg = ms_gguf_find_kv(c->g, "tokenizer.ggml.merges");
    float *scores = NULL;
    int32_t *types = NULL;
    if (sc) {
        if (sc->type != MS_GGUF_ARRAY || !sc->arr_data || sc->arr_n != tk->arr_n) {
            ms_error("%s: tokenizer.ggml.scores is not a numeric array of %d entries", c->g->path, n);
            return -1;
        }
        scores = ms_malloc((size_t)n * sizeof(float));
        for (int i = 0; i < n; i++) scores[i] = (float)ms_gguf_arr_f64(sc, (uint64_t)i);
    } else if (kind == MS_TOK_SPM_BPE) {
        ms_error("%s: tokenizer.ggml.scores missing (required by the llama tokenizer)", c->g->path);
        return -1;
    }
    if (ty && ty->type == MS_GGUF_ARRAY && ty->arr_data && ty->arr_n == tk->arr_n) {
        types = ms_malloc((size_t)n * sizeof(int32_t));
        for (int i = 0; i < n; i++) types[i] = (int32_t)ms_gguf_arr_i64(ty, (uint64_t)i);
    }
    int n_merges = 0;
    const char *const *merges = NULL;
    if (kind == MS_TOK_BYTE_BPE) {
        if (!mg || mg->type != MS_GGUF_ARRAY || mg->arr_type != MS_GGUF_STRING || mg->arr_n > INT32_MAX) {
            ms_error("%s: tokenizer.ggml.merges missing or not a string array (required by the gpt2 tokenizer)", c->g->path);
            free(scores); free(types);
            return -1;
        }
        n_merges = (int)mg->arr_n;
        merges = (const char *const *)mg->arr_str;
    }
    int64_t bos = -1, eos = -1;
    if (ms_gguf_get_int(c->g, "tokenizer.ggml.bos_token_id", &bos) < 0 || ms_gguf_get_int(c->g, "tokenizer.ggml.eos_token_id", &eos) < 0) {
        free(scores); free(types);
        return -1;
    }
    if (bos >= n) bos = -1;
    if (eos >= n) eos = -1;
    m->tok = ms_tokenizer_from_tables(kind, n, (const char *const *)tk->arr_str, scores, types, n_merges, merges,
                                      pre_pattern(pre), (int)bos, (int)eos);
    free(scores);
    free(types);
    if (!m->tok) {
        char why[400];
        snprintf(why, sizeof why, "%s", ms_last_error());
        ms_error("%s: tokenizer: %s", c->g->path, why);
        return -1;
    }
    if (m->cfg.bos_id < 0) m->cfg.bos_id = (int)bos;
    if (m->cfg.eos_id < 0) m->cfg.eos_id = (int)eos;
    return 0;
}

// rope.scaling.type / rope.scaling.factor and the rope_freqs.weight table (Llama 3.1/3.2).
static int rope_scaling(gg_ctx *c, ms_config *cfg) {
    ms_gguf *g = c->g;
    const char *st = NULL;
    char k[160];
    snprintf(k, sizeof k, "%s.rope.scaling.type", c->arch);
    if (ms_gguf_get_str(g, k, &st) < 0) return -1;
    const ms_gguf_tensor *ff = ms_gguf_find_tensor(g, "rope_freqs.weight");
    if (ff) {
        const int pairs = cfg->rotary_dims / 2;
        if (ff->ne[0] != pairs || ff->ne[1] != 1 || ff->ne[2] != 1 || ff->ne[3] != 1 || pairs > MS_MAX_ROPE_PAIRS) {
            ms_error("%s: rope_freqs.weight has ne = {%lld, %lld} but the head has %d rotary pairs (at most %d)", g->path,
                     (long long)ff->ne[0], (long long)ff->ne[1], pairs, MS_MAX_ROPE_PAIRS);
            return -1;
        }
        if (st && strcmp(st, "none") && strcmp(st, "llama3")) {
            ms_error("%s: rope_freqs.weight together with rope.scaling.type \"%s\" is not supported", g->path, st);
            return -1;
        }
        cfg->rope_scaling.type = MS_ROPE_SCALING_FACTORS;
        return ms_gguf_tensor_to_f32(g, ff, cfg->rope_scaling.freq_factors); // values judged by ms_config_validate
    }
    if (!st || !strcmp(st, "none")) return 0;
    if (!strcmp(st, "linear")) {
        cfg->rope_scaling.type = MS_ROPE_SCALING_LINEAR;
        cfg->rope_scaling.factor = 0;
        if (meta_float(c, "rope.scaling.factor", &cfg->rope_scaling.factor)) return -1;
        if (!(cfg->rope_scaling.factor > 0) || !isfinite(cfg->rope_scaling.factor)) {
            ms_error("%s: rope.scaling.type linear needs %s.rope.scaling.factor > 0, got %g", g->path, c->arch,
                     (double)cfg->rope_scaling.factor);
            return -1;
        }
        return 0;
    }
    ms_error("%s: RoPE scaling type \"%s\" is not supported (none, linear, or llama3's rope_freqs.weight)", g->path, st);
    return -1;
}

// Gemma 2's and 3's knobs (see the top of the file).
static int gemma_config(gg_ctx *c, ms_config *cfg) {
    cfg->mlp = MS_MLP_GEGLU;
    cfg->post_norms = 1;
    cfg->tied_embeddings = 1;
    cfg->embed_scale = sqrtf((float)cfg->d_model);
    if ((c->gemma == 2 && meta_float(c, "attn_logit_softcapping", &cfg->attn_softcap)) ||
        meta_float(c, "final_logit_softcapping", &cfg->logit_softcap) ||
        meta_int(c, "attention.sliding_window", &cfg->sliding_window, 0))
        return -1;
    const int big = c->gemma == 2 ? cfg->n_layer == 46 : cfg->n_layer == 62; // the 27B models
    const int query_scalar = big && cfg->n_head > 0 ? cfg->d_model / cfg->n_head : cfg->d_head;
    if (query_scalar <= 0) { ms_error("%s: bad head dimensions", c->g->path); return -1; }
    cfg->attn_scale = 1.0f / sqrtf((float)query_scalar);
    for (int l = 0; l < cfg->n_layer && l < MS_MAX_LAYERS; l++)
        cfg->local_layer[l] = cfg->sliding_window > 0 && (c->gemma == 2 ? l % 2 == 0 : l % 6 < 5);
    if (c->gemma == 3 && cfg->sliding_window > 0) cfg->rope_local_theta = 10000.0f;
    return 0;
}

static int parse_config(gg_ctx *c, ms_config *cfg) {
    ms_gguf *g = c->g;
    const ms_gguf_tensor *emb = ms_gguf_find_tensor(g, "token_embd.weight");
    if (!emb) { ms_error("%s: missing tensor 'token_embd.weight'", g->path); return -1; }
    if (emb->ne[1] <= 0 || emb->ne[1] > INT32_MAX) { ms_error("%s: token_embd.weight has a bad shape", g->path); return -1; }
    cfg->vocab_size = (int)emb->ne[1];
    cfg->n_ctx = 2048;
    cfg->rope_theta = 10000.0f;
    cfg->bos_id = cfg->eos_id = -1;
    cfg->n_kv_head = -1;
    if (meta_int(c, "block_count", &cfg->n_layer, 1) || meta_int(c, "embedding_length", &cfg->d_model, 1) ||
        meta_int(c, "feed_forward_length", &cfg->d_mlp, 1) || meta_int(c, "attention.head_count", &cfg->n_head, 1) ||
        meta_int(c, "attention.head_count_kv", &cfg->n_kv_head, 0) ||
        meta_int(c, "context_length", &cfg->n_ctx, cfg->arch == MS_ARCH_GPT2))
        return -1;
    if (cfg->n_kv_head < 0) cfg->n_kv_head = cfg->n_head;
    cfg->d_head = 0; // d_model / n_head unless the file says otherwise
    if (meta_int(c, "attention.key_length", &cfg->d_head, 0)) return -1;
    if (cfg->d_head == 0 && cfg->n_head > 0 && cfg->d_model % cfg->n_head == 0) cfg->d_head = cfg->d_model / cfg->n_head;
    if (cfg->arch == MS_ARCH_GPT2) {
        cfg->norm_eps = 1e-5f;
        if (meta_float(c, "attention.layer_norm_epsilon", &cfg->norm_eps)) return -1;
        cfg->rope_style = MS_ROPE_NONE;
    } else if (cfg->arch == MS_ARCH_NEOX) {
        int parallel = 1;
        cfg->norm_eps = 1e-5f;
        cfg->rotary_dims = cfg->d_head;
        if (meta_float(c, "attention.layer_norm_epsilon", &cfg->norm_eps) || meta_float(c, "rope.freq_base", &cfg->rope_theta) ||
            meta_int(c, "rope.dimension_count", &cfg->rotary_dims, 0) || meta_int(c, "use_parallel_residual", &parallel, 0))
            return -1;
        cfg->parallel_residual = parallel != 0;
        cfg->rope_style = MS_ROPE_HALF;
        if (rope_scaling(c, cfg)) return -1;
    } else {
        cfg->norm_eps = 1e-5f;
        if (meta_float(c, "attention.layer_norm_rms_epsilon", &cfg->norm_eps) || meta_float(c, "rope.freq_base", &cfg->rope_theta))
            return -1;
        int rot = cfg->d_head;
        if (meta_int(c, "rope.dimension_count", &rot, 0)) return -1;
        if (rot != cfg->d_head) {
            ms_error("%s: partial rotary embeddings (rope.dimension_count %d != head dim %d) are not supported", g->path, rot, cfg->d_head);
            return -1;
        }
        cfg->rotary_dims = rot;
        if (rope_scaling(c, cfg)) return -1;
        cfg->rope_style = strcmp(c->arch, "llama") ? MS_ROPE_HALF : MS_ROPE_INTERLEAVED;
        cfg->qkv_bias = ms_gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
        cfg->qk_norm = ms_gguf_find_tensor(g, "blk.0.attn_q_norm.weight") != NULL;
        if (c->gemma && gemma_config(c, cfg)) return -1;
    }
    cfg->tied_embeddings = cfg->tied_embeddings || ms_gguf_find_tensor(g, "output.weight") == NULL;
    const ms_gguf_tensor *probe = ms_gguf_find_tensor(g, "blk.0.ffn_down.weight");
    snprintf(cfg->source_dtype, sizeof cfg->source_dtype, "%s", ms_ggml_type_name((probe ? probe : emb)->ggml_type));
    snprintf(cfg->source_format, sizeof cfg->source_format, "gguf");
    return 0;
}

static int load_weights(gg_ctx *c, ms_model *m) {
    const ms_config *g = &m->cfg;
    int64_t C = g->d_model, F = g->d_mlp, V = g->vocab_size;
    int64_t Q = (int64_t)g->n_head * g->d_head, KV = (int64_t)g->n_kv_head * g->d_head;
    ms_weights *w = &m->w;
    const int gpt2 = g->arch == MS_ARCH_GPT2, biased = g->linear_bias; // gpt2, gptneox: LayerNorm, biases, fused qkv
    if (gg_get(c, "token_embd.weight", V, C, w->wte)) return -1;
    ms_model_hold_layer(m, -1);
    if (gpt2 && gg_get(c, "position_embd.weight", g->n_ctx, C, w->wpe)) return -1;
    char n[128];
#define GET(suffix, d0, d1, dst) (snprintf(n, sizeof n, "blk.%d." suffix, L), gg_get(c, n, d0, d1, dst))
    for (int L = 0; L < m->n_layer_loaded; L++) {
        ms_layer_weights *l = &w->layers[L];
        if (GET("attn_norm.weight", C, -1, l->ln1_w) || GET("ffn_norm.weight", C, -1, l->ln2_w) ||
            GET("attn_output.weight", C, Q, l->wo) || GET("ffn_up.weight", F, C, l->w_in) ||
            GET("ffn_down.weight", C, F, l->w_out))
            return -1;
        if (!biased) {
            if (GET("attn_q.weight", Q, C, l->wq) || GET("attn_k.weight", KV, C, l->wk) ||
                GET("attn_v.weight", KV, C, l->wv) || GET("ffn_gate.weight", F, C, l->w_gate))
                return -1;
            if (g->qkv_bias && (GET("attn_q.bias", Q, -1, l->bq) || GET("attn_k.bias", KV, -1, l->bk) ||
                                GET("attn_v.bias", KV, -1, l->bv)))
                return -1;
            if (g->qk_norm && (GET("attn_q_norm.weight", g->d_head, -1, l->q_norm_w) ||
                               GET("attn_k_norm.weight", g->d_head, -1, l->k_norm_w)))
                return -1;
            if (g->post_norms && (GET("post_attention_norm.weight", C, -1, l->ln1_post_w) ||
                                  GET("post_ffw_norm.weight", C, -1, l->ln2_post_w)))
                return -1;
            ms_model_hold_layer(m, L); // with hold_bf16: to bfloat16 now, before the next layer's float32
            continue;
        }
        if (GET("attn_norm.bias", C, -1, l->ln1_b) || GET("ffn_norm.bias", C, -1, l->ln2_b) ||
            GET("attn_output.bias", C, -1, l->bo) || GET("ffn_up.bias", F, -1, l->b_in) ||
            GET("ffn_down.bias", C, -1, l->b_out))
            return -1;
        snprintf(n, sizeof n, "blk.%d.attn_qkv.weight", L);
        if (ms_gguf_find_tensor(c->g, n)) { // fused (3C, C): rows [0,C) q, [C,2C) k, [2C,3C) v
            float *qkv = ms_malloc((size_t)(Q + 2 * KV) * (size_t)C * sizeof(float));
            float *b = ms_malloc((size_t)(Q + 2 * KV) * sizeof(float));
            int rc = GET("attn_qkv.weight", Q + 2 * KV, C, qkv) || GET("attn_qkv.bias", Q + 2 * KV, -1, b);
            if (!rc) {
                memcpy(l->wq, qkv, (size_t)(Q * C) * sizeof(float));
                memcpy(l->wk, qkv + Q * C, (size_t)(KV * C) * sizeof(float));
                memcpy(l->wv, qkv + (Q + KV) * C, (size_t)(KV * C) * sizeof(float));
                memcpy(l->bq, b, (size_t)Q * sizeof(float));
                memcpy(l->bk, b + Q, (size_t)KV * sizeof(float));
                memcpy(l->bv, b + Q + KV, (size_t)KV * sizeof(float));
            }
            free(qkv);
            free(b);
            if (rc) return -1;
        } else if (GET("attn_q.weight", Q, C, l->wq) || GET("attn_k.weight", KV, C, l->wk) ||
                   GET("attn_v.weight", KV, C, l->wv) || GET("attn_q.bias", Q, -1, l->bq) ||
                   GET("attn_k.bias", KV, -1, l->bk) || GET("attn_v.bias", KV, -1, l->bv)) {
            return -1;
        }
        ms_model_hold_layer(m, L);
    }
#undef GET
    if (gg_get(c, "output_norm.weight", C, -1, w->lnf_w)) return -1;
    if (biased && gg_get(c, "output_norm.bias", C, -1, w->lnf_b)) return -1;
    if (!g->tied_embeddings && w->unembed && gg_get(c, "output.weight", V, C, w->unembed)) return -1;
    return 0;
}

int ms_load_gguf(const char *path, ms_model *m) {
    gg_ctx c = {0};
    c.g = ms_gguf_open(path);
    if (!c.g) return -1;
    int rc = -1;
    const char *arch = NULL;
    if (ms_gguf_get_str(c.g, "general.architecture", &arch) < 0) goto done;
    if (!arch) { ms_error("%s: missing metadata 'general.architecture'", path); goto done; }
    memset(&m->cfg, 0, sizeof m->cfg);
    if (!strcmp(arch, "llama") || !strcmp(arch, "qwen2") || !strcmp(arch, "qwen3") || !strcmp(arch, "gemma2") ||
        !strcmp(arch, "gemma3"))
        m->cfg.arch = MS_ARCH_LLAMA;
    else if (!strcmp(arch, "gpt2")) m->cfg.arch = MS_ARCH_GPT2;
    else if (!strcmp(arch, "gptneox")) m->cfg.arch = MS_ARCH_NEOX;
    else {
        ms_error("%s: unsupported architecture \"%s\" (supported: llama, qwen2, qwen3, gemma2, gemma3, gptneox, gpt2)", path, arch);
        goto done;
    }
    c.arch = arch;
    c.gemma = !strcmp(arch, "gemma2") ? 2 : !strcmp(arch, "gemma3") ? 3 : 0;
    if (parse_config(&c, &m->cfg)) goto done;
    {   // metadata implying more weights than the file holds is corrupt: refuse before allocating
        const ms_config *g = &m->cfg;
        double Dh = g->d_head > 0 ? g->d_head : 0, C = g->d_model, Q = g->n_head * Dh, KV = g->n_kv_head * Dh;
        double need = (double)g->vocab_size * C * (g->tied_embeddings ? 1 : 2) +
                      (g->arch == MS_ARCH_GPT2 ? (double)g->n_ctx * C : 0) + // position_embd: n_ctx is metadata
                      (double)g->n_layer * (2 * C * Q + 2 * C * KV + (g->arch == MS_ARCH_LLAMA ? 3.0 : 2.0) * C * g->d_mlp);
        double have = 0;
        const ms_gguf_tensor *unreadable = NULL; // a type we cannot read has no checked extent: it holds nothing
        for (int i = 0; i < c.g->n_tensors; i++)
            if (c.g->tensors[i].dtype != MS_DT_UNKNOWN) have += (double)c.g->tensors[i].numel;
            else if (!unreadable) unreadable = &c.g->tensors[i];
        if (need > have && unreadable) { // e.g. a Q4_K file: name the type, not the shortfall
            ms_gguf_tensor_to_f32(c.g, unreadable, NULL);
            goto done;
        }
        if (need > have) {
            ms_error("%s: metadata implies at least %.0f parameters but the file holds %.0f", path, need, have);
            goto done;
        }
    }
    if (ms_model_alloc_weights(m)) goto done; // its message names the model path
    if ((!m->header_only && load_weights(&c, m)) || load_tokenizer(&c, m)) goto done;
    rc = 0;
done:
    ms_gguf_close(c.g);
    return rc;
}
