// topk.c: min-heap top-k selection (see topk.h).
#include "sae/topk.h"
#include <math.h>
#include <stdlib.h>

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

int ms_topk_row(const float *row, int n, int k, int32_t *idx, float *val) {
    if (k > n) k = n;
    if (k <= 0) return 0;
    for (int i = 0; i < k; i++) { val[i] = clean(row[i]); idx[i] = i; }
    for (int p = k / 2 - 1; p >= 0; p--) sift_down(val, idx, k, p);
    float mn = val[0];
    for (int i = k; i < n; i++) {
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
