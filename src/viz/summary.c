// summary.c: see summary.h.
#include "viz/summary.h"
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/hooks.h"
#include "render/colormap.h"
#include "render/plot.h"
#include "render/png_io.h"
#include "sae/eval.h"
#include "sae/sae.h"
#include "util/util.h"
#include "viz/figure.h"

typedef struct {
    char label[128];
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

static int save(ms_canvas *c, const ms_summary_opts *o, const char *name) {
    char *p = ms_path_join(o->out_dir, name);
    ms_png_text t[1] = {{"Inputs", o->inputs}};
    int rc = ms_png_write(c, p, t, 1);
    if (!rc) printf("wrote %s (%d x %d px)\n", p, c->w, c->h);
    free(p);
    return rc;
}

static int col_index(const entry *e, const char *name) {
    for (int j = 0; j < e->cols; j++)
        if (e->columns && e->columns[j] && !strcmp(e->columns[j], name)) return j;
    return -1;
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
        ms_fig_fonts *f = &F;
        int W = MS_PX(f, 720), H = MS_PX(f, 460), pad = MS_PX(f, 12);
        const char *labels[256];
        ms_rgb cols[256];
        char lab[256][160];
        // ---- 1. log10 feature density histogram
        int any = 0;
        for (int i = 0; i < n; i++) any |= E[i].density != NULL;
        if (any) {
            enum { NB = 40 };
            double lo = -8, hi = 0, cnt[256][NB], ymax = 0;
            for (int i = 0; i < n; i++) {
                memset(cnt[i], 0, sizeof cnt[i]);
                if (!E[i].density) continue;
                for (int j = 0; j < E[i].d_sae; j++) {
                    double d = E[i].density[j];
                    if (!(d > 0)) continue;
                    int b = (int)floor((log10(d) - lo) / (hi - lo) * NB);
                    b = b < 0 ? 0 : b >= NB ? NB - 1 : b;
                    cnt[i][b] += 1;
                }
                for (int b = 0; b < NB; b++) if (cnt[i][b] > ymax) ymax = cnt[i][b];
            }
            ms_canvas *c = ms_canvas_new(W, H, MS_WHITE);
            ms_plot p;
            memset(&p, 0, sizeof p);
            const char *t = "Feature density", *xl = "log\xe2\x82\x81\xe2\x82\x80 density (fraction of tokens where the feature fires)", *yl = "features";
            ms_plot_init(&p, c, f->small, f->normal, f->title, f->s, pad, pad, W - 2 * pad, H - 2 * pad, lo, hi, 0, 0, ymax * 1.1, 0, t, xl, yl);
            ms_plot_axes(&p, t, xl, yl);
            int nl = 0;
            for (int i = 0; i < n; i++) {
                if (!E[i].density) continue;
                double xs[2 * NB + 2], ys[2 * NB + 2];
                int k = 0;
                for (int b = 0; b < NB; b++) { // step outline, so overlapping dictionaries stay readable
                    xs[k] = lo + (hi - lo) * b / NB; ys[k++] = cnt[i][b];
                    xs[k] = lo + (hi - lo) * (b + 1) / NB; ys[k++] = cnt[i][b];
                }
                ms_plot_line(&p, xs, ys, k, ms_cmap_tab10(i), 2);
                int dead = 0;
                for (int j = 0; j < E[i].d_sae; j++) dead += !(E[i].density[j] > 0);
                snprintf(lab[nl], sizeof lab[nl], "%s: %.1f %% dead", E[i].label, 100.0 * dead / E[i].d_sae);
                labels[nl] = lab[nl];
                cols[nl++] = ms_cmap_tab10(i);
            }
            ms_plot_legend(&p, labels, cols, nl, 1);
            rc |= save(c, o, "density.png");
            ms_canvas_free(c);
        } else fprintf(stderr, "monoscope: note: no /eval/feature_density (run monoscope sae eval, or give --acts): density.png skipped\n");
        // ---- 2. L0 vs explained variance (| CE recovered)
        int n_ev = 0, n_ce = 0;
        for (int i = 0; i < n; i++) { n_ev += E[i].have_eval; n_ce += E[i].have_eval && E[i].have_ce; }
        if (n_ev) {
            int panels = n_ce ? 2 : 1;
            ms_canvas *c = ms_canvas_new(panels * W, H, MS_WHITE);
            for (int pi = 0; pi < panels; pi++) {
                double xs[256], ys[256], x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
                int k = 0, idx[256];
                for (int i = 0; i < n; i++) {
                    if (!E[i].have_eval || (pi && !E[i].have_ce)) continue;
                    xs[k] = E[i].l0; ys[k] = pi ? E[i].ce : E[i].ev; idx[k] = i;
                    if (xs[k] < x0) x0 = xs[k];
                    if (xs[k] > x1) x1 = xs[k];
                    if (ys[k] < y0) y0 = ys[k];
                    if (ys[k] > y1) y1 = ys[k];
                    k++;
                }
                double xm = (x1 - x0) * 0.1 + 1e-3, ym = (y1 - y0) * 0.1 + 1e-3;
                ms_plot p;
                memset(&p, 0, sizeof p);
                const char *t = pi ? "L0 vs CE loss recovered" : "L0 vs explained variance";
                const char *yl = pi ? "CE loss recovered" : "explained variance";
                ms_plot_init(&p, c, f->small, f->normal, f->title, f->s, pi * W + pad, pad, W - 2 * pad, H - 2 * pad,
                             x0 - xm > 0 ? x0 - xm : 0, x1 + xm, 0, y0 - ym, y1 + ym, 0, t, "L0 (active features per token)", yl);
                ms_plot_axes(&p, t, "L0 (active features per token)", yl);
                for (int j = 0; j < k; j++) {
                    ms_plot_scatter(&p, &xs[j], &ys[j], 1, ms_cmap_tab10(idx[j]), 4);
                    if (k <= 12) ms_plot_annotate(&p, xs[j], ys[j], E[idx[j]].layer >= 0 ? (snprintf(lab[j], 160, "layer %d", E[idx[j]].layer), lab[j]) : base(o->files[idx[j]]), MS_GREY(40));
                }
                if (pi == 0) {
                    int nl = 0;
                    for (int i = 0; i < n && nl < 12; i++) if (E[i].have_eval) { labels[nl] = E[i].label; cols[nl++] = ms_cmap_tab10(i); }
                    ms_plot_legend(&p, labels, cols, nl, 0);
                }
            }
            rc |= save(c, o, "l0_ev.png");
            ms_canvas_free(c);
        } else fprintf(stderr, "monoscope: note: no /eval metrics: l0_ev.png and dead.png skipped\n");
        // ---- 3. dead fraction per dictionary (ordered by layer)
        if (n_ev) {
            int order[256], k = 0;
            for (int i = 0; i < n; i++) if (E[i].have_eval) order[k++] = i;
            for (int a = 1; a < k; a++) // insertion sort by layer (stable: files without a layer keep their order)
                for (int b = a; b > 0 && E[order[b - 1]].layer > E[order[b]].layer; b--) { int t = order[b]; order[b] = order[b - 1]; order[b - 1] = t; }
            const char *cat[256];
            double edges[257], ys[256], ymax = 0;
            for (int j = 0; j < k; j++) {
                entry *e = &E[order[j]];
                if (e->layer >= 0) snprintf(lab[j], 160, "layer %d", e->layer);
                else snprintf(lab[j], 160, "%s", base(o->files[order[j]]));
                cat[j] = lab[j];
                ys[j] = 100 * e->dead;
                if (ys[j] > ymax) ymax = ys[j];
            }
            ms_canvas *c = ms_canvas_new(W, H, MS_WHITE);
            ms_plot p;
            memset(&p, 0, sizeof p);
            ms_plot_set_xcat(&p, cat, k);
            const char *t = "Dead features per dictionary", *xl = "dictionary (by layer)", *yl = "dead features (%)";
            ms_plot_init(&p, c, f->small, f->normal, f->title, f->s, pad, pad, W - 2 * pad, H - 2 * pad, -0.5, k - 0.5, 0, 0,
                         ymax > 0 ? ymax * 1.15 : 1, 0, t, xl, yl);
            ms_plot_axes(&p, t, xl, yl);
            for (int j = 0; j < k; j++) { edges[0] = j - 0.3; edges[1] = j + 0.3; ms_plot_bars(&p, edges, &ys[j], 1, 0, ms_cmap_tab10(0)); }
            for (int j = 0; j < k; j++) {
                char v[32];
                snprintf(v, sizeof v, "%.1f", ys[j]);
                int xx = (int)lround(ms_plot_px(&p, j)), yy = (int)lround(ms_plot_py(&p, ys[j]));
                ms_text_draw_aligned(c, f->small, xx, yy - ms_font_line_height(f->small) - MS_PX(f, 2), v, MS_GREY(30), 1);
            }
            rc |= save(c, o, "dead.png");
            ms_canvas_free(c);
        }
        // ---- 4. training curves
        int n_log = 0;
        for (int i = 0; i < n; i++) n_log += E[i].log != NULL;
        if (n_log) {
            const char *want[] = {"loss", "mse", "l0", "explained_variance", "dead_frac", "nmse", "aux_loss", "lr"};
            const char *panel[4];
            int np = 0;
            for (int w = 0; w < 8 && np < 4; w++)
                for (int i = 0; i < n; i++)
                    if (E[i].log && col_index(&E[i], want[w]) >= 0) { panel[np++] = want[w]; break; }
            for (int i = 0; i < n && np < 4; i++) // else whatever columns there are
                for (int j = 0; E[i].log && j < E[i].cols && np < 4; j++) {
                    const char *cn = E[i].columns[j];
                    int dup = !strcmp(cn, "step") || !strcmp(cn, "tokens") || !*cn;
                    for (int q = 0; q < np; q++) dup |= !strcmp(panel[q], cn);
                    if (!dup) panel[np++] = cn;
                }
            int pw = MS_PX(f, 560), ph = MS_PX(f, 360);
            int gc = np > 1 ? 2 : 1, gr = (np + 1) / 2;
            ms_canvas *c = ms_canvas_new(gc * pw, gr * ph, MS_WHITE);
            for (int q = 0; q < np; q++) {
                double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
                const char *xname = "step";
                for (int i = 0; i < n; i++) {
                    if (!E[i].log) continue;
                    int yc = col_index(&E[i], panel[q]), xc = col_index(&E[i], "tokens");
                    if (xc < 0) xc = col_index(&E[i], "step");
                    else xname = "tokens";
                    if (yc < 0) continue;
                    for (int r = 0; r < E[i].rows; r++) {
                        double xv = xc >= 0 ? E[i].log[(size_t)r * E[i].cols + xc] : r, yv = E[i].log[(size_t)r * E[i].cols + yc];
                        if (!isfinite(xv) || !isfinite(yv)) continue;
                        if (xv < x0) x0 = xv;
                        if (xv > x1) x1 = xv;
                        if (yv < y0) y0 = yv;
                        if (yv > y1) y1 = yv;
                    }
                }
                int ylog = (!strcmp(panel[q], "loss") || !strcmp(panel[q], "mse") || !strcmp(panel[q], "nmse")) && y0 > 0 && y1 / y0 > 20;
                ms_plot p;
                memset(&p, 0, sizeof p);
                int bx = (q % 2) * pw, by = (q / 2) * ph;
                ms_plot_init(&p, c, f->small, f->normal, f->title, f->s, bx + pad, by + pad, pw - 2 * pad, ph - 2 * pad, x0, x1, 0,
                             y0, y1, ylog, panel[q], xname, panel[q]);
                ms_plot_axes(&p, panel[q], xname, panel[q]);
                int nl = 0;
                for (int i = 0; i < n; i++) {
                    if (!E[i].log) continue;
                    int yc = col_index(&E[i], panel[q]), xc = col_index(&E[i], "tokens");
                    if (xc < 0) xc = col_index(&E[i], "step");
                    if (yc < 0) continue;
                    double *xs = ms_malloc((size_t)E[i].rows * sizeof *xs), *ys = ms_malloc((size_t)E[i].rows * sizeof *ys);
                    for (int r = 0; r < E[i].rows; r++) {
                        xs[r] = xc >= 0 ? E[i].log[(size_t)r * E[i].cols + xc] : r;
                        ys[r] = E[i].log[(size_t)r * E[i].cols + yc];
                    }
                    ms_plot_line(&p, xs, ys, E[i].rows, ms_cmap_tab10(i), 2);
                    free(xs); free(ys);
                    if (nl < 12) { labels[nl] = E[i].label; cols[nl++] = ms_cmap_tab10(i); }
                }
                if (q == 0 && n > 1) ms_plot_legend(&p, labels, cols, nl, 0);
            }
            rc |= save(c, o, "training.png");
            ms_canvas_free(c);
        } else fprintf(stderr, "monoscope: note: no /training_log in the files: training.png skipped\n");
        ms_fig_fonts_close(f);
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
