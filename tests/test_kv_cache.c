// test_kv_cache.c: the forward pass's KV cache against the full recomputation, on random in-memory
// models of every attention variant the forward pass has (GPT-2 learned positions, Llama RoPE with
// GQA, GPT-NeoX partial rotary with a parallel residual, Gemma-2-like sliding window + soft-caps +
// score scale + embedding scale + post-norms). Per decoding step: the cached pass over the one new
// token gives the last-position logits of a full pass over the whole prefix within 1e-5; and
// ms_generate samples the same tokens with and without the cache (fixed seed).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/generate.h"
#include "model/model.h"
#include "util/util.h"
#include "harness.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { // xorshift, uniform in [-1, 1)
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

typedef enum { VARIANT_GPT2, VARIANT_LLAMA_GQA, VARIANT_NEOX, VARIANT_GEMMA2 } variant;

static ms_model *random_model(variant v, int n_ctx) {
    ms_model *m = ms_calloc(1, sizeof(ms_model));
    m->path = ms_strdup("random");
    ms_config *c = &m->cfg;
    c->arch = v == VARIANT_GPT2 ? MS_ARCH_GPT2 : v == VARIANT_NEOX ? MS_ARCH_NEOX : MS_ARCH_LLAMA;
    c->n_layer = 3; c->d_model = 32; c->n_head = 4; c->n_kv_head = v == VARIANT_GPT2 || v == VARIANT_NEOX ? 4 : 2;
    c->d_mlp = 72; c->vocab_size = 53; c->n_ctx = n_ctx; c->norm_eps = 1e-5f;
    c->rope_style = v == VARIANT_GPT2 ? MS_ROPE_NONE : MS_ROPE_HALF;
    c->rope_theta = 10000.0f;
    if (v == VARIANT_NEOX) c->rotary_dims = 4, c->parallel_residual = 1; // of d_head 8
    if (v == VARIANT_GEMMA2) {
        c->sliding_window = 7;
        for (int l = 0; l < c->n_layer; l += 2) c->local_layer[l] = 1; // even layers local, as Gemma 2
        c->attn_softcap = 2.0f, c->logit_softcap = 3.0f, c->attn_scale = 0.4f, c->embed_scale = sqrtf(32.0f);
        c->post_norms = 1, c->mlp = MS_MLP_GEGLU;
    }
    if (ms_model_alloc_weights(m)) { printf("alloc: %s\n", ms_last_error()); exit(1); }
    const size_t n = (size_t)(m->w.unembed + (size_t)c->vocab_size * c->d_model - m->arena); // the untied unembedding is last
    for (size_t i = 0; i < n; i++) m->arena[i] = 0.3f * frand(); // norm gains too: any gain works
    return m;
}

// max over the vocabulary of |a - b| / (1 + |b|)
static double rel_diff(const float *a, const float *b, int V) {
    double md = 0;
    for (int v = 0; v < V; v++) md = fmax(md, fabs((double)a[v] - b[v]) / (1.0 + fabs((double)b[v])));
    return md;
}

static int argmax(const float *x, int V) {
    int best = 0;
    for (int v = 1; v < V; v++) if (x[v] > x[best]) best = v;
    return best;
}

// Greedy decoding from a 5-token prompt to n_ctx tokens: the cached state runs the prompt, then one
// token per step; a second state reruns the whole prefix. Checks the last logits at every step.
static void test_steps(const char *label, const ms_model *m) {
    const int T = m->cfg.n_ctx, V = m->cfg.vocab_size, P = 5;
    int32_t *ids = ms_malloc((size_t)T * sizeof(int32_t));
    for (int i = 0; i < P; i++) ids[i] = (int32_t)((i * 11 + 2) % V);
    ms_state *cached = ms_state_new(m, 1, T), *full = ms_state_new(m, 1, T);
    ms_forward_opts fc = {.want_logits = 1, .stop_after_layer = -1, .kv_cache = 1};
    const ms_forward_opts ff = {.want_logits = 1, .stop_after_layer = -1};
    double worst = 0;
    int ok = 1;
    for (int n = P; n < T && ok; n++) {
        const int step = n - fc.pos0;
        ok &= ms_forward(m, cached, ids + fc.pos0, 1, step, &fc) == 0;
        ok &= ms_forward(m, full, ids, 1, n, &ff) == 0;
        if (!ok) break;
        fc.pos0 = n;
        const float *lc = ms_state_logits(cached) + (size_t)(step - 1) * V;
        const float *lf = ms_state_logits(full) + (size_t)(n - 1) * V;
        worst = fmax(worst, rel_diff(lc, lf, V));
        ids[n] = argmax(lf, V);
    }
    CHECK(ok, "%s: a pass failed: %s", label, ms_last_error());
    CHECK(worst <= 1e-5, "%s: cached logits differ from the full pass by %.3g", label, worst);
    ms_state_free(cached);
    ms_state_free(full);
    free(ids);
}

// ms_generate with and without the cache: the same sampled tokens for a fixed seed.
static void test_generate(const char *label, const ms_model *m) {
    const int T = m->cfg.n_ctx;
    int32_t *a = ms_calloc((size_t)T, sizeof(int32_t)), *b = ms_calloc((size_t)T, sizeof(int32_t));
    a[0] = b[0] = 1, a[1] = b[1] = 7, a[2] = b[2] = 3;
    ms_sampling with = {.temperature = 1.0, .top_k = 20, .seed = 5}, without = with;
    without.no_kv_cache = 1;
    const int na = ms_generate(m, a, 3, T, &with, NULL, NULL), nb = ms_generate(m, b, 3, T, &without, NULL, NULL);
    CHECK(na == nb && na > 3 && !memcmp(a, b, (size_t)na * sizeof(int32_t)), "%s: cached generation differs (%d vs %d tokens)",
          label, na, nb);
    free(a);
    free(b);
}

static int observe(ms_activation *a, void *user) { (void)a, (void)user; return 0; }

// The scores / pattern hooks need the whole sequence: refused after the prefill.
static void test_refusals(const ms_model *m) {
    ms_state *s = ms_state_new(m, 1, 8);
    int32_t ids[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ms_hooks *h = ms_hooks_new();
    ms_hooks_add(h, "blocks.0.attn.hook_pattern", observe, NULL);
    ms_forward_opts fo = {.hooks = h, .want_logits = 1, .stop_after_layer = -1, .kv_cache = 1};
    CHECK(ms_forward(m, s, ids, 1, 4, &fo) == 0, "prefill with a pattern hook refused: %s", ms_last_error());
    fo.pos0 = 4;
    CHECK(ms_forward(m, s, ids + 4, 1, 1, &fo) == -1, "pattern hook after the prefill accepted");
    fo.hooks = NULL, fo.pos0 = 6;
    CHECK(ms_forward(m, s, ids, 1, 3, &fo) == -1 && strstr(ms_last_error(), "KV cache"), "positions past the state accepted");
    ms_hooks_free(h);
    ms_state_free(s);
}

int main(void) {
    static const char *names[] = {"gpt2", "llama-gqa", "neox-partial-rotary", "gemma2-window-softcap"};
    for (int v = 0; v < 4; v++) {
        ms_model *m = random_model((variant)v, 40);
        test_steps(names[v], m);
        test_generate(names[v], m);
        if (v == 0) test_refusals(m);
        ms_model_free(m);
    }
    // past one key block (128) of the fused attention, with a window that starts mid-block
    ms_model *m = random_model(VARIANT_GEMMA2, 150);
    test_steps("gemma2-long", m);
    ms_model_free(m);
    m = random_model(VARIANT_LLAMA_GQA, 150);
    test_steps("llama-gqa-long", m);
    ms_model_free(m);
    return ms_test_summary("test_kv_cache");
}
