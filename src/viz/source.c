// source.c: the tokens a heatmap or text view shows and their feature activations (viz.h), from
// an activations file (one captured sequence) or from running a model on a text.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/model.h"
#include "model/observe.h"
#include "tokenizer/tokenizer.h"
#include "util/util.h"
#include "viz/acts_h5.h"
#include "viz/viz.h"

void ms_viz_source_free(ms_viz_source *s) {
    if (s->bytes)
        for (int i = 0; i < s->n; i++) free(s->bytes[i]);
    free(s->bytes); free(s->lens); free(s->ids); free(s->codes);
    ms_sae_free(s->sae);
    memset(s, 0, sizeof *s);
}

static const char *basename_of(const char *p) {
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

// Keeps positions [a, b] of total (default: all, at most the first 200): moves them to the front
// of x (total, d) and ids (total).
static void keep_range(ms_viz_source *s, const ms_viz_source_opts *o, int64_t total, float *x, int32_t *ids, int d) {
    long a = o->pos_a < 0 ? 0 : o->pos_a, b = o->pos_b < 0 ? total - 1 : o->pos_b;
    if (o->pos_b < 0 && b - a + 1 > 200) {
        b = a + 199;
        fprintf(stderr, "monoscope: note: showing positions %ld-%ld of %lld (use --positions A-B)\n", a, b, (long long)total);
    }
    if (b > total - 1) b = total - 1;
    s->n = (int)(b - a + 1);
    memmove(x, x + (size_t)a * d, (size_t)s->n * d * sizeof(float));
    memmove(ids, ids + a, (size_t)s->n * sizeof(int32_t));
}

// Sequence o->seq of the activations file: *x (T, d) and *ids (T), then the kept range's bytes
// from the file's /vocab ("#id" without one).
static int load_from_acts(ms_viz_source *s, const ms_viz_source_opts *o, float **x, int32_t **ids) {
    const int d = s->sae->d_in;
    ms_acts_file *a = ms_acts_file_open(o->acts_path, s->hook);
    if (!a) return -1;
    int rc = -1;
    if (ms_acts_file_d(a) != d) {
        ms_error("%s: /acts/%s has %d values per token but the SAE's d_in is %d", o->acts_path, ms_acts_file_hook(a),
                 ms_acts_file_d(a), d);
        goto done;
    }
    if (o->seq < 0 || o->seq >= ms_acts_file_n_seq(a)) {
        ms_error("--seq %ld: the file has sequences 0..%lld", o->seq, (long long)ms_acts_file_n_seq(a) - 1);
        goto done;
    }
    if (!s->hook[0]) snprintf(s->hook, sizeof s->hook, "%s", ms_acts_file_hook(a));
    if (!s->model_name[0]) snprintf(s->model_name, sizeof s->model_name, "%s", ms_acts_file_model(a));
    int T = ms_acts_file_ctx(a);
    *x = ms_malloc((size_t)T * d * sizeof **x);
    *ids = ms_malloc((size_t)T * sizeof **ids);
    if (ms_acts_file_read(a, o->seq, 1, *x, *ids) < 0) goto done;
    if (ms_acts_file_has_tokens(a)) { // the row's padding (id -1 past the sequence's end) is not shown
        int n_real = 0;
        while (n_real < T && (*ids)[n_real] >= 0) n_real++;
        if (n_real == 0) { ms_error("%s: sequence %ld holds no tokens", o->acts_path, o->seq); goto done; }
        T = n_real;
    }
    if (o->pos_a >= T) { ms_error("--positions: the sequence has %d tokens", T); goto done; }
    keep_range(s, o, T, *x, *ids, d);
    size_t *vl = NULL;
    int nv = 0;
    char **voc = ms_acts_file_vocab(a, &vl, &nv);
    s->bytes = ms_calloc((size_t)s->n, sizeof *s->bytes);
    s->lens = ms_calloc((size_t)s->n, sizeof *s->lens);
    for (int i = 0; i < s->n; i++) {
        const int32_t id = (*ids)[i];
        char tmp[32];
        if (voc && id >= 0 && id < nv) { s->bytes[i] = ms_strdup(voc[id]); s->lens[i] = vl[id]; }
        else { snprintf(tmp, sizeof tmp, "#%d", id); s->bytes[i] = ms_strdup(tmp); s->lens[i] = strlen(tmp); }
    }
    ms_vocab_free(voc, vl, nv);
    rc = 0;
done:
    ms_acts_file_close(a);
    return rc;
}

// o->text through the model: *ids (T) its tokens, *x (T, d) the hook site's activations, then
// the kept range's bytes from the model's tokenizer.
static int load_from_model(ms_viz_source *s, const ms_viz_source_opts *o, float **x, int32_t **ids) {
    const int d = s->sae->d_in;
    if (!s->hook[0]) { ms_error("%s: the SAE names no hook; give --hook", o->sae_path); return -1; }
    ms_model *m = ms_model_load(o->model_path);
    if (!m) return -1;
    int rc = -1;
    size_t nid = 0;
    if (!m->tok) { ms_error("%s: the checkpoint carries no tokenizer", o->model_path); goto done; }
    if (ms_tokenizer_encode(m->tok, o->text, strlen(o->text), o->prepend_bos, ids, &nid) < 0) goto done;
    if (nid == 0) { ms_error("--text encodes to no tokens"); goto done; }
    if ((int)nid > m->cfg.n_ctx) { ms_error("--text is %zu tokens; the model's context is %d", nid, m->cfg.n_ctx); goto done; }
    const int T = (int)nid;
    ms_site site;
    int layer, nd = -1;
    int64_t shape[4], per = 1;
    if (!ms_site_parse(s->hook, &site, &layer)) nd = ms_site_shape(&m->cfg, site, T, shape);
    if (nd < 0) { ms_error("hook '%s' is not a known site", s->hook); goto done; }
    for (int i = 0; i < nd; i++) per *= shape[i];
    if (per != (int64_t)T * d) {
        ms_error("hook %s: %lld values per sequence, expected %d tokens x d_in %d", s->hook, (long long)per, T, d);
        goto done;
    }
    *x = ms_malloc((size_t)T * d * sizeof **x);
    if (ms_observe_one(m, *ids, T, s->hook, *x) < 0) goto done;
    if (!s->model_name[0]) snprintf(s->model_name, sizeof s->model_name, "%s", basename_of(o->model_path));
    keep_range(s, o, T, *x, *ids, d);
    s->bytes = ms_calloc((size_t)s->n, sizeof *s->bytes);
    s->lens = ms_calloc((size_t)s->n, sizeof *s->lens);
    const int bos = ms_tokenizer_bos(m->tok);
    for (int i = 0; i < s->n; i++) {
        size_t len = 5;
        const char *b = (*ids)[i] == bos ? "<bos>" : ms_tokenizer_token_bytes(m->tok, (*ids)[i], &len);
        s->bytes[i] = ms_malloc(len + 1);
        memcpy(s->bytes[i], b, len);
        s->bytes[i][len] = 0;
        s->lens[i] = len;
    }
    rc = 0;
done:
    ms_model_free(m);
    return rc;
}

int ms_viz_source_load(ms_viz_source *s, const ms_viz_source_opts *o) {
    memset(s, 0, sizeof *s);
    s->sae = ms_sae_load(o->sae_path);
    if (!s->sae) return -1;
    const char *h = ms_sae_attr_str(s->sae, "hook");
    snprintf(s->hook, sizeof s->hook, "%s", o->hook ? o->hook : h ? h : "");
    const char *mn = ms_sae_attr_str(s->sae, "model");
    snprintf(s->model_name, sizeof s->model_name, "%s", mn ? mn : "");
    float *x = NULL;
    int32_t *ids = NULL;
    int rc = o->acts_path ? load_from_acts(s, o, &x, &ids) : load_from_model(s, o, &x, &ids);
    s->ids = ids;
    if (rc == 0) {
        s->codes = ms_malloc((size_t)s->n * s->sae->d_sae * sizeof *s->codes);
        rc = ms_sae_encode(s->sae, x, s->n, s->codes);
    }
    free(x);
    return rc;
}
