// forward.c: batched prefill of B sequences × T tokens through GPT-2 / Llama blocks, with every
// hook site of model/hooks.h offered to callbacks that may overwrite it in place.
//
// All N = B*T rows go through each projection as one sgemm. Attention runs per (sequence, head) in
// parallel, an online softmax over key blocks (no T×T matrix unless a hook reads the scores/pattern),
// optionally over the keys and values a KV cache kept from earlier passes (generate.c). Every kernel is
// called through backend/backend.h with an explicit thread count (ms_backend_ctx); shapes use the
// dimension legend of model.h.
// A hook sees exactly the buffer the pass continues from, and the arithmetic is the same with or
// without hooks, so observe-only hooks never change results (the scores/pattern sites aside: they
// switch attention to the materialised path, equal to the fused one to float rounding).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "model/model.h"
#include "util/util.h"

struct ms_state {
    int max_B, max_T;
    int n_threads;        // thread count of a pass (ms_state_set_threads)
    ms_backend_ctx be;    // threads of the pass in progress: n_threads, or 1 for a small problem
    float *x;             // (N, C) residual stream
    float *ln;            // (N, C) normalized, then gained; also pos-embed scratch
    float *tmp;           // (N, C) embed / attn_out / mlp_out
    float *par;           // (N, C) attn_out + mlp_out of a parallel-residual block, else NULL
    float *qkv;           // (N, H*Dh + 2*Hkv*Dh) fused projection output (layers with wqkv)
    float *q;             // (N, H*Dh)
    float *k, *v;         // (N, Hkv*Dh)
    // where attention reads q, k, v this layer: into qkv (row stride H*Dh + 2*Hkv*Dh) or q/k/v (H*Dh, Hkv*Dh)
    const float *qp, *kp, *vp;
    int ldq, ldkv;
    float *z;             // (N, H*Dh)
    float *h1, *h2;       // (N, F) mlp pre (gate) / up
    float *att_scratch;   // (n_threads, ms_attention_scratch_floats()) per-thread score tile
    float *att;           // (B, H, T, T) materialised scores/pattern; allocated on first need
    size_t att_cap;
    float *logits;        // (N, V); allocated on first need
    size_t logits_cap;
    // a norm's hook_scale: the scale offered (N), a copy to tell an edit, the input of an in-place
    // norm (N, C); allocated on first need
    float *scale, *scale_seen, *norm_in;
    float *rope_cos, *rope_sin; // (max_T, Dh/2)
    float *rope_local_cos, *rope_local_sin; // (max_T, Dh/2) with cfg.rope_local_theta (local layers), else NULL
    // KV cache (ms_forward_opts.kv_cache): post-RoPE keys and values of every layer, allocated on
    // first use; kv_on and pos0 describe the pass in progress.
    float *kv_k, *kv_v;   // (n_layer, max_B, max_T, Hkv*Dh)
    int kv_on, pos0;
};

// Angular frequency of rotary pair i (of rotary_dims/2): theta^(-2i/rotary_dims), rescaled by r.
static double rope_frequency(const ms_config *c, float theta, const ms_rope_scaling *r, int i) {
    const double freq = pow((double)theta, -2.0 * i / c->rotary_dims);
    if (r->type == MS_ROPE_SCALING_LINEAR) return freq / r->factor;
    if (r->type == MS_ROPE_SCALING_FACTORS) return freq / r->freq_factors[i];
    if (r->type != MS_ROPE_SCALING_LLAMA3) return freq;
    // llama3: long wavelengths (beyond the original context / low_freq_factor) slowed by `factor`,
    // short ones (below original context / high_freq_factor) kept, linear in 1/wavelength between
    const double wavelen = 2.0 * M_PI / freq, orig = r->original_ctx;
    if (wavelen < orig / r->high_freq_factor) return freq;
    if (wavelen > orig / r->low_freq_factor) return freq / r->factor;
    const double smooth = (orig / wavelen - r->low_freq_factor) / (r->high_freq_factor - r->low_freq_factor);
    return (1.0 - smooth) * freq / r->factor + smooth * freq;
}

// cos/sin (max_T, rotary_dims/2) of position t times each pair's frequency.
static void rope_tables(const ms_config *c, float theta, const ms_rope_scaling *r, int max_T, float **cos_out,
                        float **sin_out) {
    const int P = c->rotary_dims / 2;
    float *ct = ms_aligned_alloc((size_t)max_T * P * sizeof(float)), *st = ms_aligned_alloc((size_t)max_T * P * sizeof(float));
    for (int t = 0; t < max_T; t++)
        for (int i = 0; i < P; i++) {
            // angles in double: at long positions float32 would lose ~1e-5 rad
            const double freq = rope_frequency(c, theta, r, i);
            ct[(size_t)t * P + i] = (float)cos(t * freq);
            st[(size_t)t * P + i] = (float)sin(t * freq);
        }
    *cos_out = ct, *sin_out = st;
}

ms_state *ms_state_new(const ms_model *m, int max_batch, int max_T) {
    const ms_config *c = &m->cfg;
    if (max_batch < 1 || max_T < 1) {
        ms_error("state: batch %d and sequence length %d must be positive", max_batch, max_T);
        return NULL;
    }
    if (max_T > c->n_ctx) {
        ms_error("sequence length %d exceeds the model's context of %d tokens", max_T, c->n_ctx);
        return NULL;
    }
    ms_state *s = ms_calloc(1, sizeof(ms_state));
    s->max_B = max_batch;
    s->max_T = max_T;
    s->n_threads = ms_num_threads();
    s->be.n_threads = s->n_threads;
    // the weights' kernel-layout copies live as long as the state; bf16-held weights are read in place
    s->be.weights_bf16 = m->weights_bf16;
    s->be.gemm = m->weights_bf16 ? ms_gemm_cache_new_bf16_weights() : ms_gemm_cache_new(MS_COMPUTE_F32);
    if (m->weights_bf16 && !s->be.gemm) {
        free(s);
        return NULL;
    }
    const size_t N = (size_t)max_batch * max_T, C = (size_t)c->d_model;
    const size_t QD = (size_t)c->n_head * c->d_head, KD = (size_t)c->n_kv_head * c->d_head;
    s->x = ms_aligned_alloc(N * C * sizeof(float));
    s->ln = ms_aligned_alloc(N * C * sizeof(float));
    s->tmp = ms_aligned_alloc(N * C * sizeof(float));
    s->qkv = ms_aligned_alloc(N * (QD + 2 * KD) * sizeof(float));
    s->q = ms_aligned_alloc(N * QD * sizeof(float));
    s->k = ms_aligned_alloc(N * KD * sizeof(float));
    s->v = ms_aligned_alloc(N * KD * sizeof(float));
    s->z = ms_aligned_alloc(N * QD * sizeof(float));
    s->h1 = ms_aligned_alloc(N * (size_t)c->d_mlp * sizeof(float));
    if (c->mlp == MS_MLP_SWIGLU || c->mlp == MS_MLP_GEGLU) s->h2 = ms_aligned_alloc(N * (size_t)c->d_mlp * sizeof(float));
    if (c->parallel_residual) s->par = ms_aligned_alloc(N * C * sizeof(float));
    s->att_scratch = NULL;
    ms_state_set_threads(s, s->n_threads);
    if (c->rope_style != MS_ROPE_NONE) {
        rope_tables(c, c->rope_theta, &c->rope_scaling, max_T, &s->rope_cos, &s->rope_sin);
        const ms_rope_scaling none = {0};
        if (c->rope_local_theta > 0) // Gemma 3: local layers have their own base and no scaling
            rope_tables(c, c->rope_local_theta, &none, max_T, &s->rope_local_cos, &s->rope_local_sin);
    }
    return s;
}

void ms_state_free(ms_state *s) {
    if (!s) return;
    free(s->x); free(s->qkv); free(s->ln); free(s->tmp); free(s->q); free(s->k); free(s->v); free(s->z);
    free(s->h1); free(s->h2); free(s->par); free(s->att_scratch); free(s->att); free(s->logits);
    free(s->rope_cos); free(s->rope_sin); free(s->kv_k); free(s->kv_v);
    free(s->rope_local_cos); free(s->rope_local_sin);
    free(s->scale); free(s->scale_seen); free(s->norm_in);
    ms_gemm_cache_free(s->be.gemm);
    free(s);
}

void ms_state_weights_changed(ms_state *s) { ms_gemm_cache_refresh(s->be.gemm); }

int ms_state_set_compute(ms_state *s, int compute) {
    if (s->be.weights_bf16) { // its products are bf16 already, and there is no float32 copy to go back to
        if (compute == MS_COMPUTE_BF16) return 0;
        ms_error("the model's weights are held in bf16: f32 products need it loaded without --compute bf16");
        return -1;
    }
    ms_gemm_cache *g = ms_gemm_cache_new((ms_compute)compute);
    if (!g && compute != MS_COMPUTE_F32) return -1;
    ms_gemm_cache_free(s->be.gemm);
    s->be.gemm = g;
    return 0;
}

void ms_state_set_threads(ms_state *s, int n_threads) {
    s->n_threads = n_threads < 1 ? 1 : n_threads;
    s->be.n_threads = s->n_threads;
    free(s->att_scratch);
    s->att_scratch = ms_aligned_alloc((size_t)s->n_threads * ms_attention_scratch_floats() * sizeof(float));
}

const float *ms_state_logits(const ms_state *s) { return s->logits; }

// Offers (B, site shape) at data to the callbacks; 0 to continue.
static int hook(const ms_hooks *hk, const ms_config *c, ms_site site, int layer, float *data, int B, int T) {
    if (!ms_hooks_wants(hk, site, layer)) return 0;
    char name[96];
    ms_site_name(site, layer, name, sizeof name);
    ms_activation a = {.site = site, .layer = layer, .name = name, .data = data, .seq0 = 0};
    int64_t sh[4];
    int nd = ms_site_shape(c, site, T, sh);
    if (nd < 0) return 0; // the site does not exist for this architecture
    a.ndim = nd + 1;
    a.shape[0] = B;
    for (int i = 0; i < nd; i++) a.shape[i + 1] = sh[i];
    int rc = ms_hooks_call(hk, &a);
    if (rc) {
        if (!strcmp(ms_last_error(), "unknown error")) ms_error("a hook at %s stopped the forward pass", name);
        return -1;
    }
    return 0;
}

// out (N, C) = norm(x) · w (+ b): LayerNorm (gpt2, neox) or RMSNorm, the gain fused into the same
// pass unless a hook wants the normalized values before it (`site`); same bits either way. out may
// be x (a post-norm, in place). A hook on `scale_site` sees each row's divisor (N, 1) first; if it
// edits it, the rows are normalized by the edited scale instead (TransformerLens' LN freezing);
// observing it changes nothing.
static int norm(const ms_model *m, ms_state *s, const ms_hooks *hk, ms_site scale_site, ms_site site, int layer,
                float *out, const float *x, const float *w, const float *b, int B, int T) {
    const ms_config *c = &m->cfg;
    const int N = B * T, C = c->d_model, split = ms_hooks_wants(hk, site, layer);
    const int scaled = ms_hooks_wants(hk, scale_site, layer);
    const float *in = x;
    if (scaled) {
        if (!s->scale) { // first need: capacity of the state
            const size_t rows = (size_t)s->max_B * s->max_T;
            s->scale = ms_aligned_alloc(rows * sizeof(float));
            s->scale_seen = ms_aligned_alloc(rows * sizeof(float));
            s->norm_in = ms_aligned_alloc(rows * C * sizeof(float));
        }
        ms_op_norm_scale(&s->be, s->scale, x, N, C, c->norm_eps, c->layer_norm);
        memcpy(s->scale_seen, s->scale, (size_t)N * sizeof(float));
        if (out == x) { // in place: keep the input for a renormalization by an edited scale
            memcpy(s->norm_in, x, (size_t)N * C * sizeof(float));
            in = s->norm_in;
        }
        if (hook(hk, c, scale_site, layer, s->scale, B, T)) return -1;
    }
    if (c->layer_norm) ms_op_layernorm(&s->be, out, in, split ? NULL : w, b, N, C, c->norm_eps);
    else ms_op_rmsnorm(&s->be, out, in, split ? NULL : w, N, C, c->norm_eps);
    if (scaled && memcmp(s->scale, s->scale_seen, (size_t)N * sizeof(float))) {
        ms_op_norm_by_scale(&s->be, out, in, s->scale, N, C, c->layer_norm);
        if (!split) ms_op_gain(&s->be, out, w, b, N, C);
    }
    if (!split) return 0;
    if (hook(hk, c, site, layer, out, B, T)) return -1;
    ms_op_gain(&s->be, out, w, b, N, C);
    return 0;
}

// Causal attention of layer `layer` into s->z, materialising the (B, H, T, T) scores and pattern
// only where a hook wants them (fused per (sequence, head) otherwise; equal to float rounding).
static int attention(const ms_model *m, ms_state *s, const ms_hooks *hk, int layer, int B, int T) {
    const ms_config *c = &m->cfg;
    ms_attention_io io = {.q = s->qp, .k = s->kp, .v = s->vp, .ldq = s->ldq, .ldkv = s->ldkv, .z = s->z,
                                .B = B, .T = T, .H = c->n_head, .Hkv = c->n_kv_head, .Dh = c->d_head,
                                .window = c->local_layer[layer] ? c->sliding_window : 0,
                                .scale = c->attn_scale, .softcap = c->attn_softcap};
    if (!ms_hooks_wants(hk, MS_SITE_ATTN_SCORES, layer) && !ms_hooks_wants(hk, MS_SITE_ATTN_PATTERN, layer)) {
        if (s->kv_on) { // keys and values of positions [0, pos0 + T) from the cache (kv_store wrote this pass's)
            const size_t KD = (size_t)c->n_kv_head * c->d_head, per_layer = (size_t)s->max_B * s->max_T * KD;
            io.k = s->kv_k + layer * per_layer, io.v = s->kv_v + layer * per_layer;
            io.ldkv = (int)KD, io.kv_T = s->max_T, io.pos0 = s->pos0;
        }
        ms_op_attention(&s->be, &io, s->att_scratch); // one small score tile per thread
        return 0;
    }
    size_t need = (size_t)B * c->n_head * T * T; // (B, H, T, T)
    if (need > s->att_cap) {
        free(s->att);
        s->att = ms_aligned_alloc(need * sizeof(float));
        s->att_cap = need;
    }
    ms_op_attention_scores(&s->be, &io, s->att);
    if (hook(hk, c, MS_SITE_ATTN_SCORES, layer, s->att, B, T)) return -1;
    ms_op_attention_softmax(&s->be, &io, s->att);
    if (hook(hk, c, MS_SITE_ATTN_PATTERN, layer, s->att, B, T)) return -1;
    ms_op_attention_values(&s->be, &io, s->att);
    return 0;
}

// Copies this pass's post-RoPE k and v rows (B, T, Hkv*Dh) to positions [pos0, pos0 + T) of layer
// l's cache, where the fused attention of this and later passes reads them.
static void kv_store(const ms_model *m, ms_state *s, int l, int B, int T) {
    const size_t KD = (size_t)m->cfg.n_kv_head * m->cfg.d_head, per_layer = (size_t)s->max_B * s->max_T * KD;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const size_t dst = l * per_layer + ((size_t)b * s->max_T + s->pos0 + t) * KD, src = ((size_t)b * T + t) * s->ldkv;
            memcpy(s->kv_k + dst, s->kp + src, KD * sizeof(float));
            memcpy(s->kv_v + dst, s->vp + src, KD * sizeof(float));
        }
}

// q, k, v of layer l from the normalized s->ln, through q/k-norm and RoPE, into attention's s->z
// (N, H*Dh) (the output projection is the caller's: sublayer_out).
static int attn_sublayer(const ms_model *m, ms_state *s, const ms_hooks *hk, int l, int B, int T) {
    const ms_config *c = &m->cfg;
    const ms_layer_weights *w = &m->w.layers[l];
    const int N = B * T, C = c->d_model;
    const int QD = c->n_head * c->d_head, KD = c->n_kv_head * c->d_head; // H*Dh, Hkv*Dh
#define HOOK(site, buf) do { if (hook(hk, c, site, l, buf, B, T)) return -1; } while (0)
    // q, k, v: one (N, H*Dh + 2*Hkv*Dh) sgemm on the stacked weights (wqkv, decided at load); attention then
    // reads strided rows of it. Hooks and RoPE need contiguous (N, heads, Dh) buffers: the columns
    // are copied out (exact).
    const int QKV = QD + 2 * KD;
    const int rope = c->rope_style != MS_ROPE_NONE;
    if (w->wqkv) {
        ms_op_linear(&s->be, s->qkv, s->ln, w->wqkv, w->bqkv, N, C, QKV);
        if (rope || ms_hooks_wants(hk, MS_SITE_ATTN_Q, l) || ms_hooks_wants(hk, MS_SITE_ATTN_K, l) ||
            ms_hooks_wants(hk, MS_SITE_ATTN_V, l)) {
            for (int r = 0; r < N; r++) {
                const float *src = s->qkv + (size_t)r * QKV;
                memcpy(s->q + (size_t)r * QD, src, (size_t)QD * sizeof(float));
                memcpy(s->k + (size_t)r * KD, src + QD, (size_t)KD * sizeof(float));
                memcpy(s->v + (size_t)r * KD, src + QD + KD, (size_t)KD * sizeof(float));
            }
            s->qp = s->q, s->kp = s->k, s->vp = s->v, s->ldq = QD, s->ldkv = KD;
        } else {
            s->qp = s->qkv, s->kp = s->qkv + QD, s->vp = s->qkv + QD + KD, s->ldq = s->ldkv = QKV;
        }
    } else {
        ms_op_linear(&s->be, s->q, s->ln, w->wq, w->bq, N, C, QD); // (N, H, Dh)
        ms_op_linear(&s->be, s->k, s->ln, w->wk, w->bk, N, C, KD); // (N, Hkv, Dh)
        ms_op_linear(&s->be, s->v, s->ln, w->wv, w->bv, N, C, KD); // (N, Hkv, Dh)
        s->qp = s->q, s->kp = s->k, s->vp = s->v, s->ldq = QD, s->ldkv = KD;
    }
    if (s->qp == s->q) {
        HOOK(MS_SITE_ATTN_Q, s->q);
        HOOK(MS_SITE_ATTN_K, s->k);
        HOOK(MS_SITE_ATTN_V, s->v);
    }
    if (c->qk_norm) { // per-head RMSNorm (rows of Dh) with its gain, in place, before RoPE
        ms_op_rmsnorm(&s->be, s->q, s->q, w->q_norm_w, N * c->n_head, c->d_head, c->norm_eps);
        ms_op_rmsnorm(&s->be, s->k, s->k, w->k_norm_w, N * c->n_kv_head, c->d_head, c->norm_eps);
        HOOK(MS_SITE_ATTN_Q_NORMED, s->q);
        HOOK(MS_SITE_ATTN_K_NORMED, s->k);
    }
    if (rope) {
        const int half = c->rope_style == MS_ROPE_HALF, rot = c->rotary_dims;
        const size_t at = (size_t)s->pos0 * (rot / 2); // rows of the tables from position pos0 (KV cache)
        const int local = s->rope_local_cos && c->local_layer[l];
        const float *rc = (local ? s->rope_local_cos : s->rope_cos) + at, *rs = (local ? s->rope_local_sin : s->rope_sin) + at;
        ms_op_rope_dims(&s->be, s->q, N, T, c->n_head, c->d_head, rot, half, rc, rs);
        ms_op_rope_dims(&s->be, s->k, N, T, c->n_kv_head, c->d_head, rot, half, rc, rs);
        HOOK(MS_SITE_ATTN_ROT_Q, s->q);
        HOOK(MS_SITE_ATTN_ROT_K, s->k);
    }
    if (s->kv_on) kv_store(m, s, l, B, T);
    if (attention(m, s, hk, l, B, T)) return -1;
    HOOK(MS_SITE_ATTN_Z, s->z);
#undef HOOK
    return 0;
}

// The MLP of layer l on the normalized s->ln, up to its activations s->h1 (N, F) (the output
// projection is the caller's: sublayer_out).
static int mlp_sublayer(const ms_model *m, ms_state *s, const ms_hooks *hk, int l, int B, int T) {
    const ms_config *c = &m->cfg;
    const ms_layer_weights *w = &m->w.layers[l];
    const int N = B * T, C = c->d_model, F = c->d_mlp;
#define HOOK(site, buf) do { if (hook(hk, c, site, l, buf, B, T)) return -1; } while (0)
    if (c->mlp == MS_MLP_SWIGLU || c->mlp == MS_MLP_GEGLU) {
        ms_op_linear(&s->be, s->h1, s->ln, w->w_gate, NULL, N, C, F);
        ms_op_linear(&s->be, s->h2, s->ln, w->w_in, NULL, N, C, F);
        HOOK(MS_SITE_MLP_PRE, s->h1);
        HOOK(MS_SITE_MLP_PRE_LINEAR, s->h2);
        if (c->mlp == MS_MLP_SWIGLU) ms_op_swiglu(&s->be, s->h1, s->h2, (size_t)N * F);
        else ms_op_geglu(&s->be, s->h1, s->h2, (size_t)N * F);
    } else {
        // gelu_new applied as the product's tiles finish unless a hook wants the biased
        // pre-activation in between (same bits: ms_op_linear_act)
        if (c->mlp == MS_MLP_GELU_TANH && !ms_hooks_wants(hk, MS_SITE_MLP_PRE, l)) {
            if (ms_op_linear_act(&s->be, s->h1, s->ln, w->w_in, w->b_in, N, C, F, MS_ACT_GELU_TANH)) return -1; // (N, F)
        } else {
            ms_op_linear(&s->be, s->h1, s->ln, w->w_in, w->b_in, N, C, F); // (N, F)
            HOOK(MS_SITE_MLP_PRE, s->h1);
            if (c->mlp == MS_MLP_GELU_TANH) {
                if (ms_op_act(&s->be, s->h1, N, F, MS_ACT_GELU_TANH)) return -1;
            } else {
                ms_op_gelu_erf(&s->be, s->h1, (size_t)N * F);
            }
        }
    }
    HOOK(MS_SITE_MLP_POST, s->h1);
#undef HOOK
    return 0;
}

// A sublayer's output projection and residual add: dst (N, C) += in (N, K) · Wᵀ, post-normed where
// the model has post-norms (post_w: the gain; the norm's sites post_scale_site / post_site), + b,
// offering that output to the hook at `site` when one wants it. Otherwise, without a post-norm, the
// product adds itself into dst (ms_op_linear_add: no (N, C) intermediate); the same bits either way.
static int sublayer_out(const ms_model *m, ms_state *s, const ms_hooks *hk, ms_site site, ms_site post_scale_site,
                        ms_site post_site, const float *post_w, int l, float *dst, const float *in, int K,
                        const float *W, const float *b, int B, int T) {
    const ms_config *c = &m->cfg;
    const int N = B * T, C = c->d_model;
    const int hooked = ms_hooks_wants(hk, site, l);
    if (!c->post_norms && !hooked) return ms_op_linear_add(&s->be, dst, in, W, b, N, K, C, s->tmp);
    ms_op_linear(&s->be, s->tmp, in, W, NULL, N, K, C); // (N, C)
    if (c->post_norms && norm(m, s, hk, post_scale_site, post_site, l, s->tmp, s->tmp, post_w, NULL, B, T)) // in place
        return -1;
    if (!hooked) {
        ms_op_add_bias(&s->be, dst, s->tmp, b, N, C);
        return 0;
    }
    ms_op_bias(&s->be, s->tmp, b, N, C);
    if (hook(hk, c, site, l, s->tmp, B, T)) return -1;
    ms_op_add(&s->be, dst, s->tmp, (size_t)N * C);
    return 0;
}

// One block: x + attn(ln1(x)) then + mlp(ln2(.)), or with a parallel residual (GPT-NeoX)
// x + attn(ln1(x)) + mlp(ln2(x)), the attention output held in s->par meanwhile.
static int block(const ms_model *m, ms_state *s, const ms_hooks *hk, int l, int B, int T) {
    const ms_config *c = &m->cfg;
    const ms_layer_weights *w = &m->w.layers[l];
    const int N = B * T, C = c->d_model;
    if (hook(hk, c, MS_SITE_RESID_PRE, l, s->x, B, T)) return -1;
    // norm + gain in one pass unless a hook wants the normalized values between them (same bits)
    if (norm(m, s, hk, MS_SITE_LN1_SCALE, MS_SITE_LN1_NORMALIZED, l, s->ln, s->x, w->ln1_w, w->ln1_b, B, T)) return -1;
    if (attn_sublayer(m, s, hk, l, B, T)) return -1;
    float *attn_to = s->x;
    if (c->parallel_residual) { // attn_out + bias collected in par (zeroed), added to x after the MLP
        memset(s->par, 0, (size_t)N * C * sizeof(float));
        attn_to = s->par;
    }
    if (sublayer_out(m, s, hk, MS_SITE_ATTN_OUT, MS_SITE_LN1_POST_SCALE, MS_SITE_LN1_POST_NORMALIZED, w->ln1_post_w, l,
                     attn_to, s->z, c->n_head * c->d_head, w->wo, w->bo, B, T))
        return -1;
    if (hook(hk, c, MS_SITE_RESID_MID, l, s->x, B, T)) return -1; // no such site under a parallel residual
    if (norm(m, s, hk, MS_SITE_LN2_SCALE, MS_SITE_LN2_NORMALIZED, l, s->ln, s->x, w->ln2_w, w->ln2_b, B, T)) return -1;
    if (mlp_sublayer(m, s, hk, l, B, T)) return -1;
    if (sublayer_out(m, s, hk, MS_SITE_MLP_OUT, MS_SITE_LN2_POST_SCALE, MS_SITE_LN2_POST_NORMALIZED, w->ln2_post_w, l,
                     attn_to, s->h1, c->d_mlp, w->w_out, w->b_out, B, T))
        return -1;
    if (c->parallel_residual) ms_op_add(&s->be, s->x, s->par, (size_t)N * C);
    return hook(hk, c, MS_SITE_RESID_POST, l, s->x, B, T);
}

// Sets up the KV cache for a pass of T tokens per sequence (opts->kv_cache: from position
// opts->pos0, the cache allocated on first use) or turns it off. 0, or -1 + ms_error.
static int kv_begin(const ms_model *m, ms_state *s, const ms_hooks *hk, int T, const ms_forward_opts *opts) {
    const ms_config *c = &m->cfg;
    s->kv_on = opts->kv_cache, s->pos0 = opts->kv_cache ? opts->pos0 : 0;
    if (!s->kv_on) return 0;
    if (s->pos0 < 0 || s->pos0 + T > s->max_T) {
        ms_error("KV cache: positions %d..%d exceed the state's %d tokens", s->pos0, s->pos0 + T - 1, s->max_T);
        return -1;
    }
    for (int l = 0; l < c->n_layer && s->pos0 > 0; l++)
        if (ms_hooks_wants(hk, MS_SITE_ATTN_SCORES, l) || ms_hooks_wants(hk, MS_SITE_ATTN_PATTERN, l)) {
            ms_error("the attention scores and pattern cover the whole sequence: run them without the KV cache");
            return -1;
        }
    if (!s->kv_k) {
        const size_t n = (size_t)c->n_layer * s->max_B * s->max_T * c->n_kv_head * c->d_head;
        s->kv_k = ms_aligned_alloc(n * sizeof(float));
        s->kv_v = ms_aligned_alloc(n * sizeof(float));
    }
    return 0;
}

static int forward(const ms_model *m, ms_state *s, const int32_t *tokens, int B, int T, const ms_forward_opts *opts) {
    const ms_config *c = &m->cfg;
    static const ms_forward_opts none = {.stop_after_layer = -1};
    if (!opts) opts = &none;
    const ms_hooks *hk = opts->hooks;
    if (B < 1 || T < 1) { ms_error("empty input: %d sequences of %d tokens", B, T); return -1; }
    if (T > c->n_ctx) { ms_error("sequence of %d tokens exceeds the model's context of %d", T, c->n_ctx); return -1; }
    if (B > s->max_B || T > s->max_T) {
        ms_error("batch %d x %d tokens exceeds the state's capacity %d x %d", B, T, s->max_B, s->max_T);
        return -1;
    }
    if (m->header_only) { ms_error("%s: loaded without weights (ms_model_load_header): cannot run", m->path); return -1; }
    if (m->weights_bf16 != s->be.weights_bf16) {
        ms_error("%s: the state was made for a model whose weights are held in %s", m->path, s->be.weights_bf16 ? "bf16" : "f32");
        return -1;
    }
    if (kv_begin(m, s, hk, T, opts)) return -1;
    const int N = B * T, C = c->d_model;
    for (int i = 0; i < N; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size) {
            ms_error("token id %d at sequence %d position %d is outside the vocabulary (0..%d)", (int)tokens[i],
                     i / T, i % T, c->vocab_size - 1);
            return -1;
        }
    const int want_logits = opts->want_logits || ms_hooks_wants(hk, MS_SITE_LOGITS, -1);
    int last = opts->stop_after_layer >= 0 ? opts->stop_after_layer
             : want_logits ? c->n_layer : ms_hooks_last_layer(hk, c->n_layer);
    if (last > c->n_layer) last = c->n_layer;
    if (m->n_layer_loaded > 0 && m->n_layer_loaded < c->n_layer && last >= m->n_layer_loaded) { // a layer-limited load (ms_model_load_layers) without these weights
        ms_error("this pass needs layer %d%s, but only layers 0..%d were loaded", last < c->n_layer ? last : c->n_layer - 1,
                 last < c->n_layer ? "" : " and the unembedding", m->n_layer_loaded - 1);
        return -1;
    }
    // Small problems run on one thread: below ~8M multiply-adds per projection the fork/join and
    // spin-wait of a thread team (BLAS' and ours) costs more than it saves, badly so on a loaded machine.
    s->be.n_threads = (double)N * C * C >= (double)(1 << 23) ? s->n_threads : 1;

    // embeddings: tmp (N, C) = wte[tokens]; gpt2 adds ln (N, C) = wpe[pos]
    for (int i = 0; i < N; i++) ms_model_embedding_row(m, tokens[i], s->tmp + (size_t)i * C);
    if (c->embed_scale > 0) // Gemma: the residual stream starts at wte[token] * sqrt(C)
        for (size_t i = 0; i < (size_t)N * C; i++) s->tmp[i] *= c->embed_scale;
    if (hook(hk, c, MS_SITE_EMBED, -1, s->tmp, B, T)) return -1;
    if (m->w.wpe) {
        for (int i = 0; i < N; i++) memcpy(s->ln + (size_t)i * C, m->w.wpe + (size_t)(s->pos0 + i % T) * C, (size_t)C * sizeof(float));
        if (hook(hk, c, MS_SITE_POS_EMBED, -1, s->ln, B, T)) return -1;
        for (size_t i = 0; i < (size_t)N * C; i++) s->x[i] = s->tmp[i] + s->ln[i];
    } else {
        memcpy(s->x, s->tmp, (size_t)N * C * sizeof(float));
    }
    for (int l = 0; l <= last && l < c->n_layer; l++)
        if (block(m, s, hk, l, B, T)) return -1;
    if (last < c->n_layer) return 0;

    if (norm(m, s, hk, MS_SITE_LN_FINAL_SCALE, MS_SITE_LN_FINAL_NORMALIZED, -1, s->ln, s->x, m->w.lnf_w, m->w.lnf_b, B, T))
        return -1;
    if (!want_logits) return 0;
    size_t need = (size_t)N * c->vocab_size;
    if (need > s->logits_cap) {
        free(s->logits);
        s->logits = ms_aligned_alloc(need * sizeof(float));
        s->logits_cap = need;
    }
    ms_op_linear(&s->be, s->logits, s->ln, m->w.unembed, NULL, N, C, c->vocab_size); // (N, V)
    if (c->logit_softcap > 0) ms_op_softcap(&s->be, s->logits, c->logit_softcap, need);
    if (hook(hk, c, MS_SITE_LOGITS, -1, s->logits, B, T)) return -1;
    return 0;
}

int ms_forward(const ms_model *m, ms_state *s, const int32_t *tokens, int B, int T, const ms_forward_opts *opts) {
    return forward(m, s, tokens, B, T, opts);
}
