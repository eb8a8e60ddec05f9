// generate.c: greedy and sampled decoding (see generate.h).
#include "model/generate.h"
#include <math.h>
#include <stdlib.h>
#include "train/rng.h" // header-only splitmix64: the same generator as every other seeded step
#include "util/util.h"

static int argmax(const float *lg, int V) {
    int best = 0;
    for (int v = 1; v < V; v++) if (lg[v] > lg[best]) best = v;
    return best;
}

static int by_logit_desc(const void *a, const void *b, void *lg_) {
    const float *lg = lg_;
    const float x = lg[*(const int *)a], y = lg[*(const int *)b];
    return x < y ? 1 : x > y ? -1 : *(const int *)a - *(const int *)b;
}

// A draw from softmax(lg / T) over the top_k largest logits (ties: lower id first). order (V) and
// p (V) are scratch.
static int sample(const float *lg, int V, const ms_sampling *smp, ms_rng *r, int *order, double *p) {
    for (int v = 0; v < V; v++) order[v] = v;
    int K = smp->top_k > 0 && smp->top_k < V ? smp->top_k : V;
    qsort_r(order, (size_t)V, sizeof *order, by_logit_desc, (void *)lg);
    const double top = lg[order[0]];
    double z = 0;
    for (int i = 0; i < K; i++) z += p[i] = exp(((double)lg[order[i]] - top) / smp->temperature);
    double u = ms_rng_uniform(r) * z, acc = 0;
    for (int i = 0; i < K; i++)
        if ((acc += p[i]) > u) return order[i];
    return order[K - 1];
}

int ms_generate(const ms_model *m, int32_t *ids, int n, int total, const ms_sampling *smp, ms_token_fn on_token,
                void *user) {
    const int V = m->cfg.vocab_size;
    if (n < 1) { ms_error("empty prompt: no tokens to start from"); return -1; }
    const int sampled = smp && smp->temperature > 0;
    ms_state *s = ms_state_new(m, 1, total);
    if (!s) return -1;
    int *order = sampled ? ms_malloc((size_t)V * sizeof *order) : NULL;
    double *p = sampled ? ms_malloc((size_t)V * sizeof *p) : NULL;
    ms_rng r = ms_rng_from(sampled ? smp->seed : 0, 0x6E6E, 0);
    // with the cache the prompt is one prefill pass, then each step runs only the token just chosen
    const int cached = !(smp && smp->no_kv_cache);
    ms_forward_opts fo = {.hooks = NULL, .want_logits = 1, .stop_after_layer = -1, .kv_cache = cached};
    int rc = 0;
    while (n < total) {
        const int T = n - fo.pos0; // tokens this pass runs: those not in the cache yet
        if (ms_forward(m, s, ids + fo.pos0, 1, T, &fo)) { rc = -1; break; }
        if (cached) fo.pos0 = n;
        const float *lg = ms_state_logits(s) + (size_t)(T - 1) * V; // (V) the last position's logits
        const int next = sampled ? sample(lg, V, smp, &r, order, p) : argmax(lg, V);
        ids[n++] = next;
        if ((on_token && on_token(next, user)) || next == m->cfg.eos_id) break;
    }
    free(order);
    free(p);
    ms_state_free(s);
    return rc ? -1 : n;
}
