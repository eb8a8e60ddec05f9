// logit_lens.c: see logit_lens.h.
#include "viz/logit_lens.h"
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include "util/util.h"

// Inserts (v, id) into a list of n values kept sorted by `better` first; no-op if v does not
// make it. sign +1: largest first, -1: smallest first.
static void keep_best(float *val, int *ids, int n, float v, int id, float sign) {
    if (!(sign * v > sign * val[n - 1])) return;
    int k = n - 1;
    while (k > 0 && sign * val[k - 1] < sign * v) { val[k] = val[k - 1]; ids[k] = ids[k - 1]; k--; }
    val[k] = v;
    ids[k] = id;
}

void ms_logit_lens(const ms_model *m, const ms_sae *sae, const int *feat, int n, int n_top, int *pos_id,
                   float *pos_v, int *neg_id, float *neg_v) {
    const int V = m->cfg.vocab_size, C = m->cfg.d_model, B = 32; // 32 directions per product
    float *dir = ms_malloc((size_t)B * C * sizeof *dir), *lg = ms_malloc((size_t)B * V * sizeof *lg);
    for (int b0 = 0; b0 < n; b0 += B) {
        int nb = n - b0 < B ? n - b0 : B;
        for (int i = 0; i < nb; i++) { // dir[i] (C) = g(W_dec[f])
            const float *w = sae->W_dec + (size_t)feat[b0 + i] * C;
            float *d = dir + (size_t)i * C;
            double mean = 0;
            if (m->cfg.arch == MS_ARCH_GPT2) { for (int j = 0; j < C; j++) mean += w[j]; mean /= C; }
            for (int j = 0; j < C; j++) d[j] = (float)(w[j] - mean) * (m->w.lnf_w ? m->w.lnf_w[j] : 1.0f);
        }
        // lg (nb, V) = dir (nb, C) · W_Uᵀ  with W_U (V, C)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, V, C, 1.0f, dir, C, m->w.unembed, C, 0.0f, lg, V);
        for (int i = 0; i < nb; i++) {
            const float *l = lg + (size_t)i * V;
            const size_t o = (size_t)(b0 + i) * n_top;
            for (int k = 0; k < n_top; k++) { pos_id[o + k] = neg_id[o + k] = -1; pos_v[o + k] = -INFINITY; neg_v[o + k] = INFINITY; }
            for (int v = 0; v < V; v++) { // insertion into two small sorted lists
                keep_best(pos_v + o, pos_id + o, n_top, l[v], v, 1.0f);
                keep_best(neg_v + o, neg_id + o, n_top, l[v], v, -1.0f);
            }
        }
    }
    free(dir);
    free(lg);
}

const char *ms_logit_lens_note(const ms_model *m) {
    return m->cfg.arch == MS_ARCH_GPT2 ? "W_U \xc2\xb7 (\xce\xb3 \xe2\x8a\x99 centred W_dec[f]): ln_final's gain, no bias"
                                       : "W_U \xc2\xb7 (\xce\xb3 \xe2\x8a\x99 W_dec[f]): the final RMSNorm's gain";
}
