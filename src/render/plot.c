// plot.c: see plot.h.
#include "render/plot.h"
#include <math.h>
#include <stdio.h>
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

void ms_plot_scatter(ms_plot *p, const double *xs, const double *ys, int n, ms_rgb col, int r) {
    int rr = S(r) > 0 ? S(r) : 1;
    for (int i = 0; i < n; i++) {
        double X = ms_plot_px(p, xs[i]), Y = ms_plot_py(p, ys[i]);
        if (!isfinite(X) || !isfinite(Y)) continue;
        int xi = (int)lround(X), yi = (int)lround(Y);
        if (xi < p->x || xi >= p->x + p->w || yi < p->y || yi >= p->y + p->h) continue;
        ms_canvas_fill_rect(p->c, xi - rr, yi - rr, 2 * rr + 1, 2 * rr + 1, col);
        ms_canvas_rect(p->c, xi - rr, yi - rr, 2 * rr + 1, 2 * rr + 1, 1, MS_RGB(col.r / 2, col.g / 2, col.b / 2));
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

void ms_plot_legend(ms_plot *p, const char **labels, const ms_rgb *cols, int n, int corner) {
    if (n <= 0) return;
    int lh = ms_font_line_height(p->font), sw = S(16), gap = S(6), wmax = 0;
    char fit[128];
    for (int i = 0; i < n; i++) {
        int w = ms_text_fit(p->font, labels[i], p->w / 2, fit, sizeof fit);
        if (w > wmax) wmax = w;
    }
    int bw = gap + sw + gap + wmax + gap, bh = gap + n * lh + gap;
    int bx = corner == 0 ? p->x + p->w - bw - S(6) : p->x + S(6), by = p->y + S(6);
    ms_canvas_fill_rect(p->c, bx, by, bw, bh, MS_WHITE);
    ms_canvas_rect(p->c, bx, by, bw, bh, 1, MS_GREY(170));
    for (int i = 0; i < n; i++) {
        int yy = by + gap + i * lh;
        ms_canvas_fill_rect(p->c, bx + gap, yy + lh / 2 - S(2), sw, S(4) > 0 ? S(4) : 1, cols[i]);
        ms_text_fit(p->font, labels[i], p->w / 2, fit, sizeof fit);
        ms_text_draw(p->c, p->font, bx + gap + sw + gap, yy, fit, TEXT);
    }
}

void ms_plot_annotate(ms_plot *p, double x, double y, const char *s, ms_rgb col) {
    double X = ms_plot_px(p, x), Y = ms_plot_py(p, y);
    if (!isfinite(X) || !isfinite(Y)) return;
    int w = ms_text_width(p->font, s), xi = (int)lround(X) + S(9);
    if (xi + w > p->x + p->w) xi = (int)lround(X) - S(9) - w; // flip to the left at the right edge
    ms_text_draw(p->c, p->font, xi, (int)lround(Y) - ms_font_line_height(p->font) / 2, s, col);
}
