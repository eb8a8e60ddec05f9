// encode.c: sparse feature activations of every token of an activations file, CSR layout written
// in batches through the codes-file writer (io/codes.h; layout in eval.h).
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sae/eval.h"
#include "io/codes.h"
#include "util/util.h"

int ms_sae_encode_file(const ms_sae *s, const char *acts_path, const char *out_path, const ms_sae_encode_opts *o) {
    ms_acts_reader *rd = ms_acts_reader_open_for(s, acts_path, o ? o->hook : NULL);
    if (!rd) return -1;
    const int d = s->d_in;
    const int64_t B = o && o->batch > 0 ? o->batch : 4096;
    const int64_t maxt = o && o->max_tokens > 0 ? o->max_tokens : INT64_MAX;
    char *tmp = ms_atomic_tmp_path(out_path);
    const int has_tok = ms_acts_reader_has_tokens(rd);
    ms_codes_writer *w = ms_codes_writer_create(tmp, has_tok);
    if (!w) { ms_error("%s: cannot create", out_path); ms_acts_reader_close(rd); unlink(tmp); free(tmp); return -1; }
    int rc = 0;
    float *x = ms_aligned_alloc((size_t)B * d * sizeof(float));
    int32_t *ids = ms_malloc((size_t)B * sizeof(int32_t));
    int64_t *ptr = ms_malloc((size_t)(B + 1) * sizeof(int64_t));
    ms_sae_codes c;
    memset(&c, 0, sizeof c);
    ms_sae_encoder *enc = ms_sae_encoder_new(s);
    if (!enc) rc = -1;
    int64_t n = 0, nnz = 0;
    while (!rc && n < maxt) {
        int64_t m = ms_acts_reader_next(rd, x, ids, maxt - n < B ? maxt - n : B);
        if (m < 0) { rc = -1; break; }
        if (m == 0) break;
        // one CSR row per position, so rows line up with /tokens; padding (id -1 in a file with
        // tokens) is not data: it is not encoded and its row is empty
        int64_t n_real = 0;
        for (int64_t t = 0; t < m; t++)
            if (!has_tok || ids[t] >= 0) {
                if (t != n_real) memcpy(x + n_real * d, x + t * d, (size_t)d * sizeof(float));
                n_real++;
            }
        if (n_real && ms_sae_encoder_sparse(enc, x, n_real, &c) < 0) { rc = -1; break; }
        if (!n_real) c.nnz = 0;
        for (int64_t t = 0, r = 0; t < m; t++) { // global offsets
            if (!has_tok || ids[t] >= 0) r++;
            ptr[t] = nnz + (r ? c.row[r] : 0);
        }
        if (ms_codes_writer_append(w, ptr, m, c.idx, c.val, c.nnz, ids)) {
            ms_error("%s: write failed", out_path);
            rc = -1;
            break;
        }
        nnz += c.nnz;
        n += m;
    }
    const int ctx = ms_acts_reader_ctx(rd);
    ms_codes_meta meta = {.n_tokens = n, .n_seq = (n + ctx - 1) / ctx, .ctx = ctx, .d_in = s->d_in, .d_sae = s->d_sae,
                          .nnz = nnz, .k = s->k, .architecture = ms_sae_arch_name(s->arch),
                          .hook = ms_acts_reader_hook(rd), .acts = acts_path, .sae = o ? o->sae_path : NULL};
    if (ms_codes_writer_close(w, rc ? NULL : &meta) && !rc) {
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", ms_last_error()); // name the output, not its temporary
        ms_error("%s: %s", out_path, strstr(saved, ": ") ? strstr(saved, ": ") + 2 : saved);
        rc = -1;
    }
    if (!rc) rc = ms_atomic_commit(tmp, out_path);
    if (rc) unlink(tmp);
    ms_sae_codes_free(&c);
    ms_sae_encoder_free(enc);
    free(x); free(ids); free(ptr); free(tmp);
    ms_acts_reader_close(rd);
    return rc;
}
