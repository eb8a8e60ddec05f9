// model.c: format detection, the one weight arena every loader fills, config validation, and the
// per-site activation shapes (see model.h).
#include "model/model.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

const char *ms_arch_name(ms_arch a) {
    switch (a) {
    case MS_ARCH_GPT2: return "gpt2";
    case MS_ARCH_LLAMA: return "llama";
    }
    return "unknown";
}

ms_model *ms_model_load(const char *path) {
    ms_model *m = ms_calloc(1, sizeof(ms_model));
    m->path = ms_strdup(path);
    m->cfg.bos_id = m->cfg.eos_id = -1;
    int rc;
    if (ms_is_dir(path)) {
        rc = ms_load_hf(path, m);
    } else {
        FILE *f = fopen(path, "rb");
        if (!f) {
            ms_error("%s: cannot open model: %s", path, ms_file_exists(path) ? "permission denied" : "no such file or directory");
            ms_model_free(m);
            return NULL;
        }
        char magic[4] = {0};
        size_t got = fread(magic, 1, 4, f);
        fclose(f);
        if (got == 4 && !memcmp(magic, "GGUF", 4)) rc = ms_load_gguf(path, m);
        else rc = ms_load_llama2c(path, m);
    }
    if (rc != 0) {
        ms_model_free(m);
        return NULL;
    }
    if (!m->arena) { // a loader that forgot ms_model_alloc_weights is a bug, not bad input
        ms_error("%s: loader produced no weights", path);
        ms_model_free(m);
        return NULL;
    }
    return m;
}

void ms_model_free(ms_model *m) {
    if (!m) return;
    free(m->arena);
    free(m->w.layers);
    if (m->tok) ms_tokenizer_free(m->tok);
    free(m->path);
    free(m);
}

int ms_weights_check_finite(const char *file, const char *tensor, const float *x, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += !isfinite(x[i]);
    if (!bad) return 0;
    ms_error("%s: tensor '%s' has %zu non-finite values (NaN or inf) of %zu: the checkpoint is corrupt", file, tensor,
             bad, n);
    return -1;
}

#define CHECK(cond, ...) do { if (!(cond)) { ms_error(__VA_ARGS__); return -1; } } while (0)

int ms_config_validate(ms_config *c, const char *path) {
    CHECK(c->arch == MS_ARCH_GPT2 || c->arch == MS_ARCH_LLAMA, "%s: unknown architecture %d", path, (int)c->arch);
    CHECK(c->n_layer > 0 && c->n_layer <= MS_MAX_LAYERS, "%s: n_layer %d out of range 1..%d", path, c->n_layer, MS_MAX_LAYERS);
    CHECK(c->d_model > 0, "%s: d_model %d must be positive", path, c->d_model);
    CHECK(c->n_head > 0, "%s: n_head %d must be positive", path, c->n_head);
    if (c->n_kv_head == 0) c->n_kv_head = c->n_head;
    CHECK(c->n_kv_head > 0 && c->n_head % c->n_kv_head == 0,
          "%s: n_head %d is not a multiple of n_kv_head %d", path, c->n_head, c->n_kv_head);
    if (c->d_head == 0) {
        CHECK(c->d_model % c->n_head == 0, "%s: d_model %d is not divisible by n_head %d", path, c->d_model, c->n_head);
        c->d_head = c->d_model / c->n_head;
    }
    CHECK(c->d_head > 0, "%s: d_head %d must be positive", path, c->d_head);
    CHECK(c->d_mlp > 0, "%s: d_mlp %d must be positive", path, c->d_mlp);
    CHECK(c->vocab_size > 0, "%s: vocab_size %d must be positive", path, c->vocab_size);
    CHECK(c->n_ctx > 0, "%s: n_ctx %d must be positive", path, c->n_ctx);
    CHECK(c->norm_eps >= 0 && c->norm_eps < 1, "%s: norm epsilon %g out of range", path, (double)c->norm_eps);
    if (c->arch == MS_ARCH_LLAMA) {
        CHECK(c->rope_style == MS_ROPE_INTERLEAVED || c->rope_style == MS_ROPE_HALF, "%s: llama model without a RoPE style", path);
        CHECK(c->d_head % 2 == 0, "%s: RoPE needs an even d_head, got %d", path, c->d_head);
        if (c->rope_theta == 0) c->rope_theta = 10000.0f;
        CHECK(c->rope_theta > 0, "%s: rope_theta %g must be positive", path, (double)c->rope_theta);
    } else {
        c->rope_style = MS_ROPE_NONE;
        CHECK(c->n_kv_head == c->n_head, "%s: gpt2 has no grouped-query attention (n_kv_head %d != n_head %d)", path, c->n_kv_head, c->n_head);
    }
    // every tensor size must fit comfortably in size_t and in an int64 element count
    double biggest = (double)c->vocab_size * c->d_model;
    double per_layer = 4.0 * c->d_model * c->n_head * c->d_head + 3.0 * c->d_model * c->d_mlp;
    CHECK(biggest < 4e12 && per_layer * c->n_layer < 4e12, "%s: dimensions too large", path);
    return 0;
}

int ms_model_alloc_weights(ms_model *m) {
    ms_config *c = &m->cfg;
    const char *path = m->path ? m->path : "model";
    if (ms_config_validate(c, path) != 0) return -1;
    const size_t C = (size_t)c->d_model, F = (size_t)c->d_mlp, V = (size_t)c->vocab_size;
    const size_t QD = (size_t)c->n_head * c->d_head, KD = (size_t)c->n_kv_head * c->d_head;
    const int gpt2 = c->arch == MS_ARCH_GPT2;

    // Lay the tensors out in one pass that either counts (base == NULL) or assigns pointers, so the
    // size computation and the pointer assignment cannot disagree.
    size_t off = 0;
    float *base = NULL;
#define TAKE(ptr, n) do { size_t n_ = (n); (ptr) = base ? base + off : NULL; off += (n_ + 15) & ~(size_t)15; } while (0)
    for (int pass = 0; pass < 2; pass++) {
        off = 0;
        ms_weights *w = &m->w;
        TAKE(w->wte, V * C);
        if (gpt2) TAKE(w->wpe, (size_t)c->n_ctx * C); else w->wpe = NULL;
        for (int l = 0; l < c->n_layer; l++) {
            ms_layer_weights *lw = base ? &w->layers[l] : &(ms_layer_weights){0};
            memset(lw, 0, sizeof *lw);
            TAKE(lw->ln1_w, C);
            TAKE(lw->wq, QD * C);
            TAKE(lw->wk, KD * C);
            TAKE(lw->wv, KD * C);
            TAKE(lw->wo, C * QD);
            TAKE(lw->ln2_w, C);
            TAKE(lw->w_in, F * C);
            TAKE(lw->w_out, C * F);
            if (gpt2) {
                TAKE(lw->ln1_b, C);
                TAKE(lw->bq, QD);
                TAKE(lw->bk, KD);
                TAKE(lw->bv, KD);
                TAKE(lw->bo, C);
                TAKE(lw->ln2_b, C);
                TAKE(lw->b_in, F);
                TAKE(lw->b_out, C);
            } else {
                TAKE(lw->w_gate, F * C);
            }
        }
        TAKE(w->lnf_w, C);
        if (gpt2) TAKE(w->lnf_b, C); else w->lnf_b = NULL;
        if (c->tied_embeddings) w->unembed = w->wte; else TAKE(w->unembed, V * C);
        if (pass == 0) {
            free(m->arena);
            free(w->layers);
            m->arena = base = ms_aligned_alloc(off * sizeof(float));
            w->layers = ms_calloc((size_t)c->n_layer, sizeof(ms_layer_weights));
        }
    }
#undef TAKE
    // q, k, v as one (QD+2KD, C) projection where the 16-float padding left wq, wk, wv (and bq, bk,
    // bv) back to back. Otherwise three GEMMs: one stacked GEMM rounds differently from three, and
    // results must not change with the layout.
    for (int l = 0; l < c->n_layer; l++) {
        ms_layer_weights *lw = &m->w.layers[l];
        const int w_adjacent = lw->wk == lw->wq + QD * C && lw->wv == lw->wk + KD * C;
        const int b_adjacent = !gpt2 || (lw->bk == lw->bq + QD && lw->bv == lw->bk + KD);
        lw->wqkv = w_adjacent && b_adjacent ? lw->wq : NULL;
        lw->bqkv = lw->wqkv && gpt2 ? lw->bq : NULL;
    }
    // parameter count: every tensor once (the tied unembedding is the embedding)
    size_t per_layer = 2 * C + 2 * QD * C + 2 * KD * C + 2 * F * C + (gpt2 ? 0 : F * C);
    if (gpt2) per_layer += 2 * C + QD + 2 * KD + C + 2 * C + F;
    m->n_params = V * C + (gpt2 ? (size_t)c->n_ctx * C : 0) + (size_t)c->n_layer * per_layer + C + (gpt2 ? C : 0) +
                  (c->tied_embeddings ? 0 : V * C);
    return 0;
}

int ms_site_shape(const ms_config *c, ms_site site, int T, int64_t shape[4]) {
    const int llama = c->arch == MS_ARCH_LLAMA;
    switch (site) {
    case MS_SITE_POS_EMBED:
        if (llama) return -1;
        /* fall through */
    case MS_SITE_EMBED: case MS_SITE_RESID_PRE: case MS_SITE_LN1_NORMALIZED: case MS_SITE_ATTN_OUT:
    case MS_SITE_RESID_MID: case MS_SITE_LN2_NORMALIZED: case MS_SITE_MLP_OUT: case MS_SITE_RESID_POST:
    case MS_SITE_LN_FINAL_NORMALIZED:
        shape[0] = T; shape[1] = c->d_model;
        return 2;
    case MS_SITE_ATTN_ROT_Q:
        if (!llama) return -1;
        /* fall through */
    case MS_SITE_ATTN_Q: case MS_SITE_ATTN_Z:
        shape[0] = T; shape[1] = c->n_head; shape[2] = c->d_head;
        return 3;
    case MS_SITE_ATTN_ROT_K:
        if (!llama) return -1;
        /* fall through */
    case MS_SITE_ATTN_K: case MS_SITE_ATTN_V:
        shape[0] = T; shape[1] = c->n_kv_head; shape[2] = c->d_head;
        return 3;
    case MS_SITE_ATTN_SCORES: case MS_SITE_ATTN_PATTERN:
        shape[0] = c->n_head; shape[1] = T; shape[2] = T;
        return 3;
    case MS_SITE_MLP_PRE_LINEAR:
        if (!llama) return -1;
        /* fall through */
    case MS_SITE_MLP_PRE: case MS_SITE_MLP_POST:
        shape[0] = T; shape[1] = c->d_mlp;
        return 2;
    case MS_SITE_LOGITS:
        shape[0] = T; shape[1] = c->vocab_size;
        return 2;
    default:
        return -1;
    }
}
