// pca.c: streamed covariance + LAPACKE_dsyevr (pca.h).
#include "probes/pca.h"
#include <cblas.h>
#include <hdf5.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "io/h5util.h"
#include "probes/labels.h"
#include "probes/stream.h"
#include "util/util.h"

// Mean over every real token (sums about the first row, so large offsets do not cancel).
static int64_t stream_mean(ms_probe_src *s, double *Z, int64_t *flat, double *mean) {
    int d = s->d;
    double *shift = ms_calloc((size_t)d, sizeof *shift), *sum = ms_calloc((size_t)d, sizeof *sum);
    int64_t n_tot = 0, n;
    s->cursor = 0;
    while ((n = ms_probe_next_block(s, 0, NULL, NULL, Z, flat)) > 0) {
        if (n_tot == 0) memcpy(shift, Z, (size_t)d * sizeof *shift);
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < d; j++) sum[j] += Z[i * d + j] - shift[j];
        n_tot += n;
    }
    for (int j = 0; j < d; j++) mean[j] = shift[j] + (n_tot ? sum[j] / (double)n_tot : 0.0);
    free(shift); free(sum);
    return n < 0 ? -1 : n_tot;
}

// Top k eigenpairs of the covariance C (d×d, upper filled; destroyed) into p, descending.
static int top_eigen(double *C, ms_pca *p) {
    int d = p->d, k = p->k;
    double *w = ms_malloc((size_t)d * sizeof *w), *V = ms_malloc((size_t)d * k * sizeof *V);
    lapack_int m, *isuppz = ms_malloc((size_t)2 * k * sizeof *isuppz);
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', d, C, d, 0, 0, d - k + 1, d, 0.0, &m, w, V, k, isuppz);
    if (info != 0 || m != k) {
        ms_error("pca: LAPACKE dsyevr failed (info %d, %d of %d eigenvalues)", (int)info, (int)m, k);
    } else {
        for (int c = 0; c < k; c++) { // dsyevr: ascending; column c of V (d×k, row-major)
            int src = k - 1 - c, big = 0;
            for (int j = 1; j < d; j++)
                if (fabs(V[(size_t)j * k + src]) > fabs(V[(size_t)big * k + src])) big = j;
            double sign = V[(size_t)big * k + src] < 0 ? -1.0 : 1.0;
            for (int j = 0; j < d; j++) p->components[(size_t)c * d + j] = sign * V[(size_t)j * k + src];
            p->variance[c] = w[src];
        }
    }
    free(w); free(V); free(isuppz);
    return info != 0 || m != k ? -1 : 0;
}

ms_pca *ms_pca_fit(const char *acts, const char *hook, int k, int64_t block) {
    ms_probe_src s;
    ms_pca *p = NULL;
    double *Z = NULL, *C = NULL;
    int64_t *flat = NULL, n;
    if (ms_probe_src_open(&s, acts, hook, block)) goto fail;
    p = ms_calloc(1, sizeof *p);
    p->d = s.d;
    p->k = k <= 0 || k > s.d ? s.d : k;
    p->hook = ms_strdup(ms_acts_hook_name(s.a, s.h));
    p->mean = ms_calloc((size_t)s.d, sizeof *p->mean);
    p->components = ms_calloc((size_t)p->k * s.d, sizeof *p->components);
    p->variance = ms_calloc((size_t)p->k, sizeof *p->variance);
    Z = ms_malloc((size_t)s.cap * s.d * sizeof *Z);
    flat = ms_malloc((size_t)s.cap * sizeof *flat);
    if ((p->n_tokens = stream_mean(&s, Z, flat, p->mean)) < 0) goto fail;
    if (p->n_tokens < 2) { ms_error("%s: %lld tokens: PCA needs at least 2", acts, (long long)p->n_tokens); goto fail; }
    C = ms_calloc((size_t)s.d * s.d, sizeof *C);
    s.cursor = 0;
    while ((n = ms_probe_next_block(&s, 0, NULL, NULL, Z, flat)) > 0) { // centred rows, then C += ZᵀZ
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < s.d; j++) Z[i * s.d + j] -= p->mean[j];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, s.d, (int)n, 1.0, Z, s.d, 1.0, C, s.d);
    }
    if (n < 0) goto fail;
    for (int i = 0; i < s.d; i++) {
        for (int j = i; j < s.d; j++) C[(size_t)i * s.d + j] /= (double)(p->n_tokens - 1);
        p->total_variance += C[(size_t)i * s.d + i];
    }
    if (top_eigen(C, p)) goto fail;
    free(Z); free(flat); free(C);
    ms_probe_src_close(&s);
    return p;
fail:
    free(Z); free(flat); free(C);
    ms_probe_src_close(&s);
    ms_pca_free(p);
    return NULL;
}

// Opens acts at p's hook with the labels of concept (labels NULL: none); -1 + ms_error, *lab set on success.
static int open_labelled(ms_probe_src *s, const ms_pca *p, const char *acts, const char *labels, const char *concept,
                         ms_labels **lab) {
    *lab = NULL;
    if (ms_probe_src_open(s, acts, p->hook, 0)) return -1;
    if (s->d != p->d) { ms_error("%s: /acts/%s is %d wide, the PCA %d", acts, p->hook, s->d, p->d); return -1; }
    if (!labels) return 0;
    if (!(*lab = ms_labels_load(labels, concept))) return -1;
    if ((*lab)->ctx != s->ctx || (*lab)->n_seq < s->n_seq) {
        ms_error("%s: %lld windows of %d tokens do not cover %s's %lld of %d", labels, (long long)(*lab)->n_seq, (*lab)->ctx,
                 acts, (long long)s->n_seq, s->ctx);
        return -1;
    }
    s->lab = *lab;
    return 0;
}

int64_t ms_pca_project2(const ms_pca *p, const char *acts, const char *labels, const char *concept, int64_t max_points,
                        double **xy, uint8_t **is_concept) {
    *xy = NULL;
    *is_concept = NULL;
    if (p->k < 2) { ms_error("pca: a scatter needs 2 components (the file has %d)", p->k); return -1; }
    ms_probe_src s;
    ms_labels *lab;
    if (open_labelled(&s, p, acts, labels, concept, &lab)) { ms_labels_free(lab); ms_probe_src_close(&s); return -1; }
    const int d = s.d;
    const int64_t every = max_points > 0 && p->n_tokens > max_points ? (p->n_tokens + max_points - 1) / max_points : 1;
    const int64_t cap = (p->n_tokens + every - 1) / every;
    double *Z = ms_malloc((size_t)s.cap * d * sizeof *Z), *out = ms_malloc((size_t)(cap > 0 ? cap : 1) * 2 * sizeof *out);
    int64_t *flat = ms_malloc((size_t)s.cap * sizeof *flat), n, seen = 0, m = 0;
    uint8_t *yes = lab ? ms_malloc((size_t)(cap > 0 ? cap : 1)) : NULL;
    while ((n = ms_probe_next_block(&s, 0, NULL, NULL, Z, flat)) > 0) {
        for (int64_t i = 0; i < n; i++, seen++) {
            if (seen % every || m >= cap) continue;
            const double *z = Z + i * d;
            double a = 0, b = 0;
            for (int j = 0; j < d; j++) {
                const double c = z[j] - p->mean[j];
                a += c * p->components[j];
                b += c * p->components[(size_t)d + j];
            }
            out[2 * m] = a, out[2 * m + 1] = b;
            if (yes) yes[m] = lab->labels[0][flat[i]] != 0;
            m++;
        }
    }
    free(Z); free(flat);
    ms_labels_free(lab);
    ms_probe_src_close(&s);
    if (n < 0) { free(out); free(yes); return -1; }
    *xy = out;
    *is_concept = yes;
    return m;
}

void ms_pca_free(ms_pca *p) {
    if (!p) return;
    free(p->components); free(p->variance); free(p->mean); free(p->hook);
    free(p);
}

int ms_pca_save(const char *path, const ms_pca *p, const char *acts) {
    ms_h5_atomic out;
    if (ms_h5_atomic_begin(&out, path)) return -1;
    const hid_t f = out.f;
    double *ratio = ms_malloc((size_t)p->k * sizeof *ratio);
    for (int c = 0; c < p->k; c++) ratio[c] = p->total_variance > 0 ? p->variance[c] / p->total_variance : 0.0;
    int64_t kd[2] = {p->k, p->d}, k1[1] = {p->k}, d1[1] = {p->d};
    int rc = ms_h5_write(f, "components", H5T_NATIVE_DOUBLE, 2, kd, p->components);
    rc |= ms_h5_write(f, "explained_variance", H5T_NATIVE_DOUBLE, 1, k1, p->variance);
    rc |= ms_h5_write(f, "explained_variance_ratio", H5T_NATIVE_DOUBLE, 1, k1, ratio);
    rc |= ms_h5_write(f, "mean", H5T_NATIVE_DOUBLE, 1, d1, p->mean);
    rc |= ms_h5_attr_str(f, "hook", p->hook) | ms_h5_attr_str(f, "acts", acts ? acts : "");
    rc |= ms_h5_attr_int(f, "k", p->k) | ms_h5_attr_int(f, "d", p->d) | ms_h5_attr_int(f, "n_tokens", p->n_tokens);
    rc |= ms_h5_attr_float(f, "total_variance", p->total_variance) | ms_h5_attr_str(f, "command", ms_command_line());
    free(ratio);
    return ms_h5_atomic_end(&out, !rc);
}
