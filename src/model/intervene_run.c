// intervene_run.c: a prompt run clean and edited, side by side (intervene.h).
#include <stdlib.h>
#include <string.h>
#include "model/intervene.h"
#include "util/util.h"

int ms_run_clean_and_edited(const ms_model *m, const int32_t *ids, int n, int n_gen, int k,
                            const ms_intervention *iv, int n_iv, ms_run_result r[2]) {
    const int V = m->cfg.vocab_size;
    const int total = n + n_gen < m->cfg.n_ctx ? n + n_gen : m->cfg.n_ctx;
    ms_state *s = ms_state_new(m, 1, total);
    if (!s) return -1;
    int rc = 0;
    for (int w = 0; w < 2 && !rc; w++) {
        const int n_edits = w ? n_iv : 0;
        r[w].top = ms_malloc((size_t)k * sizeof(ms_token_score));
        r[w].ids = ms_malloc((size_t)total * sizeof(int32_t));
        memcpy(r[w].ids, ids, (size_t)n * sizeof(int32_t));
        r[w].len = n;
        rc = ms_forward_intervened(m, s, ids, 1, n, iv, n_edits);
        if (!rc) ms_logits_top(ms_state_logits(s) + (size_t)(n - 1) * V, V, k, r[w].top);
        if (!rc && total > n) rc = (r[w].len = ms_generate_intervened(m, s, r[w].ids, n, total - n, iv, n_edits)) < 0;
    }
    ms_state_free(s);
    return rc ? -1 : 0;
}

void ms_run_result_free(ms_run_result *r) {
    free(r->top);
    free(r->ids);
    r->top = NULL;
    r->ids = NULL;
}
