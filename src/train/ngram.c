// ngram.c: unigram and bigram validation baselines (see ngram.h).
#include "train/ngram.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include "util/util.h"

// Bigram counts in CSR form: the successors of token a are succ[start[a] .. start[a+1]), ascending,
// so c(a,b) is a binary search and u(a) one pass. Built by two counting sorts (by b, then stably by
// a): O(N + V) time, two int arrays of N.
typedef struct {
    int64_t *start;    // (V+1)
    int32_t *succ;     // (N-1)
    int64_t *distinct; // (V) u(a)
    int64_t *unigram;  // (V) c(b) over all N tokens
} bigram_counts;

static void counts_build(bigram_counts *c, const int32_t *tok, size_t n, int V) {
    const size_t np = n - 1; // pairs (tok[i], tok[i+1])
    c->start = ms_calloc((size_t)V + 1, sizeof *c->start);
    c->succ = ms_malloc(np * sizeof *c->succ);
    c->distinct = ms_calloc((size_t)V, sizeof *c->distinct);
    c->unigram = ms_calloc((size_t)V, sizeof *c->unigram);
    int64_t *by_b = ms_calloc((size_t)V + 1, sizeof *by_b);
    int32_t *order = ms_malloc(np * sizeof *order); // pair indices sorted by successor
    for (size_t i = 0; i < n; i++) c->unigram[tok[i]]++;
    for (size_t i = 0; i < np; i++) { by_b[tok[i + 1] + 1]++; c->start[tok[i] + 1]++; }
    for (int v = 0; v < V; v++) { by_b[v + 1] += by_b[v]; c->start[v + 1] += c->start[v]; }
    for (size_t i = 0; i < np; i++) order[by_b[tok[i + 1]]++] = (int32_t)i;
    int64_t *fill = by_b; // reused as the write cursor of each a's bucket
    for (int v = 0; v < V; v++) fill[v] = c->start[v];
    for (size_t j = 0; j < np; j++) {
        const int32_t i = order[j];
        c->succ[fill[tok[i]]++] = tok[i + 1];
    }
    for (int a = 0; a < V; a++)
        for (int64_t j = c->start[a]; j < c->start[a + 1]; j++)
            c->distinct[a] += j == c->start[a] || c->succ[j] != c->succ[j - 1];
    free(order);
    free(by_b);
}

static void counts_free(bigram_counts *c) {
    free(c->start); free(c->succ); free(c->distinct); free(c->unigram);
}

// c(a,b): the length of b's run in a's sorted successors.
static int64_t pair_count(const bigram_counts *c, int32_t a, int32_t b) {
    int64_t lo = c->start[a], hi = c->start[a + 1];
    while (lo < hi) { // first successor >= b
        int64_t mid = lo + (hi - lo) / 2;
        if (c->succ[mid] < b) lo = mid + 1; else hi = mid;
    }
    int64_t end = lo;
    while (end < c->start[a + 1] && c->succ[end] == b) end++;
    return end - lo;
}

static int check_range(const ms_token_stream *s, int V) {
    for (size_t i = 0; i < s->n; i++)
        if (s->tok[i] < 0 || s->tok[i] >= V) { ms_error("n-gram baseline: token id %d outside the vocabulary %d", s->tok[i], V); return -1; }
    return 0;
}

int ms_ngram_val_loss(const ms_token_stream *train, const ms_token_stream *val, int vocab, int64_t n_batches,
                      int B, int T, ms_ngram_loss *out) {
    if (train->n < 2 || val->n < 2) { ms_error("n-gram baseline: fewer than 2 tokens in a stream"); return -1; }
    if (train->n > INT32_MAX) { ms_error("n-gram baseline: more than 2^31 training tokens"); return -1; }
    if (check_range(train, vocab) < 0 || check_range(val, vocab) < 0) return -1;
    bigram_counts c;
    counts_build(&c, train->tok, train->n, vocab);
    int32_t *in = ms_malloc((size_t)B * T * sizeof *in), *tg = ms_malloc((size_t)B * T * sizeof *tg); // (B,T)
    const double uni_den = (double)train->n + vocab;
    double nll_uni = 0, nll_bi = 0;
    for (int64_t i = 0; i < n_batches; i++) {
        ms_lm_batch_seq(val, i, B, T, in, tg);
        for (size_t j = 0; j < (size_t)B * T; j++) {
            const int32_t a = in[j], b = tg[j];
            const double p_uni = ((double)c.unigram[b] + 1) / uni_den;
            const int64_t ca = c.start[a + 1] - c.start[a], ua = c.distinct[a];
            const double p_bi = ca == 0 ? p_uni : ((double)pair_count(&c, a, b) + (double)ua * p_uni) / (double)(ca + ua);
            nll_uni -= log(p_uni);
            nll_bi -= log(p_bi);
        }
    }
    free(in);
    free(tg);
    counts_free(&c);
    out->n_targets = n_batches * B * T;
    out->unigram = nll_uni / (double)out->n_targets;
    out->bigram = nll_bi / (double)out->n_targets;
    return 0;
}
