// vecops.h: reductions over float vectors with 16 independent partial sums, so the compiler
// vectorises them without -ffast-math (a plain `s += a[i] * b[i]` is one serial chain of
// dependent additions, ~4 cycles per element). The order of additions is fixed (lane j takes
// elements j, j+16, ...; the lanes are then added pairwise), so results do not depend on the
// machine's vector width or the thread count.
#ifndef MS_UTIL_VECOPS_H
#define MS_UTIL_VECOPS_H

static inline float ms_dot(const float *a, const float *b, int n) {
    float acc[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * b[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += a[i] * b[i];
    for (int w = 8; w; w >>= 1)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

// Σ a_i², accumulated in float lanes and returned as double (for losses and statistics).
static inline double ms_sumsq(const float *a, int n) {
    float acc[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * a[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += a[i] * a[i];
    double s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    return s;
}

#endif
