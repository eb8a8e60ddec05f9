// canvas.h: an RGB image in memory and the few primitives figures need (filled and outlined
// rectangles, anti-aliased-free axis-aligned and Bresenham lines, alpha blending of glyph masks).
// Pixels are (h, w, 3) row-major bytes: exactly the layout PNG color type 2 stores.
#ifndef MS_CANVAS_H
#define MS_CANVAS_H
#include <stdint.h>

typedef struct { uint8_t r, g, b; } ms_rgb;

typedef struct {
    int w, h;
    uint8_t *px; // (h, w, 3)
} ms_canvas;

#define MS_RGB(r, g, b) ((ms_rgb){(uint8_t)(r), (uint8_t)(g), (uint8_t)(b)})
#define MS_WHITE MS_RGB(255, 255, 255)
#define MS_BLACK MS_RGB(0, 0, 0)
#define MS_GREY(v) MS_RGB(v, v, v)

// Allocates a w x h canvas filled with bg. Dimensions must be in [1, 32768]; exits on OOM.
ms_canvas *ms_canvas_new(int w, int h, ms_rgb bg);
void ms_canvas_free(ms_canvas *c);

// All drawing clips to the canvas.
void ms_canvas_set(ms_canvas *c, int x, int y, ms_rgb col);
ms_rgb ms_canvas_get(const ms_canvas *c, int x, int y);
// Blends col over the pixel with coverage a in [0,255] (glyph anti-aliasing).
void ms_canvas_blend(ms_canvas *c, int x, int y, ms_rgb col, int a);
// [x, x+w) x [y, y+h)
void ms_canvas_fill_rect(ms_canvas *c, int x, int y, int w, int h, ms_rgb col);
// Outline of thickness t drawn inside [x, x+w) x [y, y+h).
void ms_canvas_rect(ms_canvas *c, int x, int y, int w, int h, int t, ms_rgb col);
// Line of thickness t (square pen) from (x0,y0) to (x1,y1), both ends included.
void ms_canvas_line(ms_canvas *c, int x0, int y0, int x1, int y1, int t, ms_rgb col);
// Copies src onto dst with its top-left corner at (x, y).
void ms_canvas_blit(ms_canvas *dst, const ms_canvas *src, int x, int y);

#endif
