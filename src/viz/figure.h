// figure.h: what every figure shares: its fonts at a given scale (dpi / 100), the colorbar, and
// the "Layout" text chunk that tells tests (and scripts) where the parts of a figure are.
#ifndef MS_VIZ_FIGURE_H
#define MS_VIZ_FIGURE_H
#include "render/canvas.h"
#include "render/text.h"

typedef struct {
    double s;           // scale: 1.0 at 100 dpi
    ms_font *small;     // 11 px: tick labels, column labels
    ms_font *ctx;       // 12 px: tokens in dashboard contexts
    ms_font *normal;    // 13 px: labels
    ms_font *bold;      // 13 px bold: section headings
    ms_font *title;     // 16 px bold: figure title
} ms_fig_fonts;

// Returns 0 / -1 (font missing) with ms_error().
int ms_fig_fonts_open(ms_fig_fonts *f, double scale);
void ms_fig_fonts_close(ms_fig_fonts *f);

#define MS_PX(f, v) ((int)((v) * (f)->s + 0.5))

// Vertical colorbar in the box (x, y, w, h) for values [vmin, vmax] with nice ticks and labels to
// the right, and an optional label rotated along its right side. cmap: t in [0,1] -> colour.
// Returns the total width used (bar + ticks + labels).
int ms_fig_colorbar(ms_canvas *c, const ms_fig_fonts *f, int x, int y, int w, int h, double vmin, double vmax,
                    ms_rgb (*cmap)(double), const char *label);
// Width the colorbar will take for these values (same layout as ms_fig_colorbar).
int ms_fig_colorbar_width(const ms_fig_fonts *f, int w, double vmin, double vmax, const char *label);
// Horizontal scale bar (x, y, w, h) with tick labels below; returns the height used.
int ms_fig_hbar(ms_canvas *c, const ms_fig_fonts *f, int x, int y, int w, int h, double vmin, double vmax,
                ms_rgb (*cmap)(double), const char *label);

#endif
