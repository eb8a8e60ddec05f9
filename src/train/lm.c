// lm.c: forward/backward pairs per layer kind, the model's forward and backward, AdamW (see lm.h).
// Every loop is over contiguous rows; row-parallel loops write disjoint rows and every reduction
// (bias and LN-gain gradients, the loss, the gradient norm) runs in a fixed order, so a run is
// deterministic for a fixed thread count (OpenBLAS's GEMM partition depends on it). OpenMP loops and
// GEMMs use m->be.n_threads threads (set per call with num_threads, no global OpenMP state).
#include "train/lm.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train/adam.h"
#include "train/rng.h"
#include "model/hooks.h"
#include "util/util.h"

#define LN_EPS 1e-5f
#define GELU_K 0.7978845608028654f // sqrt(2/pi)

int ms_lm_config_check(const ms_lm_config *c) {
    if (c->n_layer < 1 || c->d_model < 1 || c->n_head < 1 || c->d_mlp < 1 || c->vocab < 2 || c->n_ctx < 1 ||
        c->d_model % c->n_head) {
        ms_error("train-lm: inconsistent shape (layers %d, d_model %d, heads %d, d_mlp %d, vocab %d, ctx %d)",
                 c->n_layer, c->d_model, c->n_head, c->d_mlp, c->vocab, c->n_ctx);
        return -1;
    }
    return 0;
}

// ---- embeddings (the forward: model/forward.c): d wte[inp] and d wpe[t] += dout(B,T,C)
static void encoder_backward(float *dwte, float *dwpe, const float *dout, const int32_t *inp, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            float *dwe = dwte + (size_t)inp[b * T + t] * C, *dpe = dwpe + (size_t)t * C;
            for (int i = 0; i < C; i++) { dwe[i] += d[i]; dpe[i] += d[i]; }
        }
}

// ---- layernorm over rows: out(N,C) = (x − mean) · rstd · w + b. The forward pass normalises; the
// tape keeps its input's row statistics and its output (xhat from ln*.hook_normalized · w + b).
static void layernorm_tape(float *out, float *mean, float *rstd, const float *inp, const float *xhat, const float *w,
                           const float *b, int N, int C, int nt) {
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *xh = xhat + (size_t)n * C;
        float m = 0, v = 0;
        for (int i = 0; i < C; i++) m += x[i];
        m /= C;
        for (int i = 0; i < C; i++) v += (x[i] - m) * (x[i] - m);
        mean[n] = m;
        rstd[n] = 1.0f / sqrtf(v / C + LN_EPS);
        float *o = out + (size_t)n * C;
        for (int i = 0; i < C; i++) o[i] = xh[i] * w[i] + b[i];
    }
}
static void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                               const float *mean, const float *rstd, int N, int C) {
    for (int n = 0; n < N; n++) { // sequential: dw, db accumulate over rows in a fixed order
        const float *d = dout + (size_t)n * C, *x = inp + (size_t)n * C;
        float *di = dinp + (size_t)n * C;
        float m = mean[n], s = rstd[n], dnorm_mean = 0, dnorm_norm_mean = 0;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * s, dnorm = w[i] * d[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= C;
        dnorm_norm_mean /= C;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * s, dnorm = w[i] * d[i];
            db[i] += d[i];
            dw[i] += norm * d[i];
            di[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
}

// ---- matmul out(N,OC) = inp(N,IC) · W(OC,IC)ᵀ + bias, backward:
// dinp(N,IC) += dout · W;  dW(OC,IC) += doutᵀ · inp;  dbias(OC) += Σ_n dout
static void matmul_backward(const ms_backend_ctx *be, float *dinp, float *dW, float *dbias, const float *dout,
                            const float *inp, const float *W, int N, int IC, int OC) {
    const int nt = be->n_threads;
    ms_op_sgemm(be, 0, 0, N, IC, OC, 1.0f, dout, OC, W, IC, 1.0f, dinp, IC);
    ms_op_sgemm(be, 1, 0, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dW, IC);
    if (!dbias) return;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int o = 0; o < OC; o++) {
        float s = 0;
        for (int n = 0; n < N; n++) s += dout[(size_t)n * OC + o];
        dbias[o] += s;
    }
}

// ---- causal self-attention, backward: inp(B,T,3C) = [q | k | v], heads of hs = C/NH; att(B,NH,T,T)
// the softmax weights (hook_pattern: zero above the diagonal); out(B,T,C) = hook_z.
// dinp(B,T,3C) += ∂/∂[q|k|v]. One (b, h) touches only its own head's columns, so the (b, h) loop is
// parallel; datt is a (T) scratch row per thread, carved from scratch (threads · T).
static void attention_backward(float *dinp, float *scratch, const float *dout, const float *inp, const float *att,
                               int B, int T, int C, int NH, int nt) {
    const int hs = C / NH, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int bh = 0; bh < B * NH; bh++) {
        const int b = bh / NH, h = bh % NH;
        float *datt = scratch + (size_t)bh * T;
        for (int t = 0; t < T; t++) {
            const float *a = att + ((size_t)bh * T + t) * T, *d = dout + ((size_t)b * T + t) * C + h * hs;
            float dot = 0;
            for (int t2 = 0; t2 <= t; t2++) { // through the weighted sum of values
                const float *v = inp + ((size_t)b * T + t2) * C3 + 2 * C + h * hs;
                float *dv = dinp + ((size_t)b * T + t2) * C3 + 2 * C + h * hs, s = 0;
#pragma omp simd reduction(+ : s)
                for (int i = 0; i < hs; i++) { s += d[i] * v[i]; dv[i] += a[t2] * d[i]; }
                datt[t2] = s;
                dot += a[t2] * s;
            }
            const float *q = inp + ((size_t)b * T + t) * C3 + h * hs;
            float *dq = dinp + ((size_t)b * T + t) * C3 + h * hs;
            for (int t2 = 0; t2 <= t; t2++) { // through the softmax and the scaled q·k
                float dpre = a[t2] * (datt[t2] - dot) * scale;
                const float *k = inp + ((size_t)b * T + t2) * C3 + C + h * hs;
                float *dk = dinp + ((size_t)b * T + t2) * C3 + C + h * hs;
                for (int i = 0; i < hs; i++) { dq[i] += dpre * k[i]; dk[i] += dpre * q[i]; }
            }
        }
    }
}

// ---- GELU, tanh form (GPT-2's gelu_new), backward, through the identity 0.5 (1 + tanh u) = sigmoid(2u)
// and the backend's ms_expf so the loop vectorises (libm's tanhf was a fifth of a training step).
// d/dx [x s] = s + x s (1 − s) · 2 du/dx, with s = sigmoid(2u), u = k (x + 0.044715 x³).
static void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n, int nt) {
#pragma omp parallel for schedule(static) num_threads(nt)
    for (size_t i = 0; i < n; i++) {
        const float x = inp[i], u = GELU_K * (x + 0.044715f * x * x * x);
        const float s = 1.0f / (1.0f + ms_expf(-2.0f * u));
        const float du = GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += dout[i] * (s + x * s * (1.0f - s) * 2.0f * du);
    }
}

static void residual_backward(float *da, float *db, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) { da[i] += dout[i]; db[i] += dout[i]; }
}

// ---- softmax cross-entropy: logits(N,V) become probabilities; losses(N) = −log p[target]
static void crossentropy_forward(float *losses, float *logits, const int32_t *targets, int N, int V, int nt) {
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int n = 0; n < N; n++) {
        float *x = logits + (size_t)n * V, maxv = -INFINITY, sum = 0;
        for (int i = 0; i < V; i++) if (x[i] > maxv) maxv = x[i];
#pragma omp simd reduction(+ : sum)
        for (int i = 0; i < V; i++) sum += x[i] = ms_expf(x[i] - maxv);
        for (int i = 0; i < V; i++) x[i] /= sum;
        losses[n] = -logf(x[targets[n]]);
    }
}
// dlogits(N,V) = (p − onehot(target)) / N: the gradient of the mean loss.
static void crossentropy_backward(float *dlogits, const float *probs, const int32_t *targets, int N, int V, int nt) {
    const float inv = 1.0f / N;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int n = 0; n < N; n++) {
        const float *p = probs + (size_t)n * V;
        float *d = dlogits + (size_t)n * V;
        for (int i = 0; i < V; i++) d[i] = (p[i] - (i == targets[n])) * inv;
    }
}

// ---- the model
// Carves the activation slices out of one buffer (mem NULL: only counts). Returns floats needed.
static size_t acts_layout(ms_lm_acts *a, const ms_lm_config *c, int B, int T, float *mem) {
    const size_t L = c->n_layer, BT = (size_t)B * T, C = c->d_model, F = c->d_mlp, NH = c->n_head;
    const size_t sizes[] = {BT * C, L * BT * C, L * BT, L * BT, L * BT * 3 * C, L * BT * C, L * B * NH * T * T,
                            L * BT * C, L * BT * C, L * BT * C, L * BT, L * BT, L * BT * F, L * BT * F,
                            L * BT * C, L * BT * C, BT * C, BT, BT, BT * c->vocab, BT};
    float **slots[] = {&a->encoded, &a->ln1, &a->ln1_mean, &a->ln1_rstd, &a->qkv, &a->atty, &a->att,
                       &a->attproj, &a->residual2, &a->ln2, &a->ln2_mean, &a->ln2_rstd, &a->fch, &a->fch_gelu,
                       &a->fcproj, &a->residual3, &a->lnf, &a->lnf_mean, &a->lnf_rstd, &a->logits, &a->losses};
    size_t o = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (mem) *slots[i] = mem + o;
        o += (sizes[i] + 15) / 16 * 16;
    }
    if (mem) a->mem = mem;
    return o;
}

static void param_specs(const ms_lm_config *c, ms_param_spec *s) {
    const int64_t L = c->n_layer, C = c->d_model, F = c->d_mlp;
    const ms_param_spec t[LM_NPARAMS] = {
        {"wte", 2, {c->vocab, C}}, {"wpe", 2, {c->n_ctx, C}},  {"ln1w", 2, {L, C}},      {"ln1b", 2, {L, C}},
        {"qkvw", 2, {L * 3 * C, C}}, {"qkvb", 2, {L, 3 * C}}, {"attprojw", 2, {L * C, C}}, {"attprojb", 2, {L, C}},
        {"ln2w", 2, {L, C}},         {"ln2b", 2, {L, C}},     {"fcw", 2, {L * F, C}},      {"fcb", 2, {L, F}},
        {"fcprojw", 2, {L * C, F}}, {"fcprojb", 2, {L, C}},   {"lnfw", 1, {C, 1}},         {"lnfb", 1, {C, 1}}};
    memcpy(s, t, sizeof t);
}

// The tensors weight decay applies to: embeddings and matrices, as GPT-2 / nanoGPT (not biases, gains).
static int decays(int i) {
    return i == LM_WTE || i == LM_WPE || i == LM_QKVW || i == LM_ATTPROJW || i == LM_FCW || i == LM_FCPROJW;
}

// Parameter i of layer l: the l-th of L equal slices of a stacked tensor.
static float *layer_param(const ms_lm *m, float *buf, int i, int l) {
    return ms_param_at(&m->P, buf, i) + (size_t)l * (ms_param_numel(&m->P.spec[i]) / m->cfg.n_layer);
}

// The forward pass's model over the parameter buffer: GPT-2 knobs, every weight a slice of P.p in
// the (out, in) layout both sides use, q/k/v stacked (one GEMM), the unembedding tied to wte.
static int net_init(ms_lm *m) {
    const ms_lm_config *c = &m->cfg;
    ms_model *net = &m->net;
    ms_config *k = &net->cfg;
    k->arch = MS_ARCH_GPT2;
    k->n_layer = c->n_layer, k->d_model = c->d_model, k->n_head = k->n_kv_head = c->n_head;
    k->d_mlp = c->d_mlp, k->vocab_size = c->vocab, k->n_ctx = c->n_ctx, k->norm_eps = LN_EPS;
    k->tied_embeddings = 1, k->bos_id = k->eos_id = -1;
    snprintf(k->source_format, sizeof k->source_format, "train-lm");
    snprintf(k->source_dtype, sizeof k->source_dtype, "F32");
    if (ms_config_validate(k, "train-lm") < 0) return -1;
    float *p = m->P.p;
    const size_t CC = (size_t)c->d_model * c->d_model;
    m->layers = ms_calloc((size_t)c->n_layer, sizeof *m->layers);
    for (int l = 0; l < c->n_layer; l++) {
        ms_layer_weights *w = &m->layers[l];
        w->ln1_w = layer_param(m, p, LM_LN1W, l), w->ln1_b = layer_param(m, p, LM_LN1B, l);
        w->wqkv = layer_param(m, p, LM_QKVW, l), w->bqkv = layer_param(m, p, LM_QKVB, l);
        w->wq = w->wqkv, w->wk = w->wqkv + CC, w->wv = w->wqkv + 2 * CC;
        w->bq = w->bqkv, w->bk = w->bqkv + c->d_model, w->bv = w->bqkv + 2 * c->d_model;
        w->wo = layer_param(m, p, LM_ATTPROJW, l), w->bo = layer_param(m, p, LM_ATTPROJB, l);
        w->ln2_w = layer_param(m, p, LM_LN2W, l), w->ln2_b = layer_param(m, p, LM_LN2B, l);
        w->w_in = layer_param(m, p, LM_FCW, l), w->b_in = layer_param(m, p, LM_FCB, l);
        w->w_out = layer_param(m, p, LM_FCPROJW, l), w->b_out = layer_param(m, p, LM_FCPROJB, l);
    }
    net->w.wte = net->w.unembed = ms_param_at(&m->P, p, LM_WTE);
    net->w.wpe = ms_param_at(&m->P, p, LM_WPE);
    net->w.lnf_w = ms_param_at(&m->P, p, LM_LNFW), net->w.lnf_b = ms_param_at(&m->P, p, LM_LNFB);
    net->w.layers = m->layers;
    net->n_params = m->P.count;
    net->n_layer_loaded = c->n_layer;
    return 0;
}

// The tape: one callback on every site the backward reads, copying (or, for the norms, finishing)
// it into the activation slice of its layer for the pass in progress (m->pass_B, m->pass_T).
static int tape_copy(ms_activation *act, void *user) {
    ms_lm *m = user;
    const ms_lm_config *c = &m->cfg;
    const int C = c->d_model, F = c->d_mlp, NH = c->n_head, BT = m->pass_B * m->pass_T, l = act->layer;
    const int nt = m->be.n_threads; // the tape runs only inside m->state's forward pass
    const size_t oC = (size_t)l * BT * C, oF = (size_t)l * BT * F, oR = (size_t)l * BT, nC = (size_t)BT * C * sizeof(float);
    ms_lm_acts *a = &m->acts;
    float *p = m->P.p;
    switch (act->site) {
    case MS_SITE_RESID_PRE: memcpy(a->encoded, act->data, nC); break; // layer 0 only
    case MS_SITE_LN1_NORMALIZED: {
        const float *res = l == 0 ? a->encoded : a->residual3 + oC - (size_t)BT * C;
        layernorm_tape(a->ln1 + oC, a->ln1_mean + oR, a->ln1_rstd + oR, res, act->data, layer_param(m, p, LM_LN1W, l),
                       layer_param(m, p, LM_LN1B, l), BT, C, nt);
        break;
    }
    case MS_SITE_ATTN_Q: case MS_SITE_ATTN_K: case MS_SITE_ATTN_V: { // (BT, C) into columns of qkv (BT, 3C)
        const int col = act->site == MS_SITE_ATTN_Q ? 0 : act->site == MS_SITE_ATTN_K ? C : 2 * C;
        float *dst = a->qkv + 3 * oC + col;
        for (int n = 0; n < BT; n++) memcpy(dst + (size_t)n * 3 * C, act->data + (size_t)n * C, (size_t)C * sizeof(float));
        break;
    }
    case MS_SITE_ATTN_PATTERN:
        memcpy(a->att + (size_t)l * m->pass_B * NH * m->pass_T * m->pass_T, act->data,
               (size_t)m->pass_B * NH * m->pass_T * m->pass_T * sizeof(float));
        break;
    case MS_SITE_ATTN_Z: memcpy(a->atty + oC, act->data, nC); break;
    case MS_SITE_RESID_MID: memcpy(a->residual2 + oC, act->data, nC); break;
    case MS_SITE_LN2_NORMALIZED:
        layernorm_tape(a->ln2 + oC, a->ln2_mean + oR, a->ln2_rstd + oR, a->residual2 + oC, act->data,
                       layer_param(m, p, LM_LN2W, l), layer_param(m, p, LM_LN2B, l), BT, C, nt);
        break;
    case MS_SITE_MLP_PRE: memcpy(a->fch + oF, act->data, (size_t)BT * F * sizeof(float)); break;
    case MS_SITE_MLP_POST: memcpy(a->fch_gelu + oF, act->data, (size_t)BT * F * sizeof(float)); break;
    case MS_SITE_RESID_POST: memcpy(a->residual3 + oC, act->data, nC); break;
    case MS_SITE_LN_FINAL_NORMALIZED:
        layernorm_tape(a->lnf, a->lnf_mean, a->lnf_rstd, a->residual3 + (size_t)(c->n_layer - 1) * BT * C, act->data,
                       ms_param_at(&m->P, p, LM_LNFW), ms_param_at(&m->P, p, LM_LNFB), BT, C, nt);
        break;
    default: break;
    }
    return 0;
}

static const char *const TAPE_SITES[] = {
    "blocks.0.hook_resid_pre",  "blocks.*.ln1.hook_normalized", "blocks.*.attn.hook_q",   "blocks.*.attn.hook_k",
    "blocks.*.attn.hook_v",     "blocks.*.attn.hook_pattern",   "blocks.*.attn.hook_z",   "blocks.*.hook_resid_mid",
    "blocks.*.ln2.hook_normalized", "blocks.*.mlp.hook_pre",    "blocks.*.mlp.hook_post", "blocks.*.hook_resid_post",
    "ln_final.hook_normalized"};

int ms_lm_init(ms_lm *m, const ms_lm_config *c, int B, int T, uint64_t seed, int threads) {

    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->B = B;
    m->T = T;
    m->be.n_threads = threads > 0 ? threads : 1;
    ms_param_spec spec[LM_NPARAMS];
    param_specs(c, spec);
    ms_params_init(&m->P, spec, LM_NPARAMS, 1);
    ms_rng rng = ms_rng_from(seed, 0x6c6d, 0); // "lm"
    const float proj_std = 0.02f / sqrtf(2.0f * c->n_layer);
    for (int i = 0; i < LM_NPARAMS; i++) {
        float *p = ms_param_at(&m->P, m->P.p, i);
        size_t n = ms_param_numel(&spec[i]);
        int gain = i == LM_LN1W || i == LM_LN2W || i == LM_LNFW;
        float std = i == LM_ATTPROJW || i == LM_FCPROJW ? proj_std : 0.02f;
        for (size_t j = 0; j < n; j++) p[j] = gain ? 1.0f : decays(i) ? (float)(std * ms_rng_normal(&rng)) : 0.0f;
    }
    size_t n = acts_layout(&m->acts, c, B, T, NULL);
    acts_layout(&m->acts, c, B, T, ms_aligned_alloc(n * sizeof(float)));
    acts_layout(&m->grads_acts, c, B, T, ms_aligned_alloc(n * sizeof(float)));
    m->targets = ms_malloc((size_t)B * T * sizeof *m->targets);
    m->scratch = ms_aligned_alloc((size_t)B * c->n_head * T * sizeof(float));
    if (net_init(m) < 0 || !(m->state = ms_state_new(&m->net, B, T))) {
        ms_lm_free(m);
        return -1;
    }
    ms_state_set_threads(m->state, m->be.n_threads);
    m->tape = ms_hooks_new();
    for (size_t i = 0; i < sizeof TAPE_SITES / sizeof TAPE_SITES[0]; i++)
        if (ms_hooks_add(m->tape, TAPE_SITES[i], tape_copy, m) < 0) {
            ms_lm_free(m);
            return -1;
        }
    return 0;
}

void ms_lm_free(ms_lm *m) {
    ms_params_free(&m->P);
    free(m->acts.mem);
    free(m->grads_acts.mem);
    free(m->targets);
    free(m->scratch);
    free(m->layers);
    ms_state_free(m->state);
    ms_hooks_free(m->tape);
    memset(m, 0, sizeof *m);
}


float ms_lm_forward(ms_lm *m, const int32_t *inputs, const int32_t *targets, int B, int T) {
    const ms_lm_config *c = &m->cfg;
    const int V = c->vocab, BT = B * T, nt = m->be.n_threads;
    ms_lm_acts *a = &m->acts;
    m->pass_B = B, m->pass_T = T;
    const ms_forward_opts opts = {.hooks = m->tape, .want_logits = 1, .stop_after_layer = -1};
    if (ms_forward(&m->net, m->state, inputs, B, T, &opts) < 0) return NAN; // token ids are checked by the data reader
    memcpy(a->logits, ms_state_logits(m->state), (size_t)BT * V * sizeof(float));
    if (!targets) return 0.0f;
    memcpy(m->targets, targets, (size_t)BT * sizeof *targets);
    crossentropy_forward(a->losses, a->logits, targets, BT, V, nt);
    double sum = 0;
    for (int n = 0; n < BT; n++) sum += a->losses[n];
    return (float)(sum / BT);
}

// One block's backward, layer l: from d residual3 (in g->residual3) to d residual (dres).
static void block_backward(ms_lm *m, int l, const float *res, float *dres, int B, int T) {
    const ms_lm_config *c = &m->cfg;
    const int C = c->d_model, F = c->d_mlp, NH = c->n_head, BT = B * T, nt = m->be.n_threads;
    const size_t oC = (size_t)l * BT * C, oF = (size_t)l * BT * F, oR = (size_t)l * BT;
    ms_lm_acts *a = &m->acts, *g = &m->grads_acts;
    float *p = m->P.p, *gp = m->P.g;
    residual_backward(g->residual2 + oC, g->fcproj + oC, g->residual3 + oC, (size_t)BT * C);
    matmul_backward(&m->be, g->fch_gelu + oF, layer_param(m, gp, LM_FCPROJW, l), layer_param(m, gp, LM_FCPROJB, l),
                    g->fcproj + oC, a->fch_gelu + oF, layer_param(m, p, LM_FCPROJW, l), BT, F, C);
    gelu_backward(g->fch + oF, a->fch + oF, g->fch_gelu + oF, (size_t)BT * F, nt);
    matmul_backward(&m->be, g->ln2 + oC, layer_param(m, gp, LM_FCW, l), layer_param(m, gp, LM_FCB, l), g->fch + oF,
                    a->ln2 + oC, layer_param(m, p, LM_FCW, l), BT, C, F);
    layernorm_backward(g->residual2 + oC, layer_param(m, gp, LM_LN2W, l), layer_param(m, gp, LM_LN2B, l), g->ln2 + oC,
                       a->residual2 + oC, layer_param(m, p, LM_LN2W, l), a->ln2_mean + oR, a->ln2_rstd + oR, BT, C);
    residual_backward(dres, g->attproj + oC, g->residual2 + oC, (size_t)BT * C);
    matmul_backward(&m->be, g->atty + oC, layer_param(m, gp, LM_ATTPROJW, l), layer_param(m, gp, LM_ATTPROJB, l),
                    g->attproj + oC, a->atty + oC, layer_param(m, p, LM_ATTPROJW, l), BT, C, C);
    attention_backward(g->qkv + 3 * oC, m->scratch, g->atty + oC, a->qkv + 3 * oC,
                       a->att + (size_t)l * B * NH * T * T, B, T, C, NH, nt);
    matmul_backward(&m->be, g->ln1 + oC, layer_param(m, gp, LM_QKVW, l), layer_param(m, gp, LM_QKVB, l),
                    g->qkv + 3 * oC, a->ln1 + oC, layer_param(m, p, LM_QKVW, l), BT, C, 3 * C);
    layernorm_backward(dres, layer_param(m, gp, LM_LN1W, l), layer_param(m, gp, LM_LN1B, l), g->ln1 + oC, res,
                       layer_param(m, p, LM_LN1W, l), a->ln1_mean + oR, a->ln1_rstd + oR, BT, C);
}

void ms_lm_backward(ms_lm *m, const int32_t *inputs, int B, int T) {
    const ms_lm_config *c = &m->cfg;
    const int C = c->d_model, V = c->vocab, BT = B * T, nt = m->be.n_threads;
    ms_lm_acts *a = &m->acts, *g = &m->grads_acts;
    float *p = m->P.p, *gp = m->P.g;
    memset(gp, 0, m->P.count * sizeof *gp);
    memset(g->mem, 0, acts_layout(g, c, m->B, m->T, NULL) * sizeof(float)); // activation grads accumulate (+=)
    crossentropy_backward(g->logits, a->logits, m->targets, BT, V, nt);
    matmul_backward(&m->be, g->lnf, ms_param_at(&m->P, gp, LM_WTE), NULL, g->logits, a->lnf,
                    ms_param_at(&m->P, p, LM_WTE), BT, C, V);
    const size_t last = (size_t)(c->n_layer - 1) * BT * C;
    layernorm_backward(g->residual3 + last, ms_param_at(&m->P, gp, LM_LNFW), ms_param_at(&m->P, gp, LM_LNFB), g->lnf,
                       a->residual3 + last, ms_param_at(&m->P, p, LM_LNFW), a->lnf_mean, a->lnf_rstd, BT, C);
    for (int l = c->n_layer - 1; l >= 0; l--) {
        const float *res = l == 0 ? a->encoded : a->residual3 + (size_t)(l - 1) * BT * C;
        float *dres = l == 0 ? g->encoded : g->residual3 + (size_t)(l - 1) * BT * C;
        block_backward(m, l, res, dres, B, T);
    }
    encoder_backward(ms_param_at(&m->P, gp, LM_WTE), ms_param_at(&m->P, gp, LM_WPE), g->encoded, inputs, B, T, C);
}

double ms_lm_grad_norm(const ms_lm *m) {
    double s = 0;
    for (size_t i = 0; i < m->P.count; i++) s += (double)m->P.g[i] * m->P.g[i];
    return sqrt(s);
}

void ms_lm_update(ms_lm *m, double lr, double b1, double b2, double eps, double wd, float gscale, int64_t t) {
    const float keep = (float)(1.0 - lr * wd);
    for (int i = 0; i < m->P.n; i++)
        if (decays(i)) ms_adam_decay(ms_param_at(&m->P, m->P.p, i), ms_param_numel(&m->P.spec[i]), keep);
    ms_adam_step k = ms_adam_at(lr, b1, b2, eps, t);
    ms_adam_update(m->P.p, m->P.m, m->P.v, m->P.g, gscale, m->P.count, &k, m->be.n_threads);
    ms_state_weights_changed(m->state); // the forward's kernel-layout copies are refreshed on next use
}

// ---- Hugging Face GPT-2 names and layouts
static void ck_add(ms_checkpoint *ck, const char *name, const float *src, int64_t rows, int64_t cols, int transpose) {
    if (ck->n_tensors == ck->cap) {
        ck->cap = ck->cap ? 2 * ck->cap : 64;
        ck->t = ms_realloc(ck->t, (size_t)ck->cap * sizeof *ck->t);
    }
    ms_ckpt_tensor *t = &ck->t[ck->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = cols < 0 ? 1 : 2;
    if (cols < 0) cols = 1;
    t->shape[0] = transpose ? cols : rows;
    t->shape[1] = transpose ? rows : cols;
    t->data = ms_malloc((size_t)rows * cols * sizeof(float));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++) t->data[transpose ? j * rows + r : r * cols + j] = src[r * cols + j];
}

ms_checkpoint *ms_lm_to_checkpoint(const ms_lm *m) {
    const ms_lm_config *c = &m->cfg;
    const int64_t C = c->d_model, F = c->d_mlp;
    ms_checkpoint *ck = ms_calloc(1, sizeof *ck);
    ck->arch = MS_ARCH_GPT2;
    ck->n_layer = c->n_layer; ck->d_model = c->d_model; ck->n_head = ck->n_kv_head = c->n_head;
    ck->d_mlp = c->d_mlp; ck->vocab = c->vocab; ck->n_ctx = c->n_ctx;
    float *p = m->P.p;
    ck_add(ck, "wte.weight", ms_param_at(&m->P, p, LM_WTE), c->vocab, C, 0);
    ck_add(ck, "wpe.weight", ms_param_at(&m->P, p, LM_WPE), c->n_ctx, C, 0);
    char n[96];
    for (int l = 0; l < c->n_layer; l++) { // Conv1D weights: (out, in) here, [in, out] in HF
#define T(suffix, i, rows, cols, tr) (snprintf(n, sizeof n, "h.%d." suffix, l), ck_add(ck, n, layer_param(m, p, i, l), rows, cols, tr))
        T("ln_1.weight", LM_LN1W, C, -1, 0); T("ln_1.bias", LM_LN1B, C, -1, 0);
        T("attn.c_attn.weight", LM_QKVW, 3 * C, C, 1); T("attn.c_attn.bias", LM_QKVB, 3 * C, -1, 0);
        T("attn.c_proj.weight", LM_ATTPROJW, C, C, 1); T("attn.c_proj.bias", LM_ATTPROJB, C, -1, 0);
        T("ln_2.weight", LM_LN2W, C, -1, 0); T("ln_2.bias", LM_LN2B, C, -1, 0);
        T("mlp.c_fc.weight", LM_FCW, F, C, 1); T("mlp.c_fc.bias", LM_FCB, F, -1, 0);
        T("mlp.c_proj.weight", LM_FCPROJW, C, F, 1); T("mlp.c_proj.bias", LM_FCPROJB, C, -1, 0);
#undef T
    }
    ck_add(ck, "ln_f.weight", ms_param_at(&m->P, p, LM_LNFW), C, -1, 0);
    ck_add(ck, "ln_f.bias", ms_param_at(&m->P, p, LM_LNFB), C, -1, 0);
    return ck;
}
