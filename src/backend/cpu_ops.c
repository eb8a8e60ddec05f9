// cpu_ops.c: the elementwise and row-wise kernels (see backend.h). Row loops are split across
// be->n_threads OpenMP threads only when the work is large enough to amortise the fork; each row is
// always computed the same way, so results do not depend on the thread count.
#include <math.h>
#include <string.h>
#include "backend/backend.h"

#define PAR_MIN 65536 // elements below which a fork costs more than it saves

// Row statistics of LayerNorm.
static inline float ln_stats(const float *xr, int C, float eps, float *mean_out) {
    const float mean = ms_sum(xr, C) / (float)C;
    const float var = ms_sum_sq_dev(xr, C, mean) / (float)C;
    *mean_out = mean;
    return 1.0f / sqrtf(var + eps);
}

void ms_op_layernorm(const ms_backend_ctx *be, float *out, const float *x, const float *w, const float *b, int N, int C,
                     float eps) {
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if ((size_t)N * C >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * C;
        float *o = out + (size_t)r * C;
        float mean;
        const float s = ln_stats(xr, C, eps, &mean);
        if (!w) for (int i = 0; i < C; i++) o[i] = (xr[i] - mean) * s;
        else if (b) for (int i = 0; i < C; i++) { float t = (xr[i] - mean) * s; o[i] = t * w[i] + b[i]; }
        else for (int i = 0; i < C; i++) { float t = (xr[i] - mean) * s; o[i] = t * w[i]; }
    }
}

static inline float rms_scale(const float *xr, int C, float eps) {
    return 1.0f / sqrtf(ms_sum_sq_dev(xr, C, 0.0f) / (float)C + eps);
}

void ms_op_rmsnorm(const ms_backend_ctx *be, float *out, const float *x, const float *w, int N, int C, float eps) {
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if ((size_t)N * C >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * C;
        float *o = out + (size_t)r * C;
        const float s = rms_scale(xr, C, eps);
        if (!w) for (int i = 0; i < C; i++) o[i] = xr[i] * s;
        else for (int i = 0; i < C; i++) { float t = xr[i] * s; o[i] = t * w[i]; }
    }
}

void ms_op_norm_scale(const ms_backend_ctx *be, float *scale, const float *x, int N, int C, float eps, int center) {
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if ((size_t)N * C >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * C;
        float mean;
        scale[r] = 1.0f / (center ? ln_stats(xr, C, eps, &mean) : rms_scale(xr, C, eps));
    }
}

void ms_op_norm_by_scale(const ms_backend_ctx *be, float *out, const float *x, const float *scale, int N, int C,
                         int center) {
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if ((size_t)N * C >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * C;
        float *o = out + (size_t)r * C;
        const float mean = center ? ms_sum(xr, C) / (float)C : 0.0f; // as ln_stats
        for (int i = 0; i < C; i++) o[i] = (xr[i] - mean) / scale[r];
    }
}

void ms_op_gain(const ms_backend_ctx *be, float *x, const float *w, const float *b, int N, int C) {
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if ((size_t)N * C >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        float *xr = x + (size_t)r * C;
        if (b) for (int i = 0; i < C; i++) xr[i] = xr[i] * w[i] + b[i];
        else for (int i = 0; i < C; i++) xr[i] = xr[i] * w[i];
    }
}

void ms_op_add(const ms_backend_ctx *be, float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

void ms_op_bias(const ms_backend_ctx *be, float *x, const float *b, int N, int C) {
    if (!b) return;
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if ((size_t)N * C >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        float *xr = x + (size_t)r * C;
        for (int i = 0; i < C; i++) xr[i] += b[i];
    }
}

void ms_op_add_bias(const ms_backend_ctx *be, float *x, const float *y, const float *b, int N, int C) {
    if (!b) { ms_op_add(be, x, y, (size_t)N * C); return; }
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if ((size_t)N * C >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        float *xr = x + (size_t)r * C;
        const float *yr = y + (size_t)r * C;
        for (int i = 0; i < C; i++) { float t = yr[i] + b[i]; xr[i] += t; }
    }
}

void ms_op_gelu_new(const ms_backend_ctx *be, float *x, size_t n) {
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] = ms_gelu_new1(x[i]);
}

void ms_op_gelu_erf(const ms_backend_ctx *be, float *x, size_t n) {
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void ms_op_geglu(const ms_backend_ctx *be, float *g, const float *u, size_t n) {
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) g[i] = ms_gelu_new1(g[i]) * u[i];
}

void ms_op_softcap(const ms_backend_ctx *be, float *x, float cap, size_t n) {
    const float inv = 1.0f / cap;
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] = cap * tanhf(x[i] * inv);
}

void ms_op_swiglu(const ms_backend_ctx *be, float *g, const float *u, size_t n) {
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float v = g[i];
        g[i] = v / (1.0f + ms_expf(-v)) * u[i];
    }
}

void ms_op_rope(const ms_backend_ctx *be, float *x, int N, int T, int n_heads, int Dh, int half_style,
                const float *cos_t, const float *sin_t) {
    ms_op_rope_dims(be, x, N, T, n_heads, Dh, Dh, half_style, cos_t, sin_t);
}

void ms_op_rope_dims(const ms_backend_ctx *be, float *x, int N, int T, int n_heads, int Dh, int rot, int half_style,
                     const float *cos_t, const float *sin_t) {
    const int P = rot / 2;
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if ((size_t)N * n_heads * Dh >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *c = cos_t + (size_t)(r % T) * P, *s = sin_t + (size_t)(r % T) * P;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)r * n_heads + h) * Dh;
            if (half_style) {
                for (int i = 0; i < P; i++) {
                    float a = v[i], b = v[i + P];
                    v[i] = a * c[i] - b * s[i];
                    v[i + P] = a * s[i] + b * c[i];
                }
            } else {
                for (int i = 0; i < P; i++) {
                    float a = v[2 * i], b = v[2 * i + 1];
                    v[2 * i] = a * c[i] - b * s[i];
                    v[2 * i + 1] = a * s[i] + b * c[i];
                }
            }
        }
    }
}
