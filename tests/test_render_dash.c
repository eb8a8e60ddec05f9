// test_render_dash.c: the dashboard's streaming statistics against brute force on random codes:
// top-k = the k largest activations (with their contexts), counts and maxima exact, histogram
// counts = the bins computed directly, quantiles within the sketch's bin width of the exact ones,
// pooled examples real and inside their bin, results independent of chunking and thread count.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"
#include "viz/dashboard.h"
#include "harness.h"


static uint64_t rng = 88172645463325252ull;
static double urand(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (rng >> 11) * (1.0 / 9007199254740992.0); }

static int cmp_f_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int main(void) {
    enum { D = 12, CTX = 37, NSEQ = 60, K = 7, C = 3 };
    int n = NSEQ * CTX;
    float *codes = ms_malloc((size_t)n * D * sizeof *codes);
    int32_t *ids = ms_malloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) {
        ids[i] = i; // the id says where the token is, so contexts can be checked
        for (int f = 0; f < D; f++) {
            double u = urand();
            // feature f fires with probability (f+1)/(2D), log-normal magnitudes spanning decades
            codes[(size_t)i * D + f] = u < (f + 1.0) / (2 * D) ? (float)exp(3 * (urand() - 0.5) * (1 + f % 3)) : 0.0f;
        }
    }
    int feat[5] = {0, 3, 5, 9, 11};
    ms_dash_stats *a = ms_dash_new(feat, 5, K, C, 42), *b = ms_dash_new(feat, 5, K, C, 42);
    omp_set_num_threads(1);
    ms_dash_feed(a, codes, D, ids, 0, NSEQ, CTX); // one chunk, one thread
    omp_set_num_threads(3);
    for (int s0 = 0; s0 < NSEQ; s0 += 7) { // chunks of 7 sequences, three threads
        int ns = NSEQ - s0 < 7 ? NSEQ - s0 : 7;
        ms_dash_feed(b, codes + (size_t)s0 * CTX * D, D, ids + (size_t)s0 * CTX, s0, ns, CTX);
    }
    CHECK(a->n_tokens == (uint64_t)n && b->n_tokens == (uint64_t)n, "token count");
    float *col = ms_malloc((size_t)n * sizeof *col);
    for (int g = 0; g < 5; g++) {
        int f = feat[g], nf = 0;
        double sum = 0;
        uint64_t hist[MS_DASH_BINS] = {0};
        for (int i = 0; i < n; i++) {
            float v = codes[(size_t)i * D + f];
            if (v > 0) {
                col[nf++] = v;
                sum += v;
                int bin = (int)floor((log2(v) - MS_DASH_LOG2_LO) * MS_DASH_PER_OCTAVE);
                hist[bin < 0 ? 0 : bin >= MS_DASH_BINS ? MS_DASH_BINS - 1 : bin]++;
            }
        }
        qsort(col, (size_t)nf, sizeof *col, cmp_f_desc);
        CHECK(a->n_fire[g] == (uint64_t)nf, "n_fire %d: %llu vs %d", f, (unsigned long long)a->n_fire[g], nf);
        CHECK(a->max[g] == col[0], "max %d", f);
        CHECK(fabs(a->sum[g] - sum) < 1e-6 * sum, "sum %d", f);
        CHECK(!memcmp(a->hist + (size_t)g * MS_DASH_BINS, hist, sizeof hist), "histogram %d", f);
        int slots[K];
        int nt = ms_dash_sorted_top(a, g, slots);
        CHECK(nt == K, "top count");
        for (int j = 0; j < nt; j++) {
            const ms_dash_ex *e = &a->top[(size_t)g * K + slots[j]];
            CHECK(e->v == col[j], "top %d of feature %d: %g vs %g", j, f, e->v, col[j]);
            // the stored context: ids around the position, the feature's activations on them
            size_t base = ((size_t)g * (K + MS_DASH_POOL) + slots[j]) * (2 * C + 1);
            int tok = (int)(e->seq * CTX + e->pos);
            CHECK(a->ids[base + e->centre] == tok && a->acts[base + e->centre] == e->v, "centre of context");
            CHECK(e->ctx_len == (e->pos - C < 0 ? e->pos + 1 : C + 1) + (e->pos + C >= CTX ? CTX - 1 - e->pos : C), "window clipped to the sequence");
            for (int w = 0; w < e->ctx_len; w++) {
                int t = tok - e->centre + w;
                CHECK(a->ids[base + w] == t && a->acts[base + w] == codes[(size_t)t * D + f], "context token %d", w);
            }
        }
        // chunking and threads change nothing
        CHECK(a->n_fire[g] == b->n_fire[g] && a->max[g] == b->max[g], "chunked counts");
        CHECK(!memcmp(a->hist + (size_t)g * MS_DASH_BINS, b->hist + (size_t)g * MS_DASH_BINS, sizeof hist), "chunked histogram");
        int sb[K];
        ms_dash_sorted_top(b, g, sb);
        for (int j = 0; j < K; j++) CHECK(a->top[(size_t)g * K + slots[j]].v == b->top[(size_t)g * K + sb[j]].v, "chunked top");
        for (int j = 0; j < MS_DASH_POOL; j++) {
            const ms_dash_ex *pa = &a->pool[(size_t)g * MS_DASH_POOL + j], *pb = &b->pool[(size_t)g * MS_DASH_POOL + j];
            CHECK(a->pool_seen[(size_t)g * MS_DASH_POOL + j] == hist[j], "pool count = bin count");
            if (!hist[j]) continue;
            CHECK(pa->v == pb->v && pa->seq == pb->seq && pa->pos == pb->pos, "pool independent of chunking");
            int tok = (int)(pa->seq * CTX + pa->pos);
            CHECK(codes[(size_t)tok * D + f] == pa->v, "pooled example is real");
            int bin = (int)floor((log2(pa->v) - MS_DASH_LOG2_LO) * MS_DASH_PER_OCTAVE);
            CHECK((bin < 0 ? 0 : bin >= MS_DASH_BINS ? MS_DASH_BINS - 1 : bin) == j, "pooled example in its bin");
        }
        // quantiles of the positive activations: within one bin width (2^(1/8) - 1 = 9 %)
        for (int qi = 1; qi < 10; qi++) {
            double q = qi / 10.0, exact = col[nf - 1 - (int)floor(q * (nf - 1))];
            double est = ms_dash_quantile(a, g, q);
            CHECK(fabs(est / exact - 1) < 0.095, "quantile %.1f of %d: %g vs exact %g", q, f, est, exact);
        }
    }
    // the page renders (fonts present) with any stats
    ms_dash_page pg = {"Feature 3", "synthetic", NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 1.0, NULL};
    ms_canvas *c = ms_dash_render(a, 1, &pg);
    CHECK(c && c->w == 980 && c->h > 400, "page rendered");
    ms_fig_fonts fonts; // fonts shared across pages draw the same picture
    CHECK(ms_fig_fonts_open(&fonts, 1.0) == 0, "fonts");
    pg.fonts = &fonts;
    ms_canvas *c2 = ms_dash_render(a, 1, &pg), *c3 = ms_dash_render(a, 1, &pg);
    CHECK(c && c2 && c3 && c2->h == c->h && !memcmp(c->px, c2->px, (size_t)c->w * c->h * 3) &&
          !memcmp(c->px, c3->px, (size_t)c->w * c->h * 3), "shared fonts: same page");
    ms_canvas_free(c); ms_canvas_free(c2); ms_canvas_free(c3);
    ms_fig_fonts_close(&fonts);
    ms_dash_free(a);
    ms_dash_free(b);
    free(col); free(codes); free(ids);
    return ms_test_summary("test_render_dash");
}
