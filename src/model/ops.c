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

void ms_op_layernorm_core(float *out, const float *x, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * C;
        float *o = out + (size_t)r * C;
        float mean = 0.0f;
        for (int i = 0; i < C; i++) mean += xr[i];
        mean /= (float)C;
        float var = 0.0f;
        for (int i = 0; i < C; i++) { float d = xr[i] - mean; var += d * d; }
        var /= (float)C;
        float s = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < C; i++) o[i] = (xr[i] - mean) * s;
    }
}

void ms_op_rmsnorm_core(float *out, const float *x, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * C;
        float *o = out + (size_t)r * C;
        float ss = 0.0f;
        for (int i = 0; i < C; i++) ss += xr[i] * xr[i];
        float s = 1.0f / sqrtf(ss / (float)C + eps);
        for (int i = 0; i < C; i++) o[i] = xr[i] * s;
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

// 0.5 (1 + tanh(u)) = sigmoid(2u), so gelu_new(x) = x / (1 + exp(-2u)) with one vectorised exp.
void ms_op_gelu_new(float *x, size_t n) {
    const float k2 = -2.0f * 0.7978845608028654f; // -2 sqrt(2/pi)
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = v / (1.0f + ms_expf(k2 * (v + 0.044715f * v * v * v)));
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
