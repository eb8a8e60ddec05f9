// logit_lens.c: see logit_lens.h.
#include "viz/logit_lens.h"
#include <cblas.h>
#include "backend/backend.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

// dir (nb, C) = g(dir): the final norm's linear part, in place.
static void final_norm_gain(const ms_model *m, float *dir, int nb) {
    const int C = m->cfg.d_model;
    for (int i = 0; i < nb; i++) {
        float *d = dir + (size_t)i * C;
        double mean = 0;
        if (m->cfg.layer_norm) { for (int j = 0; j < C; j++) mean += d[j]; mean /= C; }
        for (int j = 0; j < C; j++) d[j] = (float)(d[j] - mean) * (m->w.lnf_w ? m->w.lnf_w[j] : 1.0f);
    }
}

int ms_logit_lens(const ms_model *m, const ms_sae *sae, ms_site site, int layer, const int *feat, int n, int n_top,
                  int *pos_id, float *pos_v, int *neg_id, float *neg_v) {
    const int V = m->cfg.vocab_size, C = m->cfg.d_model, D = sae->d_in, B = 32; // 32 directions per product
    const int width = ms_site_resid_width(&m->cfg, site);
    if (width && width != D) {
        char name[128];
        ms_error("%s is %d wide in the model but the SAE's d_in is %d", ms_site_name(site, layer, name, sizeof name), width, D);
        return -1;
    }
    float *row = ms_malloc((size_t)B * D * sizeof *row), *dir = ms_malloc((size_t)B * C * sizeof *dir);
    float *lg = ms_malloc((size_t)B * V * sizeof *lg);
    int rc = 0;
    for (int b0 = 0; b0 < n && !rc; b0 += B) {
        int nb = n - b0 < B ? n - b0 : B;
        for (int i = 0; i < nb; i++) // row (nb, D) = W_dec[feat]
            memcpy(row + (size_t)i * D, sae->W_dec + (size_t)feat[b0 + i] * D, (size_t)D * sizeof *row);
        if ((rc = ms_site_to_resid(m, site, layer, row, nb, dir)) < 0) break; // dir (nb, C)
        final_norm_gain(m, dir, nb);
        // lg (nb, V) = dir (nb, C) · W_Uᵀ  with W_U (V, C)
        if (m->weights_bf16) {
            const ms_backend_ctx be = {.n_threads = ms_num_threads(), .weights_bf16 = 1};
            ms_op_linear(&be, lg, dir, m->w.unembed, NULL, nb, C, V);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, V, C, 1.0f, dir, C, m->w.unembed, C, 0.0f, lg, V);
        }
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
    free(row);
    free(dir);
    free(lg);
    return rc;
}

void ms_logit_lens_note(const ms_model *m, ms_site site, char *buf, size_t cap) {
    // "W_dec[f]" carried into the residual stream along the site's path (site_resid.h)
    const int post = m->cfg.post_norms && (site == MS_SITE_ATTN_Z || site == MS_SITE_MLP_POST);
    const char *r = site == MS_SITE_ATTN_Z ? (post ? "\xce\xb3_post\xe2\x8a\x99W_O\xc2\xb7W_dec[f]" : "W_O\xc2\xb7W_dec[f]")
                    : site == MS_SITE_MLP_POST ? (post ? "\xce\xb3_post\xe2\x8a\x99W_out\xc2\xb7W_dec[f]" : "W_out\xc2\xb7W_dec[f]")
                    : "W_dec[f]";
    if (m->cfg.layer_norm)
        snprintf(buf, cap, "W_U \xc2\xb7 (\xce\xb3 \xe2\x8a\x99 centred %s): ln_final's gain, no bias", r);
    else
        snprintf(buf, cap, "W_U \xc2\xb7 (\xce\xb3 \xe2\x8a\x99 %s): the final RMSNorm's gain", r);
}
