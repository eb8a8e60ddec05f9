// test_train.c: the training substrate (src/train) against independent references: Adam against
// the textbook update in double precision (Kingma & Ba 2015, Algorithm 1, as torch.optim.Adam
// computes it) and, for the vectorised row and flat-buffer updates, bit-identity with the
// element-by-element update; the parameter layout (every tensor 64-byte aligned, in table order);
// checkpoints: a write/read round trip of parameters, moments and the log, the fingerprint
// check, no temp file left behind; the LR schedule against its closed form.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "train/adam.h"
#include "train/ckpt.h"
#include "train/params.h"
#include "train/rng.h"
#include "train/schedule.h"
#include "train/train_log.h"
#include "util/util.h"

static int failures = 0;
#define CHECK(c, ...) do { if (!(c)) { failures++; printf("FAIL: " __VA_ARGS__); printf("\n"); } } while (0)

// Adam, textbook form in double: m̂ = m/(1−β1^t), v̂ = v/(1−β2^t), p −= lr·m̂/(√v̂ + ε).
static void adam_ref(double *p, double *m, double *v, double g, double lr, double b1, double b2, double eps, int t) {
    *m = b1 * *m + (1 - b1) * g;
    *v = b2 * *v + (1 - b2) * g * g;
    const double mh = *m / (1 - pow(b1, t)), vh = *v / (1 - pow(b2, t));
    *p -= lr * mh / (sqrt(vh) + eps);
}

static void test_adam(void) {
    enum { N = 1003, STEPS = 50 }; // N: not a multiple of the vector width
    ms_rng r = ms_rng_from(1, 2, 3);
    float *p = ms_aligned_alloc(N * 4), *m = ms_aligned_alloc(N * 4), *v = ms_aligned_alloc(N * 4);
    float *p2 = ms_aligned_alloc(N * 4), *m2 = ms_aligned_alloc(N * 4), *v2 = ms_aligned_alloc(N * 4);
    float *p3 = ms_aligned_alloc(N * 4), *m3 = ms_aligned_alloc(N * 4), *v3 = ms_aligned_alloc(N * 4);
    float *g = ms_aligned_alloc(N * 4);
    double *pr = calloc(N, 8), *mr = calloc(N, 8), *vr = calloc(N, 8);
    for (int i = 0; i < N; i++) pr[i] = p[i] = p2[i] = p3[i] = (float)ms_rng_normal(&r);
    double maxrel = 0;
    for (int t = 0; t < STEPS; t++) {
        for (int i = 0; i < N; i++) g[i] = (float)(ms_rng_normal(&r) * (i % 7 == 0 ? 1e-3 : 1.0));
        const double lr = 1e-2 * (t + 1) / STEPS;
        ms_adam_step k = ms_adam_at(lr, 0.9, 0.999, 1e-8, t);
        ms_adam_row(p, m, v, t % 5 == 4 ? NULL : g, 0.5f, N, &k);                 // vectorised row
        for (int i = 0; i < N; i++) ms_adam1(p2 + i, m2 + i, v2 + i, t % 5 == 4 ? 0.0f : g[i] * 0.5f, &k);
        ms_adam_update(p3, m3, v3, t % 5 == 4 ? NULL : g, 0.5f, N, &k, 3);       // flat buffer, threads
        for (int i = 0; i < N; i++) adam_ref(pr + i, mr + i, vr + i, t % 5 == 4 ? 0.0 : g[i] * 0.5, lr, 0.9, 0.999, 1e-8, t + 1);
    }
    CHECK(!memcmp(p, p2, N * 4) && !memcmp(m, m2, N * 4) && !memcmp(v, v2, N * 4), "adam row != element update");
    CHECK(!memcmp(p, p3, N * 4) && !memcmp(m, m3, N * 4) && !memcmp(v, v3, N * 4), "adam flat update != element update");
    for (int i = 0; i < N; i++) {
        double e = fabs(p[i] - pr[i]) / (fabs(pr[i]) + 1.0); // parameters are O(1)
        if (e > maxrel) maxrel = e;
    }
    CHECK(maxrel < 1e-5, "adam vs textbook double: max relative error %g", maxrel);
    printf("adam: %d elements x %d steps, max relative error vs double reference %.2g\n", N, STEPS, maxrel);
    free(p); free(m); free(v); free(p2); free(m2); free(v2); free(p3); free(m3); free(v3); free(g);
    free(pr); free(mr); free(vr);
}

static void test_schedule(void) {
    ms_lr_schedule s = ms_lr_schedule_make(1.0, 100, 0.1, 0.2); // warm-up 10 steps, decay over 80..99
    CHECK(s.warmup_steps == 10 && s.decay_start == 80, "schedule %lld %lld", (long long)s.warmup_steps, (long long)s.decay_start);
    CHECK(fabs(ms_lr_at(&s, 0) - 0.1) < 1e-15 && fabs(ms_lr_at(&s, 9) - 1.0) < 1e-15, "warm-up");
    CHECK(ms_lr_at(&s, 50) == 1.0 && fabs(ms_lr_at(&s, 80) - 1.0) < 1e-15 && fabs(ms_lr_at(&s, 99) - 0.05) < 1e-15, "decay");
    CHECK(ms_warmup_factor(5, 0) == 1.0 && ms_warmup_factor(1, 4) == 0.5, "warmup factor");
}

static void test_params_ckpt(const char *dir) {
    const ms_param_spec spec[3] = {{"W", 2, {5, 7}}, {"b", 1, {3}}, {"c", 1, {17}}};
    ms_params P, Q;
    ms_params_init(&P, spec, 3, 1);
    ms_params_init(&Q, spec, 3, 0);
    CHECK(P.off[0] == 0 && P.off[1] == 48 && P.off[2] == 64 && P.count == 96, "layout %zu %zu %zu", P.off[1], P.off[2], P.count);
    for (int i = 0; i < 3; i++) CHECK(((uintptr_t)ms_param_at(&P, P.p, i) & 63) == 0, "tensor %d not 64-byte aligned", i);
    for (size_t j = 0; j < P.count; j++) { P.p[j] = (float)j; P.m[j] = (float)j * 0.5f; P.v[j] = (float)j * 0.25f; }
    const char *names[2] = {"step", "loss"};
    ms_train_log log, log2;
    ms_train_log_init(&log, 2, names);
    ms_train_log_init(&log2, 2, names);
    for (int t = 0; t < 300; t++) ms_train_log_append(&log, (double[]){t, 1.0 / (t + 1)});
    char *path = ms_path_join(dir, "t.ckpt");
    char *fp = ms_params_describe(&P, ms_strdup("cfg=1"));
    CHECK(strstr(fp, "W[5,7],b[3],c[17]") != NULL, "fingerprint %s", fp);
    ms_ckpt ck;
    int ok = ms_ckpt_begin(&ck, path, 42, 4242, fp) == 0;
    CHECK(ok, "begin: %s", ms_last_error());
    if (ok) {
        int rc = ms_params_write(ck.file, &P) | ms_train_log_write(ck.file, "log", &log);
        CHECK(ms_ckpt_end(&ck, rc == 0) == 0, "end: %s", ms_last_error());
    }
    char *tmp = ms_atomic_tmp_path(path);
    CHECK(!ms_file_exists(tmp), "temp file left behind");
    int64_t step = 0, pos = 0;
    hid_t f = ms_ckpt_open(path, fp, &step, &pos);
    CHECK(f >= 0 && step == 42 && pos == 4242, "open: %s", ms_last_error());
    if (f >= 0) {
        CHECK(ms_params_read(f, path, &Q) == 0, "read: %s", ms_last_error());
        CHECK(ms_train_log_read(f, path, "log", &log2) == 0 && log2.n == 300, "log read");
        H5Fclose(f);
    }
    for (int i = 0; i < 3; i++) {
        const size_t n = ms_param_numel(&spec[i]) * sizeof(float);
        CHECK(!memcmp(ms_param_at(&P, P.p, i), ms_param_at(&Q, Q.p, i), n) && !memcmp(ms_param_at(&P, P.m, i), ms_param_at(&Q, Q.m, i), n) &&
              !memcmp(ms_param_at(&P, P.v, i), ms_param_at(&Q, Q.v, i), n), "tensor %d differs after the round trip", i);
    }
    CHECK(log2.n == 300 && !memcmp(log.rows, log2.rows, 600 * sizeof(double)), "log differs after the round trip");
    CHECK(ms_ckpt_open(path, "cfg=2", &step, &pos) < 0 && strstr(ms_last_error(), "different settings"), "fingerprint not checked");
    remove(path);
    free(tmp); free(path); free(fp);
    ms_train_log_free(&log); ms_train_log_free(&log2);
    ms_params_free(&P); ms_params_free(&Q);
}

int main(void) {
    const char *tmp = getenv("MONOSCOPE_TMP");
    test_adam();
    test_schedule();
    test_params_ckpt(tmp && *tmp ? tmp : ".");
    printf(failures ? "%d FAILED\n" : "all passed\n", failures);
    return failures != 0;
}
