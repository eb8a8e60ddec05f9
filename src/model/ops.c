// ops.c: kernels of the forward pass (see ops.h). Row loops are split across OpenMP threads only
// when the work is large enough to amortise the fork; each row is always computed the same way,
// so results do not depend on the thread count (only sgemm's internal blocking might).
#include "model/ops.h"
#include <cblas.h>
#include <math.h>
#include <string.h>

#define PAR_MIN 65536 // elements below which a fork costs more than it saves

void ms_op_linear(float *Y, const float *X, const float *W, const float *b, int N, int in, int out) {
    if (b) {
        for (int r = 0; r < N; r++) memcpy(Y + (size_t)r * out, b, (size_t)out * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, in, 1.0f, X, in, W, in, b ? 1.0f : 0.0f, Y, out);
}

// Row statistics of LayerNorm.
static inline float ln_stats(const float *xr, int C, float eps, float *mean_out) {
    float mean = 0.0f;
    for (int i = 0; i < C; i++) mean += xr[i];
    mean /= (float)C;
    float var = 0.0f;
    for (int i = 0; i < C; i++) { float d = xr[i] - mean; var += d * d; }
    var /= (float)C;
    *mean_out = mean;
    return 1.0f / sqrtf(var + eps);
}

void ms_op_layernorm(float *out, const float *x, const float *w, const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
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
    float ss = 0.0f;
    for (int i = 0; i < C; i++) ss += xr[i] * xr[i];
    return 1.0f / sqrtf(ss / (float)C + eps);
}

void ms_op_rmsnorm(float *out, const float *x, const float *w, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * C;
        float *o = out + (size_t)r * C;
        const float s = rms_scale(xr, C, eps);
        if (!w) for (int i = 0; i < C; i++) o[i] = xr[i] * s;
        else for (int i = 0; i < C; i++) { float t = xr[i] * s; o[i] = t * w[i]; }
    }
}

void ms_op_gain(float *x, const float *w, const float *b, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        float *xr = x + (size_t)r * C;
        if (b) for (int i = 0; i < C; i++) xr[i] = xr[i] * w[i] + b[i];
        else for (int i = 0; i < C; i++) xr[i] = xr[i] * w[i];
    }
}

void ms_op_add(float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

void ms_op_bias(float *x, const float *b, int N, int C) {
    if (!b) return;
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        float *xr = x + (size_t)r * C;
        for (int i = 0; i < C; i++) xr[i] += b[i];
    }
}

void ms_op_add_bias(float *x, const float *y, const float *b, int N, int C) {
    if (!b) { ms_op_add(x, y, (size_t)N * C); return; }
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        float *xr = x + (size_t)r * C;
        const float *yr = y + (size_t)r * C;
        for (int i = 0; i < C; i++) { float t = yr[i] + b[i]; xr[i] += t; }
    }
}

void ms_op_gelu_new(float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] = ms_gelu_new1(x[i]);
}

void ms_op_bias_gelu_new(float *x, const float *b, int N, int C) {
    if (!b) { ms_op_gelu_new(x, (size_t)N * C); return; }
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        float *xr = x + (size_t)r * C;
        for (int i = 0; i < C; i++) { float t = xr[i] + b[i]; xr[i] = ms_gelu_new1(t); }
    }
}

void ms_op_swiglu(float *g, const float *u, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float v = g[i];
        g[i] = v / (1.0f + ms_expf(-v)) * u[i];
    }
}

void ms_op_rope(float *x, int N, int T, int n_heads, int Dh, int half_style, const float *cos_t,
                const float *sin_t) {
    const int P = Dh / 2;
#pragma omp parallel for schedule(static) if ((size_t)N * n_heads * Dh >= PAR_MIN)
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
