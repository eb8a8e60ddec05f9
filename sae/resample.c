// resample.c: dead-latent resampling (see resample.h).
#include "sae/resample.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"
#include "util/vecops.h"

int ms_resample_due(int64_t t, int64_t B, int64_t every, int64_t n_steps) {
    if (every <= 0 || B <= 0 || t < 0 || t + 1 > n_steps / 2) return 0;
    return (t + 1) * B / every > t * B / every;
}

typedef struct { int tier; double key; int b; } keyed;

// Tokens with an error first (tier 0), then descending key, ties by ascending token index: a
// total order, so qsort's result is unique.
static int cmp_keyed(const void *pa, const void *pb) {
    const keyed *a = pa, *b = pb;
    if (a->tier != b->tier) return a->tier - b->tier;
    if (a->key > b->key) return -1;
    if (a->key < b->key) return 1;
    return (a->b > b->b) - (a->b < b->b);
}

int64_t ms_resample_dead(ms_resample_site *s, const float *x, const float *e, int B, ms_rng *r) {
    const int d = s->d, S = s->S;
    int64_t n_dead = 0;
    for (int i = 0; i < S; i++) n_dead += s->dead[i] != 0;
    if (n_dead == 0 || B <= 0) return 0;
    // mean encoder norm of the alive latents (all of them when none is alive)
    double nsum = 0;
    int64_t nalive = 0;
    for (int pass = 0; pass < 2 && nalive == 0; pass++)
        for (int i = 0; i < S; i++) {
            if (pass == 0 && s->dead[i]) continue;
            nsum += sqrt(ms_sumsq(s->Wt + (int64_t)i * d, d));
            nalive++;
        }
    double enc_norm = 0.2 * (nalive > 0 ? nsum / (double)nalive : 1.0);
    if (!(enc_norm > 0)) enc_norm = 0.2;
    // Weighted sampling without replacement (Efraimidis-Spirakis): key_b = log(u_b) / w_b, the
    // largest keys first. One uniform per token, in token order, whatever the weights.
    keyed *ks = ms_malloc((size_t)B * sizeof *ks);
    for (int b = 0; b < B; b++) {
        const double w = ms_sumsq(e + (int64_t)b * d, d);
        const double u = ((double)(ms_rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0); // (0, 1)
        const int ok = w > 0 && isfinite(w);
        ks[b].b = b;
        ks[b].tier = !ok;                        // tokens reconstructed exactly: uniformly, after the rest
        ks[b].key = ok ? log(u) / w : log(u);
    }
    qsort(ks, (size_t)B, sizeof *ks, cmp_keyed);
    int64_t n = 0, j = 0;
    for (int i = 0; i < S; i++) {
        if (!s->dead[i]) continue;
        const int b = ks[j++ % B].b;
        const float *xb = x + (int64_t)b * d;
        double q = 0;
        for (int c = 0; c < d; c++) { double v = (double)xb[c] - s->bd[c]; q += v * v; }
        if (!(q > 0) || !isfinite(q)) continue;
        const double inv = 1.0 / sqrt(q);
        const int64_t o = (int64_t)i * d;
        for (int c = 0; c < d; c++) {
            const double u = ((double)xb[c] - s->bd[c]) * inv;
            s->Wd[o + c] = (float)u;
            s->Wt[o + c] = (float)(u * enc_norm);
        }
        memset(s->mWt + o, 0, (size_t)d * sizeof(float));
        memset(s->vWt + o, 0, (size_t)d * sizeof(float));
        memset(s->mWd + o, 0, (size_t)d * sizeof(float));
        memset(s->vWd + o, 0, (size_t)d * sizeof(float));
        s->be[i] = 0; s->mbe[i] = 0; s->vbe[i] = 0;
        s->since_fired[i] = 0;
        s->dead[i] = 0;
        n++;
    }
    free(ks);
    return n;
}
