// summary.c: see summary.h.
#include "viz/summary.h"
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "probes/hooks.h"
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
    int have_eval, have_ce;
    double l0, ev, ce, dead;
    double *density;           // (d_sae) or NULL
    double *log; int rows, cols; char **columns;
} entry;

static int read_attr_d(hid_t g, const char *name, double *v) {
    if (H5Aexists(g, name) <= 0) return 0;
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    int ok = H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0;
    H5Aclose(a);
    return ok;
}

static int read_eval(const char *path, entry *e) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return 0;
    int ok = 0;
    if (H5Lexists(f, "eval", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(f, "eval", H5P_DEFAULT);
        ok = read_attr_d(g, "l0", &e->l0) & read_attr_d(g, "explained_variance", &e->ev);
        read_attr_d(g, "dead_frac", &e->dead);
        e->have_ce = read_attr_d(g, "ce_recovered", &e->ce);
        if (H5Lexists(g, "feature_density", H5P_DEFAULT) > 0) {
            hid_t ds = H5Dopen2(g, "feature_density", H5P_DEFAULT);
            hid_t sp = H5Dget_space(ds);
            if (H5Sget_simple_extent_npoints(sp) == e->d_sae) {
                e->density = ms_malloc((size_t)e->d_sae * sizeof *e->density);
                if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, e->density) < 0) { free(e->density); e->density = NULL; }
            }
            H5Sclose(sp);
            H5Dclose(ds);
        }
        H5Gclose(g);
    }
    H5Fclose(f);
    return ok;
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
                             E[i].dead, E[i].density, E[i].d_sae, E[i].log, E[i].rows, E[i].cols, E[i].columns};
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
