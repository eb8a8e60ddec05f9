// fuzz_h5_use.h: what the HDF5 harnesses do with a file: open it the way every command does and,
// when the reader accepts it, use it (rows streamed, vocabulary decoded, an SAE applied), since a
// file that passes validation must be safe to consume.
#ifndef MS_FUZZ_H5_USE_H
#define MS_FUZZ_H5_USE_H
#include "fuzz_common.h"
#include "io/acts.h"
#include "probes/labels.h"
#include "probes/probe.h"
#include "sae/eval.h"
#include "sae/sae.h"

// Bounded work per input: a few rows of every hook, the sequential reader over at most 64 positions.
static inline void fuzz_use_acts(const char *path) {
    ms_clear_error();
    ms_acts *a = ms_acts_open(path);
    if (!a) { fuzz_check_refusal("ms_acts_open"); return; }
    int64_t n_seq = ms_acts_n_seq(a);
    for (int h = 0; h < ms_acts_n_hooks(a); h++) {
        int64_t d = ms_acts_d(a, h), ctx = ms_acts_ctx(a, h);
        if (n_seq <= 0 || d <= 0 || ctx <= 0 || d * ctx > (1 << 20)) continue;
        float *x = ms_malloc((size_t)(d * ctx) * sizeof(float));
        ms_acts_read(a, h, n_seq - 1, 1, 0, ctx, x);
        free(x);
        if (ms_acts_has_tokens(a)) {
            int32_t *ids = ms_malloc((size_t)ctx * sizeof(int32_t));
            ms_acts_read_ids(a, 0, 1, 0, ctx, ids);
            free(ids);
        }
    }
    size_t *lens = NULL;
    int n_vocab = 0;
    char **vocab = ms_acts_vocab(a, &lens, &n_vocab);
    ms_vocab_free(vocab, lens, n_vocab);
    free(ms_acts_hook_list(a, 200));
    int only = ms_acts_n_hooks(a) == 1;
    ms_acts_close(a);
    int64_t rows = 64;
    int ctx = 0;
    free(ms_acts_token_rows(path, &rows, &ctx)); // the first rows of /tokens, as sae eval and viz take them
    if (!only) return;
    ms_clear_error();
    ms_acts_reader *r = ms_acts_reader_open(path, NULL, 0);
    if (!r) { fuzz_check_refusal("ms_acts_reader_open"); return; }
    ms_acts_reader_skip_padding(r);
    int d = ms_acts_reader_d(r);
    if (d > 0 && d <= (1 << 16)) {
        float *x = ms_malloc((size_t)d * 16 * sizeof(float));
        int32_t ids[16];
        for (int i = 0; i < 4 && ms_acts_reader_next(r, x, ids, 16) > 0; i++) {}
        free(x);
    }
    ms_acts_reader_close(r);
}

// The SAE loaded, its /eval read back, one token encoded and decoded.
static inline void fuzz_use_sae(const char *path) {
    ms_clear_error();
    ms_sae *s = ms_sae_load(path);
    if (!s) { fuzz_check_refusal("ms_sae_load"); return; }
    ms_sae_eval_result r;
    ms_clear_error();
    if (ms_sae_eval_read(path, s->d_sae, &r) < 0) fuzz_check_refusal("ms_sae_eval_read");
    ms_sae_eval_result_free(&r);
    if ((int64_t)s->d_in * s->d_sae <= (1 << 22)) {
        float *x = ms_calloc((size_t)s->d_in, sizeof(float)), *f = ms_calloc((size_t)s->d_sae, sizeof(float));
        ms_sae_encode(s, x, 1, f);
        ms_sae_decode(s, f, 1, x);
        free(x);
        free(f);
    }
    ms_sae_free(s);
}

// A probe set loaded and applied, as `sae match --probe` does: every fit's score of one input row
// (x = the mean), and the split read over n_seq sequences.
static inline void fuzz_use_probe(const char *path) {
    ms_clear_error();
    ms_probe_set *p = ms_probe_load(path);
    if (!p) { fuzz_check_refusal("ms_probe_load"); return; }
    volatile double sink = 0;
    for (int k = 0; k < p->n_fits; k++) {
        double s = p->fits[k].bias;
        for (int i = 0; i < p->d; i++) s += p->mean[i] * p->fits[k].weight[i];
        sink += s + (p->fits[k].solver ? (double)strlen(p->fits[k].solver) : 0) + (double)strlen(p->fits[k].concept);
    }
    for (int64_t i = 0; i < p->n_seq; i++) sink += p->split[i];
    sink += p->hook ? (double)strlen(p->hook) : 0;
    (void)sink;
    ms_probe_set_free(p);
}

// A labels file loaded whole and by one concept's name, each label array read over [n_seq, ctx],
// as `probe train`, `pca` and `sae match` do.
static inline void fuzz_use_labels(const char *path) {
    char name[256] = "digits"; // the by-name load asks for the first concept the whole load listed
    for (int pass = 0; pass < 2; pass++) {
        ms_clear_error();
        ms_labels *l = ms_labels_load(path, pass ? name : NULL);
        if (!l) {
            // "no /concepts/<name> (the file has: ...)" is the expected answer for a file without it
            fuzz_check_refusal("ms_labels_load");
            continue;
        }
        if (!pass && l->n_concepts > 0) snprintf(name, sizeof name, "%s", l->names[0]);
        volatile int64_t sink = 0;
        const int64_t n = l->n_seq * l->ctx;
        for (int64_t t = 0; t < n; t++) sink += l->tokens[t];
        for (int c = 0; c < l->n_concepts; c++) {
            sink += (int64_t)strlen(l->names[c]);
            for (int64_t t = 0; t < n; t++) sink += l->labels[c][t];
        }
        (void)sink;
        ms_labels_free(l);
    }
}

#endif
