// token_figures.c: `viz heatmap` and `viz text` as library calls (viz.h): the source's tokens and
// feature activations laid out by heatmap.c, written as PNG with their inputs in text chunks.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "render/png_io.h"
#include "util/util.h"
#include "viz/heatmap.h"
#include "viz/viz.h"

static const char *basename_of(const char *p) {
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

// "Inputs" text chunk: where the figure's data came from.
static void source_inputs(const ms_viz_source *s, const ms_viz_source_opts *o, char *buf, size_t n) {
    if (o->acts_path)
        snprintf(buf, n, "sae=%s; acts=%s; hook=%s; seq=%ld", o->sae_path, o->acts_path, s->hook, o->seq);
    else
        snprintf(buf, n, "sae=%s; model=%s; hook=%s; text=%s", o->sae_path, o->model_path, s->hook, o->text);
}

static void source_subtitle(const ms_viz_source *s, const ms_viz_source_opts *o, char *buf, size_t n) {
    char where[64];
    if (o->acts_path) snprintf(where, sizeof where, " \xc2\xb7 sequence %ld", o->seq);
    else where[0] = 0;
    snprintf(buf, n, "model %s \xc2\xb7 hook %s \xc2\xb7 SAE %s (%s, %d features)%s", s->model_name[0] ? s->model_name : "?",
             s->hook, basename_of(o->sae_path), ms_sae_arch_name(s->sae->arch), s->sae->d_sae, where);
}

int ms_viz_top_features(const float *codes, int n, int D, int top, int *feat) {
    float *mx = ms_malloc((size_t)D * sizeof *mx); // (D) each feature's largest activation
    for (int j = 0; j < D; j++) mx[j] = 0;
    for (int t = 0; t < n; t++)
        for (int j = 0; j < D; j++) if (codes[(size_t)t * D + j] > mx[j]) mx[j] = codes[(size_t)t * D + j];
    int nf = 0;
    for (int k = 0; k < top; k++) { // selection: fine for a few dozen rows
        int best = -1;
        for (int j = 0; j < D; j++)
            if (mx[j] > 0 && (best < 0 || mx[j] > mx[best])) best = j;
        if (best < 0) break;
        feat[nf++] = best;
        mx[best] = -1;
    }
    free(mx);
    return nf;
}

// The heatmap's rows: o->features checked against D, or the top features. Returns the count,
// or MS_VIZ_BAD_REQUEST / -1 with ms_error().
static int choose_rows(const ms_viz_heatmap_opts *o, const ms_viz_source *s, int **feat) {
    const int D = s->sae->d_sae;
    if (o->features) {
        for (int i = 0; i < o->n_features; i++)
            if (o->features[i] >= D) {
                ms_error("--features: %d is out of range (the SAE has %d)", o->features[i], D);
                return MS_VIZ_BAD_REQUEST;
            }
        *feat = ms_malloc((size_t)o->n_features * sizeof **feat);
        memcpy(*feat, o->features, (size_t)o->n_features * sizeof **feat);
        return o->n_features;
    }
    int top = o->top > 0 ? o->top : 10;
    if (top > D) top = D;
    *feat = ms_malloc((size_t)top * sizeof **feat);
    int nf = ms_viz_top_features(s->codes, s->n, D, top, *feat);
    if (nf == 0) { ms_error("no feature fires on these tokens"); return -1; }
    return nf;
}

int ms_viz_heatmap_png(const ms_viz_heatmap_opts *o, ms_viz_written *w) {
    ms_viz_source s;
    int *feat = NULL;
    if (ms_viz_source_load(&s, &o->src) < 0) { ms_viz_source_free(&s); return -1; }
    const int D = s.sae->d_sae;
    int rc = MS_VIZ_BAD_REQUEST, nf = 0;
    if (s.n > 1000) { // one column is >= 26 px: keep the image under PNG viewers' comfortable sizes
        ms_error("--positions: %d tokens; a heatmap shows at most 1000 (split the range)", s.n);
        goto done;
    }
    if ((nf = choose_rows(o, &s, &feat)) < 0) { rc = nf; goto done; }
    float *a = ms_malloc((size_t)nf * s.n * sizeof *a); // (nf, n) rows of the chosen features
    for (int i = 0; i < nf; i++)
        for (int t = 0; t < s.n; t++) a[(size_t)i * s.n + t] = s.codes[(size_t)t * D + feat[i]];
    ms_token_label *lab = ms_token_labels((const char *const *)s.bytes, s.lens, s.n, 0);
    char sub[1024], inputs[4096], lay[512];
    source_subtitle(&s, &o->src, sub, sizeof sub);
    source_inputs(&s, &o->src, inputs, sizeof inputs);
    size_t il = strlen(inputs);
    snprintf(inputs + il, sizeof inputs - il, "; features=");
    for (int i = 0; i < nf && strlen(inputs) < sizeof inputs - 16; i++)
        snprintf(inputs + strlen(inputs), sizeof inputs - strlen(inputs), "%s%d", i ? "," : "", feat[i]);
    ms_heatmap_spec sp = {"SAE feature activations", sub, nf, s.n, feat, a, lab, o->scale};
    ms_heatmap_layout L;
    ms_canvas *cv = ms_viz_heatmap(&sp, &L);
    rc = -1;
    if (cv) {
        ms_heatmap_layout_str(&L, lay, sizeof lay);
        ms_png_text t[2] = {{"Inputs", inputs}, {"Layout", lay}};
        if (ms_png_write(cv, o->out, t, 2) == 0) {
            rc = 0;
            *w = (ms_viz_written){cv->w, cv->h, nf, s.n};
        }
    }
    ms_canvas_free(cv);
    ms_token_labels_free(lab, s.n);
    free(a);
done:
    free(feat);
    ms_viz_source_free(&s);
    return rc;
}

int ms_viz_text_png(const ms_viz_text_opts *o, ms_viz_written *w) {
    ms_viz_source s;
    if (ms_viz_source_load(&s, &o->src) < 0) { ms_viz_source_free(&s); return -1; }
    const int D = s.sae->d_sae;
    int feature = o->feature;
    if (feature >= D) {
        ms_error("--feature %d is out of range (the SAE has %d)", feature, D);
        ms_viz_source_free(&s);
        return MS_VIZ_BAD_REQUEST;
    }
    if (feature < 0 && ms_viz_top_features(s.codes, s.n, D, 1, &feature) < 1) { // the most active one
        ms_error("no feature fires on these tokens");
        ms_viz_source_free(&s);
        return MS_VIZ_BAD_REQUEST;
    }
    float *a = ms_malloc((size_t)s.n * sizeof *a); // (n) the feature on each token
    for (int t = 0; t < s.n; t++) a[t] = s.codes[(size_t)t * D + feature];
    ms_token_label *lab = ms_token_labels((const char *const *)s.bytes, s.lens, s.n, 1);
    char title[64], sub[1024], inputs[4096];
    snprintf(title, sizeof title, "Feature %d", feature);
    source_subtitle(&s, &o->src, sub, sizeof sub);
    source_inputs(&s, &o->src, inputs, sizeof inputs);
    ms_textview_spec sp = {title, sub, s.n, a, lab, 0, o->width, o->scale};
    ms_canvas *cv = ms_viz_textview(&sp, NULL, NULL);
    int rc = -1;
    ms_png_text t[1] = {{"Inputs", inputs}};
    if (cv && ms_png_write(cv, o->out, t, 1) == 0) {
        rc = 0;
        *w = (ms_viz_written){cv->w, cv->h, 1, s.n};
    }
    ms_canvas_free(cv);
    ms_token_labels_free(lab, s.n);
    free(a);
    ms_viz_source_free(&s);
    return rc;
}
