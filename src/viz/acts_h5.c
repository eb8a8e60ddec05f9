// acts_h5.c: see acts_h5.h; a view of one hook over the one activations-file reader (io/acts.h).
#include "viz/acts_h5.h"
#include <stdlib.h>
#include <string.h>
#include "io/acts.h"
#include "util/util.h"

struct ms_acts_file {
    ms_acts *a;
    int h;
};

ms_acts_file *ms_acts_file_open(const char *path, const char *hook) {
    ms_acts *a = ms_acts_open(path);
    if (!a) return NULL;
    int h = hook && *hook ? ms_acts_find_hook(a, hook) : ms_acts_only_hook(a, "name one (the SAE's 'hook' attribute is missing)");
    if (h < 0) { ms_acts_close(a); return NULL; }
    ms_acts_file *f = ms_calloc(1, sizeof *f);
    f->a = a;
    f->h = h;
    return f;
}

void ms_acts_file_close(ms_acts_file *f) {
    if (!f) return;
    ms_acts_close(f->a);
    free(f);
}

int64_t ms_acts_file_n_seq(const ms_acts_file *f) { return ms_acts_n_seq(f->a); }
int ms_acts_file_ctx(const ms_acts_file *f) { return ms_acts_ctx(f->a, f->h); }
int ms_acts_file_d(const ms_acts_file *f) { return (int)ms_acts_d(f->a, f->h); }
const char *ms_acts_file_hook(const ms_acts_file *f) { return ms_acts_hook_name(f->a, f->h); }
const char *ms_acts_file_model(const ms_acts_file *f) { return ms_acts_model(f->a); }
int ms_acts_file_has_tokens(const ms_acts_file *f) { return ms_acts_has_tokens(f->a); }

int ms_acts_file_read(ms_acts_file *f, int64_t s0, int64_t n, float *x, int32_t *ids) {
    const int ctx = ms_acts_ctx(f->a, f->h);
    if (s0 < 0 || n <= 0 || s0 + n > ms_acts_n_seq(f->a)) {
        ms_error("%s: sequences %lld..%lld out of range (0..%lld)", ms_acts_path(f->a), (long long)s0,
                 (long long)(s0 + n - 1), (long long)ms_acts_n_seq(f->a) - 1);
        return -1;
    }
    if (ms_acts_read(f->a, f->h, s0, n, 0, ctx, x)) return -1;
    if (!ids) return 0;
    if (!ms_acts_has_tokens(f->a)) { memset(ids, 0, (size_t)n * ctx * sizeof *ids); return 0; }
    if (ms_acts_tokens_ctx(f->a) != ctx) {
        ms_error("%s: /tokens has %d positions per row, /acts/%s has %d", ms_acts_path(f->a), ms_acts_tokens_ctx(f->a),
                 ms_acts_file_hook(f), ctx);
        return -1;
    }
    return ms_acts_read_ids(f->a, s0, n, 0, ctx, ids);
}

char **ms_acts_file_vocab(ms_acts_file *f, size_t **lens, int *n_vocab) { return ms_acts_vocab(f->a, lens, n_vocab); }

