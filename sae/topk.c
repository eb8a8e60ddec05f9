// topk.c: min-heap top-k selection (see topk.h).
#include "sae/topk.h"
#include <math.h>
#include <stdlib.h>
#ifdef __AVX__
#include <immintrin.h>
#endif

// "a is smaller than b" in selection order: smaller value, or equal value and larger index
// (so among equal values the lower index survives).
static inline int less(float va, int32_t ia, float vb, int32_t ib) {
    return va < vb || (va == vb && ia > ib);
}

static void sift_down(float *hv, int32_t *hi, int m, int p) {
    for (;;) {
        int l = 2 * p + 1, r = l + 1, s = p;
        if (l < m && less(hv[l], hi[l], hv[s], hi[s])) s = l;
        if (r < m && less(hv[r], hi[r], hv[s], hi[s])) s = r;
        if (s == p) return;
        float tv = hv[p]; hv[p] = hv[s]; hv[s] = tv;
        int32_t ti = hi[p]; hi[p] = hi[s]; hi[s] = ti;
        p = s;
    }
}

static void sort_by_index(int32_t *idx, float *val, int m) {
    for (int i = 1; i < m; i++) { // insertion sort: m is small (k)
        int32_t ii = idx[i]; float vv = val[i];
        int j = i - 1;
        while (j >= 0 && idx[j] > ii) { idx[j + 1] = idx[j]; val[j + 1] = val[j]; j--; }
        idx[j + 1] = ii; val[j + 1] = vv;
    }
}

static inline float clean(float v) { return v == v ? v : -INFINITY; } // NaN never wins

// row += bias (when bias != NULL, in place, element by element as it is reached) and top-k of the
// result. Inlined into both entry points so the bias-free one carries no extra work.
static inline int topk_core(float *row, const float *bias, int n, int k, int32_t *idx, float *val) {
    if (k > n) k = n;
    if (k <= 0) {
        if (bias) for (int i = 0; i < n; i++) row[i] += bias[i];
        return 0;
    }
    if (bias) for (int i = 0; i < k; i++) row[i] += bias[i];
    for (int i = 0; i < k; i++) { val[i] = clean(row[i]); idx[i] = i; }
    for (int p = k / 2 - 1; p >= 0; p--) sift_down(val, idx, k, p);
    float mn = val[0];
    // Blocks of 16: a vectorised "any value > the heap minimum" test skips most of the row (after
    // the first few hundred entries almost nothing qualifies); a block that passes is scanned in
    // order exactly as the plain loop would, so the result is the same.
    int i = k;
    for (; i < n && (i & 15); i++) {
        if (bias) row[i] += bias[i];
        float v = row[i];
        if (v > mn) { val[0] = v; idx[0] = i; sift_down(val, idx, k, 0); mn = val[0]; }
    }
    for (; i + 16 <= n; i += 16) {
        if (bias) for (int j = i; j < i + 16; j++) row[j] += bias[j];
#ifdef __AVX__
        const __m256 vm = _mm256_set1_ps(mn); // ordered compare: NaN never passes, as with v > mn
        __m256 c = _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + i), vm, _CMP_GT_OQ),
                                _mm256_cmp_ps(_mm256_loadu_ps(row + i + 8), vm, _CMP_GT_OQ));
        if (!_mm256_movemask_ps(c)) continue;
#else
        int any = 0;
        for (int j = 0; j < 16; j++) any |= row[i + j] > mn;
        if (!any) continue;
#endif
        for (int j = i; j < i + 16; j++) {
            float v = row[j];
            if (v > mn) { val[0] = v; idx[0] = j; sift_down(val, idx, k, 0); mn = val[0]; }
        }
    }
    for (; i < n; i++) {
        if (bias) row[i] += bias[i];
        float v = row[i];
        if (v > mn) { // strictly larger: an equal value at a higher index never displaces
            val[0] = v; idx[0] = i;
            sift_down(val, idx, k, 0);
            mn = val[0];
        }
    }
    sort_by_index(idx, val, k);
    return k;
}

int ms_topk_row(const float *row, int n, int k, int32_t *idx, float *val) {
    return topk_core((float *)row, NULL, n, k, idx, val); // bias NULL: row is only read
}

int ms_topk_row_bias(float *row, const float *bias, int n, int k, int32_t *idx, float *val) {
    return topk_core(row, bias, n, k, idx, val);
}

int ms_topk_subset(const float *row, const int32_t *cand, int nc, int k, int32_t *idx, float *val) {
    if (k > nc) k = nc;
    if (k <= 0) return 0;
    for (int i = 0; i < k; i++) { idx[i] = cand[i]; val[i] = clean(row[cand[i]]); }
    for (int p = k / 2 - 1; p >= 0; p--) sift_down(val, idx, k, p);
    for (int i = k; i < nc; i++) {
        float v = row[cand[i]];
        if (less(val[0], idx[0], v, cand[i]) && v == v) {
            val[0] = v; idx[0] = cand[i];
            sift_down(val, idx, k, 0);
        }
    }
    sort_by_index(idx, val, k);
    return k;
}
