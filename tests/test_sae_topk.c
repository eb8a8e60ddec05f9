// test_sae_topk.c: top-k selection (train/topk.h) against brute force: sort every index by (value
// descending, NaN as -inf; index ascending), keep the first k, report them in index order. Rows
// short and long (the long ones take the bounded fast path), k from 1 to past the fast path's
// limit, and the rows that stress it: random, ascending (every element a new maximum), descending,
// heavy ties, all equal, NaN and ±inf, a few huge outliers.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train/topk.h"
#include "harness.h"

static int cases = 0;

static uint64_t rng_state = 88172645463325252ull;
static double urand(void) { // xorshift64*
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static const float *ref_row;
static float key(float v) { return v == v ? v : -INFINITY; }
static int cmp_rank(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    float x = key(ref_row[i]), y = key(ref_row[j]);
    if (x != y) return x > y ? -1 : 1;
    return (i > j) - (i < j);
}
static int cmp_int(const void *a, const void *b) { int x = *(const int *)a, y = *(const int *)b; return (x > y) - (x < y); }

static void check_row(const float *row, int n, int k, const char *what) {
    cases++;
    int *order = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) order[i] = i;
    ref_row = row;
    qsort(order, (size_t)n, sizeof(int), cmp_rank);
    int m = k < n ? k : n;
    qsort(order, (size_t)m, sizeof(int), cmp_int);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)(k + 1));
    float *val = malloc(sizeof(float) * (size_t)(k + 1));
    int got = ms_topk_row(row, n, k, idx, val);
    CHECK(got == m, "%s n=%d k=%d: returned %d, want %d", what, n, k, got, m);
    for (int j = 0; j < m && got == m; j++) {
        int ok = idx[j] == order[j] && (val[j] == key(row[order[j]]) || (isnan(row[order[j]]) && val[j] == -INFINITY));
        CHECK(ok, "%s n=%d k=%d: slot %d has index %d value %g, want index %d value %g", what, n, k, j, idx[j],
              (double)val[j], order[j], (double)row[order[j]]);
        if (!ok) break;
    }
    free(order); free(idx); free(val);
}

int main(void) {
    const int ns[] = {1, 5, 31, 100, 1023, 1024, 1100, 4096, 24576, 24577};
    const int ks[] = {1, 2, 8, 31, 32, 33, 64, 200};
    float *row = malloc(sizeof(float) * 24577);
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        const int n = ns[a];
        for (int kind = 0; kind < 8; kind++) {
            const char *what = "?";
            for (int i = 0; i < n; i++) {
                switch (kind) {
                case 0: what = "random"; row[i] = (float)(urand() * 2 - 1); break;
                case 1: what = "ascending"; row[i] = (float)i; break;
                case 2: what = "descending"; row[i] = (float)(n - i); break;
                case 3: what = "ties"; row[i] = (float)(int)(urand() * 4); break;
                case 4: what = "all equal"; row[i] = 0.5f; break;
                case 5: what = "NaN/inf"; {
                    double u = urand();
                    row[i] = u < 0.1 ? NAN : u < 0.15 ? INFINITY : u < 0.3 ? -INFINITY : (float)urand();
                } break;
                case 6: what = "outliers"; row[i] = urand() < 0.002 ? 1e30f : (float)urand(); break;
                default: what = "mostly -inf"; row[i] = urand() < 0.995 ? -INFINITY : (float)urand(); break;
                }
            }
            for (size_t b = 0; b < sizeof ks / sizeof ks[0]; b++) check_row(row, n, ks[b], what);
        }
    }
    free(row);
    printf("%d cases\n", cases);
    return ms_test_summary("test_sae_topk");
}
