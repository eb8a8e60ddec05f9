// probe.c: ridge and logistic probes by streamed normal equations / IRLS with LAPACKE (probe.h).
#include "probes/probe.h"
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "io/acts.h"
#include "probes/labels.h"
#include "probes/stream.h"
#include "train/rng.h"
#include "util/util.h"

// Pass 1 over the training split: mean and population std per feature (sums about the first row, so
// large offsets do not cancel). A constant feature gets std 1 (its standardised value is 0).
static int feature_stats(ms_probe_src *s, double *Z, int64_t *flat, double *mean, double *std) {
    int d = s->d;
    double *shift = ms_calloc((size_t)d, sizeof *shift), *sum = ms_calloc((size_t)d, sizeof *sum);
    double *sq = ms_calloc((size_t)d, sizeof *sq);
    int64_t n_tot = 0, n;
    s->cursor = 0;
    while ((n = ms_probe_next_block(s, 0, NULL, NULL, Z, flat)) > 0) {
        if (n_tot == 0) memcpy(shift, Z, (size_t)d * sizeof *shift);
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < d; j++) {
                double v = Z[i * d + j] - shift[j];
                sum[j] += v;
                sq[j] += v * v;
            }
        n_tot += n;
    }
    for (int j = 0; j < d && n_tot > 0; j++) {
        double m = sum[j] / (double)n_tot, var = sq[j] / (double)n_tot - m * m;
        mean[j] = shift[j] + m;
        std[j] = var > 1e-24 * (1.0 + shift[j] * shift[j]) ? sqrt(var) : 1.0;
    }
    free(shift); free(sum); free(sq);
    if (n < 0) return -1;
    if (n_tot == 0) { ms_error("%s: no training tokens (lower --test-frac or use more sequences)", ms_acts_path(s->a)); return -1; }
    return 0;
}

static void symmetrise_upper(double *A, int n) { // row-major: copy the upper triangle below
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) A[(size_t)i * n + j] = A[(size_t)j * n + i];
}

// Solves A X = B (A n×n symmetric, upper triangle filled; B n×k, overwritten by X) by Cholesky, or,
// when A is not positive definite or numerically singular (reciprocal condition < 1e-12: λ = 0 with
// collinear features), by minimum-norm least squares (dgelsd, singular values below 1e-12 of the
// largest dropped). Returns the solver's name, NULL + ms_error if both fail.
static const char *solve_spd(const double *A, double *B, int n, int k) {
    size_t nn = (size_t)n * n;
    double *Ac = ms_malloc(nn * sizeof *Ac), rcond = 0;
    memcpy(Ac, A, nn * sizeof *Ac);
    double anorm = LAPACKE_dlansy(LAPACK_ROW_MAJOR, '1', 'U', n, Ac, n);
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', n, Ac, n);
    if (info == 0) info = LAPACKE_dpocon(LAPACK_ROW_MAJOR, 'U', n, Ac, n, anorm, &rcond);
    const char *solver = "dposv";
    if (info == 0 && rcond >= 1e-12) {
        info = LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'U', n, k, Ac, n, B, k);
    } else {
        memcpy(Ac, A, nn * sizeof *Ac);
        symmetrise_upper(Ac, n);
        double *sv = ms_malloc((size_t)n * sizeof *sv);
        lapack_int rank;
        info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, n, n, k, Ac, n, B, k, sv, 1e-12, &rank);
        free(sv);
        solver = "dgelsd";
    }
    free(Ac);
    if (info != 0) { ms_error("probe: LAPACKE %s failed (info %d)", solver, (int)info); return NULL; }
    return solver;
}

// Ridge for all K concepts at once (they share ZᵀZ): (ZᵀZ + λI) W = Zᵀ(Y - ȳ), b = ȳ.
static int fit_ridge(ms_probe_src *s, ms_probe_set *p, double *Z, int64_t *flat, const double *ybar) {
    int d = s->d, K = p->n_fits;
    double *G = ms_calloc((size_t)d * d, sizeof *G), *R = ms_calloc((size_t)d * K, sizeof *R);
    double *Yc = ms_malloc((size_t)s->cap * K * sizeof *Yc); // (block, K) centred targets
    int64_t n;
    s->cursor = 0;
    while ((n = ms_probe_next_block(s, 0, p->mean, p->std, Z, flat)) > 0) {
        for (int64_t i = 0; i < n; i++)
            for (int k = 0; k < K; k++) Yc[i * K + k] = (double)(s->lab->labels[k][flat[i]] != 0) - ybar[k];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, (int)n, 1.0, Z, d, 1.0, G, d);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, K, (int)n, 1.0, Z, d, Yc, K, 1.0, R, K);
    }
    const char *solver = NULL;
    if (n == 0) {
        for (int j = 0; j < d; j++) G[(size_t)j * d + j] += p->lambda;
        solver = solve_spd(G, R, d, K);
    }
    for (int k = 0; k < K && solver; k++) {
        ms_probe_fit *f = &p->fits[k];
        for (int j = 0; j < d; j++) f->weight_std[j] = R[(size_t)j * K + k];
        f->bias_std = ybar[k];
        f->solver = solver;
        f->iterations = 1;
        f->converged = 1;
    }
    free(G); free(R); free(Yc);
    return solver ? 0 : -1;
}

typedef struct { // one IRLS pass's sums: H = [Σv, Σv zᵀ; Σv z, Σv z zᵀ], g = [Σ(p-y); Σ(p-y) z]
    double *H;  // (d+1, d+1) upper
    double *g;  // (d+1)
    double loss;
} irls_sums;

// One streamed pass at (b, w) over the training split for concept k.
static int irls_pass(ms_probe_src *s, const ms_probe_set *p, int k, double b, const double *w, double *Z, int64_t *flat,
                     double *Zs, double *r, irls_sums *acc) {
    int d = s->d, d1 = d + 1;
    double *Hww = ms_calloc((size_t)d * d, sizeof *Hww);
    int64_t n;
    s->cursor = 0;
    acc->loss = 0;
    while ((n = ms_probe_next_block(s, 0, p->mean, p->std, Z, flat)) > 0) {
        for (int64_t i = 0; i < n; i++) {
            const double *z = Z + i * d;
            double sc = b + cblas_ddot(d, z, 1, w, 1), y = s->lab->labels[k][flat[i]] != 0;
            double pr = 1.0 / (1.0 + exp(-sc)), v = pr * (1.0 - pr), sv = sqrt(v);
            acc->loss += (sc > 0 ? sc + log1p(exp(-sc)) : log1p(exp(sc))) - y * sc; // log(1+e^s) - y s
            r[i] = pr - y;
            acc->g[0] += r[i];
            acc->H[0] += v;
            for (int j = 0; j < d; j++) {
                acc->H[1 + j] += v * z[j];
                Zs[i * d + j] = sv * z[j];
            }
        }
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, d, 1.0, Z, d, r, 1, 1.0, acc->g + 1, 1);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, (int)n, 1.0, Zs, d, 1.0, Hww, d);
    }
    for (int i = 0; i < d; i++)
        for (int j = i; j < d; j++) acc->H[(size_t)(1 + i) * d1 + 1 + j] += Hww[(size_t)i * d + j];
    free(Hww);
    return n < 0 ? -1 : 0;
}

// Logistic probe for concept k by Newton steps θ -= t·H⁻¹g on θ = (b, w), λ on w only, until the step
// is below 1e-9 (relative) or max_iter passes. A step that raises the penalised loss is halved (t) and
// the loss evaluated again, so the loss never goes up (tiny λ on nearly separable data).
static int fit_logistic(ms_probe_src *s, ms_probe_set *p, int k, double ybar, int max_iter, double *Z, int64_t *flat) {
    int d = s->d, d1 = d + 1;
    ms_probe_fit *f = &p->fits[k];
    double yb = fmin(fmax(ybar, 1e-6), 1 - 1e-6), b = log(yb / (1 - yb)), *w = f->weight_std;
    double *Zs = ms_malloc((size_t)s->cap * d * sizeof *Zs), *r = ms_malloc((size_t)s->cap * sizeof *r);
    double *prev = ms_malloc((size_t)d1 * sizeof *prev), *delta = ms_calloc((size_t)d1, sizeof *delta);
    irls_sums acc = {ms_malloc((size_t)d1 * d1 * sizeof(double)), ms_malloc((size_t)d1 * sizeof(double)), 0};
    double prev_loss = INFINITY, t = 1;
    int rc = 0;
    memset(w, 0, (size_t)d * sizeof *w);
    for (f->iterations = 0; f->iterations < max_iter;) {
        memset(acc.H, 0, (size_t)d1 * d1 * sizeof(double));
        memset(acc.g, 0, (size_t)d1 * sizeof(double));
        if ((rc = irls_pass(s, p, k, b, w, Z, flat, Zs, r, &acc))) break;
        f->iterations++;
        acc.loss += 0.5 * p->lambda * cblas_ddot(d, w, 1, w, 1);
        if (acc.loss > prev_loss + 1e-12 * fabs(prev_loss) && t > 1e-4) { // uphill: half the step
            t *= 0.5;
            b = prev[0] - t * delta[0];
            for (int j = 0; j < d; j++) w[j] = prev[1 + j] - t * delta[1 + j];
            continue;
        }
        prev_loss = acc.loss;
        prev[0] = b;
        memcpy(prev + 1, w, (size_t)d * sizeof *w);
        for (int j = 0; j < d; j++) {
            acc.H[(size_t)(1 + j) * d1 + 1 + j] += p->lambda;
            acc.g[1 + j] += p->lambda * w[j];
        }
        if (!(f->solver = solve_spd(acc.H, acc.g, d1, 1))) { rc = -1; break; }
        memcpy(delta, acc.g, (size_t)d1 * sizeof *delta);
        t = 1;
        double step = fabs(delta[0]), size = fabs(b);
        b -= delta[0];
        for (int j = 0; j < d; j++) {
            w[j] -= delta[1 + j];
            step = fmax(step, fabs(delta[1 + j]));
            size = fmax(size, fabs(w[j]));
        }
        if (step <= 1e-9 * (1.0 + size)) { f->converged = 1; break; }
    }
    f->bias_std = b;
    free(Zs); free(r); free(prev); free(delta); free(acc.H); free(acc.g);
    return rc;
}

typedef struct { double s; uint8_t y; } scored;
static int by_score(const void *a, const void *b) {
    double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

void ms_probe_metrics(const double *s, const uint8_t *y, int64_t n, double thr, double *acc, double *auc, double *f1) {
    int64_t tp = 0, fp = 0, fn = 0, right = 0, n_pos = 0;
    scored *v = ms_malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        int pred = s[i] >= thr, t = y[i] != 0;
        tp += pred && t; fp += pred && !t; fn += !pred && t;
        right += pred == t;
        n_pos += t;
        v[i] = (scored){s[i], (uint8_t)t};
    }
    *acc = n ? (double)right / (double)n : 0.0;
    *f1 = tp ? 2.0 * (double)tp / (double)(2 * tp + fp + fn) : 0.0;
    // AUC = (Σ ranks of positives - P(P+1)/2) / (P·N), ranks 1-based, ties get their average rank
    qsort(v, (size_t)n, sizeof *v, by_score);
    double rank_sum = 0;
    for (int64_t i = 0, j; i < n; i = j) {
        for (j = i; j < n && v[j].s == v[i].s; j++) {}
        double avg = 0.5 * (double)(i + 1 + j); // mean of ranks i+1 .. j
        for (int64_t q = i; q < j; q++) rank_sum += v[q].y ? avg : 0;
    }
    int64_t n_neg = n - n_pos;
    *auc = n_pos && n_neg ? (rank_sum - 0.5 * (double)n_pos * (double)(n_pos + 1)) / ((double)n_pos * (double)n_neg) : 0.5;
    free(v);
}

// Scores of the test split for every concept, then the metrics.
static int evaluate(ms_probe_src *s, ms_probe_set *p, double *Z, int64_t *flat) {
    int d = s->d, K = p->n_fits;
    double *W = ms_malloc((size_t)d * K * sizeof *W), *S = ms_malloc((size_t)s->cap * K * sizeof *S);
    double *sc = ms_malloc((size_t)(p->n_test + 1) * K * sizeof *sc); // (K, n_test)
    uint8_t *y = ms_malloc((size_t)(p->n_test + 1) * K);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < d; j++) W[(size_t)j * K + k] = p->fits[k].weight_std[j];
    int64_t n, m = 0;
    s->cursor = 0;
    while ((n = ms_probe_next_block(s, 1, p->mean, p->std, Z, flat)) > 0 && m + n <= p->n_test) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, K, d, 1.0, Z, d, W, K, 0.0, S, K);
        for (int64_t i = 0; i < n; i++, m++)
            for (int k = 0; k < K; k++) {
                double v = S[i * K + k] + p->fits[k].bias_std;
                sc[(size_t)k * p->n_test + m] = p->logistic ? 1.0 / (1.0 + exp(-v)) : v;
                y[(size_t)k * p->n_test + m] = s->lab->labels[k][flat[i]] != 0;
                p->fits[k].n_pos_test += y[(size_t)k * p->n_test + m];
            }
    }
    int rc = n < 0 ? -1 : 0;
    for (int k = 0; k < K && !rc; k++)
        ms_probe_metrics(sc + (size_t)k * p->n_test, y + (size_t)k * p->n_test, m, 0.5, &p->fits[k].accuracy,
                         &p->fits[k].auc, &p->fits[k].f1);
    free(W); free(S); free(sc); free(y);
    return rc;
}

// Test sequences: the first round(test_frac · n_seq) of a seeded shuffle (at least one when
// test_frac > 0 and there are two or more sequences, never all).
static void split_sequences(ms_probe_set *p) {
    int64_t n = p->n_seq, *perm = ms_malloc((size_t)(n + 1) * sizeof *perm);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    ms_rng r = ms_rng_from(p->seed, 0x70726f6265ull, 0);
    ms_rng_shuffle_i64(&r, perm, n);
    int64_t n_test = (int64_t)llround(p->test_frac * (double)n);
    if (p->test_frac > 0 && n_test < 1 && n >= 2) n_test = 1;
    if (n_test >= n) n_test = n - 1;
    p->split = ms_calloc((size_t)n + 1, 1);
    for (int64_t i = 0; i < n_test; i++) p->split[perm[i]] = 1;
    free(perm);
}

// Opens the sources and checks they line up: labels of the site's ctx, covering its rows.
static int open_src(const ms_probe_opts *o, ms_probe_src *s, ms_labels **lab) {
    if (ms_probe_src_open(s, o->acts, o->hook, o->block)) return -1;
    if (!(*lab = ms_labels_load(o->labels, o->concept))) return -1;
    s->lab = *lab;
    if ((*lab)->ctx != s->ctx) {
        ms_error("%s: ctx %d, but /acts/%s of %s has ctx %d", o->labels, (*lab)->ctx, ms_acts_hook_name(s->a, s->h), o->acts, s->ctx);
        return -1;
    }
    if ((*lab)->n_seq < s->n_seq) {
        ms_error("%s: %lld sequences, fewer than the activations file's %lld", o->labels, (long long)(*lab)->n_seq, (long long)s->n_seq);
        return -1;
    }
    return 0;
}

static ms_probe_set *new_set(const ms_probe_opts *o, const ms_probe_src *s) {
    ms_probe_set *p = ms_calloc(1, sizeof *p);
    p->logistic = o->logistic;
    p->d = s->d;
    p->hook = ms_strdup(ms_acts_hook_name(s->a, s->h));
    p->lambda = o->lambda;
    p->test_frac = o->test_frac;
    p->seed = o->seed;
    p->n_seq = s->n_seq;
    p->mean = ms_calloc((size_t)s->d, sizeof *p->mean);
    p->std = ms_calloc((size_t)s->d, sizeof *p->std);
    split_sequences(p);
    for (int64_t i = 0; i < s->n_seq * s->ctx; i++)
        if (s->lab->tokens[i] >= 0) *(p->split[i / s->ctx] ? &p->n_test : &p->n_train) += 1;
    p->n_fits = s->lab->n_concepts;
    p->fits = ms_calloc((size_t)p->n_fits + 1, sizeof *p->fits);
    for (int k = 0; k < p->n_fits; k++) {
        p->fits[k].concept = ms_strdup(s->lab->names[k]);
        p->fits[k].weight = ms_calloc((size_t)s->d, sizeof(double));
        p->fits[k].weight_std = ms_calloc((size_t)s->d, sizeof(double));
    }
    return p;
}

// Weights in original units: z·w_std + b_std = x·(w_std/σ) + (b_std - Σ w_std μ/σ).
static void to_original_units(ms_probe_set *p) {
    for (int k = 0; k < p->n_fits; k++) {
        ms_probe_fit *f = &p->fits[k];
        f->bias = f->bias_std;
        for (int j = 0; j < p->d; j++) {
            f->weight[j] = f->weight_std[j] / p->std[j];
            f->bias -= f->weight[j] * p->mean[j];
        }
    }
}

ms_probe_set *ms_probe_train(const ms_probe_opts *o) {
    ms_probe_src s = {0};
    ms_labels *lab = NULL;
    ms_probe_set *p = NULL;
    double *Z = NULL, *ybar = NULL;
    int64_t *flat = NULL;
    int rc = -1;
    if (open_src(o, &s, &lab)) goto done;
    p = new_set(o, &s);
    s.split = p->split;
    Z = ms_malloc((size_t)s.cap * s.d * sizeof *Z);
    flat = ms_malloc((size_t)s.cap * sizeof *flat);
    if (feature_stats(&s, Z, flat, p->mean, p->std)) goto done;
    ybar = ms_calloc((size_t)p->n_fits + 1, sizeof *ybar);
    for (int k = 0; k < p->n_fits; k++) {
        for (int64_t i = 0; i < s.n_seq * s.ctx; i++)
            p->fits[k].n_pos_train += lab->tokens[i] >= 0 && !p->split[i / s.ctx] && lab->labels[k][i];
        ybar[k] = (double)p->fits[k].n_pos_train / (double)p->n_train;
    }
    if (!p->logistic) {
        if (fit_ridge(&s, p, Z, flat, ybar)) goto done;
    } else {
        for (int k = 0; k < p->n_fits; k++)
            if (fit_logistic(&s, p, k, ybar[k], o->max_iter > 0 ? o->max_iter : 50, Z, flat)) goto done;
    }
    if (evaluate(&s, p, Z, flat)) goto done;
    to_original_units(p);
    rc = 0;
done:
    free(Z); free(flat); free(ybar);
    ms_probe_src_close(&s);
    ms_labels_free(lab);
    if (rc) { ms_probe_set_free(p); return NULL; }
    return p;
}

void ms_probe_set_free(ms_probe_set *p) {
    if (!p) return;
    for (int k = 0; k < p->n_fits; k++) {
        free(p->fits[k].concept);
        free(p->fits[k].weight);
        free(p->fits[k].weight_std);
    }
    free(p->fits); free(p->hook); free(p->mean); free(p->std); free(p->split);
    free(p);
}
