// summary_fig.c: see summary_fig.h.
#include "viz/summary_fig.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "render/colormap.h"
#include "render/plot.h"
#include "sae/eval.h"
#include "util/util.h"

// ---- the Layout text, grown as parts are placed
typedef struct { char *s; size_t len, cap; } text_buf;

static void tb_add(text_buf *t, const char *fmt, ...) {
    if (!t) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (t->len + (size_t)k + 2 > t->cap) {
        t->cap = (t->len + (size_t)k + 2) * 2;
        t->s = ms_realloc(t->s, t->cap);
    }
    if (t->len) t->s[t->len++] = ' ';
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)k;
}

static void tb_rect(text_buf *t, const char *key, ms_rect r) { tb_add(t, "%s=%d,%d,%d,%d", key, r.x, r.y, r.w, r.h); }

// ---- one style per dictionary, the same in every figure
static ms_rgb dict_col(int i) { return ms_cmap_tab10(i); }
static int dict_marker(int i) { return i % MS_MARK_COUNT; }
static int dict_hatch(int i) { return i % MS_HATCH_COUNT; }

// A curve in the dictionary's colour with its marker shape at 5 points, staggered per dictionary so
// curves that share a colour (more than 10 dictionaries) still differ, and markers rarely coincide.
static void dict_curve(ms_plot *p, const double *xs, const double *ys, int n, int i) {
    ms_plot_line(p, xs, ys, n, dict_col(i), 2);
    int r = (int)lround(3.5 * p->scale);
    for (int m = 0; m < 5 && n > 0; m++) {
        int j = (int)((m + 0.25 + 0.7 * ((i * 3) % 10) / 10.0) / 5 * n);
        double X = ms_plot_px(p, xs[j]), Y = ms_plot_py(p, ys[j]);
        if (!isfinite(X) || !isfinite(Y) || X < p->x || X >= p->x + p->w || Y < p->y || Y >= p->y + p->h) continue;
        ms_draw_marker(p->c, (int)lround(X), (int)lround(Y), r, dict_marker(i), dict_col(i));
    }
}

// Canvas for `panels_w` of plots with the legend to their right: as tall as the legend needs.
static ms_canvas *canvas_with_legend(const ms_fig_fonts *f, int panels_w, int h, const ms_legend_item *it, int n,
                                     int *legend_w) {
    int lw, lh;
    ms_legend_size(f->small, f->s, it, n, &lw, &lh);
    int top = MS_PX(f, 12) + ms_font_line_height(f->title) + MS_PX(f, 8); // where the data areas start
    if (top + lh + MS_PX(f, 12) > h) h = top + lh + MS_PX(f, 12);
    *legend_w = lw;
    return ms_canvas_new(panels_w + (lw ? lw + MS_PX(f, 12) : 0), h, MS_WHITE);
}

// ---- 1. log10 feature density histogram
ms_canvas *ms_sum_density(const ms_fig_fonts *f, const ms_sum_dict *d, int n) {
    enum { NB = 40 };
    const double lo = -8, hi = 0;
    double (*cnt)[NB] = ms_calloc((size_t)n, sizeof *cnt), ymax = 0;
    ms_legend_item *it = ms_calloc((size_t)n, sizeof *it);
    char (*lab)[320] = ms_calloc((size_t)n, sizeof *lab);
    int nl = 0;
    for (int i = 0; i < n; i++) {
        if (!d[i].density) continue;
        int dead = 0;
        for (int j = 0; j < d[i].d_sae; j++) {
            double v = d[i].density[j];
            if (!(v > 0)) { dead++; continue; }
            int b = (int)floor((log10(v) - lo) / (hi - lo) * NB);
            cnt[i][b < 0 ? 0 : b >= NB ? NB - 1 : b] += 1;
        }
        for (int b = 0; b < NB; b++) if (cnt[i][b] > ymax) ymax = cnt[i][b];
        snprintf(lab[nl], sizeof lab[nl], "%s: %.1f %% dead", d[i].legend, 100.0 * dead / (d[i].d_sae > 0 ? d[i].d_sae : 1));
        it[nl] = (ms_legend_item){lab[nl], dict_col(i), 1, dict_marker(i), -1};
        nl++;
    }
    ms_canvas *c = NULL;
    if (nl) {
        int W = MS_PX(f, 720), H = MS_PX(f, 460), pad = MS_PX(f, 12), lw;
        c = canvas_with_legend(f, W, H, it, nl, &lw);
        ms_plot p;
        memset(&p, 0, sizeof p);
        const char *t = "Feature density", *yl = "features";
        const char *xl = "log\xe2\x82\x81\xe2\x82\x80 density (fraction of tokens where the feature fires)";
        ms_plot_init(&p, c, f->small, f->normal, f->title, f->s, pad, pad, W - 2 * pad, c->h - 2 * pad, lo, hi, 0, 0,
                     ymax * 1.1, 0, t, xl, yl);
        ms_plot_axes(&p, t, xl, yl);
        for (int i = 0; i < n; i++) {
            if (!d[i].density) continue;
            double xs[2 * NB], ys[2 * NB];
            for (int b = 0; b < NB; b++) { // step outline, so overlapping dictionaries stay readable
                xs[2 * b] = lo + (hi - lo) * b / NB;
                xs[2 * b + 1] = lo + (hi - lo) * (b + 1) / NB;
                ys[2 * b] = ys[2 * b + 1] = cnt[i][b];
            }
            dict_curve(&p, xs, ys, 2 * NB, i);
        }
        ms_legend_draw(c, f->small, f->s, W, p.y, it, nl);
    }
    free(cnt); free(it); free(lab);
    return c;
}

// ---- 2. L0 vs explained variance (| CE loss recovered)
static void l0_panel(const ms_fig_fonts *f, ms_canvas *c, const ms_sum_dict *d, int n, int ce, int bx, int W,
                     const ms_rect *legend, text_buf *tb) {
    int pad = MS_PX(f, 12), k = 0, left_out = 0;
    ms_plot_point *pt = ms_calloc((size_t)(n > 0 ? n : 1), sizeof *pt);
    ms_plot_placed *pl = ms_calloc((size_t)(n > 0 ? n : 1), sizeof *pl);
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!d[i].have_eval || (ce && !d[i].have_ce)) continue;
        if (ce && !d[i].ce_valid) { left_out++; continue; } // a ratio over a meaningless denominator
        pt[k] = (ms_plot_point){d[i].l0, ce ? d[i].ce : d[i].ev, dict_col(i), dict_marker(i), d[i].name};
        x0 = fmin(x0, pt[k].x); x1 = fmax(x1, pt[k].x);
        y0 = fmin(y0, pt[k].y); y1 = fmax(y1, pt[k].y);
        k++;
    }
    if (!k) x0 = y0 = 0, x1 = y1 = 1; // every CE score left out: empty axes under the title saying so
    double xa, xb, ya, yb;
    ms_axis_pad(x0, x1, &xa, &xb);
    ms_axis_pad(y0, y1, &ya, &yb);
    if (xa < 0 && x0 >= 0) xa = 0; // L0 is a count
    ms_plot p;
    memset(&p, 0, sizeof p);
    char t[160];
    if (!ce) snprintf(t, sizeof t, "L0 vs explained variance");
    else if (!left_out) snprintf(t, sizeof t, "L0 vs CE loss recovered");
    else snprintf(t, sizeof t, "L0 vs CE loss recovered (%d left out: CE_zero \xe2\x88\x92 CE_clean < %g nats)", left_out,
                  MS_EVAL_CE_MIN_DELTA);
    const char *yl = ce ? "CE loss recovered" : "explained variance", *xl = "L0 (active features per token)";
    ms_plot_init(&p, c, f->small, f->normal, f->title, f->s, bx + pad, pad, W - 2 * pad, c->h - 2 * pad, xa, xb, 0, ya,
                 yb, 0, t, xl, yl);
    ms_plot_axes(&p, t, xl, yl);
    ms_plot_points(&p, pt, k, 4, legend, 1, pl);
    tb_add(tb, "area%d=%d,%d,%d,%d xr%d=%.9g,%.9g yr%d=%.9g,%.9g n%d=%d left%d=%d", ce, p.x, p.y, p.w, p.h, ce, p.x0, p.x1,
           ce, p.y0, p.y1, ce, k, ce, left_out);
    for (int j = 0; j < k; j++) {
        ms_rect m = pl[j].marker, l = pl[j].label;
        ms_rgb col = pt[j].col;
        tb_add(tb, "mk%d_%d=%d,%d,%d,%d,%d,%d,%d lb%d_%d=%d,%d,%d,%d,%d", ce, j, m.x, m.y, m.w, m.h, col.r, col.g, col.b,
               ce, j, l.x, l.y, l.w, l.h, pl[j].leader);
    }
    free(pt); free(pl);
}

ms_canvas *ms_sum_l0_ev(const ms_fig_fonts *f, const ms_sum_dict *d, int n, char **layout) {
    int n_ev = 0, n_ce = 0;
    ms_legend_item *it = ms_calloc((size_t)(n > 0 ? n : 1), sizeof *it);
    for (int i = 0; i < n; i++) {
        if (!d[i].have_eval) continue;
        n_ce += d[i].have_ce;
        it[n_ev++] = (ms_legend_item){d[i].legend, dict_col(i), 0, dict_marker(i), -1};
    }
    if (layout) *layout = NULL;
    if (!n_ev) { free(it); return NULL; }
    int panels = n_ce ? 2 : 1, W = MS_PX(f, 720), H = MS_PX(f, 460), lw;
    ms_canvas *c = canvas_with_legend(f, panels * W, H, it, n_ev, &lw);
    int top = MS_PX(f, 12) + ms_font_line_height(f->title) + MS_PX(f, 8);
    ms_rect legend = ms_legend_draw(c, f->small, f->s, panels * W, top, it, n_ev);
    text_buf tb = {0};
    text_buf *t = layout ? &tb : NULL;
    tb_add(t, "size=%d,%d", c->w, c->h);
    tb_rect(t, "legend", legend);
    for (int q = 0; q < panels; q++) l0_panel(f, c, d, n, q, q * W, W, &legend, t);
    if (layout) *layout = tb.s;
    free(it);
    return c;
}

// ---- 3. dead fraction, bars grouped by layer
// Value label above a bar, horizontal or rotated (one orientation per figure: see ms_sum_dead);
// left out where it would leave the data area or touch another.
static ms_rect value_label(ms_plot *p, const ms_fig_fonts *f, ms_rect bar, double v, int rotated, const ms_rect *placed,
                           int n_placed) {
    char s[32];
    snprintf(s, sizeof s, "%.1f", v);
    int tw = ms_text_width(f->small, s), lh = ms_font_line_height(f->small), cx = bar.x + bar.w / 2;
    ms_rect b = {0, 0, 0, 0};
    if (!rotated) b = (ms_rect){cx - tw / 2, bar.y - MS_PX(f, 2) - lh, tw, lh};
    else if (lh <= bar.w + MS_PX(f, 2)) b = (ms_rect){cx - lh / 2, bar.y - MS_PX(f, 3) - tw, lh, tw};
    if (b.w == 0 || b.x < p->x || b.y < p->y || b.x + b.w > p->x + p->w) return (ms_rect){0, 0, 0, 0};
    for (int i = 0; i < n_placed; i++)
        if (placed[i].w && b.x < placed[i].x + placed[i].w && placed[i].x < b.x + b.w && b.y < placed[i].y + placed[i].h &&
            placed[i].y < b.y + b.h)
            return (ms_rect){0, 0, 0, 0};
    if (!rotated) ms_text_draw(p->c, f->small, b.x, b.y, s, MS_GREY(30));
    else ms_text_draw_rot90(p->c, f->small, b.x, b.y + b.h, s, MS_GREY(30));
    return b;
}

ms_canvas *ms_sum_dead(const ms_fig_fonts *f, const ms_sum_dict *d, int n, char **layout) {
    if (layout) *layout = NULL;
    int *order = ms_calloc((size_t)(n > 0 ? n : 1), sizeof *order), k = 0;
    for (int i = 0; i < n; i++) if (d[i].have_eval) order[k++] = i;
    if (!k) { free(order); return NULL; }
    for (int a = 1; a < k; a++) // insertion sort by layer (stable: files keep their order within a layer)
        for (int b = a; b > 0 && d[order[b - 1]].layer > d[order[b]].layer; b--) { int t = order[b]; order[b] = order[b - 1]; order[b - 1] = t; }
    // groups: one per layer; a dictionary without a layer is its own group
    int *group = ms_calloc((size_t)k, sizeof *group), *slot = ms_calloc((size_t)k, sizeof *slot), ng = 0, widest = 1;
    char (*cat)[64] = ms_calloc((size_t)k, sizeof *cat);
    const char **catp = ms_calloc((size_t)k, sizeof *catp);
    ms_legend_item *it = ms_calloc((size_t)k, sizeof *it);
    double ymax = 0;
    for (int j = 0; j < k; j++) {
        const ms_sum_dict *e = &d[order[j]];
        int same = j > 0 && e->layer >= 0 && e->layer == d[order[j - 1]].layer;
        if (!same) {
            if (e->layer >= 0) snprintf(cat[ng], sizeof cat[ng], "layer %d", e->layer);
            else snprintf(cat[ng], sizeof cat[ng], "%s", e->name);
            catp[ng] = cat[ng];
            ng++;
        }
        group[j] = ng - 1;
        slot[j] = same ? slot[j - 1] + 1 : 0;
        if (slot[j] + 1 > widest) widest = slot[j] + 1;
        if (100 * e->dead > ymax) ymax = 100 * e->dead;
        it[j] = (ms_legend_item){e->legend, dict_col(order[j]), 0, -1, dict_hatch(order[j])};
    }
    int W = MS_PX(f, 720), H = MS_PX(f, 460), pad = MS_PX(f, 12), lw;
    ms_canvas *c = canvas_with_legend(f, W, H, it, k, &lw);
    ms_plot p;
    memset(&p, 0, sizeof p);
    ms_plot_set_xcat(&p, catp, ng);
    const char *t = "Dead features per dictionary", *xl = "dictionaries grouped by layer", *yl = "dead features (%)";
    ms_plot_init(&p, c, f->small, f->normal, f->title, f->s, pad, pad, W - 2 * pad, c->h - 2 * pad, -0.5, ng - 0.5, 0, 0,
                 ymax > 0 ? ymax * 1.25 : 1, 0, t, xl, yl);
    ms_plot_axes(&p, t, xl, yl);
    ms_rect legend = ms_legend_draw(c, f->small, f->s, W, p.y, it, k);
    text_buf tb = {0};
    text_buf *tp = layout ? &tb : NULL;
    tb_add(tp, "size=%d,%d", c->w, c->h);
    tb_rect(tp, "legend", legend);
    tb_add(tp, "area=%d,%d,%d,%d n=%d", p.x, p.y, p.w, p.h, k);
    double bw = 0.8 / widest; // the same width in every group, bars centred on the group's tick
    ms_rect *vals = ms_calloc((size_t)k, sizeof *vals);
    int y_base = (int)lround(ms_plot_py(&p, 0)), bar_px = (int)(ms_plot_px(&p, bw) - ms_plot_px(&p, 0)) - MS_PX(f, 2);
    int rotated = 0; // horizontal value labels when every one fits its bar's width
    for (int j = 0; j < k; j++) {
        char s[32];
        snprintf(s, sizeof s, "%.1f", 100 * d[order[j]].dead);
        rotated |= ms_text_width(f->small, s) > bar_px + MS_PX(f, 4);
    }
    for (int j = 0; j < k; j++) {
        int g = group[j], m = 0;
        for (int q = 0; q < k; q++) m += group[q] == g;
        double left = g - bw * m / 2 + bw * slot[j];
        int xa = (int)lround(ms_plot_px(&p, left)), xb = (int)lround(ms_plot_px(&p, left + bw)) - MS_PX(f, 2);
        int yt = (int)lround(ms_plot_py(&p, 100 * d[order[j]].dead));
        if (y_base - yt < 2) yt = y_base - 2; // zero still shows as a sliver of the dictionary's colour
        ms_rect bar = {xa, yt, xb - xa > 2 ? xb - xa : 2, y_base + 1 - yt};
        ms_draw_hatched(c, bar.x, bar.y, bar.w, bar.h, dict_col(order[j]), dict_hatch(order[j]), MS_PX(f, 5));
        vals[j] = value_label(&p, f, bar, 100 * d[order[j]].dead, rotated, vals, j);
        ms_rgb col = dict_col(order[j]);
        tb_add(tp, "bar%d=%d,%d,%d,%d,%d,%d,%d", j, bar.x, bar.y, bar.w, bar.h, col.r, col.g, col.b);
        char key[32];
        snprintf(key, sizeof key, "val%d", j);
        tb_rect(tp, key, vals[j]);
    }
    if (layout) *layout = tb.s;
    free(order); free(group); free(slot); free(cat); free(catp); free(it); free(vals);
    return c;
}

// ---- 4. training curves
static int col_index(const ms_sum_dict *e, const char *name) {
    for (int j = 0; j < e->log_cols; j++)
        if (e->log_columns && e->log_columns[j] && !strcmp(e->log_columns[j], name)) return j;
    return -1;
}

// The x column of a log: tokens, else step, else the row number (-1).
static int x_col(const ms_sum_dict *e, const char **xname) {
    int xc = col_index(e, "tokens");
    if (xc >= 0) { *xname = "tokens"; return xc; }
    return col_index(e, "step");
}

// Up to 4 panels: the usual metrics first, else whatever columns there are.
static int pick_panels(const ms_sum_dict *d, int n, const char **panel) {
    static const char *want[] = {"loss", "mse", "l0", "explained_variance", "dead_frac", "nmse", "aux_loss", "lr"};
    int np = 0;
    for (int w = 0; w < 8 && np < 4; w++)
        for (int i = 0; i < n; i++)
            if (d[i].log && col_index(&d[i], want[w]) >= 0) { panel[np++] = want[w]; break; }
    for (int i = 0; i < n && np < 4; i++)
        for (int j = 0; d[i].log && j < d[i].log_cols && np < 4; j++) {
            const char *cn = d[i].log_columns[j] ? d[i].log_columns[j] : "";
            int dup = !strcmp(cn, "step") || !strcmp(cn, "tokens") || !*cn;
            for (int q = 0; q < np; q++) dup |= !strcmp(panel[q], cn);
            if (!dup) panel[np++] = cn;
        }
    return np;
}

static void training_panel(const ms_fig_fonts *f, ms_canvas *c, const ms_sum_dict *d, int n, const char *name, int bx,
                           int by, int pw, int ph) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    const char *xname = "step";
    for (int i = 0; i < n; i++) {
        int yc = d[i].log ? col_index(&d[i], name) : -1, xc = yc >= 0 ? x_col(&d[i], &xname) : -1;
        for (int r = 0; yc >= 0 && r < d[i].log_rows; r++) {
            double xv = xc >= 0 ? d[i].log[(size_t)r * d[i].log_cols + xc] : r, yv = d[i].log[(size_t)r * d[i].log_cols + yc];
            if (!isfinite(xv) || !isfinite(yv)) continue;
            x0 = fmin(x0, xv); x1 = fmax(x1, xv);
            y0 = fmin(y0, yv); y1 = fmax(y1, yv);
        }
    }
    int ylog = (!strcmp(name, "loss") || !strcmp(name, "mse") || !strcmp(name, "nmse")) && y0 > 0 && y1 / y0 > 20;
    if (!ylog && !(y1 - y0 > 1e-9 * fmax(fabs(y0), fabs(y1)))) ms_axis_pad(y0, y1, &y0, &y1); // a flat curve
    int pad = MS_PX(f, 12);
    ms_plot p;
    memset(&p, 0, sizeof p);
    ms_plot_init(&p, c, f->small, f->normal, f->title, f->s, bx + pad, by + pad, pw - 2 * pad, ph - 2 * pad, x0, x1, 0,
                 y0, y1, ylog, name, xname, name);
    ms_plot_axes(&p, name, xname, name);
    for (int i = 0; i < n; i++) {
        int yc = d[i].log ? col_index(&d[i], name) : -1, xc = yc >= 0 ? x_col(&d[i], &xname) : -1;
        if (yc < 0) continue;
        double *xs = ms_malloc((size_t)d[i].log_rows * sizeof *xs), *ys = ms_malloc((size_t)d[i].log_rows * sizeof *ys);
        for (int r = 0; r < d[i].log_rows; r++) {
            xs[r] = xc >= 0 ? d[i].log[(size_t)r * d[i].log_cols + xc] : r;
            ys[r] = d[i].log[(size_t)r * d[i].log_cols + yc];
        }
        dict_curve(&p, xs, ys, d[i].log_rows, i);
        free(xs); free(ys);
    }
}

ms_canvas *ms_sum_training(const ms_fig_fonts *f, const ms_sum_dict *d, int n) {
    const char *panel[4];
    int np = pick_panels(d, n, panel), nl = 0;
    if (!np) return NULL;
    ms_legend_item *it = ms_calloc((size_t)n, sizeof *it);
    for (int i = 0; i < n; i++)
        if (d[i].log) it[nl++] = (ms_legend_item){d[i].legend, dict_col(i), 1, dict_marker(i), -1};
    int pw = MS_PX(f, 560), ph = MS_PX(f, 360), gc = np > 1 ? 2 : 1, gr = (np + 1) / 2, lw;
    ms_canvas *c = canvas_with_legend(f, gc * pw, gr * ph, it, nl, &lw);
    for (int q = 0; q < np; q++) training_panel(f, c, d, n, panel[q], (q % 2) * pw, (q / 2) * ph, pw, ph);
    int top = MS_PX(f, 12) + ms_font_line_height(f->title) + MS_PX(f, 8);
    ms_legend_draw(c, f->small, f->s, gc * pw, top, it, nl);
    free(it);
    return c;
}
