// test_sae_grad.c: the SAE backward pass of every architecture against central finite
// differences of the loss, on a small random problem; the JumpReLU threshold gradient (a
// straight-through pseudo-gradient, not a true derivative) against the formula of Rajamanoharan
// et al. (2024) evaluated directly here. Also checks encode/decode of ms_sae against a direct
// evaluation and the file round trip, TopK over a batch larger than one block of the encoder
// product against a direct evaluation, and steps on the encoder copy packed after the row sink
// against steps with a full reorder.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sae/sae.h"
#include "sae/train_step.h"
#include "util/util.h"
#include "harness.h"


static uint64_t rs = 12345;
static double urand(void) { rs = rs * 6364136223846793005ull + 1442695040888963407ull; return (double)(rs >> 11) / 9007199254740992.0; }
static float nrand(void) { double u = urand() + 1e-12, v = urand(); return (float)(sqrt(-2 * log(u)) * cos(6.283185307 * v)); }

enum { D = 6, S = 12, B = 7, K = 3 };

typedef struct { float Wt[S * D], Wd[S * D], be[S], bd[D], logth[S]; } P;

// What a row sink receives (the trainer's fused optimizer path).
typedef struct { float Wt[S * D], Wd[S * D], be[S], th[S]; int calls[S], nulls[S]; } sink_rows;
static void collect(void *ctx, int i, float *gd, float *gt, float gbe, float gth) {
    sink_rows *r = ctx;
    r->calls[i]++;
    if (!gd || !gt) r->nulls[i] = 1;
    else { memcpy(r->Wd + i * D, gd, sizeof(float) * D); memcpy(r->Wt + i * D, gt, sizeof(float) * D); }
    r->be[i] = gbe;
    r->th[i] = gth;
}

static void check_arch(ms_sae_arch arch, int relu_path) {
    ms_step_ws *w = ms_step_ws_new(B, D, S, MS_ENC_F32);
    P p;
    float x[B * D];
    for (int i = 0; i < S * D; i++) { p.Wt[i] = nrand() * 0.6f; p.Wd[i] = nrand() * 0.5f; }
    for (int i = 0; i < S; i++) { p.be[i] = nrand() * 0.2f; p.logth[i] = logf(0.3f + 0.2f * (float)urand()); }
    for (int i = 0; i < D; i++) p.bd[i] = nrand() * 0.1f;
    for (int i = 0; i < B * D; i++) x[i] = nrand();
    uint8_t dead[S] = {0};
    for (int i = 0; i < S; i += 3) dead[i] = 1;
    ms_step_opts o = {0};
    o.lambda = arch == MS_SAE_RELU ? 0.7 : arch == MS_SAE_JUMPRELU ? 0.4 : 0;
    o.eps = 0.05; // wide enough that some pre-activations fall in the kernel window
    if (arch == MS_SAE_TOPK || arch == MS_SAE_BATCHTOPK) { o.k_aux = 2; o.aux_coef = 0.5; o.dead = dead; }
    o.force_dense = relu_path == 1;  // relu: dense sgemm path and sparse path both checked
    o.force_sparse = relu_path == 2;
    // analytic gradients at p, with the AuxK residual held fixed at its value at p
    ms_sae_params pp = {arch, D, S, K, p.Wt, p.Wd, p.be, p.bd, arch == MS_SAE_JUMPRELU ? p.logth : NULL};
    float gWt[S * D], gWd[S * D], gbe[S], gbd[D], gth[S];
    uint8_t act[S];
    ms_sae_grads g = {gWt, gWd, gbe, gbd, gth, act};
    memset(gWt, 0, sizeof gWt); memset(gWd, 0, sizeof gWd);
    ms_step_stats st;
    ms_sae_step(w, &pp, x, B, &o, &g, &st);
    { // the same step with a row sink: every latent once, the stored path's gradients bit for bit
        float bd0[D];
        memcpy(bd0, gbd, sizeof bd0);
        sink_rows r;
        memset(&r, 0, sizeof r);
        ms_step_opts os = o;
        os.sink = collect;
        os.sink_ctx = &r;
        ms_step_stats st2;
        ms_sae_step(w, &pp, x, B, &os, &g, &st2);
        int bad = memcmp(bd0, gbd, sizeof bd0) != 0;
        for (int i = 0; i < S; i++) {
            bad |= r.calls[i] != 1 || r.nulls[i] != !act[i] || r.be[i] != gbe[i];
            if (arch == MS_SAE_JUMPRELU) bad |= r.th[i] != gth[i];
            if (act[i]) bad |= memcmp(r.Wd + i * D, gWd + i * D, sizeof(float) * D) || memcmp(r.Wt + i * D, gWt + i * D, sizeof(float) * D);
        }
        CHECK(!bad, "%s (path %d): the row sink does not see the stored gradients", ms_sae_arch_name(arch), relu_path);
    }
    float resid[B * D];
    const float *e = ms_step_residual_neg(w);
    for (int i = 0; i < B * D; i++) resid[i] = -e[i];
    o.aux_target = resid;
    for (int i = 0; i < S; i++) if (!act[i]) for (int j = 0; j < D; j++) { gWt[i * D + j] = 0; gWd[i * D + j] = 0; }
    // finite differences (float loss accumulated in double; h large enough vs rounding, small
    // enough not to change which latents are active — checked by comparing active counts)
    struct { const char *name; float *v, *gr; int n; } t[] = {
        {"W_enc", p.Wt, gWt, S * D}, {"W_dec", p.Wd, gWd, S * D}, {"b_enc", p.be, gbe, S}, {"b_dec", p.bd, gbd, D}};
    const double h = 1e-3;
    double base_l0 = st.l0;
    for (size_t q = 0; q < sizeof t / sizeof t[0]; q++) {
        double maxerr = 0, maxg = 0;
        int skipped = 0;
        for (int i = 0; i < t[q].n; i++) {
            float old = t[q].v[i];
            t[q].v[i] = (float)(old + h);
            ms_step_stats s1; ms_sae_params p1 = pp;
            ms_sae_step(w, &p1, x, B, &o, NULL, &s1);
            double lp = s1.loss, l0p = s1.l0;
            t[q].v[i] = (float)(old - h);
            ms_sae_step(w, &p1, x, B, &o, NULL, &s1);
            double lm = s1.loss, l0m = s1.l0;
            t[q].v[i] = old;
            if (l0p != base_l0 || l0m != base_l0) { skipped++; continue; } // crossed a kink
            double fd = (lp - lm) / (2 * h);
            double err = fabs(fd - t[q].gr[i]);
            if (err > maxerr) maxerr = err;
            if (fabs(fd) > maxg) maxg = fabs(fd);
        }
        double tol = 2e-3 + 2e-3 * maxg;
        printf("%-9s%-8s %-5s max |fd - analytic| = %.2e (max |grad| %.3g, %d kinks skipped)\n", ms_sae_arch_name(arch), relu_path == 1 ? "(dense)" : relu_path == 2 ? "(sparse)" : "", t[q].name, maxerr, maxg, skipped);
        CHECK(maxerr < tol, "%s %s gradient mismatch %.3g", ms_sae_arch_name(arch), t[q].name, maxerr);
        CHECK(skipped < t[q].n / 4 + 2, "%s %s: too many kinks", ms_sae_arch_name(arch), t[q].name);
    }
    if (arch == MS_SAE_JUMPRELU) {
        // pseudo-gradient: dL/dlogθ_i = θ_i Σ_b K((pre−θ)/ε)/ε · ( −θ_i ∂L/∂f_bi − λ/B ), K = rectangle on |u| < 1/2
        double maxerr = 0;
        int inwin = 0;
        for (int i = 0; i < S; i++) {
            double th = exp(p.logth[i]), acc = 0;
            for (int b = 0; b < B; b++) {
                double pre = p.be[i];
                for (int j = 0; j < D; j++) pre += (double)(x[b * D + j] - p.bd[j]) * p.Wt[i * D + j];
                if (fabs(pre - th) >= o.eps / 2) continue;
                inwin++;
                // ∂L/∂f_bi = 2/B (x̂_b − x_b)·Wd_i (x̂ recomputed directly)
                double dfi = 0;
                for (int j = 0; j < D; j++) {
                    double xh = p.bd[j];
                    for (int l = 0; l < S; l++) {
                        double pl = p.be[l];
                        for (int m = 0; m < D; m++) pl += (double)(x[b * D + m] - p.bd[m]) * p.Wt[l * D + m];
                        if (pl > exp(p.logth[l])) xh += pl * p.Wd[l * D + j];
                    }
                    dfi += 2.0 / B * (xh - x[b * D + j]) * p.Wd[i * D + j];
                }
                acc += (-th * dfi - o.lambda / B) / o.eps;
            }
            double want = th * acc;
            double err = fabs(want - gth[i]);
            if (err > maxerr) maxerr = err;
        }
        printf("jumprelu  logθ  max |formula - analytic| = %.2e (%d window entries)\n", maxerr, inwin);
        CHECK(inwin > 0, "no pre-activation in the jumprelu window; test is vacuous");
        CHECK(maxerr < 1e-3 * (1 + inwin), "jumprelu threshold gradient mismatch %.3g", maxerr);
    }
    ms_step_ws_free(w);
}

// ms_sae_encode / decode / encode_sparse against a direct evaluation, and save/load round trip.
static void check_encode(ms_sae_arch arch) {
    const int d = 5, s = 9, n = 4, k = 3;
    ms_sae *m = ms_sae_new(arch, d, s, k);
    for (int i = 0; i < d * s; i++) { m->W_enc[i] = nrand(); m->W_dec[i] = nrand(); }
    for (int i = 0; i < s; i++) { m->b_enc[i] = nrand() * 0.3f; if (m->threshold) m->threshold[i] = 0.4f; }
    for (int i = 0; i < d; i++) m->b_dec[i] = nrand() * 0.3f;
    float x[4 * 5], f[4 * 9], xh[4 * 5], xh2[4 * 5];
    for (int i = 0; i < n * d; i++) x[i] = nrand();
    ms_sae_encode(m, x, n, f);
    for (int t = 0; t < n; t++) {
        double pre[9];
        for (int i = 0; i < s; i++) {
            pre[i] = m->b_enc[i];
            for (int j = 0; j < d; j++) pre[i] += (x[t * d + j] - m->b_dec[j]) * (double)m->W_enc[j * s + i];
        }
        for (int i = 0; i < s; i++) {
            double want;
            if (arch == MS_SAE_TOPK) {
                int rank = 0;
                for (int l = 0; l < s; l++) rank += pre[l] > pre[i];
                want = rank < k && pre[i] > 0 ? pre[i] : 0;
            } else if (arch == MS_SAE_RELU) want = pre[i] > 0 ? pre[i] : 0;
            else want = pre[i] > 0.4 ? pre[i] : 0;
            CHECK(fabs(want - f[t * s + i]) < 1e-4, "%s encode t%d i%d: %g vs %g", ms_sae_arch_name(arch), t, i, f[t * s + i], want);
        }
    }
    ms_sae_decode(m, f, n, xh);
    ms_sae_codes c = {0};
    ms_sae_encode_sparse(m, x, n, &c);
    ms_sae_decode_sparse(m, &c, xh2);
    for (int i = 0; i < n * d; i++) CHECK(fabs(xh[i] - xh2[i]) < 1e-4, "sparse vs dense decode %d", i);
    ms_sae_codes_free(&c);
    // file round trip
    ms_sae_set_attr_str(m, "hook", "blocks.0.hook_resid_post");
    ms_sae_set_attr_float(m, "lr", 0.25);
    double logv[6] = {1, 2, 3, 4, 5, 6};
    const char *cols[3] = {"a", "b", "c"};
    ms_sae_set_log(m, logv, 2, 3, cols);
    const char *tmpdir = getenv("MONOSCOPE_TMP") ? getenv("MONOSCOPE_TMP") : "/tmp";
    char path[512];
    snprintf(path, sizeof path, "%s/grad_roundtrip_%s.h5", tmpdir, ms_sae_arch_name(arch));
    CHECK(ms_sae_save(m, path) == 0, "save: %s", ms_last_error());
    ms_sae *r = ms_sae_load(path);
    CHECK(r != NULL, "load: %s", ms_last_error());
    if (r) {
        CHECK(r->arch == arch && r->d_in == d && r->d_sae == s, "header");
        CHECK(!memcmp(r->W_enc, m->W_enc, sizeof(float) * d * s) && !memcmp(r->W_dec, m->W_dec, sizeof(float) * d * s), "weights");
        CHECK(!memcmp(r->b_enc, m->b_enc, sizeof(float) * s) && !memcmp(r->b_dec, m->b_dec, sizeof(float) * d), "biases");
        if (m->threshold) CHECK(r->threshold && !memcmp(r->threshold, m->threshold, sizeof(float) * s), "threshold");
        CHECK(ms_sae_attr_str(r, "hook") && !strcmp(ms_sae_attr_str(r, "hook"), "blocks.0.hook_resid_post"), "hook attr");
        CHECK(ms_sae_attr_num(r, "lr", 0) == 0.25, "lr attr");
        CHECK(r->log_rows == 2 && r->log_cols == 3 && r->log[5] == 6 && !strcmp(r->log_columns[2], "c"), "log");
        ms_sae_free(r);
    }
    remove(path);
    ms_sae_free(m);
}

// TopK on a batch larger than one block of the encoder product (train_step.c selects each block's
// codes as it is computed): the reconstruction error and L0 of every token against a direct
// evaluation here (pre-activations in double, brute-force top-k, relu, decode).
static void check_topk_blocks(void) {
    enum { NB = 4096 + 37 };
    ms_step_ws *w = ms_step_ws_new(NB, D, S, MS_ENC_F32);
    P p;
    float *x = malloc(sizeof(float) * NB * D);
    for (int i = 0; i < S * D; i++) { p.Wt[i] = nrand() * 0.6f; p.Wd[i] = nrand() * 0.5f; }
    for (int i = 0; i < S; i++) p.be[i] = nrand() * 0.2f;
    for (int i = 0; i < D; i++) p.bd[i] = nrand() * 0.1f;
    for (int i = 0; i < NB * D; i++) x[i] = nrand();
    ms_sae_params pp = {MS_SAE_TOPK, D, S, K, p.Wt, p.Wd, p.be, p.bd, NULL};
    ms_step_opts o = {0};
    ms_step_stats st;
    CHECK(ms_sae_step(w, &pp, x, NB, &o, NULL, &st) == 0, "topk step over two product blocks");
    double mse = 0, nnz = 0;
    for (int b = 0; b < NB; b++) {
        double pre[S], xh[D];
        int on[S] = {0};
        for (int i = 0; i < S; i++) {
            pre[i] = p.be[i];
            for (int q = 0; q < D; q++) pre[i] += (double)(x[b * D + q] - p.bd[q]) * p.Wt[i * D + q];
        }
        for (int j = 0; j < K; j++) { // the j-th largest not yet taken (ties: lower index)
            int best = -1;
            for (int i = 0; i < S; i++) if (!on[i] && (best < 0 || pre[i] > pre[best])) best = i;
            on[best] = 1;
        }
        for (int q = 0; q < D; q++) xh[q] = p.bd[q];
        for (int i = 0; i < S; i++)
            if (on[i] && pre[i] > 0) { nnz++; for (int q = 0; q < D; q++) xh[q] += pre[i] * p.Wd[i * D + q]; }
        for (int q = 0; q < D; q++) mse += (xh[q] - x[b * D + q]) * (xh[q] - x[b * D + q]);
    }
    CHECK(fabs(st.l0 - nnz / NB) < 1e-9, "topk over blocks: L0 %.6f, direct %.6f", st.l0, nnz / NB);
    CHECK(fabs(st.mse_sum - mse) < 1e-4 * mse, "topk over blocks: squared error %.6f, direct %.6f", st.mse_sum, mse);
    printf("topk over two product blocks (%d tokens): squared error %.6f, direct %.6f\n", NB, st.mse_sum, mse);
    free(x);
    ms_step_ws_free(w);
}

// A plain gradient step on a latent's rows as they arrive (an optimizer in the sink's place).
typedef struct { float *Wt, *Wd; int d; } sgd_rows;
static void sgd(void *ctx, int i, float *gd, float *gt, float gbe, float gth) {
    (void)gbe; (void)gth;
    sgd_rows *c = ctx;
    float *wt = c->Wt + (int64_t)i * c->d, *wd = c->Wd + (int64_t)i * c->d;
    for (int q = 0; q < c->d; q++) {
        wt[q] = gt ? wt[q] - 0.5f * gt[q] : 0.99f * wt[q];
        wd[q] = gd ? wd[q] - 0.5f * gd[q] : 0.99f * wd[q];
    }
}

// Steps whose sink updates every row, reusing the encoder rows the step packed after its sink
// (wt_only_by_sink), against the same steps with a full reorder of Wt before each product: the
// pre-activations of every step and the final weights must be equal bit for bit. Sizes cover whole
// and partial blocks of 64 latents and a d that is not a multiple of 16. With oneDNN the packed
// copy must really be used: a write to Wt outside the sink is then not seen.
static void check_packed_weights(ms_enc_dtype dt) {
    enum { PB = 33, PD = 40, PS = 3 * 64 + 20, PK = 4, STEPS = 3 };
    ms_step_ws *wa = ms_step_ws_new(PB, PD, PS, dt), *wb = ms_step_ws_new(PB, PD, PS, dt);
    if (!wa || !wb) {
        printf("packed encoder weights (%s): no such product here, skipped\n", ms_enc_dtype_name(dt));
        ms_step_ws_free(wa); ms_step_ws_free(wb);
        return;
    }
    const int dnnl = strncmp(ms_step_encoder_describe(wa), "oneDNN", 6) == 0;
    float *buf = malloc(sizeof(float) * (size_t)(4 * PS * PD + 2 * PS + 2 * PD + PB * PD));
    float *Wta = buf, *Wda = Wta + PS * PD, *Wtb = Wda + PS * PD, *Wdb = Wtb + PS * PD;
    float *be = Wdb + PS * PD, *bd = be + PS, *x = bd + PD;
    for (int i = 0; i < PS * PD; i++) { Wta[i] = Wtb[i] = nrand() * 0.3f; Wda[i] = Wdb[i] = nrand() * 0.3f; }
    for (int i = 0; i < PS; i++) be[i] = nrand() * 0.1f;
    for (int i = 0; i < PD; i++) bd[i] = 0;
    for (int i = 0; i < PB * PD; i++) x[i] = nrand();
    ms_sae_params pa = {MS_SAE_TOPK, PD, PS, PK, Wta, Wda, be, bd, NULL}, pb = pa;
    pb.Wt = Wtb; pb.Wd = Wdb;
    sgd_rows ca = {Wta, Wda, PD}, cb = {Wtb, Wdb, PD};
    float *gWt = malloc(sizeof(float) * PS * PD * 2), gbe[PS], gbd[PD];
    uint8_t act[PS];
    ms_sae_grads g = {gWt, gWt + PS * PD, gbe, gbd, NULL, act};
    int same = 1;
    for (int t = 0; t < STEPS; t++) {
        ms_step_opts oa = {0}, ob = {0};
        oa.keep_preacts = ob.keep_preacts = 1;
        oa.sink = ob.sink = sgd;
        oa.sink_ctx = &ca; ob.sink_ctx = &cb;
        oa.wt_only_by_sink = 1;
        ms_step_stats st;
        CHECK(ms_sae_step(wa, &pa, x, PB, &oa, &g, &st) == 0 && ms_sae_step(wb, &pb, x, PB, &ob, &g, &st) == 0, "packed steps");
        same &= memcmp(ms_step_preacts(wa), ms_step_preacts(wb), sizeof(float) * PB * PS) == 0;
    }
    same &= memcmp(Wta, Wtb, sizeof(float) * PS * PD) == 0 && memcmp(Wda, Wdb, sizeof(float) * PS * PD) == 0;
    CHECK(same, "%s: steps on the packed encoder copy differ from steps with a full reorder", ms_enc_dtype_name(dt));
    if (dnnl) { // a write the step was not told about must not be seen when the copy is reused
        for (int i = 0; i < PS * PD; i++) Wta[i] = Wtb[i] = 2.0f * Wta[i];
        ms_step_opts oa = {0}, ob = {0};
        oa.keep_preacts = ob.keep_preacts = 1;
        oa.wt_only_by_sink = 1;
        ms_step_stats st;
        ms_sae_step(wa, &pa, x, PB, &oa, NULL, &st);
        ms_sae_step(wb, &pb, x, PB, &ob, NULL, &st);
        CHECK(memcmp(ms_step_preacts(wa), ms_step_preacts(wb), sizeof(float) * PB * PS) != 0,
              "%s: the packed encoder copy was not used", ms_enc_dtype_name(dt));
    }
    printf("packed encoder weights (%s, %s): %d steps %s steps given Wt anew\n", ms_enc_dtype_name(dt),
           ms_step_encoder_describe(wa), STEPS, same ? "equal to" : "differ from");
    free(gWt); free(buf);
    ms_step_ws_free(wa); ms_step_ws_free(wb);
}

int main(void) {
    for (int a = 0; a < MS_SAE_RELU; a++) check_arch((ms_sae_arch)a, 0);
    check_arch(MS_SAE_RELU, 1);
    check_arch(MS_SAE_RELU, 2);
    check_topk_blocks();
    check_packed_weights(MS_ENC_F32);
    check_packed_weights(MS_ENC_BF16);
    for (int a = 0; a < MS_SAE_ARCH_COUNT; a++) check_encode((ms_sae_arch)a);
    CHECK(ms_sae_load("/nonexistent/sae.h5") == NULL, "load of a missing file must fail");
    return ms_test_summary("test_sae_grad");
}
