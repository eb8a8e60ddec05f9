// observe.c: copy hook sites out of a forward pass (see observe.h).
#include "model/observe.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

typedef struct {
    ms_site site;
    size_t row;      // floats per sequence at ctx positions
    float *out;      // (max_batch, row)
    ms_observer *ob;
} observed_site;

struct ms_observer {
    const ms_model *m;
    ms_hooks *hooks;
    observed_site *s; // (n)
    int n, ctx;
    int T;            // of the pass in flight
    const int *lens;  // (B) of the pass in flight, NULL: all T
};

static int is_attention_map(ms_site s) { return s == MS_SITE_ATTN_SCORES || s == MS_SITE_ATTN_PATTERN; }

// Copies the hook's (B, T, ...) tensor into (B, ctx, ...) rows, padding past each length.
static int copy_site(ms_activation *a, void *user) {
    observed_site *os = user;
    const ms_observer *ob = os->ob;
    const int B = (int)a->shape[0], T = ob->T, ctx = ob->ctx;
    for (int b = 0; b < B; b++) {
        const int len = ob->lens ? ob->lens[a->seq0 + b] : T;
        float *dst = os->out + (size_t)(a->seq0 + b) * os->row;
        if (is_attention_map(os->site)) { // (H, T, T) -> (H, ctx, ctx)
            const int H = (int)a->shape[1];
            const float pad = os->site == MS_SITE_ATTN_SCORES ? -INFINITY : 0.0f;
            for (int hh = 0; hh < H; hh++)
                for (int q = 0; q < ctx; q++) {
                    float *d = dst + ((size_t)hh * ctx + q) * ctx;
                    if (q >= len) { memset(d, 0, (size_t)ctx * sizeof(float)); continue; }
                    const float *src = a->data + (((size_t)b * H + hh) * T + q) * T;
                    memcpy(d, src, (size_t)len * sizeof(float));
                    for (int k = len; k < ctx; k++) d[k] = pad;
                }
        } else { // (T, ...) -> (ctx, ...)
            const size_t inner = os->row / (size_t)ctx;
            memcpy(dst, a->data + (size_t)b * T * inner, (size_t)len * inner * sizeof(float));
            memset(dst + (size_t)len * inner, 0, (size_t)(ctx - len) * inner * sizeof(float));
        }
    }
    return 0;
}

ms_observer *ms_observer_new(const ms_model *m, const char *const *sites, int n, int ctx, float *const *out) {
    ms_observer *ob = ms_calloc(1, sizeof *ob);
    ob->m = m;
    ob->n = n;
    ob->ctx = ctx;
    ob->hooks = ms_hooks_new();
    ob->s = ms_calloc((size_t)(n > 0 ? n : 1), sizeof *ob->s);
    for (int i = 0; i < n; i++) {
        observed_site *os = &ob->s[i];
        int layer;
        int64_t shape[4];
        int nd = ms_site_parse(sites[i], &os->site, &layer) ? -1 : ms_site_shape(&m->cfg, os->site, ctx, shape);
        if (nd < 0 || layer >= m->cfg.n_layer || ms_hooks_add(ob->hooks, sites[i], copy_site, os)) {
            ms_error("hook '%s' is not a known site", sites[i]);
            ms_observer_free(ob);
            return NULL;
        }
        os->row = 1;
        for (int j = 0; j < nd; j++) os->row *= (size_t)shape[j];
        os->out = out[i];
        os->ob = ob;
    }
    return ob;
}

void ms_observer_free(ms_observer *ob) {
    if (!ob) return;
    ms_hooks_free(ob->hooks);
    free(ob->s);
    free(ob);
}

int ms_observe(ms_observer *ob, ms_state *st, const int32_t *tokens, int B, int T, const int *lens) {
    if (T > ob->ctx) { ms_error("observe: %d tokens exceed the %d positions of a row", T, ob->ctx); return -1; }
    ob->T = T;
    ob->lens = lens;
    ms_forward_opts fo = {.hooks = ob->hooks, .want_logits = 0, .stop_after_layer = -1};
    int rc = ms_forward(ob->m, st, tokens, B, T, &fo);
    ob->lens = NULL;
    return rc;
}

int ms_observe_one(const ms_model *m, const int32_t *tokens, int T, const char *site, float *out) {
    ms_observer *ob = ms_observer_new(m, &site, 1, T, &out);
    if (!ob) return -1;
    ms_state *st = ms_state_new(m, 1, T);
    int rc = st ? ms_observe(ob, st, tokens, 1, T, NULL) : -1;
    ms_state_free(st);
    ms_observer_free(ob);
    return rc;
}
