// text.h: UTF-8 text on a canvas with FreeType. The primary face is DejaVu Sans; a glyph the
// primary font lacks (CJK, most emoji-free scripts) is taken, per glyph, from Noto Sans CJK,
// opened lazily the first time it is needed. Rendered glyphs are cached per font object, so
// drawing thousands of labels costs one FreeType rasterisation per distinct character.
// Fonts: $MONOSCOPE_FONT / $MONOSCOPE_FONT_BOLD / $MONOSCOPE_FONT_CJK override the Debian paths.
#ifndef MS_TEXT_H
#define MS_TEXT_H
#include <stddef.h>
#include <stdint.h>
#include "render/canvas.h"

typedef struct ms_font ms_font;

// px: nominal size in pixels (em height). bold selects DejaVu Sans Bold. NULL + ms_error().
ms_font *ms_font_new(double px, int bold);
void ms_font_free(ms_font *f);

// Line metrics in pixels of the primary face: ascent (> 0), descent (> 0, below baseline),
// line height = ascent + descent (the box text is laid out in).
int ms_font_ascent(const ms_font *f);
int ms_font_descent(const ms_font *f);
int ms_font_line_height(const ms_font *f);

// Advance width of s in pixels. Invalid UTF-8 bytes count as U+FFFD.
int ms_text_width(ms_font *f, const char *s);
// Draws s with the top of its line box at y; returns the advance width.
int ms_text_draw(ms_canvas *c, ms_font *f, int x, int y, const char *s, ms_rgb col);
// align: 0 left of x, 1 centred on x, 2 right-aligned to x.
int ms_text_draw_aligned(ms_canvas *c, ms_font *f, int x, int y, const char *s, ms_rgb col, int align);
// Rotated 90 degrees counter-clockwise (reads bottom to top), for column labels: the line box
// occupies [x, x + line_height) horizontally and [y_bottom - width, y_bottom) vertically.
int ms_text_draw_rot90(ms_canvas *c, ms_font *f, int x, int y_bottom, const char *s, ms_rgb col);

// Copies s into out (size outsz) shortened with a trailing "…" so that its width is <= max_w.
// Returns the width of the result.
int ms_text_fit(ms_font *f, const char *s, int max_w, char *out, size_t outsz);

// 1 if the primary face has a glyph for codepoint cp; 1 if the fallback has it (for tests, -1 if the
// fallback font is not installed); 0 otherwise.
int ms_font_has_glyph(ms_font *f, uint32_t cp, int fallback);

// UTF-8 decoding shared with the viz layer: decodes one codepoint from s (n bytes available);
// returns the number of bytes consumed (>= 1), *cp = 0xFFFD for an invalid or truncated sequence
// (overlongs, surrogates and > U+10FFFF are invalid) and *valid = 0 then.
int ms_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, int *valid);
// Encodes cp into out (4 bytes + NUL room); returns the length.
int ms_utf8_encode(uint32_t cp, char *out);

#endif
