// sweep_fig.c: `monoscope probe sweep`'s figure: held-out F1 of each concept's probe against the
// layer, one line per concept (colour tab10(k), marker shape k), the legend beside the data. Sites
// without a layer (embeddings) sit at x = -1. Layout text: "area=x,y,w,h xr=lo,hi yr=lo,hi" (the axes' ranges) and
// "pt<k>_<i>=x,y" for concept k at site i, for tests.
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

static void append(char *buf, size_t cap, const char *fmt, double a, double b) {
    size_t o = strlen(buf);
    if (o + 64 < cap) snprintf(buf + o, cap - o, fmt, a, b);
}

int ms_viz_probe_sweep_png(const ms_probe_sweep *r, const char *path, double scale, const char *inputs) {
    if (r->n_sites < 1 || r->n_concepts < 1) { ms_error("probe sweep: nothing to draw"); return -1; }
    ms_fig_fonts F;
    if (ms_fig_fonts_open(&F, scale) < 0) return -1;
    ms_fig_fonts *f = &F;
    const int S = r->n_sites, K = r->n_concepts;
    ms_legend_item *it = ms_calloc((size_t)K, sizeof *it);
    for (int k = 0; k < K; k++) it[k] = (ms_legend_item){r->concepts[k], ms_cmap_tab10(k), 1, k % MS_MARK_COUNT, -1};
    int lw, lh;
    ms_legend_size(f->small, f->s, it, K, &lw, &lh);
    const int W = MS_PX(f, 640), pad = MS_PX(f, 12);
    int H = MS_PX(f, 420);
    if (lh + 2 * pad + MS_PX(f, 40) > H) H = lh + 2 * pad + MS_PX(f, 40);
    ms_canvas *c = ms_canvas_new(W + lw + MS_PX(f, 12), H, MS_WHITE);
    double *xs = ms_malloc((size_t)S * sizeof(double)), *ys = ms_malloc((size_t)S * sizeof(double));
    double xlo = INFINITY, xhi = -INFINITY;
    for (int i = 0; i < S; i++) {
        xs[i] = r->layers[i];
        if (xs[i] < xlo) xlo = xs[i];
        if (xs[i] > xhi) xhi = xs[i];
    }
    double a, b;
    ms_axis_pad(xlo, xhi, &a, &b);
    ms_plot p;
    memset(&p, 0, sizeof p);
    const char *t = r->logistic ? "Logistic probes across layers" : "Ridge probes across layers";
    const char *xl = "layer (embeddings: -1)", *yl = "F1 on held-out sequences";
    ms_plot_init(&p, c, f->small, f->normal, f->title, f->s, pad, pad, W - 2 * pad, H - 2 * pad, a, b, 0, 0, 1.05, 0, t,
                 xl, yl);
    ms_plot_axes(&p, t, xl, yl);
    char *layout = ms_malloc(64 + (size_t)S * K * 32 + 128);
    snprintf(layout, 128, "area=%d,%d,%d,%d xr=%.9g,%.9g yr=%.9g,%.9g", p.x, p.y, p.w, p.h, p.x0, p.x1, p.y0, p.y1);
    const int rad = (int)lround(3.5 * f->s);
    for (int k = 0; k < K; k++) {
        for (int i = 0; i < S; i++) ys[i] = r->f1[(size_t)i * K + k];
        ms_plot_line(&p, xs, ys, S, ms_cmap_tab10(k), 2);
        for (int i = 0; i < S; i++) {
            int X = (int)lround(ms_plot_px(&p, xs[i])), Y = (int)lround(ms_plot_py(&p, ys[i]));
            ms_draw_marker(c, X, Y, rad, k % MS_MARK_COUNT, ms_cmap_tab10(k));
            size_t o = strlen(layout);
            snprintf(layout + o, 32, " pt%d_%d=", k, i);
            append(layout, 64 + (size_t)S * K * 32 + 128, "%.0f,%.0f", X, Y);
        }
    }
    ms_legend_draw(c, f->small, f->s, W, p.y, it, K);
    ms_png_text tx[2] = {{"Inputs", inputs ? inputs : ""}, {"Layout", layout}};
    int rc = ms_png_write(c, path, tx, 2);
    free(layout); free(xs); free(ys); free(it);
    ms_canvas_free(c);
    ms_fig_fonts_close(f);
    return rc;
}
