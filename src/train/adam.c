// adam.c: Adam (see adam.h).
#include <math.h>
#include "train/adam.h"
#ifdef __AVX__
#include <immintrin.h>
#endif

ms_adam_step ms_adam_at(double lr_t, double b1, double b2, double eps, int64_t t) {
    const double bc1 = 1 - pow(b1, (double)(t + 1)), bc2 = 1 - pow(b2, (double)(t + 1));
    ms_adam_step k = {(float)b1, (float)b2, (float)eps, (float)(lr_t / bc1), (float)(1.0 / sqrt(bc2))};
    return k;
}

// With AVX, 8 lanes at a time with the identical sequence of correctly rounded IEEE operations
// (mul, add, sqrt, div; no FMA, as the scalar code is compiled with -std=c11, i.e.
// -ffp-contract=off): bit-identical results. The scalar sqrtf does not vectorise by itself
// because of errno.
void ms_adam_row(float *restrict p, float *restrict m, float *restrict v, const float *restrict g, float gscale,
                 size_t n, const ms_adam_step *k) {
    size_t j = 0;
#ifdef __AVX__
    const __m256 vb1 = _mm256_set1_ps(k->b1), vc1 = _mm256_set1_ps(1 - k->b1), vb2 = _mm256_set1_ps(k->b2),
                 vc2 = _mm256_set1_ps(1 - k->b2), va = _mm256_set1_ps(k->a), vbc = _mm256_set1_ps(k->bc2s),
                 veps = _mm256_set1_ps(k->eps), vgs = _mm256_set1_ps(gscale);
    for (; j + 8 <= n; j += 8) {
        const __m256 gg = g ? _mm256_mul_ps(_mm256_loadu_ps(g + j), vgs) : _mm256_setzero_ps();
        __m256 mm = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + j)), _mm256_mul_ps(vc1, gg));
        __m256 vv = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + j)), _mm256_mul_ps(_mm256_mul_ps(vc2, gg), gg));
        __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vv), vbc), veps);
        __m256 pp = _mm256_sub_ps(_mm256_loadu_ps(p + j), _mm256_div_ps(_mm256_mul_ps(va, mm), den));
        _mm256_storeu_ps(m + j, mm);
        _mm256_storeu_ps(v + j, vv);
        _mm256_storeu_ps(p + j, pp);
    }
#endif
    for (; j < n; j++) ms_adam1(p + j, m + j, v + j, g ? g[j] * gscale : 0.0f, k);
}

void ms_adam_update(float *p, float *m, float *v, const float *g, float gscale, size_t n, const ms_adam_step *k,
                    int threads) {
    enum { CHUNK = 4096 }; // elements per task: a few pages, so threads do not share cache lines
    const int64_t nch = (int64_t)((n + CHUNK - 1) / CHUNK);
    #pragma omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1)
    for (int64_t c = 0; c < nch; c++) {
        const size_t o = (size_t)c * CHUNK, len = n - o < CHUNK ? n - o : CHUNK;
        ms_adam_row(p + o, m + o, v + o, g ? g + o : NULL, gscale, len, k);
    }
}

void ms_adam_decay(float *p, size_t n, float keep) {
    for (size_t i = 0; i < n; i++) p[i] *= keep;
}
