// figure.c: see figure.h.
#include "viz/figure.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "render/plot.h"

int ms_fig_fonts_open(ms_fig_fonts *f, double scale) {
    memset(f, 0, sizeof *f);
    f->s = scale > 0.25 ? scale : 0.25;
    f->small = ms_font_new(11 * f->s, 0);
    f->ctx = f->small ? ms_font_new(12 * f->s, 0) : NULL;
    f->normal = f->ctx ? ms_font_new(13 * f->s, 0) : NULL;
    f->bold = f->normal ? ms_font_new(13 * f->s, 1) : NULL;
    f->title = f->bold ? ms_font_new(16 * f->s, 1) : NULL;
    if (!f->title) {
        ms_fig_fonts_close(f);
        return -1;
    }
    return 0;
}

void ms_fig_fonts_close(ms_fig_fonts *f) {
    ms_font_free(f->small);
    ms_font_free(f->ctx);
    ms_font_free(f->normal);
    ms_font_free(f->bold);
    ms_font_free(f->title);
    memset(f, 0, sizeof *f);
}

static int bar_ticks(double vmin, double vmax, double *t, double *step) {
    double lo = vmin, hi = vmax;
    int n = ms_nice_ticks(&lo, &hi, 6, 0, t, step);
    return n;
}

int ms_fig_colorbar_width(const ms_fig_fonts *f, int w, double vmin, double vmax, const char *label) {
    double t[MS_PLOT_MAX_TICKS], step;
    int n = bar_ticks(vmin, vmax, t, &step), lw = 0;
    char buf[64];
    for (int i = 0; i < n; i++) {
        ms_format_tick(t[i], step, buf, sizeof buf);
        int x = ms_text_width(f->small, buf);
        if (x > lw) lw = x;
    }
    return w + MS_PX(f, 4) + MS_PX(f, 3) + lw + (label && *label ? MS_PX(f, 6) + ms_font_line_height(f->normal) : 0);
}

int ms_fig_colorbar(ms_canvas *c, const ms_fig_fonts *f, int x, int y, int w, int h, double vmin, double vmax,
                    ms_rgb (*cmap)(double), const char *label) {
    if (!(vmax > vmin)) vmax = vmin + 1;
    for (int yy = 0; yy < h; yy++) { // top = vmax
        double t = h > 1 ? 1.0 - (double)yy / (h - 1) : 1.0;
        ms_canvas_fill_rect(c, x, y + yy, w, 1, cmap(t));
    }
    ms_canvas_rect(c, x - 1, y - 1, w + 2, h + 2, 1, MS_GREY(60));
    double t[MS_PLOT_MAX_TICKS], step;
    int n = bar_ticks(vmin, vmax, t, &step), lw = 0, lh = ms_font_line_height(f->small);
    char buf[64];
    for (int i = 0; i < n; i++) {
        if (t[i] < vmin - 1e-12 || t[i] > vmax + 1e-12) continue;
        int yy = y + (int)lround((1.0 - (t[i] - vmin) / (vmax - vmin)) * (h - 1));
        ms_canvas_fill_rect(c, x + w + 1, yy, MS_PX(f, 4), 1, MS_GREY(60));
        ms_format_tick(t[i], step, buf, sizeof buf);
        int ty = yy - lh / 2;
        if (ty < y - lh / 2) ty = y - lh / 2;
        int tw = ms_text_draw(c, f->small, x + w + MS_PX(f, 4) + MS_PX(f, 3), ty, buf, MS_GREY(20));
        if (tw > lw) lw = tw;
    }
    int used = w + MS_PX(f, 4) + MS_PX(f, 3) + lw;
    if (label && *label) {
        int wl = ms_text_width(f->normal, label);
        int lx = x + used + MS_PX(f, 6);
        int yb = y + h / 2 + wl / 2;
        ms_text_draw_rot90(c, f->normal, lx, yb, label, MS_GREY(20));
        used += MS_PX(f, 6) + ms_font_line_height(f->normal);
    }
    return used;
}

int ms_fig_hbar(ms_canvas *c, const ms_fig_fonts *f, int x, int y, int w, int h, double vmin, double vmax,
                ms_rgb (*cmap)(double), const char *label) {
    if (!(vmax > vmin)) vmax = vmin + 1;
    for (int xx = 0; xx < w; xx++) ms_canvas_fill_rect(c, x + xx, y, 1, h, cmap(w > 1 ? (double)xx / (w - 1) : 1));
    ms_canvas_rect(c, x - 1, y - 1, w + 2, h + 2, 1, MS_GREY(60));
    double t[MS_PLOT_MAX_TICKS], step;
    int n = bar_ticks(vmin, vmax, t, &step), lh = ms_font_line_height(f->small);
    char buf[64];
    for (int i = 0; i < n; i++) {
        int xx = x + (int)lround((t[i] - vmin) / (vmax - vmin) * (w - 1));
        ms_canvas_fill_rect(c, xx, y + h + 1, 1, MS_PX(f, 4), MS_GREY(60));
        ms_format_tick(t[i], step, buf, sizeof buf);
        ms_text_draw_aligned(c, f->small, xx, y + h + MS_PX(f, 5), buf, MS_GREY(20), 1);
    }
    int used = h + MS_PX(f, 5) + lh;
    if (label && *label) {
        ms_text_draw_aligned(c, f->normal, x + w / 2, y + used + MS_PX(f, 2), label, MS_GREY(20), 1);
        used += MS_PX(f, 2) + ms_font_line_height(f->normal);
    }
    return used;
}
