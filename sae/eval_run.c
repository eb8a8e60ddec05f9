// eval_run.c: the whole `sae eval` pipeline (eval_run.h): activation metrics, the downstream
// token rows, the downstream metrics, the store.
#include "sae/eval_run.h"
#include "backend/backend.h"
#include <stdlib.h>
#include "model/model.h"
#include "util/util.h"

// Reads at most *n sequences of o->input_path (row stride T, lengths into *lens); *n = rows read.
static int32_t *read_input_rows(const ms_sae_eval_run_opts *o, const ms_model *m, int T, int64_t *n, int **lens) {
    if (o->input_format != MS_INPUT_IDS && !m->tok) {
        ms_error("%s: the model has no tokenizer: use --input-format ids", o->model_path);
        return NULL;
    }
    ms_input *in = ms_input_open(o->input_path, o->input_format, m->tok, T, o->prepend_bos,
                                 m->tok ? ms_tokenizer_bos(m->tok) : m->cfg.bos_id, m->cfg.vocab_size);
    if (!in) return NULL;
    int32_t *tok = NULL; // (n, T)
    int64_t cap = 0, got = 0;
    int rc = 0;
    while (got < *n) {
        if (got == cap) {
            cap = cap ? 2 * cap : 64;
            tok = ms_realloc(tok, (size_t)cap * T * sizeof(int32_t));
            *lens = ms_realloc(*lens, (size_t)cap * sizeof(int));
        }
        int L = ms_input_next(in, tok + got * T);
        if (L < 0) { rc = -1; break; }
        if (L == 0) break;
        (*lens)[got++] = L;
    }
    ms_input_close(in);
    if (!rc && got == 0) { ms_error("%s: no sequences", o->input_path); rc = -1; }
    if (rc) { free(tok); return NULL; }
    *n = got;
    return tok;
}

// The token rows of the downstream run: the very sequences the activations came from, or the input.
static int32_t *downstream_rows(const ms_sae_eval_run_opts *o, const ms_model *m, int64_t *n, int **lens, int *T) {
    *n = o->max_seqs > 0 ? o->max_seqs : INT64_MAX;
    *T = o->ctx;
    if (o->input_path) {
        if (!*T) *T = 128;
        if (*T > m->cfg.n_ctx) *T = m->cfg.n_ctx;
        return read_input_rows(o, m, *T, n, lens);
    }
    int fctx = 0;
    int32_t *tok = ms_acts_token_rows(o->acts_path, n, &fctx);
    if (!tok) return NULL;
    if (o->ctx && o->ctx != fctx) {
        ms_error("--ctx %d differs from the activations' ctx %d (give --input)", o->ctx, fctx);
        free(tok);
        return NULL;
    }
    *T = fctx;
    return tok;
}

static int run_downstream(const ms_sae_eval_run_opts *o, const ms_sae *s, ms_sae_eval_result *r) {
    ms_model *m = ms_model_load_opts(o->model_path, &(ms_load_opts){.hold_bf16 = o->compute == MS_COMPUTE_BF16});
    if (!m) return -1;
    int *lens = NULL;
    int64_t n = 0;
    int T = 0, rc = -1;
    int32_t *tok = downstream_rows(o, m, &n, &lens, &T);
    if (tok && T > m->cfg.n_ctx) ms_error("sequences of %d tokens exceed the model's context of %d", T, m->cfg.n_ctx);
    else if (tok) rc = ms_sae_eval_downstream(s, m, r->hook, tok, lens, n, T, o->model_batch > 0 ? o->model_batch : 4, r);
    free(tok);
    free(lens);
    ms_model_free(m);
    return rc;
}

int ms_sae_eval_run(const ms_sae_eval_run_opts *o, ms_sae_eval_result *r) {
    ms_sae *s = ms_sae_load(o->sae_path);
    if (!s) return -1;
    int rc = ms_sae_eval_acts(s, o->acts_path, &o->eval, r);
    if (!rc && o->model_path) rc = run_downstream(o, s, r);
    if (!rc && o->store) rc = ms_sae_eval_store(o->sae_path, r);
    ms_sae_free(s);
    if (rc) ms_sae_eval_result_free(r);
    return rc ? -1 : 0;
}
