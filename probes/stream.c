// stream.c: streamed token rows for the probes and PCA (stream.h).
#include "probes/stream.h"
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

// Next block of the split `want` into Z (cap, d): real tokens only (id >= 0: padding is never data;
// switch to the reader's real-token mask when src/io/acts.h has one), (x - mean) / std when mean is
// given, else x. flat[i] = seq·ctx + pos of row i (the label index). Returns the rows, 0 at the end, -1.
// Whether the labels' row q has the activations' tokens at every real position: a capture cut by
// --max-tokens pads the rest of its last row (-1), which a labels file of the whole input does not.
static int row_lines_up(const ms_probe_src *s, int64_t q) {
    const int32_t *want = s->lab->tokens + q * s->ctx;
    for (int t = 0; t < s->ctx; t++)
        if (s->ids[t] >= 0 && s->ids[t] != want[t]) return 0;
    return 1;
}

int64_t ms_probe_next_block(ms_probe_src *s, int want, const double *mean, const double *std, double *Z, int64_t *flat) {
    int64_t n = 0;
    for (; s->cursor < s->n_seq && n + s->ctx <= s->cap; s->cursor++) {
        int64_t q = s->cursor;
        if (s->split && s->split[q] != want) continue;
        if (ms_acts_read(s->a, s->h, q, 1, 0, s->ctx, s->xseq) || ms_acts_read_ids(s->a, q, 1, 0, s->ctx, s->ids)) return -1;
        if (s->lab && !row_lines_up(s, q)) {
            ms_error("%s: /tokens row %lld differs from the activations file's (labels made with other --input/--ctx/--prepend-bos?)",
                     ms_acts_path(s->a), (long long)q);
            return -1;
        }
        for (int t = 0; t < s->ctx; t++) {
            if (s->ids[t] < 0) continue;
            const float *x = s->xseq + (size_t)t * s->d;
            double *z = Z + n * s->d;
            for (int j = 0; j < s->d; j++) z[j] = mean ? ((double)x[j] - mean[j]) / std[j] : (double)x[j];
            flat[n++] = q * s->ctx + t;
        }
    }
    return n;
}


int ms_probe_src_open(ms_probe_src *s, const char *acts, const char *hook, int64_t block) {
    memset(s, 0, sizeof *s);
    if (!(s->a = ms_acts_open(acts))) return -1;
    s->h = hook ? ms_acts_find_hook(s->a, hook) : ms_acts_only_hook(s->a, "(give --hook)");
    if (s->h < 0) return -1;
    if (!ms_acts_has_tokens(s->a)) { ms_error("%s: no /tokens (needed to skip padding and match labels)", acts); return -1; }
    s->ctx = ms_acts_tokens_ctx(s->a);
    if (ms_acts_ctx(s->a, s->h) != s->ctx) {
        ms_error("%s: /acts/%s is not a token site (dim 1 is %d, /tokens has ctx %d)", acts, ms_acts_hook_name(s->a, s->h),
                 ms_acts_ctx(s->a, s->h), s->ctx);
        return -1;
    }
    int64_t d = ms_acts_d(s->a, s->h);
    if (d > 65536) { ms_error("%s: %lld values per token is too many for a dense fit", acts, (long long)d); return -1; }
    s->d = (int)d;
    s->n_seq = ms_acts_n_seq(s->a);
    s->cap = block > 0 ? block : 4096;
    if (s->cap < s->ctx) s->cap = s->ctx;
    s->xseq = ms_malloc((size_t)s->ctx * s->d * sizeof *s->xseq);
    s->ids = ms_malloc((size_t)s->ctx * sizeof *s->ids);
    return 0;
}

void ms_probe_src_close(ms_probe_src *s) {
    free(s->xseq);
    free(s->ids);
    if (s->a) ms_acts_close(s->a);
    memset(s, 0, sizeof *s);
}
