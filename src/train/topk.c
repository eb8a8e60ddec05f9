// topk.c: min-heap top-k selection (see topk.h).
#include "train/topk.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
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

// The exact scan: a min-heap of the k best so far; blocks of 16 that hold nothing above the heap
// minimum are skipped with one vector compare (after the first few hundred entries almost nothing
// qualifies); a block that passes is scanned in order, as the plain loop would.
static int topk_heap(const float *row, int n, int k, int32_t *idx, float *val) {
    for (int i = 0; i < k; i++) { val[i] = clean(row[i]); idx[i] = i; }
    for (int p = k / 2 - 1; p >= 0; p--) sift_down(val, idx, k, p);
    float mn = val[0];
    int i = k;
    for (; i < n && (i & 15); i++) {
        float v = row[i];
        if (v > mn) { val[0] = v; idx[0] = i; sift_down(val, idx, k, 0); mn = val[0]; }
    }
    for (; i + 16 <= n; i += 16) {
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

enum { GROUPS = 64, CAND_PER_K = 8 };

// Long rows: a lower bound t on the k-th largest value first, from the maxima of 64 interleaved
// groups (element i is in group i mod 64; the k-th largest group maximum is at most the k-th
// largest value, since those k groups hold k distinct elements at least that large). One pass of
// vertical maxima, one pass collecting the elements >= t (a few k on typical rows), and the heap
// over those candidates only: the same result as topk_heap, with far fewer heap operations.
// Returns -1 (caller falls back to topk_heap) when the candidates do not fit (many ties, NaN, -inf).
static int topk_bounded(const float *row, int n, int k, int32_t *idx, float *val) {
    float gm[GROUPS];
    for (int j = 0; j < GROUPS; j++) gm[j] = -INFINITY;
    int i = 0;
    for (; i + GROUPS <= n; i += GROUPS)
        for (int j = 0; j < GROUPS; j++) gm[j] = row[i + j] > gm[j] ? row[i + j] : gm[j]; // NaN never wins
    for (int j = 0; i + j < n; j++) gm[j] = row[i + j] > gm[j] ? row[i + j] : gm[j];
    // the k-th largest maximum: the one with fewer than k maxima above it and at least k at or
    // above it (branch-free counts over all 64 vectorise; a selection sort is a chain of branches)
    float t = -INFINITY;
    for (int a = 0; a < GROUPS; a++) {
        int gt = 0, ge = 0;
        for (int b = 0; b < GROUPS; b++) { gt += gm[b] > gm[a]; ge += gm[b] >= gm[a]; }
        if (gt < k && ge >= k) { t = gm[a]; break; }
    }
    if (!(t > -INFINITY)) return -1;
    int32_t ci[CAND_PER_K * GROUPS];
    float cv[CAND_PER_K * GROUPS];
    const int cap = CAND_PER_K * k;
    int m = 0;
    i = 0;
#ifdef __AVX512F__
    // 64 elements per test; the few chunks that hold a candidate are walked by their mask bits
    // (ascending, so candidates stay in index order)
    const __m512 vt = _mm512_set1_ps(t);
    for (; i + 64 <= n; i += 64) {
        const uint64_t mask = (uint64_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(row + i), vt, _CMP_GE_OQ) |
                              (uint64_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(row + i + 16), vt, _CMP_GE_OQ) << 16 |
                              (uint64_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(row + i + 32), vt, _CMP_GE_OQ) << 32 |
                              (uint64_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(row + i + 48), vt, _CMP_GE_OQ) << 48;
        for (uint64_t bits = mask; bits; bits &= bits - 1) {
            const int j = i + __builtin_ctzll(bits);
            if (m == cap) return -1;
            ci[m] = j; cv[m] = row[j]; m++;
        }
    }
#endif
    for (; i + 16 <= n; i += 16) {
#ifdef __AVX__
        const __m256 vt8 = _mm256_set1_ps(t);
        __m256 c = _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + i), vt8, _CMP_GE_OQ),
                                _mm256_cmp_ps(_mm256_loadu_ps(row + i + 8), vt8, _CMP_GE_OQ));
        if (!_mm256_movemask_ps(c)) continue;
#endif
        for (int j = i; j < i + 16; j++)
            if (row[j] >= t) {
                if (m == cap) return -1;
                ci[m] = j; cv[m] = row[j]; m++;
            }
    }
    for (; i < n; i++)
        if (row[i] >= t) {
            if (m == cap) return -1;
            ci[m] = i; cv[m] = row[i]; m++;
        }
    if (m < k) return -1; // cannot happen for finite t; kept as a guard
    // exact top-k of the candidates (in index order, so ties resolve as in topk_heap)
    for (int a = 0; a < k; a++) { val[a] = cv[a]; idx[a] = ci[a]; }
    for (int p = k / 2 - 1; p >= 0; p--) sift_down(val, idx, k, p);
    for (int a = k; a < m; a++)
        if (cv[a] > val[0]) { val[0] = cv[a]; idx[0] = ci[a]; sift_down(val, idx, k, 0); }
    sort_by_index(idx, val, k);
    return k;
}

int ms_topk_row(const float *row, int n, int k, int32_t *idx, float *val) {
    if (k > n) k = n;
    if (k <= 0) return 0;
    if (k <= GROUPS / 2 && n >= 16 * GROUPS) {
        int m = topk_bounded(row, n, k, idx, val);
        if (m >= 0) return m;
    }
    return topk_heap(row, n, k, idx, val);
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
