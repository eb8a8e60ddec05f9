// intervene.c: ablation, steering and activation patching as hook callbacks (see intervene.h).
#include "model/intervene.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

static int is_head_major(ms_site s) { return s == MS_SITE_ATTN_SCORES || s == MS_SITE_ATTN_PATTERN; }

// Heads along the site's head dimension, or 0 if it has none.
static int site_heads(const ms_config *c, ms_site s) {
    switch (s) {
    case MS_SITE_ATTN_Q: case MS_SITE_ATTN_Q_NORMED: case MS_SITE_ATTN_ROT_Q: case MS_SITE_ATTN_Z:
    case MS_SITE_ATTN_SCORES: case MS_SITE_ATTN_PATTERN:
        return c->n_head;
    case MS_SITE_ATTN_K: case MS_SITE_ATTN_K_NORMED: case MS_SITE_ATTN_ROT_K: case MS_SITE_ATTN_V:
        return c->n_kv_head;
    default:
        return 0;
    }
}

int64_t ms_site_token_size(const ms_config *c, ms_site site) {
    int64_t sh[4];
    int nd = ms_site_shape(c, site, 1, sh);
    if (nd < 0 || is_head_major(site)) return -1;
    int64_t d = 1;
    for (int i = 1; i < nd; i++) d *= sh[i];
    return d;
}

// 0 if (site, layer) is a site this model produces, else -1 + ms_error.
static int check_site(const ms_config *c, ms_site site, int layer, const char *what) {
    int64_t sh[4];
    const int block_ok = ms_site_is_block(site) ? layer >= 0 && layer < c->n_layer : layer == -1;
    if (!block_ok || ms_site_shape(c, site, 1, sh) < 0) {
        ms_error("'%s' is not a hook site of this %s model with %d layers (monoscope hooks lists them)", what,
                 ms_arch_name(c->arch), c->n_layer);
        return -1;
    }
    return 0;
}

static int check_head(const ms_config *c, ms_site site, int head, const char *what) {
    if (head < 0) return 0;
    const int heads = site_heads(c, site);
    if (!heads) {
        ms_error("%s: this site has no head dimension (head=H applies to attn.hook_q/k/v/rot_q/rot_k/z, "
                 "attn.hook_attn_scores and attn.hook_pattern)", what);
        return -1;
    }
    if (head >= heads) {
        ms_error("%s: head %d is out of range (the site has %d heads)", what, head, heads);
        return -1;
    }
    return 0;
}

int ms_intervention_parse_site(ms_intervention *iv, const ms_config *c, const char *text) {
    char name[128];
    const char *colon = strchr(text, ':');
    const size_t len = colon ? (size_t)(colon - text) : strlen(text);
    if (len == 0 || len >= sizeof name) {
        ms_error("'%s' is not a hook site (expected e.g. blocks.0.attn.hook_z or blocks.0.attn.hook_z:head=1)", text);
        return -1;
    }
    memcpy(name, text, len);
    name[len] = 0;
    iv->head = -1;
    if (colon) {
        char *end = NULL;
        long h = strncmp(colon + 1, "head=", 5) ? -1 : strtol(colon + 6, &end, 10);
        if (h < 0 || !end || end == colon + 6 || *end) {
            ms_error("'%s': expected SITE or SITE:head=H with H a non-negative integer", text);
            return -1;
        }
        iv->head = h > 1 << 20 ? 1 << 20 : (int)h;
    }
    if (ms_site_parse(name, &iv->site, &iv->layer)) {
        ms_error("'%s' is not a hook site name (monoscope hooks lists them)", name);
        return -1;
    }
    if (check_site(c, iv->site, iv->layer, name)) return -1;
    return check_head(c, iv->site, iv->head, text);
}

// ---- the edit, applied to (B, site shape) at a->data

// [pos, D] rows: columns [off, off + len) of rows t < n_rows, per sequence.
static void edit_token_major(const ms_intervention *iv, float *data, int64_t B, int64_t T, int64_t D, int64_t off,
                             int64_t len) {
    const int64_t n_rows = iv->kind == MS_IV_PATCH ? (T < iv->patch_T ? T : iv->patch_T) : T;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < n_rows; t++) {
            float *row = data + (b * T + t) * D + off;
            if (iv->kind == MS_IV_ABLATE) {
                memset(row, 0, (size_t)len * sizeof(float));
            } else if (iv->kind == MS_IV_ADD) {
                const float *v = iv->vec + off;
                for (int64_t i = 0; i < len; i++) row[i] += iv->scale * v[i];
            } else {
                memcpy(row, iv->patch + t * D + off, (size_t)len * sizeof(float));
            }
        }
}

// [n_head, T, T] per sequence: heads [h0, h1); a patch covers the leading (Tm, Tm) corner.
static void edit_head_major(const ms_intervention *iv, float *data, int64_t B, int64_t H, int64_t T, int h0, int h1) {
    const int64_t Tm = iv->kind == MS_IV_PATCH ? (T < iv->patch_T ? T : iv->patch_T) : T;
    const int64_t PT = iv->patch_T;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = h0; h < h1; h++) {
            float *blk = data + (b * H + h) * T * T; // (T, T)
            if (iv->kind == MS_IV_ABLATE) { memset(blk, 0, (size_t)(T * T) * sizeof(float)); continue; }
            const float *src = iv->patch + h * PT * PT; // (PT, PT)
            for (int64_t q = 0; q < Tm; q++) memcpy(blk + q * T, src + q * PT, (size_t)Tm * sizeof(float));
        }
}

static int apply_intervention(ms_activation *a, void *user) {
    const ms_intervention *iv = user;
    if (is_head_major(a->site)) { // (B, H, T, T)
        const int H = (int)a->shape[1];
        edit_head_major(iv, a->data, a->shape[0], H, a->shape[2], iv->head < 0 ? 0 : iv->head,
                        iv->head < 0 ? H : iv->head + 1);
        return 0;
    }
    int64_t D = 1; // (B, T, D...) with D the per-token size
    for (int i = 2; i < a->ndim; i++) D *= a->shape[i];
    // head h of (B, T, heads, d_head) is columns [h·d_head, (h+1)·d_head) of each row
    const int64_t off = iv->head < 0 ? 0 : iv->head * a->shape[3], len = iv->head < 0 ? D : a->shape[3];
    edit_token_major(iv, a->data, a->shape[0], a->shape[1], D, off, len);
    return 0;
}

static int check_intervention(const ms_config *c, const ms_intervention *iv) {
    char name[128];
    ms_site_name(iv->site, iv->layer, name, sizeof name);
    if ((unsigned)iv->site >= MS_SITE_COUNT || check_site(c, iv->site, iv->layer, name)) return -1;
    if (check_head(c, iv->site, iv->head, name)) return -1;
    if (iv->kind == MS_IV_ADD) {
        const int64_t D = ms_site_token_size(c, iv->site);
        if (D < 0) {
            ms_error("%s: steering needs a site with one row per position ([pos, ...]), not [n_head, q_pos, k_pos]", name);
            return -1;
        }
        if (!iv->vec || iv->vec_len != D) {
            ms_error("%s: the steering vector has %d values but the site's per-token size is %lld", name, iv->vec_len,
                     (long long)D);
            return -1;
        }
    } else if (iv->kind == MS_IV_PATCH) {
        if (!iv->patch || iv->patch_T < 1) {
            ms_error("%s: patch has no recorded activation (ms_intervention_record_patch)", name);
            return -1;
        }
    } else if (iv->kind != MS_IV_ABLATE) {
        ms_error("%s: unknown intervention kind %d", name, (int)iv->kind);
        return -1;
    }
    return 0;
}

int ms_interventions_attach(ms_hooks *h, const ms_model *m, const ms_intervention *iv, int n) {
    for (int i = 0; i < n; i++) {
        if (check_intervention(&m->cfg, &iv[i])) return -1;
        char name[128];
        ms_site_name(iv[i].site, iv[i].layer, name, sizeof name);
        if (ms_hooks_add(h, name, apply_intervention, (void *)&iv[i])) return -1;
    }
    return 0;
}

// ---- recording a site for patching (one sequence)
typedef struct {
    float *out;
    size_t n;     // floats expected
    int called;
} recorder;

static int record(ms_activation *a, void *user) {
    recorder *r = user;
    memcpy(r->out, a->data, r->n * sizeof(float));
    r->called = 1;
    return 0;
}

int ms_intervention_record_patch(ms_intervention *iv, const ms_model *m, const int32_t *src, int src_T) {
    char name[128];
    ms_site_name(iv->site, iv->layer, name, sizeof name);
    int64_t sh[4];
    if (check_site(&m->cfg, iv->site, iv->layer, name)) return -1;
    const int nd = ms_site_shape(&m->cfg, iv->site, src_T, sh);
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= (size_t)sh[i];
    ms_state *s = ms_state_new(m, 1, src_T);
    if (!s) return -1;
    recorder r = {ms_malloc(n * sizeof(float)), n, 0};
    ms_hooks *h = ms_hooks_new();
    int rc = ms_hooks_add(h, name, record, &r);
    ms_forward_opts o = {.hooks = h, .want_logits = 0, .stop_after_layer = -1};
    if (!rc) rc = ms_forward(m, s, src, 1, src_T, &o);
    if (!rc && !r.called) { ms_error("%s: the forward pass never reached this site", name); rc = -1; }
    ms_hooks_free(h);
    ms_state_free(s);
    if (rc) { free(r.out); return -1; }
    free(iv->patch);
    iv->patch = r.out;
    iv->patch_T = src_T;
    return 0;
}

void ms_intervention_release(ms_intervention *iv) {
    free(iv->patch);
    iv->patch = NULL;
    iv->patch_T = 0;
}

// ---- running
static ms_hooks *hooks_for(const ms_model *m, const ms_intervention *iv, int n) {
    if (n == 0) return NULL;
    ms_hooks *h = ms_hooks_new();
    if (ms_interventions_attach(h, m, iv, n)) { ms_hooks_free(h); return NULL; }
    return h;
}

int ms_forward_intervened(const ms_model *m, ms_state *s, const int32_t *tokens, int B, int T,
                          const ms_intervention *iv, int n) {
    ms_hooks *h = hooks_for(m, iv, n);
    if (n && !h) return -1;
    ms_forward_opts o = {.hooks = h, .want_logits = 1, .stop_after_layer = -1};
    int rc = ms_forward(m, s, tokens, B, T, &o);
    ms_hooks_free(h);
    return rc;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

int ms_generate_intervened(const ms_model *m, ms_state *s, int32_t *ids, int n, int n_gen,
                           const ms_intervention *iv, int n_iv) {
    const int V = m->cfg.vocab_size;
    ms_hooks *h = hooks_for(m, iv, n_iv);
    if (n_iv && !h) return -1;
    ms_forward_opts o = {.hooks = h, .want_logits = 1, .stop_after_layer = -1};
    const int total = n + n_gen;
    while (n < total) {
        if (ms_forward(m, s, ids, 1, n, &o)) { n = -1; break; }
        const int next = argmax(ms_state_logits(s) + (size_t)(n - 1) * V, V);
        ids[n++] = next;
        if (next == m->cfg.eos_id) break;
    }
    ms_hooks_free(h);
    return n;
}

// ---- top tokens
static int by_logit_desc(const void *pa, const void *pb) {
    const ms_token_score *a = pa, *b = pb;
    if (a->logit != b->logit) return a->logit > b->logit ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

int ms_logits_top(const float *logits, int V, int k, ms_token_score *out) {
    if (k > V) k = V;
    double mx = -INFINITY, sum = 0.0;
    for (int v = 0; v < V; v++) mx = logits[v] > mx ? logits[v] : mx;
    for (int v = 0; v < V; v++) sum += exp((double)logits[v] - mx);
    ms_token_score *all = ms_malloc((size_t)V * sizeof(ms_token_score));
    for (int v = 0; v < V; v++) all[v] = (ms_token_score){v, logits[v], exp((double)logits[v] - mx) / sum};
    qsort(all, (size_t)V, sizeof *all, by_logit_desc);
    memcpy(out, all, (size_t)k * sizeof *out);
    free(all);
    return k;
}
