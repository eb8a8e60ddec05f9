// sae.c: the SAE struct, attributes, and batch encode/decode (see sae.h).
#include "sae/sae.h"
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "backend/enc_gemm.h"
#include "train/topk.h"
#include "util/util.h"

static const char *arch_names[MS_SAE_ARCH_COUNT] = {"topk", "batchtopk", "jumprelu", "relu"};

const char *ms_sae_arch_name(ms_sae_arch a) { return a >= 0 && a < MS_SAE_ARCH_COUNT ? arch_names[a] : "?"; }
int ms_sae_arch_parse(const char *s, ms_sae_arch *a) {
    for (int i = 0; i < MS_SAE_ARCH_COUNT; i++)
        if (s && !strcmp(s, arch_names[i])) { *a = (ms_sae_arch)i; return 0; }
    ms_error("unknown SAE architecture '%s' (topk, batchtopk, jumprelu, relu)", s ? s : "");
    return -1;
}
int ms_sae_arch_has_threshold(ms_sae_arch a) { return a == MS_SAE_JUMPRELU || a == MS_SAE_BATCHTOPK; }

ms_sae *ms_sae_new(ms_sae_arch arch, int d_in, int d_sae, int k) {
    ms_sae *s = ms_calloc(1, sizeof *s);
    s->arch = arch;
    s->d_in = d_in;
    s->d_sae = d_sae;
    s->k = k;
    s->W_enc = ms_aligned_alloc((size_t)d_in * d_sae * sizeof(float));
    s->W_dec = ms_aligned_alloc((size_t)d_in * d_sae * sizeof(float));
    s->b_enc = ms_aligned_alloc((size_t)d_sae * sizeof(float));
    s->b_dec = ms_aligned_alloc((size_t)d_in * sizeof(float));
    if (ms_sae_arch_has_threshold(arch)) s->threshold = ms_aligned_alloc((size_t)d_sae * sizeof(float));
    return s;
}

void ms_sae_free(ms_sae *s) {
    if (!s) return;
    free(s->W_enc); free(s->W_dec); free(s->b_enc); free(s->b_dec); free(s->threshold);
    ms_sae_attrs_free(s->attrs, s->n_attrs);
    ms_sae_set_eval(s, NULL);
    free(s->log);
    for (int i = 0; s->log_columns && i < s->log_cols; i++) free(s->log_columns[i]);
    free(s->log_columns);
    free(s);
}

ms_sae_attr *ms_sae_attr_slot(ms_sae_attr **v, int *n, const char *name) {
    for (int i = 0; i < *n; i++)
        if (!strcmp((*v)[i].name, name)) {
            free((*v)[i].s);
            (*v)[i].s = NULL;
            return &(*v)[i];
        }
    *v = ms_realloc(*v, (size_t)(*n + 1) * sizeof **v);
    ms_sae_attr *a = &(*v)[(*n)++];
    memset(a, 0, sizeof *a);
    a->name = ms_strdup(name);
    return a;
}
void ms_sae_attr_set_int(ms_sae_attr *a, int64_t v) { a->type = MS_ATTR_INT; a->i = v; a->f = (double)v; }
void ms_sae_attr_set_float(ms_sae_attr *a, double v) {
    a->type = MS_ATTR_FLOAT; a->f = v; a->i = v > -9.2e18 && v < 9.2e18 ? (int64_t)v : 0; // NaN, inf, huge: no integer view
}
void ms_sae_attr_set_str(ms_sae_attr *a, const char *v) { a->type = MS_ATTR_STR; a->s = ms_strdup(v ? v : ""); }
void ms_sae_attrs_free(ms_sae_attr *v, int n) {
    for (int i = 0; i < n; i++) { free(v[i].name); free(v[i].s); }
    free(v);
}
void ms_sae_set_attr_int(ms_sae *s, const char *name, int64_t v) {
    ms_sae_attr_set_int(ms_sae_attr_slot(&s->attrs, &s->n_attrs, name), v);
}
void ms_sae_set_attr_float(ms_sae *s, const char *name, double v) {
    ms_sae_attr_set_float(ms_sae_attr_slot(&s->attrs, &s->n_attrs, name), v);
}
void ms_sae_set_attr_str(ms_sae *s, const char *name, const char *v) {
    ms_sae_attr_set_str(ms_sae_attr_slot(&s->attrs, &s->n_attrs, name), v);
}

void ms_sae_set_eval(ms_sae *s, ms_sae_eval_group *g) {
    if (s->eval) {
        ms_sae_attrs_free(s->eval->attrs, s->eval->n_attrs);
        free(s->eval->density);
        free(s->eval->hist);
        free(s->eval);
    }
    s->eval = g;
}
const ms_sae_attr *ms_sae_attr_get(const ms_sae *s, const char *name) {
    for (int i = 0; i < s->n_attrs; i++)
        if (!strcmp(s->attrs[i].name, name)) return &s->attrs[i];
    return NULL;
}
const char *ms_sae_attr_str(const ms_sae *s, const char *name) {
    const ms_sae_attr *a = ms_sae_attr_get(s, name);
    return a && a->type == MS_ATTR_STR ? a->s : NULL;
}
double ms_sae_attr_num(const ms_sae *s, const char *name, double def) {
    const ms_sae_attr *a = ms_sae_attr_get(s, name);
    if (!a) return def;
    if (a->type == MS_ATTR_STR) return a->s ? strtod(a->s, NULL) : def;
    return a->type == MS_ATTR_INT ? (double)a->i : a->f;
}

void ms_sae_set_log(ms_sae *s, const double *log, int rows, int cols, const char *const *columns) {
    free(s->log);
    for (int i = 0; s->log_columns && i < s->log_cols; i++) free(s->log_columns[i]);
    free(s->log_columns);
    s->log_rows = rows; s->log_cols = cols;
    s->log = ms_malloc((size_t)rows * cols * sizeof(double) + 1);
    if (rows && cols) memcpy(s->log, log, (size_t)rows * cols * sizeof(double));
    s->log_columns = ms_calloc((size_t)cols + 1, sizeof(char *));
    for (int i = 0; i < cols; i++) s->log_columns[i] = ms_strdup(columns[i]);
}

// ---- encode / decode

// Tokens per encoder product call; it bounds the dense scratch (ENC_ROWS × d_sae floats, 50 MB at
// d_sae 24576). The trainer uses 4096-token blocks, a little faster, at 8× the memory.
enum { ENC_ROWS = 512 };

// The encoder product: W_enc in the product's own layout (enc_gemm.h, oneDNN when built with it)
// and the pre-encoder bias folded into the encoder bias,
// (x − b_dec) W_enc + b_enc = x W_enc + (b_enc − b_dec W_enc), so x need not be copied.
struct ms_sae_encoder {
    const ms_sae *s;
    ms_enc_gemm *g;
    float *bias; // (S)
    int rows;    // tokens per product
    float *pre;  // (rows, S) scratch for sparse codes, allocated on first use
};

void ms_sae_encoder_free(ms_sae_encoder *e) {
    if (!e) return;
    ms_enc_gemm_free(e->g);
    free(e->bias);
    free(e->pre);
    free(e);
}

// rows: tokens per product (at most ENC_ROWS); a one-call encoder needs no more than its n.
static ms_sae_encoder *encoder_new(const ms_sae *s, int rows) {
    const int d = s->d_in, S = s->d_sae;
    ms_sae_encoder *e = ms_calloc(1, sizeof *e);
    e->s = s;
    e->rows = rows;
    e->bias = ms_aligned_alloc((size_t)S * sizeof(float));
    memcpy(e->bias, s->b_enc, (size_t)S * sizeof(float));
    cblas_sgemv(CblasRowMajor, CblasTrans, d, S, -1.0f, s->W_enc, S, s->b_dec, 1, 1.0f, e->bias, 1);
    e->g = ms_enc_gemm_new(d, S, e->rows, MS_ENC_F32, MS_ENC_W);
    if (!e->g || ms_enc_gemm_set_weights(e->g, s->W_enc) < 0) { ms_sae_encoder_free(e); return NULL; }
    return e;
}
ms_sae_encoder *ms_sae_encoder_new(const ms_sae *s) { return encoder_new(s, ENC_ROWS); }
static ms_sae_encoder *encoder_for(const ms_sae *s, int64_t n) {
    return encoder_new(s, n < ENC_ROWS ? (n > 0 ? (int)n : 1) : ENC_ROWS);
}

// pre (n, S) for x (n, d), e->rows tokens per product.
int ms_sae_encoder_preact(ms_sae_encoder *e, const float *x, int64_t n, float *pre) {
    const ms_sae *s = e->s;
    for (int64_t t0 = 0; t0 < n; t0 += e->rows) {
        const int m = n - t0 < e->rows ? (int)(n - t0) : e->rows;
        if (ms_enc_gemm_rows(e->g, x + t0 * s->d_in, m, e->bias, pre + t0 * s->d_sae) < 0) return -1;
    }
    return 0;
}

int ms_sae_preact(const ms_sae *s, const float *x, int64_t n, float *pre) {
    ms_sae_encoder *e = encoder_for(s, n);
    if (!e) return -1;
    int rc = ms_sae_encoder_preact(e, x, n, pre);
    ms_sae_encoder_free(e);
    return rc;
}

void ms_sae_activate(const ms_sae *s, float *pre, int64_t n) {
    const int S = s->d_sae;
    if (s->arch == MS_SAE_TOPK) {
        int k = s->k < S ? s->k : S;
        #pragma omp parallel
        {
            int32_t *idx = ms_malloc((size_t)(k + 1) * sizeof(int32_t));
            float *val = ms_malloc((size_t)(k + 1) * sizeof(float));
            #pragma omp for schedule(static)
            for (int64_t t = 0; t < n; t++) {
                float *row = pre + t * S;
                int m = ms_topk_row(row, S, k, idx, val);
                memset(row, 0, (size_t)S * sizeof(float));
                for (int j = 0; j < m; j++) if (val[j] > 0) row[idx[j]] = val[j];
            }
            free(idx); free(val);
        }
    } else if (s->arch == MS_SAE_RELU) {
        #pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < n; t++)
            for (int i = 0; i < S; i++) if (!(pre[t * S + i] > 0)) pre[t * S + i] = 0;
    } else { // jumprelu, batchtopk: per-latent threshold
        const float *th = s->threshold;
        #pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < n; t++)
            for (int i = 0; i < S; i++) {
                float v = pre[t * S + i];
                pre[t * S + i] = (v > th[i] && v > 0) ? v : 0;
            }
    }
}

int ms_sae_encoder_dense(ms_sae_encoder *e, const float *x, int64_t n, float *f) {
    if (ms_sae_encoder_preact(e, x, n, f) < 0) return -1;
    ms_sae_activate(e->s, f, n);
    return 0;
}

int ms_sae_encode(const ms_sae *s, const float *x, int64_t n, float *f) {
    if (ms_sae_preact(s, x, n, f) < 0) return -1;
    ms_sae_activate(s, f, n);
    return 0;
}

void ms_sae_decode(const ms_sae *s, const float *f, int64_t n, float *xhat) {
    const int d = s->d_in, S = s->d_sae;
    #pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < n; t++) memcpy(xhat + t * d, s->b_dec, (size_t)d * sizeof(float));
    if (n > 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, d, S, 1.0f, f, S, s->W_dec, d, 1.0f, xhat, d);
}

void ms_sae_codes_free(ms_sae_codes *c) {
    free(c->row); free(c->idx); free(c->val);
    memset(c, 0, sizeof *c);
}

int ms_sae_encoder_sparse(ms_sae_encoder *e, const float *x, int64_t n, ms_sae_codes *c) {
    const ms_sae *s = e->s;
    const int S = s->d_sae, d = s->d_in;
    free(c->row);
    c->row = ms_malloc((size_t)(n + 1) * sizeof(int64_t));
    c->n = n;
    c->d_sae = S;
    c->nnz = 0;
    c->row[0] = 0;
    // Blocks of tokens bound the dense scratch; each block's codes are appended in token order.
    const int64_t blk = e->rows;
    if (!e->pre) e->pre = ms_aligned_alloc((size_t)blk * S * sizeof(float));
    float *pre = e->pre;
    for (int64_t t0 = 0; t0 < n; t0 += blk) {
        int64_t m = n - t0 < blk ? n - t0 : blk;
        if (ms_sae_encoder_preact(e, x + t0 * d, m, pre) < 0) return -1;
        ms_sae_activate(s, pre, m);
        for (int64_t t = 0; t < m; t++) {
            const float *r = pre + t * S;
            int64_t cnt = 0;
            for (int i = 0; i < S; i++) cnt += r[i] != 0;
            if (c->nnz + cnt > c->cap) {
                int64_t cap = c->cap ? c->cap : 1024;
                while (cap < c->nnz + cnt) cap *= 2;
                c->idx = ms_realloc(c->idx, (size_t)cap * sizeof(int32_t));
                c->val = ms_realloc(c->val, (size_t)cap * sizeof(float));
                c->cap = cap;
            }
            for (int i = 0; i < S; i++)
                if (r[i] != 0) { c->idx[c->nnz] = i; c->val[c->nnz] = r[i]; c->nnz++; }
            c->row[t0 + t + 1] = c->nnz;
        }
    }
    return 0;
}

int ms_sae_encode_sparse(const ms_sae *s, const float *x, int64_t n, ms_sae_codes *c) {
    ms_sae_encoder *e = encoder_for(s, n);
    if (!e) return -1;
    int rc = ms_sae_encoder_sparse(e, x, n, c);
    ms_sae_encoder_free(e);
    return rc;
}

void ms_sae_decode_sparse(const ms_sae *s, const ms_sae_codes *c, float *xhat) {
    const int d = s->d_in;
    #pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < c->n; t++) {
        float *o = xhat + t * d;
        memcpy(o, s->b_dec, (size_t)d * sizeof(float));
        for (int64_t j = c->row[t]; j < c->row[t + 1]; j++) {
            const float v = c->val[j];
            const float *w = s->W_dec + (size_t)c->idx[j] * d;
            for (int q = 0; q < d; q++) o[q] += v * w[q];
        }
    }
}
