// pca_fig.c: `monoscope pca --figures DIR`'s two figures (viz.h):
//   scree.png    explained-variance ratio per component (bars) and its running sum (line, markers);
//   scatter.png  tokens on PC1 × PC2 (from ms_pca_project2), coloured by one concept when a labels
//                file is given: the other tokens first in grey-blue, the concept's on top in orange,
//                so a minority concept stays visible.
// Each writes a "Layout" text chunk for tests: "area=x,y,w,h xr=lo,hi yr=lo,hi", then for the scree
// "bar<c>=x,y" (top centre of component c's bar) and for the scatter "n=N concept=M".
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "render/colormap.h"
#include "render/plot.h"
#include "render/png_io.h"
#include "util/util.h"
#include "viz/figure.h"
#include "viz/viz.h"

static void layout_add(char *buf, size_t cap, const char *fmt, int a, int b, int c) {
    const size_t o = strlen(buf);
    if (o + 48 < cap) snprintf(buf + o, cap - o, fmt, a, b, c);
}

int ms_viz_pca_scree_png(const ms_pca *p, const char *path, double scale, const char *inputs) {
    ms_fig_fonts F;
    if (ms_fig_fonts_open(&F, scale) < 0) return -1;
    const ms_fig_fonts *f = &F;
    const int K = p->k, W = MS_PX(f, 640), H = MS_PX(f, 420), pad = MS_PX(f, 12);
    ms_canvas *c = ms_canvas_new(W, H, MS_WHITE);
    double *edges = ms_malloc((size_t)(K + 1) * sizeof *edges), *ratio = ms_malloc((size_t)K * sizeof *ratio);
    double *xs = ms_malloc((size_t)K * sizeof *xs), *cum = ms_malloc((size_t)K * sizeof *cum), run = 0;
    for (int k = 0; k < K; k++) {
        ratio[k] = p->total_variance > 0 ? p->variance[k] / p->total_variance : 0;
        run += ratio[k];
        cum[k] = run, xs[k] = k + 1, edges[k] = k + 0.5; // bar k centred on k + 1
    }
    edges[K] = K + 0.5;
    char title[256];
    snprintf(title, sizeof title, "PCA of %s: %lld tokens, d %d", p->hook, (long long)p->n_tokens, p->d);
    const char *xl = "principal component", *yl = "share of the variance (bars; line: cumulative)";
    ms_plot pl;
    memset(&pl, 0, sizeof pl);
    ms_plot_init(&pl, c, f->small, f->normal, f->title, f->s, pad, pad, W - 2 * pad, H - 2 * pad, 0.3, K + 0.7, 0, 0, 1.05,
                 0, title, xl, yl);
    ms_plot_axes(&pl, title, xl, yl);
    ms_plot_bars(&pl, edges, ratio, K, 0, ms_cmap_tab10(0));
    ms_plot_line(&pl, xs, cum, K, ms_cmap_tab10(1), 2);
    const size_t cap = 128 + (size_t)K * 40;
    char *layout = ms_malloc(cap);
    snprintf(layout, cap, "area=%d,%d,%d,%d xr=%.9g,%.9g yr=%.9g,%.9g", pl.x, pl.y, pl.w, pl.h, pl.x0, pl.x1, pl.y0, pl.y1);
    for (int k = 0; k < K; k++) {
        const int X = (int)lround(ms_plot_px(&pl, xs[k]));
        ms_draw_marker(c, X, (int)lround(ms_plot_py(&pl, cum[k])), (int)lround(3 * f->s), MS_MARK_CIRCLE, ms_cmap_tab10(1));
        layout_add(layout, cap, " bar%d=%d,%d", k, X, (int)lround(ms_plot_py(&pl, ratio[k])));
    }
    ms_png_text tx[2] = {{"Inputs", inputs ? inputs : ""}, {"Layout", layout}};
    const int rc = ms_png_write(c, path, tx, 2);
    free(layout); free(edges); free(ratio); free(xs); free(cum);
    ms_canvas_free(c);
    ms_fig_fonts_close(&F);
    return rc;
}

// Range of column j of xy (n, 2), padded for the axes.
static void column_range(const double *xy, int64_t n, int j, double *lo, double *hi) {
    double a = INFINITY, b = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (xy[2 * i + j] < a) a = xy[2 * i + j];
        if (xy[2 * i + j] > b) b = xy[2 * i + j];
    }
    ms_axis_pad(a, b, lo, hi);
}

int ms_viz_pca_scatter_png(const ms_pca *p, const double *xy, const uint8_t *is_concept, int64_t n, const char *concept,
                           const char *path, double scale, const char *inputs) {
    if (n < 1) { ms_error("pca: no tokens to draw"); return -1; }
    ms_fig_fonts F;
    if (ms_fig_fonts_open(&F, scale) < 0) return -1;
    const ms_fig_fonts *f = &F;
    int64_t m = 0;
    for (int64_t i = 0; is_concept && i < n; i++) m += is_concept[i] != 0;
    char l_other[96], l_yes[96];
    snprintf(l_other, sizeof l_other, is_concept ? "other tokens (%lld)" : "tokens (%lld)", (long long)(n - m));
    snprintf(l_yes, sizeof l_yes, "%.60s (%lld)", concept ? concept : "", (long long)m);
    const ms_rgb other = ms_cmap_tab10(0), yes = ms_cmap_tab10(1);
    ms_legend_item it[2] = {{l_other, other, 0, MS_MARK_SQUARE, -1}, {l_yes, yes, 0, MS_MARK_SQUARE, -1}};
    const int n_it = is_concept ? 2 : 1;
    int lw, lh;
    ms_legend_size(f->small, f->s, it, n_it, &lw, &lh);
    const int W = MS_PX(f, 560), H = MS_PX(f, 520), pad = MS_PX(f, 12);
    ms_canvas *c = ms_canvas_new(W + lw + MS_PX(f, 12), H, MS_WHITE);
    double x0, x1, y0, y1;
    column_range(xy, n, 0, &x0, &x1);
    column_range(xy, n, 1, &y0, &y1);
    char title[256], xl[64], yl[64];
    snprintf(title, sizeof title, "PCA: %s", p->hook);
    snprintf(xl, sizeof xl, "PC1 (%.1f %% of the variance)", p->total_variance > 0 ? 100 * p->variance[0] / p->total_variance : 0);
    snprintf(yl, sizeof yl, "PC2 (%.1f %% of the variance)", p->total_variance > 0 ? 100 * p->variance[1] / p->total_variance : 0);
    ms_plot pl;
    memset(&pl, 0, sizeof pl);
    ms_plot_init(&pl, c, f->small, f->normal, f->title, f->s, pad, pad, W - 2 * pad, H - 2 * pad, x0, x1, 0, y0, y1, 0,
                 title, xl, yl);
    ms_plot_axes(&pl, title, xl, yl);
    const int r = MS_PX(f, 1.5) > 1 ? MS_PX(f, 1.5) : 1;
    for (int pass = 0; pass < 2; pass++) // the concept's tokens on top
        for (int64_t i = 0; i < n; i++) {
            const int on = is_concept && is_concept[i];
            if (on != pass) continue;
            const int X = (int)lround(ms_plot_px(&pl, xy[2 * i])), Y = (int)lround(ms_plot_py(&pl, xy[2 * i + 1]));
            ms_canvas_fill_rect(c, X - r, Y - r, 2 * r + 1, 2 * r + 1, on ? yes : other);
        }
    ms_legend_draw(c, f->small, f->s, W, pl.y, it, n_it);
    char layout[256];
    snprintf(layout, sizeof layout, "area=%d,%d,%d,%d xr=%.9g,%.9g yr=%.9g,%.9g n=%lld concept=%lld", pl.x, pl.y, pl.w, pl.h,
             pl.x0, pl.x1, pl.y0, pl.y1, (long long)n, (long long)m);
    ms_png_text tx[2] = {{"Inputs", inputs ? inputs : ""}, {"Layout", layout}};
    const int rc = ms_png_write(c, path, tx, 2);
    ms_canvas_free(c);
    ms_fig_fonts_close(&F);
    return rc;
}
