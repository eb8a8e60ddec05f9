// plot.c: see plot.h.
#include "render/plot.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(v) ((int)lround((v) * p->scale))

static const ms_rgb AXIS = {40, 40, 40}, GRID = {228, 228, 228}, TEXT = {20, 20, 20};

int ms_nice_ticks(double *lo, double *hi, int max_ticks, int expand, double *ticks, double *step) {
    if (!isfinite(*lo) || !isfinite(*hi)) { *lo = 0; *hi = 1; }
    if (*hi < *lo) { double t = *lo; *lo = *hi; *hi = t; }
    if (*hi - *lo < 1e-12 * (fabs(*lo) + fabs(*hi)) || *hi == *lo) { // degenerate: widen around the value
        double d = *lo == 0 ? 1 : fabs(*lo) * 0.1;
        *lo -= d;
        *hi += d;
    }
    if (max_ticks < 2) max_ticks = 2;
    if (max_ticks > MS_PLOT_MAX_TICKS) max_ticks = MS_PLOT_MAX_TICKS;
    double range = *hi - *lo, st = 0;
    double mag = pow(10, floor(log10(range / max_ticks)));
    static const double mult[] = {1, 2, 5, 10, 20, 50};
    for (int i = 0; i < 6; i++) { // smallest nice step giving at most max_ticks ticks
        st = mult[i] * mag;
        double a = expand ? floor(*lo / st) : ceil(*lo / st - 1e-9), b = expand ? ceil(*hi / st) : floor(*hi / st + 1e-9);
        if (b - a + 1 <= max_ticks) break;
    }
    if (expand) {
        *lo = floor(*lo / st + 1e-9) * st;
        *hi = ceil(*hi / st - 1e-9) * st;
    }
    int n = 0;
    for (double k = ceil(*lo / st - 1e-9); k * st <= *hi + st * 1e-9 && n < MS_PLOT_MAX_TICKS; k++) {
        double v = k * st;
        ticks[n++] = fabs(v) < st * 1e-9 ? 0.0 : v; // no "-0"
    }
    *step = st;
    return n;
}

void ms_format_tick(double v, double step, char *buf, int bufsz) {
    double a = fabs(v);
    if (v == 0) { snprintf(buf, (size_t)bufsz, "0"); return; }
    if (a >= 1e4 && a < 1e15) { // SI suffixes for counts: 250k, 1.5M, 2G
        static const char *suf[] = {"k", "M", "G", "T"};
        int e = 0;
        double u = 1e3;
        while (e < 3 && a >= u * 1e3) { u *= 1e3; e++; }
        double st = step / u;
        int dec = st > 0 && st < 1 ? (int)ceil(-log10(st) - 1e-9) : 0;
        if (dec > 3) dec = 3;
        snprintf(buf, (size_t)bufsz, "%.*f%s", dec, v / u, suf[e]);
        return;
    }
    if (a >= 1e15 || a < 1e-4) { snprintf(buf, (size_t)bufsz, "%.3g", v); return; }
    int dec = step > 0 ? (int)ceil(-log10(step) - 1e-9) : 2;
    if (dec < 0) dec = 0;
    if (dec > 6) dec = 6;
    snprintf(buf, (size_t)bufsz, "%.*f", dec, v);
}

void ms_format_pow10(int e, char *buf, int bufsz) {
    static const char *sup[] = {"\xe2\x81\xb0", "\xc2\xb9", "\xc2\xb2", "\xc2\xb3", "\xe2\x81\xb4",
                                "\xe2\x81\xb5", "\xe2\x81\xb6", "\xe2\x81\xb7", "\xe2\x81\xb8", "\xe2\x81\xb9"};
    char digits[16];
    snprintf(digits, sizeof digits, "%d", e < 0 ? -e : e);
    int n = snprintf(buf, (size_t)bufsz, "10%s", e < 0 ? "\xe2\x81\xbb" : ""); // superscript minus
    for (char *d = digits; *d && n < bufsz - 4; d++) n += snprintf(buf + n, (size_t)(bufsz - n), "%s", sup[*d - '0']);
}

static void tick_label(const ms_plot *p, int axis_log, double v, double step, char *buf, int sz) {
    (void)p;
    if (axis_log) ms_format_pow10((int)lround(v), buf, sz);
    else ms_format_tick(v, step, buf, sz);
}

static int log_ticks(double *lo, double *hi, int max_ticks, double *ticks, double *step) {
    // lo/hi in log10 units; ticks at whole decades, every 1, 2, 5, ... decades
    double a = floor(*lo + 1e-9), b = ceil(*hi - 1e-9);
    if (b <= a) b = a + 1;
    double st = 1;
    while ((b - a) / st + 1 > max_ticks) st = st < 2 ? 2 : st < 5 ? 5 : st * 2;
    *lo = a;
    *hi = b;
    int n = 0;
    for (double k = ceil(a / st) * st; k <= b + 1e-9 && n < MS_PLOT_MAX_TICKS; k += st) ticks[n++] = k;
    *step = st;
    return n;
}

void ms_plot_set_xcat(ms_plot *p, const char **labels, int n) {
    p->xcat = labels;
    p->nxcat = n;
}

static int max_label_width(ms_plot *p, const double *t, int n, int lg, double step) {
    int m = 0;
    char buf[64];
    for (int i = 0; i < n; i++) {
        tick_label(p, lg, t[i], step, buf, sizeof buf);
        int w = ms_text_width(p->font, buf);
        if (w > m) m = w;
    }
    return m;
}

void ms_plot_init(ms_plot *p, ms_canvas *c, ms_font *font, ms_font *font_label, ms_font *font_title,
                  double scale, int x, int y, int w, int h, double x0, double x1, int xlog,
                  double y0, double y1, int ylog, const char *title, const char *xlabel, const char *ylabel) {
    const char **xcat = p->xcat;
    int nxcat = p->nxcat;
    memset(p, 0, sizeof *p);
    p->xcat = xcat;
    p->nxcat = xcat ? nxcat : 0;
    p->c = c; p->font = font; p->font_label = font_label; p->font_title = font_title;
    p->scale = scale;
    p->bx = x; p->by = y; p->bw = w; p->bh = h;
    p->xlog = xlog; p->ylog = ylog;
    if (xlog) { x0 = x0 > 0 ? log10(x0) : -1; x1 = x1 > 0 ? log10(x1) : 0; }
    if (ylog) { y0 = y0 > 0 ? log10(y0) : -1; y1 = y1 > 0 ? log10(y1) : 0; }
    int lh = ms_font_line_height(font), pad = S(8), tick = S(5);
    // y ticks first: their label width sets the left margin
    int top = (title && *title ? ms_font_line_height(font_title) + pad : pad);
    int bottom = lh + tick + S(4) + (xlabel && *xlabel ? ms_font_line_height(font_label) + S(4) : 0) + S(4);
    int h_area = h - top - bottom;
    if (h_area < S(20)) h_area = S(20);
    int max_yt = h_area / (lh * 2) + 1;
    if (ylog) p->nyt = log_ticks(&y0, &y1, max_yt, p->yt, &p->ystep);
    else p->nyt = ms_nice_ticks(&y0, &y1, max_yt < 3 ? 3 : max_yt > 8 ? 8 : max_yt, 1, p->yt, &p->ystep);
    int left = (ylabel && *ylabel ? ms_font_line_height(font_label) + S(6) : 0) +
               max_label_width(p, p->yt, p->nyt, ylog, p->ystep) + tick + S(6);
    // x ticks: as many as fit with a label-width gap between labels
    int w_area = w - left - pad;
    if (p->xcat) {
        p->nxt = 0;
        p->xstep = 1;
    } else {
        int max_xt = 10;
        for (;;) {
            double a = x0, b = x1;
            if (xlog) p->nxt = log_ticks(&a, &b, max_xt, p->xt, &p->xstep);
            else p->nxt = ms_nice_ticks(&a, &b, max_xt, 1, p->xt, &p->xstep);
            int lw = max_label_width(p, p->xt, p->nxt, xlog, p->xstep);
            if (p->nxt <= 2 || (lw + S(12)) * p->nxt <= w_area || max_xt <= 2) {
                x0 = a; x1 = b;
                // the last label is centred on the right edge: keep half of it inside the box
                if (lw / 2 > pad) w_area = w - left - lw / 2 - S(2);
                break;
            }
            max_xt--;
        }
    }
    p->x0 = x0; p->x1 = x1; p->y0 = y0; p->y1 = y1;
    p->x = x + left;
    p->y = y + top;
    p->w = w_area > S(20) ? w_area : S(20);
    p->h = h_area;
}

double ms_plot_px(const ms_plot *p, double x) {
    if (p->xlog) x = x > 0 ? log10(x) : -INFINITY;
    return p->x + (x - p->x0) / (p->x1 - p->x0) * (p->w - 1);
}

double ms_plot_py(const ms_plot *p, double y) {
    if (p->ylog) y = y > 0 ? log10(y) : -INFINITY;
    return p->y + p->h - 1 - (y - p->y0) / (p->y1 - p->y0) * (p->h - 1);
}

static double tick_px(const ms_plot *p, int axis_x, double t) { // ticks are in axis units already
    if (axis_x) return p->x + (t - p->x0) / (p->x1 - p->x0) * (p->w - 1);
    return p->y + p->h - 1 - (t - p->y0) / (p->y1 - p->y0) * (p->h - 1);
}

void ms_plot_axes(ms_plot *p, const char *title, const char *xlabel, const char *ylabel) {
    ms_canvas *c = p->c;
    int tick = S(5), lh = ms_font_line_height(p->font), t = S(1) > 0 ? S(1) : 1;
    char buf[64];
    for (int i = 0; i < p->nyt; i++) { // grid first, so data and frame draw over it
        int yy = (int)lround(tick_px(p, 0, p->yt[i]));
        ms_canvas_fill_rect(c, p->x, yy, p->w, t, GRID);
    }
    for (int i = 0; i < p->nxt; i++) {
        int xx = (int)lround(tick_px(p, 1, p->xt[i]));
        ms_canvas_fill_rect(c, xx, p->y, t, p->h, GRID);
    }
    ms_canvas_rect(c, p->x - t, p->y - t, p->w + 2 * t, p->h + 2 * t, t, AXIS);
    for (int i = 0; i < p->nyt; i++) {
        int yy = (int)lround(tick_px(p, 0, p->yt[i]));
        ms_canvas_fill_rect(c, p->x - t - tick, yy, tick, t, AXIS);
        tick_label(p, p->ylog, p->yt[i], p->ystep, buf, sizeof buf);
        ms_text_draw_aligned(c, p->font, p->x - t - tick - S(3), yy - lh / 2, buf, TEXT, 2);
    }
    int ylab_x = p->y + p->h + t + tick + S(2);
    if (p->xcat) {
        double slot = p->nxcat > 0 ? (double)p->w / p->nxcat : p->w;
        for (int i = 0; i < p->nxcat; i++) {
            int xx = (int)lround(ms_plot_px(p, i));
            ms_canvas_fill_rect(c, xx, p->y + p->h + t, t, tick, AXIS);
            char fit[128];
            ms_text_fit(p->font, p->xcat[i], (int)slot - S(4), fit, sizeof fit);
            ms_text_draw_aligned(c, p->font, xx, ylab_x, fit, TEXT, 1);
        }
    }
    for (int i = 0; i < p->nxt; i++) {
        int xx = (int)lround(tick_px(p, 1, p->xt[i]));
        ms_canvas_fill_rect(c, xx, p->y + p->h + t, t, tick, AXIS);
        tick_label(p, p->xlog, p->xt[i], p->xstep, buf, sizeof buf);
        ms_text_draw_aligned(c, p->font, xx, ylab_x, buf, TEXT, 1);
    }
    if (xlabel && *xlabel)
        ms_text_draw_aligned(c, p->font_label, p->x + p->w / 2, ylab_x + lh + S(4), xlabel, TEXT, 1);
    if (ylabel && *ylabel) {
        int wl = ms_text_width(p->font_label, ylabel);
        int yb = p->y + p->h / 2 + wl / 2;
        if (wl > p->h) yb = p->y + p->h; // too long: start at the bottom of the area
        ms_text_draw_rot90(c, p->font_label, p->bx + S(2), yb, ylabel, TEXT);
    }
    if (title && *title) {
        char fit[512];
        ms_text_fit(p->font_title, title, p->bw - S(4), fit, sizeof fit);
        int wt = ms_text_width(p->font_title, fit);
        int tx = p->x + p->w / 2 - wt / 2;
        if (tx < p->bx) tx = p->bx;
        if (tx + wt > p->bx + p->bw) tx = p->bx + p->bw - wt;
        ms_text_draw(c, p->font_title, tx, p->by + S(2), fit, TEXT);
    }
}

// Liang-Barsky clip of a segment to the data area; draws it if any part is inside.
static void clip_line(ms_plot *p, double ax, double ay, double bx, double by, ms_rgb col, int th) {
    double x0 = p->x, x1 = p->x + p->w - 1, y0 = p->y, y1 = p->y + p->h - 1;
    double dx = bx - ax, dy = by - ay, t0 = 0, t1 = 1;
    double pp[4] = {-dx, dx, -dy, dy}, qq[4] = {ax - x0, x1 - ax, ay - y0, y1 - ay};
    for (int i = 0; i < 4; i++) {
        if (pp[i] == 0) { if (qq[i] < 0) return; continue; }
        double r = qq[i] / pp[i];
        if (pp[i] < 0) { if (r > t1) return; if (r > t0) t0 = r; }
        else { if (r < t0) return; if (r < t1) t1 = r; }
    }
    ms_canvas_line(p->c, (int)lround(ax + t0 * dx), (int)lround(ay + t0 * dy), (int)lround(ax + t1 * dx),
                   (int)lround(ay + t1 * dy), th, col);
}

void ms_plot_line(ms_plot *p, const double *xs, const double *ys, int n, ms_rgb col, int thick) {
    int th = S(thick) > 0 ? S(thick) : 1, have = 0;
    double px = 0, py = 0;
    for (int i = 0; i < n; i++) {
        double X = ms_plot_px(p, xs[i]), Y = ms_plot_py(p, ys[i]);
        if (!isfinite(X) || !isfinite(Y)) { have = 0; continue; }
        if (have) clip_line(p, px, py, X, Y, col, th);
        else if (n == 1) clip_line(p, X, Y, X, Y, col, th);
        px = X; py = Y; have = 1;
    }
}

void ms_plot_bars(ms_plot *p, const double *edges, const double *ys, int n, double base, ms_rgb col) {
    double yb = ms_plot_py(p, base);
    if (!isfinite(yb)) yb = p->y + p->h;
    for (int i = 0; i < n; i++) {
        if (!(ys[i] > base) && !(p->ylog && ys[i] > 0)) continue;
        double a = ms_plot_px(p, edges[i]), b = ms_plot_px(p, edges[i + 1]), t = ms_plot_py(p, ys[i]);
        if (!isfinite(a) || !isfinite(b) || !isfinite(t)) continue;
        int xa = (int)lround(a), xb = (int)lround(b), yt = (int)lround(t), y0 = (int)lround(yb);
        if (xa < p->x) xa = p->x;
        if (xb > p->x + p->w) xb = p->x + p->w;
        if (yt < p->y) yt = p->y;
        if (y0 > p->y + p->h) y0 = p->y + p->h;
        if (xb - xa < 1) xb = xa + 1;
        if (y0 - yt < 1) yt = y0 - 1;
        ms_canvas_fill_rect(p->c, xa, yt, xb - xa, y0 - yt, col);
    }
}

// ---- markers, hatched bars, legends, label placement

ms_rgb ms_rgb_darker(ms_rgb c) { return MS_RGB(c.r * 11 / 20, c.g * 11 / 20, c.b * 11 / 20); }

// Whether the offset (dx, dy) from the centre lies inside a marker of half-size r.
static int marker_inside(int shape, int dx, int dy, int r) {
    if (dx < -r || dx > r || dy < -r || dy > r) return 0;
    int ax = dx < 0 ? -dx : dx, ay = dy < 0 ? -dy : dy, arm = r / 3 > 1 ? r / 3 : 1;
    switch (shape) {
    case MS_MARK_CIRCLE: return dx * dx + dy * dy <= r * r + r;
    case MS_MARK_TRIANGLE: return 2 * ax <= dy + r;       // apex up, base on the bottom row
    case MS_MARK_TRIANGLE_DOWN: return 2 * ax <= r - dy;
    case MS_MARK_TRIANGLE_RIGHT: return 2 * ay <= r - dx;  // base on the left, apex right
    case MS_MARK_DIAMOND: return ax + ay <= r;
    case MS_MARK_PLUS: return ax <= arm || ay <= arm;
    case MS_MARK_CROSS: return abs(ax - ay) <= arm;
    default: return 1; // square
    }
}

void ms_draw_marker(ms_canvas *c, int cx, int cy, int r, int shape, ms_rgb col) {
    ms_rgb edge = ms_rgb_darker(col);
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++) {
            if (!marker_inside(shape, dx, dy, r)) continue;
            int rim = !marker_inside(shape, dx - 1, dy, r) || !marker_inside(shape, dx + 1, dy, r) ||
                      !marker_inside(shape, dx, dy - 1, r) || !marker_inside(shape, dx, dy + 1, r);
            ms_canvas_set(c, cx + dx, cy + dy, rim ? edge : col);
        }
}

static int hatch_on(int hatch, int x, int y, int s) {
    switch (hatch) {
    case MS_HATCH_SLASH: return (x + y) % s == 0;
    case MS_HATCH_BACKSLASH: return ((x - y) % s + s) % s == 0;
    case MS_HATCH_HORIZONTAL: return y % s == 0;
    case MS_HATCH_VERTICAL: return x % s == 0;
    case MS_HATCH_CROSS: return (x + y) % s == 0 || ((x - y) % s + s) % s == 0;
    case MS_HATCH_GRID: return x % s == 0 || y % s == 0;
    default: return 0;
    }
}

void ms_draw_hatched(ms_canvas *c, int x, int y, int w, int h, ms_rgb col, int hatch, int spacing) {
    if (w <= 0 || h <= 0) return;
    ms_rgb edge = ms_rgb_darker(col);
    int s = spacing > 1 ? spacing : 2;
    ms_canvas_fill_rect(c, x, y, w, h, col);
    for (int yy = 0; yy < h; yy++) // pattern in bar coordinates, so it does not shimmer between bars
        for (int xx = 0; xx < w; xx++)
            if (hatch_on(hatch, xx, h - 1 - yy, s)) ms_canvas_set(c, x + xx, y + yy, edge);
    ms_canvas_rect(c, x, y, w, h, 1, edge);
}

#define SC(v) ((int)lround((v) * scale))

void ms_legend_size(ms_font *font, double scale, const ms_legend_item *it, int n, int *w, int *h) {
    int lh = ms_font_line_height(font), row = lh > SC(14) ? lh : SC(14), wmax = 0;
    for (int i = 0; i < n; i++) {
        int tw = ms_text_width(font, it[i].label);
        if (tw > wmax) wmax = tw;
    }
    *w = n > 0 ? SC(6) + SC(22) + SC(6) + wmax + SC(6) : 0;
    *h = n > 0 ? SC(5) + n * row + SC(5) : 0;
}

ms_rect ms_legend_draw(ms_canvas *c, ms_font *font, double scale, int x, int y, const ms_legend_item *it, int n) {
    int w, h, lh = ms_font_line_height(font), row = lh > SC(14) ? lh : SC(14), sw = SC(22), gap = SC(6);
    ms_legend_size(font, scale, it, n, &w, &h);
    ms_rect box = {x, y, w, h};
    if (n <= 0) return box;
    ms_canvas_fill_rect(c, x, y, w, h, MS_WHITE);
    ms_canvas_rect(c, x, y, w, h, 1, MS_GREY(170));
    for (int i = 0; i < n; i++) {
        int yy = y + SC(5) + i * row, mid = yy + row / 2, sx = x + gap;
        if (it[i].hatch >= 0) ms_draw_hatched(c, sx, mid - SC(6), sw, 2 * SC(6), it[i].col, it[i].hatch, SC(4));
        if (it[i].line) ms_canvas_fill_rect(c, sx, mid - SC(1), sw, SC(2) > 0 ? SC(2) : 1, it[i].col);
        if (it[i].marker >= 0) ms_draw_marker(c, sx + sw / 2, mid, SC(4), it[i].marker, it[i].col);
        ms_text_draw(c, font, sx + sw + gap, mid - lh / 2, it[i].label, TEXT);
    }
    return box;
}

void ms_axis_pad(double lo, double hi, double *a, double *b) {
    if (!isfinite(lo) || !isfinite(hi)) { lo = 0; hi = 1; }
    if (hi < lo) { double t = lo; lo = hi; hi = t; }
    double span = hi - lo, mag = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);
    double d = span > 1e-9 * mag && span > 0 ? 0.1 * span : mag > 0 ? 0.1 * mag : 1;
    *a = lo - d;
    *b = hi + d;
}

static int rect_hit(ms_rect a, ms_rect b) {
    return a.w > 0 && b.w > 0 && a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

static int rect_inside(ms_rect a, const ms_plot *p) {
    return a.x >= p->x && a.y >= p->y && a.x + a.w <= p->x + p->w && a.y + a.h <= p->y + p->h;
}

// Whether the segment (ax,ay)-(bx,by) passes through r (sampled every pixel: segments are short).
static int seg_hits(int ax, int ay, int bx, int by, ms_rect r) {
    int n = abs(bx - ax) > abs(by - ay) ? abs(bx - ax) : abs(by - ay);
    for (int i = 0; i <= n; i++) {
        int x = n ? ax + (bx - ax) * i / n : ax, y = n ? ay + (by - ay) * i / n : ay;
        if (x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h) return 1;
    }
    return 0;
}

typedef struct { int ax, ay, bx, by; } seg;

// What a label box must stay clear of: the area's edge, the markers, the avoid boxes, the labels
// and leader lines placed so far (the first `n_lab` entries of out / leaders).
typedef struct {
    const ms_plot *p;
    const ms_plot_placed *out;
    int n;
    const ms_rect *avoid;
    int n_avoid;
    const seg *leaders;
    int n_leaders;
} clearance;

static int box_free(const clearance *k, ms_rect b) {
    if (!rect_inside(b, k->p)) return 0;
    for (int i = 0; i < k->n; i++)
        if (rect_hit(b, k->out[i].marker) || rect_hit(b, k->out[i].label)) return 0;
    for (int i = 0; i < k->n_avoid; i++)
        if (rect_hit(b, k->avoid[i])) return 0;
    for (int i = 0; i < k->n_leaders; i++)
        if (seg_hits(k->leaders[i].ax, k->leaders[i].ay, k->leaders[i].bx, k->leaders[i].by, b)) return 0;
    return 1;
}

// A leader from the marker's edge to the label box must not cross another marker or label.
static int leader_free(const clearance *k, int self, seg s) {
    for (int i = 0; i < k->n; i++) {
        if (i != self && seg_hits(s.ax, s.ay, s.bx, s.by, k->out[i].marker)) return 0;
        if (seg_hits(s.ax, s.ay, s.bx, s.by, k->out[i].label)) return 0;
    }
    return 1;
}

// Moves markers off each other: each keeps its data position unless its box (plus a 2 px gap)
// overlaps an earlier marker's or an avoid box; then it takes the nearest free cell of a grid of
// marker pitch around it.
static void place_markers(ms_plot *p, const ms_plot_point *pts, int n, int rr, const ms_rect *avoid, int n_avoid,
                          ms_plot_placed *out) {
    int pitch = 2 * rr + 1 + 2;
    for (int i = 0; i < n; i++) {
        ms_plot_placed *o = &out[i];
        memset(o, 0, sizeof *o);
        double X = ms_plot_px(p, pts[i].x), Y = ms_plot_py(p, pts[i].y);
        if (!isfinite(X) || !isfinite(Y)) continue;
        int x0 = (int)lround(X), y0 = (int)lround(Y);
        if (x0 < p->x || x0 >= p->x + p->w || y0 < p->y || y0 >= p->y + p->h) continue;
        int found = 0;
        for (int ring = 0; ring <= 8 && !found; ring++) // cells at Chebyshev distance `ring`, nearest first
            for (int d2 = ring * ring; d2 <= 2 * ring * ring && !found; d2++)
                for (int j = -ring; j <= ring && !found; j++)
                    for (int q = -ring; q <= ring && !found; q++) {
                        if ((abs(j) != ring && abs(q) != ring) || j * j + q * q != d2) continue;
                        ms_rect m = {x0 + q * pitch - rr - 1, y0 + j * pitch - rr - 1, 2 * rr + 3, 2 * rr + 3};
                        if (!rect_inside(m, p)) continue;
                        int clear = 1;
                        for (int e = 0; e < i && clear; e++) clear = !rect_hit(m, out[e].marker);
                        for (int e = 0; e < n_avoid && clear; e++) clear = !rect_hit(m, avoid[e]);
                        if (!clear) continue;
                        o->cx = x0 + q * pitch;
                        o->cy = y0 + j * pitch;
                        o->moved = ring > 0;
                        found = 1;
                    }
        if (!found) { o->cx = x0; o->cy = y0; } // crowded beyond 8 rings: keep the data position
        o->marker = (ms_rect){o->cx - rr, o->cy - rr, 2 * rr + 1, 2 * rr + 1};
    }
}

// The label box for direction (ux, uy) in {-1,0,1}^2 at distance `d` beyond the marker's edge.
static ms_rect label_box(int cx, int cy, int rr, int d, int ux, int uy, int w, int h) {
    int x = ux > 0 ? cx + rr + d : ux < 0 ? cx - rr - d - w : cx - w / 2;
    int y = uy > 0 ? cy + rr + d : uy < 0 ? cy - rr - d - h : cy - h / 2;
    if (ux && uy) { // diagonals: the box's corner at the marker's corner
        x = ux > 0 ? cx + rr + d / 2 : cx - rr - d / 2 - w;
        y = uy > 0 ? cy + rr + d / 2 : cy - rr - d / 2 - h;
    }
    return (ms_rect){x, y, w, h};
}

// A label box touching the point at distance d from the marker's centre in direction a (radians,
// y down): the box lies beyond that point, centred on the ray where the ray is nearly vertical or horizontal.
static ms_rect label_away(int cx, int cy, int d, double a, int w, int h) {
    double ux = cos(a), uy = sin(a);
    int ax = cx + (int)lround(ux * d), ay = cy + (int)lround(uy * d);
    int x = ux > 0.38 ? ax : ux < -0.38 ? ax - w : ax - w / 2;
    int y = uy > 0.38 ? ay : uy < -0.38 ? ay - h : ay - h / 2;
    return (ms_rect){x, y, w, h};
}

// The leader: from the marker's edge towards the label box's nearest point.
static seg leader_of(int cx, int cy, int rr, ms_rect b) {
    int tx = cx < b.x ? b.x : cx >= b.x + b.w ? b.x + b.w - 1 : cx;
    int ty = cy < b.y ? b.y : cy >= b.y + b.h ? b.y + b.h - 1 : cy;
    double dx = tx - cx, dy = ty - cy, len = sqrt(dx * dx + dy * dy);
    double m = fabs(dx) > fabs(dy) ? fabs(dx) : fabs(dy); // Chebyshev: leave the square marker box
    int sx = cx, sy = cy;
    if (m > 0 && len > 0) { sx = cx + (int)lround(dx / m * (rr + 2)); sy = cy + (int)lround(dy / m * (rr + 2)); }
    return (seg){sx, sy, tx, ty};
}

void ms_plot_points(ms_plot *p, const ms_plot_point *pts, int n, int r, const ms_rect *avoid, int n_avoid,
                    ms_plot_placed *out) {
    if (n <= 0) return;
    int rr = S(r) > 1 ? S(r) : 2, lh = ms_font_line_height(p->font), gap = S(3), tt = S(1) > 0 ? S(1) : 1;
    place_markers(p, pts, n, rr, avoid, n_avoid, out);
    seg *leaders = calloc((size_t)(2 * n), sizeof *leaders); // ticks of moved markers, then label leaders
    int n_lead = 0;
    for (int i = 0; i < n; i++)
        if (out[i].moved)
            leaders[n_lead++] = (seg){(int)lround(ms_plot_px(p, pts[i].x)), (int)lround(ms_plot_py(p, pts[i].y)), out[i].cx, out[i].cy};
    static const int dirs[8][2] = {{1, 0}, {-1, 0}, {0, -1}, {0, 1}, {1, -1}, {-1, -1}, {1, 1}, {-1, 1}};
    for (int i = 0; i < n; i++) { // labels: all markers are obstacles (clearance.n = n); labels are set as placed
        ms_plot_placed *o = &out[i];
        if (!pts[i].label || !*pts[i].label || o->marker.w == 0) continue;
        clearance k = {p, out, n, avoid, n_avoid, leaders, n_lead};
        int w = ms_text_width(p->font, pts[i].label);
        for (int q = 0; q < 8 && o->label.w == 0; q++) { // next to the marker
            ms_rect b = label_box(o->cx, o->cy, rr, gap, dirs[q][0], dirs[q][1], w, lh);
            if (box_free(&k, b)) o->label = b;
        }
        for (int ring = 1; ring <= 24 && o->label.w == 0; ring++) // farther out, 16 directions, with a leader
            for (int q = 0; q < 16; q++) {
                ms_rect b = label_away(o->cx, o->cy, rr + gap + ring * (lh / 2 + 1), q * 0.39269908169872414, w, lh); // q * pi / 8
                if (!box_free(&k, b)) continue;
                seg s = leader_of(o->cx, o->cy, rr, b);
                if (!leader_free(&k, i, s)) continue;
                leaders[n_lead++] = s;
                o->leader = 1;
                o->label = b;
                break;
            }
    }
    ms_rgb thin = MS_GREY(150);
    for (int i = 0; i < n_lead; i++) // first: markers and text draw over them
        ms_canvas_line(p->c, leaders[i].ax, leaders[i].ay, leaders[i].bx, leaders[i].by, tt, thin);
    for (int i = 0; i < n; i++)
        if (out[i].marker.w) ms_draw_marker(p->c, out[i].cx, out[i].cy, rr, pts[i].marker, pts[i].col);
    for (int i = 0; i < n; i++)
        if (out[i].label.w) ms_text_draw(p->c, p->font, out[i].label.x, out[i].label.y, pts[i].label, TEXT);
    free(leaders);
}
