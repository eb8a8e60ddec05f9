// test_hooks_forward.c: properties of the hooked forward pass on random in-memory GPT-2 and Llama
// models (no files): observe-only hooks change nothing (bit for bit), editing hooks propagate as
// derived below, early stop gives the same early activations, a hook can abort, runs are
// deterministic, bad inputs are refused, and bf16 products stay within a stated bound of f32.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "model/model.h"
#include "util/util.h"
#include "harness.h"


static uint64_t rng = 88172645463325252ull;
static float frand(void) { // xorshift, uniform in [-1, 1)
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

static ms_model *random_model_ctx(ms_arch arch, int n_kv_head, int tied, int n_ctx);
static ms_model *random_model(ms_arch arch, int n_kv_head, int tied) { return random_model_ctx(arch, n_kv_head, tied, 24); }
static ms_model *random_model_ctx(ms_arch arch, int n_kv_head, int tied, int n_ctx) {
    ms_model *m = ms_calloc(1, sizeof(ms_model));
    m->path = ms_strdup("random");
    ms_config *c = &m->cfg;
    c->arch = arch;
    c->n_layer = 3; c->d_model = 32; c->n_head = 4; c->n_kv_head = n_kv_head; c->d_mlp = 72;
    c->vocab_size = 53; c->n_ctx = n_ctx; c->norm_eps = 1e-5f; c->tied_embeddings = tied;
    c->rope_style = arch == MS_ARCH_LLAMA ? MS_ROPE_HALF : MS_ROPE_NONE;
    c->rope_theta = 10000.0f;
    if (ms_model_alloc_weights(m)) { printf("alloc: %s\n", ms_last_error()); exit(1); }
    // the whole arena random (padding included), norms near 1
    float *end = (m->w.lnf_b ? m->w.lnf_b : m->w.lnf_w) + c->d_model; // the arena's last tensors
    if (!tied) end = m->w.unembed + (size_t)c->vocab_size * c->d_model;
    size_t n = (size_t)(end - m->arena);
    for (size_t i = 0; i < n; i++) m->arena[i] = 0.3f * frand();
    for (int l = 0; l < c->n_layer; l++)
        for (int i = 0; i < c->d_model; i++) {
            m->w.layers[l].ln1_w[i] = 1.0f + 0.1f * frand();
            m->w.layers[l].ln2_w[i] = 1.0f + 0.1f * frand();
        }
    return m;
}

static int observe(ms_activation *a, void *user) { (*(int *)user)++; (void)a; return 0; }
static int zero_all(ms_activation *a, void *user) {
    (void)user;
    size_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= (size_t)a->shape[i];
    memset(a->data, 0, n * sizeof(float));
    return 0;
}
typedef struct { int head, n_head, d_head; } head_sel;
static int zero_head(ms_activation *a, void *user) { // hook_z (B, T, H, Dh): zero one head
    head_sel *h = user;
    size_t rows = (size_t)a->shape[0] * a->shape[1];
    for (size_t r = 0; r < rows; r++) memset(a->data + (r * h->n_head + h->head) * h->d_head, 0, h->d_head * sizeof(float));
    return 0;
}
static float *saved;
static int save(ms_activation *a, void *user) {
    size_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= (size_t)a->shape[i];
    *(size_t *)user = n;
    saved = realloc(saved, n * sizeof(float));
    memcpy(saved, a->data, n * sizeof(float));
    return 0;
}
static int uniform_pattern(ms_activation *a, void *user) { // (B, H, T, T) -> every row 1/T, future included
    (void)user;
    size_t n = (size_t)a->shape[0] * a->shape[1] * a->shape[2] * a->shape[3];
    for (size_t i = 0; i < n; i++) a->data[i] = 1.0f / (float)a->shape[3];
    return 0;
}
static float *saved_v, *saved_z;
static int keep_v(ms_activation *a, void *user) {
    size_t n = (size_t)a->shape[0] * a->shape[1] * a->shape[2] * a->shape[3];
    saved_v = realloc(saved_v, n * sizeof(float)); memcpy(saved_v, a->data, n * sizeof(float)); (void)user; return 0;
}
static int keep_z(ms_activation *a, void *user) {
    size_t n = (size_t)a->shape[0] * a->shape[1] * a->shape[2] * a->shape[3];
    saved_z = realloc(saved_z, n * sizeof(float)); memcpy(saved_z, a->data, n * sizeof(float)); (void)user; return 0;
}

static float *run(const ms_model *m, ms_state *s, const int32_t *tok, int B, int T, ms_hooks *h);

// Observers on every site except the attention scores and pattern: those switch attention from the
// fused online softmax to the materialised three-step path, equal to it only to float rounding.
static void observe_fused_sites(ms_hooks *h, int n_layer, int *calls) {
    char name[96];
    for (int st = 0; st < MS_SITE_COUNT; st++) {
        if (st == MS_SITE_ATTN_SCORES || st == MS_SITE_ATTN_PATTERN) continue;
        const int in_block = ms_site_is_block((ms_site)st);
        for (int l = in_block ? 0 : -1; l < (in_block ? n_layer : 0); l++)
            ms_hooks_add(h, ms_site_name((ms_site)st, l, name, sizeof name), observe, calls);
    }
}

// max |a - b| / (1 + |b|) over n entries
static double max_rel_diff(const float *a, const float *b, size_t n) {
    double md = 0;
    for (size_t i = 0; i < n; i++) md = fmax(md, fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i])));
    return md;
}

// Long sequences (several query and key blocks of the fused attention): observe-only hooks are
// bit-identical (within float rounding where they read the pattern, which materialises it), and a pattern edited to attend everywhere (future included) is honoured:
// z[t, h] = mean over all positions of v[., kv head of h].
static void test_long(const char *label, ms_model *m) {
    const ms_config *c = &m->cfg;
    const int B = 2, T = c->n_ctx, V = c->vocab_size;
    int32_t *tok = malloc((size_t)B * T * sizeof(int32_t));
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)((i * 13 + 5) % V);
    ms_state *s = ms_state_new(m, B, T);
    float *plain = run(m, s, tok, B, T, NULL);
    ms_hooks *h = ms_hooks_new();
    int calls = 0;
    observe_fused_sites(h, c->n_layer, &calls);
    float *obs = run(m, s, tok, B, T, h);
    CHECK(!memcmp(plain, obs, (size_t)B * T * V * sizeof(float)), "%s: observe-only hooks changed long-sequence logits", label);
    ms_hooks_free(h);
    free(obs);
    h = ms_hooks_new();
    ms_hooks_add(h, "*", observe, &calls);
    obs = run(m, s, tok, B, T, h);
    const double dp = max_rel_diff(obs, plain, (size_t)B * T * V);
    CHECK(dp <= 1e-5, "%s: materialised and fused attention differ by %.3g in long-sequence logits", label, dp);
    ms_hooks_free(h);
    h = ms_hooks_new();
    ms_hooks_add(h, "blocks.1.attn.hook_v", keep_v, NULL);
    ms_hooks_add(h, "blocks.1.attn.hook_pattern", uniform_pattern, NULL);
    ms_hooks_add(h, "blocks.1.attn.hook_z", keep_z, NULL);
    free(run(m, s, tok, B, T, h));
    ms_hooks_free(h);
    const int H = c->n_head, KV = c->n_kv_head, Dh = c->d_head;
    float md = 0;
    for (int b = 0; b < B; b++)
        for (int hh = 0; hh < H; hh++)
            for (int d = 0; d < Dh; d++) {
                double mean = 0;
                for (int j = 0; j < T; j++) mean += saved_v[(((size_t)b * T + j) * KV + hh / (H / KV)) * Dh + d];
                mean /= T;
                for (int t = 0; t < T; t++)
                    md = fmaxf(md, fabsf(saved_z[(((size_t)b * T + t) * H + hh) * Dh + d] - (float)mean));
            }
    CHECK(md < 1e-4f, "%s: non-causal edited pattern not honoured (max diff %g)", label, md);
    free(plain); free(obs); free(tok);
    ms_state_free(s);
    printf("%s long: done\n", label);
}

static int stop(ms_activation *a, void *user) { (void)a; (void)user; return 1; }

static float *run(const ms_model *m, ms_state *s, const int32_t *tok, int B, int T, ms_hooks *h) {
    ms_forward_opts o = {.hooks = h, .want_logits = 1, .stop_after_layer = -1};
    if (ms_forward(m, s, tok, B, T, &o)) { printf("forward: %s\n", ms_last_error()); exit(1); }
    size_t n = (size_t)B * T * m->cfg.vocab_size;
    float *out = malloc(n * sizeof(float));
    memcpy(out, ms_state_logits(s), n * sizeof(float));
    return out;
}

static void test_model(const char *label, ms_model *m) {
    const ms_config *c = &m->cfg;
    const int B = 3, T = 10, V = c->vocab_size;
    const size_t NL = (size_t)B * T * V;
    int32_t tok[30];
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)((i * 7 + 3) % V);
    ms_state *s = ms_state_new(m, B, T);

    float *plain = run(m, s, tok, B, T, NULL);
    float *again = run(m, s, tok, B, T, NULL);
    CHECK(!memcmp(plain, again, NL * sizeof(float)), "%s: two runs differ", label);

    // observe-only hooks on every site: every site is offered; bit-identical logits unless the pattern
    // is observed (materialised: equal to rounding)
    ms_hooks *h = ms_hooks_new();
    int calls = 0;
    ms_hooks_add(h, "*", observe, &calls);
    float *observed = run(m, s, tok, B, T, h);
    const double dp = max_rel_diff(observed, plain, NL);
    CHECK(dp <= 1e-5, "%s: observing the pattern (materialised attention) moved the logits by %.3g", label, dp);
    ms_hooks *hf = ms_hooks_new(); // every other site: bit-identical
    int n_fused = 0;
    observe_fused_sites(hf, c->n_layer, &n_fused);
    float *fused = run(m, s, tok, B, T, hf);
    CHECK(!memcmp(plain, fused, NL * sizeof(float)), "%s: observe-only hooks changed the logits", label);
    free(fused);
    ms_hooks_free(hf);
    // + ln1/ln2.hook_scale per block, ln_final.hook_scale
    int per_block = c->arch == MS_ARCH_LLAMA ? 20 : 17, global = c->arch == MS_ARCH_LLAMA ? 4 : 5;
    CHECK(calls == c->n_layer * per_block + global, "%s: %d hook calls, expected %d", label, calls,
          c->n_layer * per_block + global);
    ms_hooks_free(h);

    // zeroing blocks.0.hook_resid_post: every later input is the same zero vector at every position
    // of every sequence, so all logits rows are identical (llama: RMSNorm(0) = 0 and no biases, so 0)
    h = ms_hooks_new();
    ms_hooks_add(h, "blocks.0.hook_resid_post", zero_all, NULL);
    float *z = run(m, s, tok, B, T, h);
    // (equal up to rounding: averaging t identical values is exact only in exact arithmetic)
    int same = 1, zero = 1;
    for (int r = 1; r < B * T; r++)
        for (int v = 0; v < V; v++) same &= fabsf(z[(size_t)r * V + v] - z[v]) <= 1e-5f * (1.0f + fabsf(z[v]));
    for (size_t i = 0; i < NL; i++) zero &= z[i] == 0.0f;
    CHECK(same, "%s: zeroed residual stream, yet logits depend on the tokens", label);
    if (c->arch == MS_ARCH_LLAMA) CHECK(zero, "%s: llama logits after a zero residual should be 0", label);
    CHECK(memcmp(z, plain, NL * sizeof(float)), "%s: the edit had no effect", label);
    ms_hooks_free(h);
    free(z);

    // ablating head 2 of block 1 through hook_z equals zeroing that head's columns of W_O
    h = ms_hooks_new();
    head_sel hs = {2, c->n_head, c->d_head};
    ms_hooks_add(h, "blocks.1.attn.hook_z", zero_head, &hs);
    float *abl = run(m, s, tok, B, T, h);
    ms_hooks_free(h);
    float *wo = m->w.layers[1].wo, *keep = malloc((size_t)c->d_model * c->d_head * sizeof(float));
    for (int r = 0; r < c->d_model; r++) {
        memcpy(keep + (size_t)r * c->d_head, wo + (size_t)r * c->n_head * c->d_head + 2 * c->d_head, c->d_head * sizeof(float));
        memset(wo + (size_t)r * c->n_head * c->d_head + 2 * c->d_head, 0, c->d_head * sizeof(float));
    }
    ms_state_weights_changed(s); // the state's kernel-layout copy of W_O is stale now
    float *abl_w = run(m, s, tok, B, T, NULL);
    for (int r = 0; r < c->d_model; r++)
        memcpy(wo + (size_t)r * c->n_head * c->d_head + 2 * c->d_head, keep + (size_t)r * c->d_head, c->d_head * sizeof(float));
    ms_state_weights_changed(s);
    float md = 0;
    for (size_t i = 0; i < NL; i++) md = fmaxf(md, fabsf(abl[i] - abl_w[i]));
    CHECK(md < 1e-5f, "%s: head ablation via hook_z != via W_O (max diff %g)", label, md);
    free(abl); free(abl_w); free(keep);

    // early stop: a hook on block 0 only stops after block 0, with the same values as a full run
    h = ms_hooks_new();
    size_t n_full = 0, n_early = 0;
    ms_hooks_add(h, "blocks.0.hook_resid_post", save, &n_full);
    ms_forward_opts o = {.hooks = h, .want_logits = 1, .stop_after_layer = -1};
    ms_forward(m, s, tok, B, T, &o);
    float *full = malloc(n_full * sizeof(float));
    memcpy(full, saved, n_full * sizeof(float));
    CHECK(ms_hooks_last_layer(h, c->n_layer) == 0, "%s: last layer should be 0", label);
    o.want_logits = 0;
    ms_forward(m, s, tok, B, T, &o);
    ms_hooks_free(h);
    h = ms_hooks_new();
    ms_hooks_add(h, "blocks.0.hook_resid_post", save, &n_early);
    int later = 0;
    ms_hooks_add(h, "blocks.1.hook_resid_pre", observe, &later); // registered but beyond the stop
    o.hooks = h;
    o.stop_after_layer = 0;
    CHECK(ms_forward(m, s, tok, B, T, &o) == 0, "%s: early stop failed", label);
    CHECK(later == 0, "%s: block 1 ran although the pass should stop after block 0", label);
    CHECK(n_early == n_full && !memcmp(full, saved, n_full * sizeof(float)), "%s: early-stop activations differ", label);
    ms_hooks_free(h);
    free(full);

    // a hook returning non-zero aborts the pass
    h = ms_hooks_new();
    ms_hooks_add(h, "blocks.1.mlp.hook_post", stop, NULL);
    o = (ms_forward_opts){.hooks = h, .want_logits = 1, .stop_after_layer = -1};
    CHECK(ms_forward(m, s, tok, B, T, &o) == -1, "%s: aborting hook ignored", label);
    ms_hooks_free(h);

    // bad inputs
    int32_t bad[2] = {0, (int32_t)V};
    CHECK(ms_forward(m, s, bad, 1, 2, NULL) == -1, "%s: id == vocab accepted", label);
    bad[1] = -1;
    CHECK(ms_forward(m, s, bad, 1, 2, NULL) == -1, "%s: negative id accepted", label);
    CHECK(ms_forward(m, s, tok, B + 1, T, NULL) == -1, "%s: batch beyond capacity accepted", label);
    CHECK(ms_forward(m, s, tok, 1, 0, NULL) == -1, "%s: empty input accepted", label);
    CHECK(ms_state_new(m, 1, c->n_ctx + 1) == NULL, "%s: state longer than the context accepted", label);

    free(plain); free(again); free(observed);
    ms_state_free(s);
    printf("%s: done\n", label);
}

// --compute bf16 against the f32 pass at every hook site: the relative L2 error of each site,
// ||a_bf16 - a_f32|| / ||a_f32|| over its finite entries, is within BF16_SITE_BOUND (README,
// "--compute"). Rounding a product's two inputs to bf16 (8-bit significands) moves it by at most
// ~2^-8 of Σ|x w| per output; the bound leaves room for three layers to compound that. The
// non-finite entries (the -inf of masked scores) must match exactly.
#define BF16_SITE_BOUND 0.03
typedef struct {
    float *data[256];
    size_t n[256];
    int count, compare, bad, worst_site;
    double worst;
} site_log;
static int log_site(ms_activation *a, void *user) {
    site_log *L = user;
    size_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= (size_t)a->shape[i];
    const int k = L->count++;
    if (k >= 256) return 0;
    if (!L->compare) {
        L->data[k] = ms_malloc(n * sizeof(float));
        memcpy(L->data[k], a->data, n * sizeof(float));
        L->n[k] = n;
        return 0;
    }
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        const float r = L->data[k][i];
        if (!isfinite(r)) { L->bad += !(a->data[i] == r); continue; }
        num += ((double)a->data[i] - r) * ((double)a->data[i] - r), den += (double)r * r;
    }
    const double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    if (!(rel <= BF16_SITE_BOUND)) { L->bad++; printf("bf16: %s off by %.4f (relative L2)\n", a->name, rel); }
    if (rel > L->worst) L->worst = rel, L->worst_site = k;
    return 0;
}

static void test_bf16(const char *label, ms_model *m) {
    const int B = 2, T = 16, V = m->cfg.vocab_size;
    int32_t tok[32];
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)((i * 11 + 2) % V);
    ms_state *s = ms_state_new(m, B, T);
    site_log L = {0};
    ms_hooks *h = ms_hooks_new();
    ms_hooks_add(h, "*", log_site, &L);
    free(run(m, s, tok, B, T, h));
    if (ms_state_set_compute(s, MS_COMPUTE_BF16) < 0) {
        printf("%s: bf16 not available here (%s), skipped\n", label, ms_last_error());
    } else {
        const int n_sites = L.count;
        L.count = 0, L.compare = 1;
        free(run(m, s, tok, B, T, h));
        CHECK(L.count == n_sites && n_sites <= 256, "%s: bf16 pass offered %d sites, f32 %d", label, L.count, n_sites);
        CHECK(!L.bad, "%s: bf16 activations off the f32 pass at %d sites", label, L.bad);
        CHECK(L.worst > 0, "%s: bf16 pass identical to f32: the bf16 products did not run", label);
        printf("%s: bf16 worst site relative L2 error %.5f (site #%d of %d)\n", label, L.worst, L.worst_site, n_sites);
        CHECK(ms_state_set_compute(s, MS_COMPUTE_F32) == 0, "%s: back to f32", label);
    }
    for (int k = 0; k < 256 && L.data[k]; k++) free(L.data[k]);
    ms_hooks_free(h);
    ms_state_free(s);
}

int main(void) {
    ms_model *g = random_model(MS_ARCH_GPT2, 4, 1);
    test_model("gpt2", g);
    test_bf16("gpt2", g);
    ms_model_free(g);
    ms_model *l = random_model(MS_ARCH_LLAMA, 2, 0);
    test_model("llama-gqa", l);
    test_bf16("llama-gqa", l);
    ms_model_free(l);
    g = random_model_ctx(MS_ARCH_GPT2, 4, 1, 150);
    test_long("gpt2", g);
    ms_model_free(g);
    l = random_model_ctx(MS_ARCH_LLAMA, 2, 1, 150);
    test_long("llama-gqa", l);
    ms_model_free(l);
    // config validation
    ms_model *b = ms_calloc(1, sizeof(ms_model));
    b->path = ms_strdup("bad");
    b->cfg = (ms_config){.arch = MS_ARCH_LLAMA, .n_layer = 1, .d_model = 32, .n_head = 4, .n_kv_head = 3, .d_mlp = 8,
                         .vocab_size = 5, .n_ctx = 4, .rope_style = MS_ROPE_HALF};
    CHECK(ms_model_alloc_weights(b) == -1 && strstr(ms_last_error(), "n_kv_head"), "n_head %% n_kv_head accepted");
    b->cfg.n_kv_head = 4; b->cfg.d_model = 0;
    CHECK(ms_model_alloc_weights(b) == -1, "d_model 0 accepted");
    ms_model_free(b);
    free(saved); free(saved_v); free(saved_z);
    return ms_test_summary("test_hooks_forward");
}
