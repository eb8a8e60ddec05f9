// generate.c: greedy decoding (see generate.h).
#include "model/generate.h"
#include "util/util.h"

int ms_generate_greedy(const ms_model *m, int32_t *ids, int n, int total, ms_token_fn on_token, void *user) {
    const int V = m->cfg.vocab_size;
    if (n < 1) { ms_error("empty prompt: no tokens to start from"); return -1; }
    ms_state *s = ms_state_new(m, 1, total);
    if (!s) return -1;
    ms_forward_opts fo = {.hooks = NULL, .want_logits = 1, .stop_after_layer = -1};
    int rc = 0;
    while (n < total) {
        if (ms_forward(m, s, ids, 1, n, &fo)) { rc = -1; break; }
        const float *lg = ms_state_logits(s) + (size_t)(n - 1) * V; // (V) the last position's logits
        int best = 0;
        for (int v = 1; v < V; v++) if (lg[v] > lg[best]) best = v;
        ids[n++] = best;
        if ((on_token && on_token(best, user)) || best == m->cfg.eos_id) break;
    }
    ms_state_free(s);
    return rc ? -1 : n;
}
