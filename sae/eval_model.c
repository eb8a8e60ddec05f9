// eval_model.c: downstream metrics: the model's next-token loss with the SAE reconstruction spliced
// in at its hook site (through the hook API: a callback overwrites the activation in place),
// against the clean run and a zero-ablated run.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "model/model.h"
#include "model/hooks.h"
#include "sae/eval.h"
#include "util/util.h"

enum { RUN_CLEAN = 0, RUN_SPLICE, RUN_ZERO };

typedef struct {
    const ms_sae *s;
    int mode;
    ms_sae_encoder *enc;
    ms_sae_codes codes;
    float *xhat;
    size_t xhat_cap;
} splice_ctx;

// The site's activation, (B, T, per-token...) with per-token size d_in, replaced by x̂ or by 0.
static int splice_cb(ms_activation *a, void *user) {
    splice_ctx *c = user;
    int64_t per = 1;
    for (int i = 2; i < a->ndim; i++) per *= a->shape[i];
    if (a->ndim < 2 || per != c->s->d_in) {
        ms_error("hook %s has %lld values per token but the SAE has d_in=%d", a->name, (long long)per, c->s->d_in);
        return -1;
    }
    const int64_t n = a->shape[0] * a->shape[1];
    const size_t sz = (size_t)n * (size_t)per;
    if (c->mode == RUN_ZERO) { memset(a->data, 0, sz * sizeof(float)); return 0; }
    if (sz > c->xhat_cap) { free(c->xhat); c->xhat = ms_aligned_alloc(sz * sizeof(float)); c->xhat_cap = sz; }
    if (ms_sae_encoder_sparse(c->enc, a->data, n, &c->codes) < 0) return -1;
    ms_sae_decode_sparse(c->s, &c->codes, c->xhat);
    memcpy(a->data, c->xhat, sz * sizeof(float));
    return 0;
}

// log_softmax of one row of V logits into out (double accumulation).
static void log_softmax(const float *z, int V, float *out) {
    float mx = -INFINITY;
    for (int v = 0; v < V; v++) mx = z[v] > mx ? z[v] : mx;
    double sum = 0;
    for (int v = 0; v < V; v++) sum += exp((double)z[v] - mx);
    const double lse = mx + log(sum);
    for (int v = 0; v < V; v++) out[v] = (float)((double)z[v] - lse);
}

void ms_sae_eval_check_downstream(ms_sae_eval_result *r) {
    r->ce_delta = r->ce_zero - r->ce_clean;
    // written so that NaN fails too
    r->ce_recovered_valid = r->ce_delta >= MS_EVAL_CE_MIN_DELTA && isfinite(r->ce_recovered);
    r->kl_score_valid = r->kl_zero >= MS_EVAL_CE_MIN_DELTA && isfinite(r->kl_score);
}

int ms_sae_eval_downstream(const ms_sae *s, const ms_model *m, const char *hook, const int32_t *tokens,
                           const int *lens, int64_t n_seq, int T, int batch, ms_sae_eval_result *r) {
    ms_site site;
    int layer;
    if (!hook || ms_site_parse(hook, &site, &layer)) { ms_error("'%s' is not a hook site name", hook ? hook : "(none)"); return -1; }
    const int V = m->cfg.vocab_size;
    if (batch < 1) batch = 1;
    // logits of a batch are (B, T, V): keep each log-probability buffer of one batch under ~128 MB
    while (batch > 1 && (size_t)batch * T * V * sizeof(float) > ((size_t)128 << 20)) batch /= 2;
    ms_state *st = ms_state_new(m, batch, T);
    if (!st) return -1;
    splice_ctx ctx = {.s = s, .enc = ms_sae_encoder_new(s)};
    if (!ctx.enc) { ms_state_free(st); return -1; }
    ms_hooks *hk = ms_hooks_new();
    if (ms_hooks_add(hk, hook, splice_cb, &ctx)) {
        ms_error("'%s' is not a hook site", hook);
        ms_hooks_free(hk); ms_state_free(st); ms_sae_encoder_free(ctx.enc); return -1;
    }
    float *lp_clean = ms_malloc((size_t)batch * T * V * sizeof(float));
    float *lp_other = ms_malloc((size_t)batch * T * V * sizeof(float));
    double ce[3] = {0, 0, 0}, kl[3] = {0, 0, 0};
    int64_t npred = 0;
    int rc = 0;
    for (int64_t s0 = 0; s0 < n_seq && !rc;) {
        // a batch of consecutive sequences of the same length
        const int L = lens ? lens[s0] : T;
        int B = 1;
        while (B < batch && s0 + B < n_seq && (lens ? lens[s0 + B] : T) == L) B++;
        if (L < 2) { s0 += B; continue; } // nothing to predict
        // pack (B, L) from rows of stride T
        int32_t *tok = ms_malloc((size_t)B * L * sizeof(int32_t));
        for (int b = 0; b < B; b++) memcpy(tok + (size_t)b * L, tokens + (size_t)(s0 + b) * T, (size_t)L * sizeof(int32_t));
        for (int mode = RUN_CLEAN; mode <= RUN_ZERO && !rc; mode++) {
            ctx.mode = mode;
            ms_forward_opts fo = {.hooks = mode == RUN_CLEAN ? NULL : hk, .want_logits = 1, .stop_after_layer = -1};
            if (ms_forward(m, st, tok, B, L, &fo)) { rc = -1; break; }
            const float *logits = ms_state_logits(st);
            double bce = 0, bkl = 0;
            #pragma omp parallel for reduction(+:bce,bkl) schedule(static)
            for (int64_t i = 0; i < (int64_t)B * L; i++) {
                const int64_t t = i % L;
                if (t + 1 >= L) continue; // the last position predicts nothing we have
                const float *z = logits + (size_t)i * V;
                float *lc = lp_clean + (size_t)i * V;
                float *o = mode == RUN_CLEAN ? lc : lp_other + (size_t)i * V;
                log_softmax(z, V, o);
                bce -= o[tok[i + 1]];
                if (mode != RUN_CLEAN) {
                    double k = 0;
                    for (int v = 0; v < V; v++) k += exp((double)lc[v]) * ((double)lc[v] - o[v]);
                    bkl += k;
                }
            }
            ce[mode] += bce;
            kl[mode] += bkl;
        }
        if (!rc) npred += (int64_t)B * (L - 1);
        free(tok);
        s0 += B;
    }
    if (!rc && npred == 0) { ms_error("no token to predict (sequences shorter than 2 tokens)"); rc = -1; }
    if (!rc) {
        r->have_model = 1;
        r->ce_tokens = npred;
        r->ce_clean = ce[RUN_CLEAN] / npred;
        r->ce_splice = ce[RUN_SPLICE] / npred;
        r->ce_zero = ce[RUN_ZERO] / npred;
        r->ce_recovered = (r->ce_zero - r->ce_splice) / (r->ce_zero - r->ce_clean);
        r->kl_splice = kl[RUN_SPLICE] / npred;
        r->kl_zero = kl[RUN_ZERO] / npred;
        r->kl_score = (r->kl_zero - r->kl_splice) / r->kl_zero;
        ms_sae_eval_check_downstream(r);
        snprintf(r->model, sizeof r->model, "%s", m->path ? m->path : "");
    }
    free(lp_clean); free(lp_other);
    ms_sae_codes_free(&ctx.codes);
    ms_sae_encoder_free(ctx.enc);
    free(ctx.xhat);
    ms_hooks_free(hk);
    ms_state_free(st);
    return rc;
}
