// plot.h: 2-D plots for paper figures: a data area inside a box, linear or log10 axes with
// "nice" ticks (1, 2, 5 x 10^k), tick labels, axis labels, title, lines, bars, markers of several
// shapes with labels placed so that nothing overlaps, hatched bars, legends beside the data area.
// Every size is in pixels at 100 dpi and multiplied by `scale` (= dpi / 100).
#ifndef MS_PLOT_H
#define MS_PLOT_H
#include "render/canvas.h"
#include "render/text.h"

#define MS_PLOT_MAX_TICKS 16

typedef struct {
    ms_canvas *c;
    ms_font *font;        // tick labels, legend
    ms_font *font_label;  // axis labels
    ms_font *font_title;
    double scale;
    int bx, by, bw, bh;   // the outer box given to ms_plot_init
    int x, y, w, h;       // the data area inside it
    double x0, x1, y0, y1; // data range (log10 axes: the range of the values, > 0)
    int xlog, ylog;
    double xt[MS_PLOT_MAX_TICKS], yt[MS_PLOT_MAX_TICKS];
    int nxt, nyt;
    double xstep, ystep;  // tick spacing (in log10 units on log axes)
    const char **xcat;    // categorical x labels at x = 0..nxcat-1 (else NULL)
    int nxcat;
} ms_plot;

// Nice ticks covering [lo, hi]: step = {1,2,5} x 10^k with at most max_ticks ticks inside;
// *lo / *hi are widened to multiples of the step when expand is set. Returns the tick count.
int ms_nice_ticks(double *lo, double *hi, int max_ticks, int expand, double *ticks, double *step);
// Formats v with just enough decimals for ticks spaced step apart ("0.25", "1e+06" for huge).
void ms_format_tick(double v, double step, char *buf, int bufsz);
// Formats 10^e as "10⁻³" (UTF-8 superscripts).
void ms_format_pow10(int e, char *buf, int bufsz);

// Lays out a plot in the box (x, y, w, h): picks ticks for the ranges (non-finite or empty ranges
// become [0, 1]; log axes need positive ranges), and reserves room for title, labels and ticks.
void ms_plot_init(ms_plot *p, ms_canvas *c, ms_font *font, ms_font *font_label, ms_font *font_title,
                  double scale, int x, int y, int w, int h, double x0, double x1, int xlog,
                  double y0, double y1, int ylog, const char *title, const char *xlabel, const char *ylabel);
// Categorical x axis: labels centred at x = 0..n-1 (call before ms_plot_init with x0 = -0.5, x1 = n-0.5).
void ms_plot_set_xcat(ms_plot *p, const char **labels, int n);
// Draws frame, grid, ticks, tick labels, axis labels and title.
void ms_plot_axes(ms_plot *p, const char *title, const char *xlabel, const char *ylabel);
// Data -> pixel coordinates (may lie outside the area).
double ms_plot_px(const ms_plot *p, double x);
double ms_plot_py(const ms_plot *p, double y);
// Polyline through the finite points, clipped to the data area.
void ms_plot_line(ms_plot *p, const double *xs, const double *ys, int n, ms_rgb col, int thick);
// Bars from y = base up to ys[i] between edges[i] and edges[i+1] (n bars, n+1 edges).
void ms_plot_bars(ms_plot *p, const double *edges, const double *ys, int n, double base, ms_rgb col);

// ---- markers, hatched bars, legends beside the data area, labels placed without overlaps
typedef struct { int x, y, w, h; } ms_rect; // [x, x+w) x [y, y+h); w == 0: none

// Marker shapes (filled, with a darker outline), so dictionaries differ by shape as well as colour.
enum { MS_MARK_SQUARE, MS_MARK_CIRCLE, MS_MARK_TRIANGLE, MS_MARK_DIAMOND, MS_MARK_TRIANGLE_DOWN, MS_MARK_PLUS,
       MS_MARK_TRIANGLE_RIGHT, MS_MARK_CROSS, MS_MARK_COUNT };
// Bar fills: plain, then line patterns drawn in the bar's outline colour.
enum { MS_HATCH_NONE, MS_HATCH_SLASH, MS_HATCH_BACKSLASH, MS_HATCH_HORIZONTAL, MS_HATCH_VERTICAL, MS_HATCH_CROSS,
       MS_HATCH_GRID, MS_HATCH_COUNT };

// Marker of half-size r px (unscaled: pixels as given) centred at (cx, cy): its pixels lie in
// [cx-r, cx+r] x [cy-r, cy+r].
void ms_draw_marker(ms_canvas *c, int cx, int cy, int r, int shape, ms_rgb col);
// Filled rectangle with a hatch pattern (spacing in px) and a 1 px outline.
void ms_draw_hatched(ms_canvas *c, int x, int y, int w, int h, ms_rgb col, int hatch, int spacing);
ms_rgb ms_rgb_darker(ms_rgb c); // outline colour of markers and bars

typedef struct {
    const char *label;
    ms_rgb col;
    int line;   // 1: a line swatch (curves)
    int marker; // MS_MARK_* drawn on the swatch, or -1
    int hatch;  // MS_HATCH_*: a bar swatch, or -1
} ms_legend_item;
// Size of the legend block for these items: every label in full (the caller makes room for it).
void ms_legend_size(ms_font *font, double scale, const ms_legend_item *it, int n, int *w, int *h);
// Draws the block with its top-left corner at (x, y); returns its box.
ms_rect ms_legend_draw(ms_canvas *c, ms_font *font, double scale, int x, int y, const ms_legend_item *it, int n);

// A padded axis range around values [lo, hi]: 10 % of the span each side; a degenerate span (all
// values equal) becomes +-10 % of the value (+-1 at 0), so ticks stay readable (32 -> 28..36).
void ms_axis_pad(double lo, double hi, double *a, double *b);

typedef struct {
    double x, y;       // data coordinates
    ms_rgb col;
    int marker;        // MS_MARK_*
    const char *label; // NULL: none
} ms_plot_point;
typedef struct {
    int cx, cy;     // marker centre as drawn (px); moved off the data position only to avoid another marker
    int moved;      // 1 if moved: a thin tick joins it to its data position
    ms_rect marker; // box of the marker's pixels (w == 0: not drawn: non-finite or outside the area)
    ms_rect label;  // box of the label's line (w == 0: not placed: no free room in the area)
    int leader;     // 1: the label stands away from the marker, joined by a leader line
} ms_plot_placed;
// Draws markers of half-size r (scaled) with their labels, nothing hidden: a marker that would
// overlap an earlier one or an `avoid` box moves to the nearest free spot around its data position
// (a thin tick points to the data position); each label takes
// the first of 8 positions around its marker (right, left, above, below, then the diagonals) whose
// box stays in the data area and overlaps no label, marker, leader line or `avoid` box; else the
// nearest such spot farther out, joined by a leader line; else it is left out (the legend still
// names the marker). out[n] receives the geometry (for the Layout chunk and tests).
void ms_plot_points(ms_plot *p, const ms_plot_point *pts, int n, int r, const ms_rect *avoid, int n_avoid,
                    ms_plot_placed *out);

#endif
