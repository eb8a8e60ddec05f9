// model.c: format detection, the one weight arena every loader fills, config validation, and the
// per-site activation shapes (see model.h).
#include "model/model.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>
#include "io/safetensors.h"
#include "util/util.h"

const char *ms_arch_name(ms_arch a) {
    switch (a) {
    case MS_ARCH_GPT2: return "gpt2";
    case MS_ARCH_LLAMA: return "llama";
    case MS_ARCH_NEOX: return "gpt_neox";
    }
    return "unknown";
}

ms_model *ms_model_load(const char *path) { return ms_model_load_layers(path, 0); }

static ms_model *load(const char *path, const ms_load_opts *o, int header_only);
static void hold_matrix(ms_model *m, float **p, size_t n);

ms_model *ms_model_load_layers(const char *path, int layers_needed) {
    return load(path, &(ms_load_opts){.layers_needed = layers_needed}, 0);
}

ms_model *ms_model_load_opts(const char *path, const ms_load_opts *o) { return load(path, o, 0); }

ms_model *ms_model_load_header(const char *path) { return load(path, &(ms_load_opts){0}, 1); }

static ms_model *load(const char *path, const ms_load_opts *o, int header_only) {
    ms_model *m = ms_calloc(1, sizeof(ms_model));
    m->path = ms_strdup(path);
    m->header_only = header_only;
    m->n_layer_loaded = o->layers_needed; // a request until ms_model_alloc_weights clamps it to cfg.n_layer
    m->weights_bf16 = o->hold_bf16 && !header_only; // a request the loaders' ms_model_hold_layer calls carry out
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
    if (!m->arena && !header_only) { // a loader that forgot ms_model_alloc_weights is a bug, not bad input
        ms_error("%s: loader produced no weights", path);
        ms_model_free(m);
        return NULL;
    }
    // what the loader did not hold layer by layer (GGUF, llama2.c: read whole), and the embeddings
    for (int l = -1; m->weights_bf16 && l < m->n_layer_loaded; l++) ms_model_hold_layer(m, l);
    if (m->weights_bf16) hold_matrix(m, &m->w.unembed, (size_t)m->cfg.vocab_size * m->cfg.d_model);
    return m;
}

void ms_model_free(ms_model *m) {
    if (!m) return;
    if (m->weights_bf16) {
        if (m->arena) munmap(m->arena, m->arena_len * sizeof(float));
        if (m->arena_bf16) munmap(m->arena_bf16, m->arena_len * sizeof(uint16_t));
    } else {
        free(m->arena);
    }
    free(m->w.layers);
    if (m->tok) ms_tokenizer_free(m->tok);
    free(m->path);
    free(m);
}

// An anonymous mapping of n bytes, zero-filled, of which only the touched pages take memory (the
// float32 arena of a bf16-held model spans every tensor but holds one layer at a time).
static void *map_zeroed(size_t n, const char *path) {
    void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        ms_error("%s: cannot reserve %.1f GiB of address space for the weights: %s", path, n / 1073741824.0, strerror(errno));
        return NULL;
    }
    return p;
}

// Matrix *p of n floats (in arena) -> bfloat16 at the same offset of arena_bf16; *p then points
// there. The float32 pages wholly inside the matrix go back to the system (a page shared with a
// neighbouring tensor stays).
static void hold_matrix(ms_model *m, float **p, size_t n) {
    const uintptr_t at = (uintptr_t)*p, held_lo = (uintptr_t)m->arena_bf16, held_hi = (uintptr_t)(m->arena_bf16 + m->arena_len);
    if (!*p || (at >= held_lo && at < held_hi))
        return; // none, or held already (a tied unembedding is the embedding)
    const size_t off = (size_t)(*p - m->arena);
    uint16_t *dst = m->arena_bf16 + off;
    const float *src = *p;
    // round to nearest even, saturating: a finite weight beyond the largest finite bf16 (~3.39e38)
    // becomes that, not inf (the loaders refused non-finite values already)
#pragma omp parallel for schedule(static) if (n >= (1u << 20))
    for (size_t i = 0; i < n; i++) {
        const uint16_t h = ms_f32_to_bf16(src[i]);
        dst[i] = (h & 0x7fffu) == 0x7f80u ? (uint16_t)((h & 0x8000u) | 0x7f7fu) : h;
    }
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)src + page - 1) & ~(page - 1), hi = ((uintptr_t)(src + n)) & ~(page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
    *p = (float *)(void *)dst;
}

void ms_model_hold_layer(ms_model *m, int l) {
    if (!m->weights_bf16 || !m->arena_bf16) return;
    const ms_config *c = &m->cfg;
    const size_t C = (size_t)c->d_model, F = (size_t)c->d_mlp, V = (size_t)c->vocab_size;
    const size_t QD = (size_t)c->n_head * c->d_head, KD = (size_t)c->n_kv_head * c->d_head;
    if (l < 0) { // the embedding; an untied unembedding is read last (load() holds it)
        const int tied = m->w.unembed == m->w.wte;
        hold_matrix(m, &m->w.wte, V * C);
        if (tied) m->w.unembed = m->w.wte;
        return;
    }
    if (l >= m->n_layer_loaded) return;
    ms_layer_weights *lw = &m->w.layers[l];
    const int stacked = lw->wqkv != NULL;
    hold_matrix(m, &lw->wq, QD * C);
    hold_matrix(m, &lw->wk, KD * C);
    hold_matrix(m, &lw->wv, KD * C);
    if (stacked) lw->wqkv = lw->wq; // same offsets: still back to back
    hold_matrix(m, &lw->wo, C * QD);
    hold_matrix(m, &lw->w_in, F * C);
    hold_matrix(m, &lw->w_gate, F * C);
    hold_matrix(m, &lw->w_out, C * F);
}

void ms_model_embedding_row(const ms_model *m, int token, float *out) {
    const size_t C = (size_t)m->cfg.d_model;
    if (!m->weights_bf16) {
        memcpy(out, m->w.wte + (size_t)token * C, C * sizeof(float));
        return;
    }
    const uint16_t *row = (const uint16_t *)(const void *)m->w.wte + (size_t)token * C;
    for (size_t i = 0; i < C; i++) out[i] = ms_bf16_to_f32(row[i]);
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
    CHECK(c->arch == MS_ARCH_GPT2 || c->arch == MS_ARCH_LLAMA || c->arch == MS_ARCH_NEOX,
          "%s: unknown architecture %d", path, (int)c->arch);
    // the one place an architecture becomes the forward pass's knobs
    c->layer_norm = c->linear_bias = c->arch != MS_ARCH_LLAMA;
    if (c->mlp != MS_MLP_GEGLU) // the one kind a loader picks itself (gemma, on the llama layout)
        c->mlp = c->arch == MS_ARCH_LLAMA ? MS_MLP_SWIGLU : c->arch == MS_ARCH_NEOX ? MS_MLP_GELU_ERF : MS_MLP_GELU_TANH;
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
    if (c->arch != MS_ARCH_GPT2) {
        CHECK(c->rope_style == MS_ROPE_INTERLEAVED || c->rope_style == MS_ROPE_HALF, "%s: %s model without a RoPE style",
              path, ms_arch_name(c->arch));
        if (c->rotary_dims == 0) c->rotary_dims = c->d_head;
        CHECK(c->rotary_dims > 0 && c->rotary_dims <= c->d_head && c->rotary_dims % 2 == 0,
              "%s: RoPE needs an even number of rotary dims in 2..d_head %d, got %d", path, c->d_head, c->rotary_dims);
        if (c->rope_theta == 0) c->rope_theta = 10000.0f;
        CHECK(c->rope_theta > 0, "%s: rope_theta %g must be positive", path, (double)c->rope_theta);
        const ms_rope_scaling *r = &c->rope_scaling;
        if (r->type == MS_ROPE_SCALING_FACTORS) {
            CHECK(c->rotary_dims / 2 <= MS_MAX_ROPE_PAIRS, "%s: rope frequency factors for %d pairs (at most %d)", path,
                  c->rotary_dims / 2, MS_MAX_ROPE_PAIRS);
            for (int i = 0; i < c->rotary_dims / 2; i++)
                CHECK(r->freq_factors[i] > 0 && isfinite(r->freq_factors[i]), "%s: rope frequency factor %d is %g (must be > 0)",
                      path, i, (double)r->freq_factors[i]);
        }
        CHECK(r->type == MS_ROPE_SCALING_NONE || r->type == MS_ROPE_SCALING_FACTORS || (r->type == MS_ROPE_SCALING_LINEAR && r->factor > 0) ||
              (r->factor > 0 && r->original_ctx > 0 && r->low_freq_factor > 0 && r->high_freq_factor > r->low_freq_factor),
              "%s: rope scaling needs factor > 0, original context > 0 and high_freq_factor > low_freq_factor > 0", path);
    } else {
        c->rope_style = MS_ROPE_NONE;
        CHECK(c->n_kv_head == c->n_head, "%s: gpt2 has no grouped-query attention (n_kv_head %d != n_head %d)", path, c->n_kv_head, c->n_head);
        CHECK(!c->qk_norm && !c->qkv_bias && c->rope_scaling.type == MS_ROPE_SCALING_NONE && !c->parallel_residual,
              "%s: gpt2 has no qk-norm, optional q/k/v biases, rope scaling or parallel residual", path);
    }
    CHECK(c->sliding_window >= 0, "%s: sliding window %d must not be negative", path, c->sliding_window);
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
    const int gpt2 = c->arch == MS_ARCH_GPT2, lnb = c->layer_norm, bias = c->linear_bias;
    const int qkv_bias = bias || c->qkv_bias, gated = c->mlp == MS_MLP_SWIGLU || c->mlp == MS_MLP_GEGLU;
    const size_t Dh = (size_t)c->d_head;
    if (m->n_layer_loaded <= 0 || m->n_layer_loaded > c->n_layer) m->n_layer_loaded = c->n_layer;

    // Lay the tensors out in one pass that either counts (base == NULL) or assigns pointers, so the
    // size computation and the pointer assignment cannot disagree.
    size_t off = 0;
    float *base = NULL;
#define TAKE(ptr, n) do { size_t n_ = (n); (ptr) = base ? base + off : NULL; off += (n_ + 15) & ~(size_t)15; } while (0)
    for (int pass = 0; pass < (m->header_only ? 1 : 2); pass++) { // header only: count, allocate nothing
        off = 0;
        ms_weights *w = &m->w;
        TAKE(w->wte, V * C);
        if (gpt2) TAKE(w->wpe, (size_t)c->n_ctx * C); else w->wpe = NULL;
        for (int l = 0; l < m->n_layer_loaded; l++) { // later layers keep NULL pointers (calloc)
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
            if (bias) {
                if (lnb) TAKE(lw->ln1_b, C);
                TAKE(lw->bq, QD);
                TAKE(lw->bk, KD);
                TAKE(lw->bv, KD);
                TAKE(lw->bo, C);
                if (lnb) TAKE(lw->ln2_b, C);
                TAKE(lw->b_in, F);
                TAKE(lw->b_out, C);
            }
            if (gated) TAKE(lw->w_gate, F * C);
            if (qkv_bias && !bias) { TAKE(lw->bq, QD); TAKE(lw->bk, KD); TAKE(lw->bv, KD); }
            if (c->qk_norm) { TAKE(lw->q_norm_w, Dh); TAKE(lw->k_norm_w, Dh); }
            if (c->post_norms) { TAKE(lw->ln1_post_w, C); TAKE(lw->ln2_post_w, C); }
        }
        TAKE(w->lnf_w, C);
        if (lnb) TAKE(w->lnf_b, C); else w->lnf_b = NULL;
        // a layer-limited load never computes logits: an untied unembedding (V, C) stays unread
        // (2.1 GB in float32 for Llama-3.1-8B)
        if (c->tied_embeddings) w->unembed = w->wte;
        else if (m->n_layer_loaded < c->n_layer) w->unembed = NULL;
        else TAKE(w->unembed, V * C);
        if (pass == 0 && !m->header_only) {
            if (m->arena) { // a loader's second call (none today): start over
                if (m->weights_bf16) {
                    munmap(m->arena, m->arena_len * sizeof(float));
                    if (m->arena_bf16) munmap(m->arena_bf16, m->arena_len * sizeof(uint16_t));
                } else {
                    free(m->arena);
                }
                m->arena = NULL, m->arena_bf16 = NULL;
            }
            free(w->layers);
            m->arena_len = off;
            if (m->weights_bf16) {
                m->arena = map_zeroed(off * sizeof(float), path);
                m->arena_bf16 = m->arena ? map_zeroed(off * sizeof(uint16_t), path) : NULL;
                if (!m->arena_bf16) return -1;
            } else {
                m->arena = ms_aligned_alloc(off * sizeof(float));
            }
            base = m->arena;
            w->layers = ms_calloc((size_t)c->n_layer, sizeof(ms_layer_weights));
        }
    }
#undef TAKE
    // q, k, v as one (QD+2KD, C) projection where the 16-float padding left wq, wk, wv (and bq, bk,
    // bv) back to back. Otherwise three GEMMs: one stacked GEMM rounds differently from three, and
    // results must not change with the layout.
    for (int l = 0; m->w.layers && l < m->n_layer_loaded; l++) {
        ms_layer_weights *lw = &m->w.layers[l];
        const int w_adjacent = lw->wk == lw->wq + QD * C && lw->wv == lw->wk + KD * C;
        const int b_adjacent = !qkv_bias || (lw->bk == lw->bq + QD && lw->bv == lw->bk + KD);
        lw->wqkv = w_adjacent && b_adjacent ? lw->wq : NULL;
        lw->bqkv = lw->wqkv && qkv_bias ? lw->bq : NULL;
    }
    // parameter count: every tensor once (the tied unembedding is the embedding)
    size_t per_layer = 2 * C + 2 * QD * C + 2 * KD * C + 2 * F * C + (gated ? F * C : 0);
    per_layer += (qkv_bias ? QD + 2 * KD : 0) + (bias ? C + F + C : 0) + (lnb ? 2 * C : 0) + (c->qk_norm ? 2 * Dh : 0) + (c->post_norms ? 2 * C : 0);
    m->n_params = V * C + (gpt2 ? (size_t)c->n_ctx * C : 0) + (size_t)c->n_layer * per_layer + C + (lnb ? C : 0) +
                  (c->tied_embeddings ? 0 : V * C);
    return 0;
}

int ms_site_shape(const ms_config *c, ms_site site, int T, int64_t shape[4]) {
    const int llama = c->rope_style != MS_ROPE_NONE; // the rotated q/k sites exist
    switch (site) {
    case MS_SITE_POS_EMBED:
        if (c->arch != MS_ARCH_GPT2) return -1;
        /* fall through */
    case MS_SITE_RESID_MID: // under a parallel residual no stream holds x + attn_out alone (TransformerLens)
        if (site == MS_SITE_RESID_MID && c->parallel_residual) return -1;
        /* fall through */
    case MS_SITE_EMBED: case MS_SITE_RESID_PRE: case MS_SITE_LN1_NORMALIZED: case MS_SITE_ATTN_OUT:
    case MS_SITE_LN2_NORMALIZED: case MS_SITE_MLP_OUT: case MS_SITE_RESID_POST:
    case MS_SITE_LN_FINAL_NORMALIZED:
        shape[0] = T; shape[1] = c->d_model;
        return 2;
    case MS_SITE_ATTN_Q_NORMED:
        if (!c->qk_norm) return -1;
        /* fall through */
    case MS_SITE_ATTN_ROT_Q:
        if (!llama) return -1;
        /* fall through */
    case MS_SITE_ATTN_Q: case MS_SITE_ATTN_Z:
        shape[0] = T; shape[1] = c->n_head; shape[2] = c->d_head;
        return 3;
    case MS_SITE_ATTN_K_NORMED:
        if (!c->qk_norm) return -1;
        /* fall through */
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
        if (c->mlp != MS_MLP_SWIGLU && c->mlp != MS_MLP_GEGLU) return -1;
        /* fall through */
    case MS_SITE_MLP_PRE: case MS_SITE_MLP_POST:
        shape[0] = T; shape[1] = c->d_mlp;
        return 2;
    case MS_SITE_LN1_POST_SCALE: case MS_SITE_LN2_POST_SCALE:
        if (!c->post_norms) return -1;
        /* fall through */
    case MS_SITE_LN1_SCALE: case MS_SITE_LN2_SCALE: case MS_SITE_LN_FINAL_SCALE:
        shape[0] = T; shape[1] = 1;
        return 2;
    case MS_SITE_LN1_POST_NORMALIZED: case MS_SITE_LN2_POST_NORMALIZED:
        if (!c->post_norms) return -1;
        shape[0] = T; shape[1] = c->d_model;
        return 2;
    case MS_SITE_LOGITS:
        shape[0] = T; shape[1] = c->vocab_size;
        return 2;
    default:
        return -1;
    }
}
