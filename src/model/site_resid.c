// site_resid.c: see site_resid.h.
#include "model/site_resid.h"
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "util/util.h"

int ms_site_resid_width(const ms_config *cfg, ms_site site) {
    int64_t shape[4];
    if (ms_site_shape(cfg, site, 1, shape) < 0) return 0; // not a site of this architecture
    switch (site) {
    case MS_SITE_EMBED: case MS_SITE_POS_EMBED: case MS_SITE_RESID_PRE: case MS_SITE_ATTN_OUT:
    case MS_SITE_RESID_MID: case MS_SITE_MLP_OUT: case MS_SITE_RESID_POST: case MS_SITE_LN_FINAL_NORMALIZED:
        return cfg->d_model;
    case MS_SITE_ATTN_Z: return cfg->n_head * cfg->d_head;
    case MS_SITE_MLP_POST: return cfg->d_mlp;
    default: return 0;
    }
}

int ms_site_to_resid(const ms_model *m, ms_site site, int layer, const float *dir, int n, float *out) {
    const int C = m->cfg.d_model, d = ms_site_resid_width(&m->cfg, site);
    char name[128];
    ms_site_name(site, layer, name, sizeof name);
    if (!d) {
        ms_error("%s has no linear path into the residual stream", name);
        return -1;
    }
    if (ms_site_is_block(site) && (layer < 0 || layer >= m->cfg.n_layer)) {
        ms_error("%s: the model has %d layers", name, m->cfg.n_layer);
        return -1;
    }
    const ms_backend_ctx be = {.n_threads = ms_num_threads(), .weights_bf16 = m->weights_bf16};
    if (site == MS_SITE_ATTN_Z) // out (n, C) = z (n, H*Dh) · W_Oᵀ, W_O (C, H*Dh)
        ms_op_linear(&be, out, dir, m->w.layers[layer].wo, NULL, n, d, C);
    else if (site == MS_SITE_MLP_POST) // out (n, C) = h (n, F) · W_outᵀ, W_out (C, F)
        ms_op_linear(&be, out, dir, m->w.layers[layer].w_out, NULL, n, d, C);
    else
        memcpy(out, dir, (size_t)n * C * sizeof *out);
    // With post-norms (Gemma 2/3) the block's output passes an RMSNorm between W_O / W_out and the
    // residual stream (hook_attn_out / hook_mlp_out are after it): its gain is on the path; its
    // 1/rms depends on the token's whole output, so a direction's lens keeps only the gain.
    const float *post = NULL;
    if (m->cfg.post_norms && site == MS_SITE_ATTN_Z) post = m->w.layers[layer].ln1_post_w;
    if (m->cfg.post_norms && site == MS_SITE_MLP_POST) post = m->w.layers[layer].ln2_post_w;
    for (int i = 0; post && i < n; i++)
        for (int j = 0; j < C; j++) out[(size_t)i * C + j] *= post[j];
    return 0;
}

int ms_resid_logits(const ms_model *m, const float *x, int n, float *logits) {
    const ms_config *c = &m->cfg;
    const int C = c->d_model, V = c->vocab_size;
    const ms_backend_ctx be = {.n_threads = ms_num_threads(), .weights_bf16 = m->weights_bf16};
    float *h = ms_malloc((size_t)n * C * sizeof *h); // (n, C) the normalized rows, as forward's s->ln
    if (c->layer_norm) ms_op_layernorm(&be, h, x, m->w.lnf_w, m->w.lnf_b, n, C, c->norm_eps);
    else ms_op_rmsnorm(&be, h, x, m->w.lnf_w, n, C, c->norm_eps);
    ms_op_linear(&be, logits, h, m->w.unembed, NULL, n, C, V); // (n, V) = h (n, C) · W_Uᵀ
    if (c->logit_softcap > 0) ms_op_softcap(&be, logits, c->logit_softcap, (size_t)n * V);
    free(h);
    return 0;
}
