// summary.c: see summary.h.
#include "viz/summary.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/hooks.h"
#include "render/png_io.h"
#include "sae/eval.h"
#include "sae/sae.h"
#include "util/util.h"
#include "viz/figure.h"
#include "viz/summary_fig.h"

typedef struct {
    char label[128];
    char name[64];             // short label on points and bars (see unique_names)
    int layer;                 // from the hook name, -1 if none
    int d_sae;
    int have_eval, have_ce, ce_valid; // ce_valid: ce is meaningful (sae/eval.h's rule)
    double l0, ev, ce, dead;
    double *density;           // (d_sae) or NULL
    double *log; int rows, cols; char **columns;
} entry;

// /eval of the SAE file, through its owner (sae_io.c). 1: metrics present, 0: none, -1: error.
static int read_eval(const char *path, entry *e) {
    ms_sae_eval_result r;
    int got = ms_sae_eval_read(path, e->d_sae, &r);
    if (got < 0) return -1;
    e->density = r.density; // ownership moves to the entry (kept even when l0/ev are missing)
    r.density = NULL;
    if (got == 0) return 0;
    e->l0 = r.l0;
    e->ev = r.explained_variance;
    e->dead = r.dead_frac;
    e->have_ce = r.have_model;
    e->ce = r.ce_recovered;
    e->ce_valid = r.ce_recovered_valid;
    if (e->have_ce && !e->ce_valid) // figures leave it out (summary_fig.c); say so, naming the file
        printf("%s: CE loss recovered %.4g not plotted: its denominator CE_zero - CE_clean = %.4g nats/token is below %g\n",
               path, r.ce_recovered, r.ce_delta, MS_EVAL_CE_MIN_DELTA);
    ms_sae_eval_result_free(&r);
    return 1;
}

static const char *base(const char *p) { const char *b = strrchr(p, '/'); return b ? b + 1 : p; }

static int save(ms_canvas *c, const ms_summary_opts *o, const char *name, const char *layout) {
    char *p = ms_path_join(o->out_dir, name);
    ms_png_text t[2] = {{"Inputs", o->inputs}, {"Layout", layout}};
    int rc = ms_png_write(c, p, t, layout ? 2 : 1);
    if (!rc) printf("wrote %s (%d x %d px)\n", p, c->w, c->h);
    free(p);
    return rc;
}

// "L4 topk" (layer and architecture) when the hook names a layer, else the file's stem.
static void set_name(entry *e, const ms_sae *s, const char *path) {
    if (e->layer >= 0) snprintf(e->name, sizeof e->name, "L%d %s", e->layer, ms_sae_arch_name(s->arch));
    else snprintf(e->name, sizeof e->name, "%.*s", (int)strcspn(base(path), "."), base(path));
}

// Dictionaries sharing a short name (same layer and architecture) are named by their files' stems.
static void unique_names(entry *E, int n, const char *const *files) {
    char *dup = ms_calloc((size_t)n, 1);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n && !dup[i]; j++) dup[i] = j != i && !strcmp(E[j].name, E[i].name);
    for (int i = 0; i < n; i++)
        if (dup[i]) snprintf(E[i].name, sizeof E[i].name, "%.*s", (int)strcspn(base(files[i]), "."), base(files[i]));
    free(dup);
}

static int write_figures(const ms_fig_fonts *f, entry *E, int n, const ms_summary_opts *o) {
    ms_sum_dict *d = ms_calloc((size_t)n, sizeof *d);
    char (*legend)[224] = ms_calloc((size_t)n, sizeof *legend);
    for (int i = 0; i < n; i++) {
        snprintf(legend[i], sizeof legend[i], "%s: %s", E[i].name, E[i].label);
        d[i] = (ms_sum_dict){E[i].name, legend[i], E[i].layer, E[i].have_eval, E[i].have_ce, E[i].l0, E[i].ev, E[i].ce,
                             E[i].dead, E[i].density, E[i].d_sae, E[i].log, E[i].rows, E[i].cols, E[i].columns,
                             E[i].ce_valid};
    }
    int rc = 0;
    char *lay = NULL;
    ms_canvas *c = ms_sum_density(f, d, n);
    if (c) rc |= save(c, o, "density.png", NULL);
    else fprintf(stderr, "monoscope: note: no /eval/feature_density (run monoscope sae eval, or give --acts): density.png skipped\n");
    ms_canvas_free(c);
    c = ms_sum_l0_ev(f, d, n, &lay);
    if (c) rc |= save(c, o, "l0_ev.png", lay);
    else fprintf(stderr, "monoscope: note: no /eval metrics: l0_ev.png and dead.png skipped\n");
    ms_canvas_free(c);
    free(lay);
    c = ms_sum_dead(f, d, n, &lay);
    if (c) rc |= save(c, o, "dead.png", lay);
    ms_canvas_free(c);
    free(lay);
    c = ms_sum_training(f, d, n);
    if (c) rc |= save(c, o, "training.png", NULL);
    else fprintf(stderr, "monoscope: note: no /training_log in the files: training.png skipped\n");
    ms_canvas_free(c);
    free(d);
    free(legend);
    return rc ? -1 : 0;
}

int ms_viz_summary(const ms_summary_opts *o) {
    int n = o->n_files, rc = 0;
    entry *E = ms_calloc((size_t)n, sizeof *E);
    for (int i = 0; i < n && !rc; i++) {
        ms_sae *s = ms_sae_load(o->files[i]);
        if (!s) { rc = -1; break; }
        entry *e = &E[i];
        e->d_sae = s->d_sae;
        e->layer = -1;
        const char *hook = ms_sae_attr_str(s, "hook");
        ms_site site;
        if (hook && ms_site_parse(hook, &site, &e->layer) < 0) e->layer = -1;
        set_name(e, s, o->files[i]);
        // legend label: the hook when the dictionaries differ by site, else the file name
        if (hook && *hook) snprintf(e->label, sizeof e->label, "%s (%s)", hook, base(o->files[i]));
        else snprintf(e->label, sizeof e->label, "%s", base(o->files[i]));
        e->have_eval = read_eval(o->files[i], e);
        if (e->have_eval < 0) { ms_sae_free(s); rc = -1; break; }
        if (!e->have_eval && o->acts) {
            ms_sae_eval_result r;
            memset(&r, 0, sizeof r);
            ms_sae_eval_opts eo = {NULL, o->max_tokens, 0};
            if (ms_sae_eval_acts(s, o->acts, &eo, &r) < 0) { ms_sae_free(s); rc = -1; break; }
            e->have_eval = 1;
            e->l0 = r.l0; e->ev = r.explained_variance; e->dead = r.dead_frac;
            e->density = ms_malloc((size_t)e->d_sae * sizeof *e->density);
            memcpy(e->density, r.density, (size_t)e->d_sae * sizeof *e->density);
            ms_sae_eval_result_free(&r);
        }
        if (s->log && s->log_rows > 0) {
            e->rows = s->log_rows; e->cols = s->log_cols;
            e->log = ms_malloc((size_t)e->rows * e->cols * sizeof *e->log);
            memcpy(e->log, s->log, (size_t)e->rows * e->cols * sizeof *e->log);
            e->columns = ms_calloc((size_t)e->cols, sizeof *e->columns);
            for (int j = 0; j < e->cols; j++) e->columns[j] = ms_strdup(s->log_columns && s->log_columns[j] ? s->log_columns[j] : "");
        }
        ms_sae_free(s);
    }
    ms_fig_fonts F;
    if (!rc && ms_fig_fonts_open(&F, o->scale) < 0) rc = -1;
    else if (!rc) {
        unique_names(E, n, o->files);
        rc = write_figures(&F, E, n, o);
        ms_fig_fonts_close(&F);
    }
    for (int i = 0; i < n; i++) {
        free(E[i].density);
        free(E[i].log);
        for (int j = 0; E[i].columns && j < E[i].cols; j++) free(E[i].columns[j]);
        free(E[i].columns);
    }
    free(E);
    return rc ? -1 : 0;
}
