// canvas.c: see canvas.h.
#include "render/canvas.h"
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

ms_canvas *ms_canvas_new(int w, int h, ms_rgb bg) {
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    if (w > 32768) w = 32768;
    if (h > 32768) h = 32768;
    ms_canvas *c = ms_malloc(sizeof *c);
    c->w = w;
    c->h = h;
    c->px = ms_malloc((size_t)w * h * 3);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        c->px[3 * i] = bg.r;
        c->px[3 * i + 1] = bg.g;
        c->px[3 * i + 2] = bg.b;
    }
    return c;
}

void ms_canvas_free(ms_canvas *c) {
    if (!c) return;
    free(c->px);
    free(c);
}

void ms_canvas_set(ms_canvas *c, int x, int y, ms_rgb col) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    uint8_t *p = c->px + ((size_t)y * c->w + x) * 3;
    p[0] = col.r;
    p[1] = col.g;
    p[2] = col.b;
}

ms_rgb ms_canvas_get(const ms_canvas *c, int x, int y) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return MS_WHITE;
    const uint8_t *p = c->px + ((size_t)y * c->w + x) * 3;
    return MS_RGB(p[0], p[1], p[2]);
}

void ms_canvas_blend(ms_canvas *c, int x, int y, ms_rgb col, int a) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h || a <= 0) return;
    if (a > 255) a = 255;
    uint8_t *p = c->px + ((size_t)y * c->w + x) * 3;
    // (dst*(255-a) + src*a + 127) / 255, rounded
    p[0] = (uint8_t)((p[0] * (255 - a) + col.r * a + 127) / 255);
    p[1] = (uint8_t)((p[1] * (255 - a) + col.g * a + 127) / 255);
    p[2] = (uint8_t)((p[2] * (255 - a) + col.b * a + 127) / 255);
}

void ms_canvas_fill_rect(ms_canvas *c, int x, int y, int w, int h, ms_rgb col) {
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->w ? c->w : x + w, y1 = y + h > c->h ? c->h : y + h;
    for (int yy = y0; yy < y1; yy++) {
        uint8_t *p = c->px + ((size_t)yy * c->w + x0) * 3;
        for (int xx = x0; xx < x1; xx++, p += 3) {
            p[0] = col.r;
            p[1] = col.g;
            p[2] = col.b;
        }
    }
}

void ms_canvas_rect(ms_canvas *c, int x, int y, int w, int h, int t, ms_rgb col) {
    if (t < 1) t = 1;
    ms_canvas_fill_rect(c, x, y, w, t, col);
    ms_canvas_fill_rect(c, x, y + h - t, w, t, col);
    ms_canvas_fill_rect(c, x, y, t, h, col);
    ms_canvas_fill_rect(c, x + w - t, y, t, h, col);
}

void ms_canvas_line(ms_canvas *c, int x0, int y0, int x1, int y1, int t, ms_rgb col) {
    if (t < 1) t = 1;
    int off = (t - 1) / 2;
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) { // Bresenham; a t x t square pen at each step
        ms_canvas_fill_rect(c, x0 - off, y0 - off, t, t, col);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) { err += dy; x0 += sx; }
        if (e2 <= dx) { err += dx; y0 += sy; }
    }
}

void ms_canvas_blit(ms_canvas *dst, const ms_canvas *src, int x, int y) {
    for (int yy = 0; yy < src->h; yy++) {
        int ty = y + yy;
        if (ty < 0 || ty >= dst->h) continue;
        for (int xx = 0; xx < src->w; xx++) {
            int tx = x + xx;
            if (tx < 0 || tx >= dst->w) continue;
            memcpy(dst->px + ((size_t)ty * dst->w + tx) * 3, src->px + ((size_t)yy * src->w + xx) * 3, 3);
        }
    }
}
