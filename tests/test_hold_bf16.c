// test_hold_bf16.c: a model loaded with its weight matrices held in bfloat16 (ms_load_opts.hold_bf16)
// against the same checkpoint loaded in float32, for the paths other than the forward pass's products
// (those are compared with a float64 reference in tests/py/test_compute_bf16.py):
//   - every held matrix equals the float32 one rounded to bf16 (round to nearest even), exactly; the
//     biases and norms are the float32 ones; tied unembedding is still the embedding;
//   - ms_model_embedding_row widens the held rows exactly;
//   - the widening product (ms_op_linear without a kernel: the logit lens, ms_resid_logits) equals
//     float32 products on the rounded weights to 1e-5 relative;
//   - a bf16-held model's state refuses f32 products in one line, and a state made for a float32 model
//     refuses to run the held one.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "model/site_resid.h"
#include "util/util.h"

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL: "); printf(__VA_ARGS__); printf("\n"); failures++; } } while (0)

// The bf16 value of f, rounded to nearest even, written out independently of the library's helper.
static uint16_t round_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    const uint32_t lsb = (u >> 16) & 1u;
    return (uint16_t)((u + 0x7fffu + lsb) >> 16);
}

static float widen(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int same_rounded(const float *f32, const float *held, size_t n) {
    const uint16_t *h = (const uint16_t *)(const void *)held;
    for (size_t i = 0; i < n; i++)
        if (h[i] != round_bf16(f32[i])) return 0;
    return 1;
}

static void test_arch(ms_arch arch, int tied_expected, const char *label) {
    const char *t = getenv("MONOSCOPE_TMP");
    char *dir = ms_path_join(t ? t : "/tmp", label);
    ms_random_spec spec = {.arch = arch, .n_layer = 2, .d_model = 64, .n_head = 4, .n_kv_head = arch == MS_ARCH_LLAMA ? 2 : 4,
                           .d_mlp = 96, .vocab = 320, .n_ctx = 32, .seed = 5};
    ms_checkpoint *ck = ms_checkpoint_random(&spec);
    CHECK(ck && ms_checkpoint_save_hf(ck, dir, MS_DT_F32) == 0, "%s: writing the checkpoint: %s", label, ms_last_error());
    ms_checkpoint_free(ck);
    ms_model *f = ms_model_load(dir), *h = ms_model_load_opts(dir, &(ms_load_opts){.hold_bf16 = 1});
    CHECK(f && h, "%s: load: %s", label, ms_last_error());
    if (!f || !h) goto out;
    CHECK(!f->weights_bf16 && h->weights_bf16, "%s: weights_bf16 flags", label);
    const ms_config *c = &f->cfg;
    const size_t C = (size_t)c->d_model, F = (size_t)c->d_mlp, V = (size_t)c->vocab_size;
    const size_t QD = (size_t)c->n_head * c->d_head, KD = (size_t)c->n_kv_head * c->d_head;
    CHECK(same_rounded(f->w.wte, h->w.wte, V * C), "%s: wte not the rounded float32 one", label);
    CHECK((h->w.unembed == h->w.wte) == tied_expected, "%s: tied unembedding", label);
    if (!tied_expected) CHECK(same_rounded(f->w.unembed, h->w.unembed, V * C), "%s: unembed", label);
    for (int l = 0; l < c->n_layer; l++) {
        const ms_layer_weights *a = &f->w.layers[l], *b = &h->w.layers[l];
        CHECK(same_rounded(a->wq, b->wq, QD * C) && same_rounded(a->wk, b->wk, KD * C) &&
                  same_rounded(a->wv, b->wv, KD * C) && same_rounded(a->wo, b->wo, C * QD) &&
                  same_rounded(a->w_in, b->w_in, F * C) && same_rounded(a->w_out, b->w_out, C * F) &&
                  (!a->w_gate || same_rounded(a->w_gate, b->w_gate, F * C)),
              "%s: layer %d matrices not the rounded float32 ones", label, l);
        CHECK((a->wqkv != NULL) == (b->wqkv != NULL) && (!b->wqkv || b->wqkv == b->wq), "%s: layer %d stacked q|k|v", label, l);
        CHECK(!memcmp(a->ln1_w, b->ln1_w, C * sizeof(float)) && (!a->bo || !memcmp(a->bo, b->bo, C * sizeof(float))),
              "%s: layer %d norms/biases changed", label, l);
    }
    // embedding rows, widened exactly
    float *row = ms_malloc(C * sizeof(float));
    int exact = 1;
    for (int tok = 0; tok < (int)V; tok += 37) {
        ms_model_embedding_row(h, tok, row);
        for (size_t i = 0; i < C; i++) exact &= row[i] == widen(round_bf16(f->w.wte[(size_t)tok * C + i]));
    }
    CHECK(exact, "%s: embedding rows not the widened bf16 values", label);
    free(row);
    // the widening product: the final norm + unembedding of a few residual rows
    const int n = 3;
    float *x = ms_malloc((size_t)n * C * sizeof(float)), *lg = ms_malloc((size_t)n * V * sizeof(float));
    float *want = ms_malloc((size_t)n * V * sizeof(float)), *hn = ms_malloc((size_t)n * C * sizeof(float));
    for (size_t i = 0; i < (size_t)n * C; i++) x[i] = (float)sin(0.37 * (double)i + 1.0);
    ms_resid_logits(h, x, n, lg);
    // reference: the same norm in double, the unembedding's rounded values in double
    double worst = 0, scale = 0;
    const float *U = h->w.unembed;
    const uint16_t *Uh = (const uint16_t *)(const void *)U;
    for (int r = 0; r < n; r++) {
        double mean = 0, var = 0;
        for (size_t j = 0; j < C; j++) mean += x[r * C + j];
        mean = c->layer_norm ? mean / C : 0;
        for (size_t j = 0; j < C; j++) var += (x[r * C + j] - mean) * (x[r * C + j] - mean);
        const double inv = 1.0 / sqrt(var / C + c->norm_eps);
        for (size_t j = 0; j < C; j++)
            hn[r * C + j] = (float)((x[r * C + j] - mean) * inv * f->w.lnf_w[j] + (f->w.lnf_b ? f->w.lnf_b[j] : 0));
        for (size_t v = 0; v < V; v++) {
            double s = 0;
            for (size_t j = 0; j < C; j++) s += (double)hn[r * C + j] * widen(Uh[v * C + j]);
            want[r * V + v] = (float)s;
            scale = fmax(scale, fabs(s));
        }
    }
    for (size_t i = 0; i < (size_t)n * V; i++) worst = fmax(worst, fabs((double)lg[i] - want[i]));
    CHECK(worst <= 1e-5 * scale + 1e-6, "%s: widening product off by %.3g (scale %.3g)", label, worst, scale);
    free(x); free(lg); free(want); free(hn);
    // states: f32 refused on a held model; a float32 model's state does not run a held model
    ms_state *s = ms_state_new(h, 1, 4);
    if (s) {
        CHECK(ms_state_set_compute(s, MS_COMPUTE_F32) == -1 && strstr(ms_last_error(), "bf16"),
              "%s: f32 products accepted on bf16-held weights", label);
        CHECK(ms_state_set_compute(s, MS_COMPUTE_BF16) == 0, "%s: bf16 refused on a held model", label);
        ms_state_free(s);
    } else {
        printf("%s: no bf16 kernel here (%s): state checks skipped\n", label, ms_last_error());
    }
    ms_state *sf = ms_state_new(f, 1, 4);
    const int32_t tok[4] = {1, 2, 3, 4};
    CHECK(sf && ms_forward(h, sf, tok, 1, 4, &(ms_forward_opts){.want_logits = 1, .stop_after_layer = -1}) == -1,
          "%s: a float32 state ran a bf16-held model", label);
    ms_state_free(sf);
    printf("%s: held matrices exact, widening product within %.2g\n", label, worst / (scale > 0 ? scale : 1));
out:
    ms_model_free(f);
    ms_model_free(h);
    free(dir);
}

int main(void) {
    test_arch(MS_ARCH_GPT2, 1, "hold_gpt2");
    test_arch(MS_ARCH_LLAMA, 1, "hold_llama"); // random-model ties both; untied: test_compute_bf16.py
    if (failures) printf("%d failures\n", failures);
    else printf("all passed\n");
    return failures ? 1 : 0;
}
