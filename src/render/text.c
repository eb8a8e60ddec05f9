// text.c: see text.h.
#include "render/text.h"
#include <ft2build.h>
#include FT_FREETYPE_H
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

#define FONT_REGULAR "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#define FONT_BOLD "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
#define FONT_CJK "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"

typedef struct {
    uint32_t cp;     // key; 0xFFFFFFFF = empty slot
    int w, h;        // bitmap size
    int left, top;   // bitmap offset from the pen position (top: above baseline)
    int advance;     // pixels
    uint8_t *bitmap; // (h, w) coverage
} glyph;

struct ms_font {
    FT_Library lib;
    FT_Face face, fallback;
    int fallback_tried;
    double px;
    int ascent, descent;
    glyph *cache;      // open addressing, power-of-two capacity
    int cap, count;
};

static const char *env_or(const char *name, const char *def) {
    const char *v = getenv(name);
    return v && *v ? v : def;
}

ms_font *ms_font_new(double px, int bold) {
    if (px < 4) px = 4;
    ms_font *f = ms_calloc(1, sizeof *f);
    f->px = px;
    if (FT_Init_FreeType(&f->lib)) {
        free(f);
        ms_error("FreeType: initialisation failed");
        return NULL;
    }
    const char *path = bold ? env_or("MONOSCOPE_FONT_BOLD", FONT_BOLD) : env_or("MONOSCOPE_FONT", FONT_REGULAR);
    if (FT_New_Face(f->lib, path, 0, &f->face)) {
        FT_Done_FreeType(f->lib);
        free(f);
        ms_error("%s: cannot load font (install fonts-dejavu-core or set MONOSCOPE_FONT)", path);
        return NULL;
    }
    FT_Set_Pixel_Sizes(f->face, 0, (FT_UInt)lround(px));
    // line box from the face's scaled ascender/descender (26.6 fixed point)
    f->ascent = (int)((f->face->size->metrics.ascender + 63) >> 6);
    f->descent = (int)((-f->face->size->metrics.descender + 63) >> 6);
    f->cap = 256;
    f->cache = ms_malloc((size_t)f->cap * sizeof *f->cache);
    for (int i = 0; i < f->cap; i++) f->cache[i].cp = 0xFFFFFFFFu;
    return f;
}

void ms_font_free(ms_font *f) {
    if (!f) return;
    for (int i = 0; i < f->cap; i++)
        if (f->cache[i].cp != 0xFFFFFFFFu) free(f->cache[i].bitmap);
    free(f->cache);
    if (f->fallback) FT_Done_Face(f->fallback);
    FT_Done_Face(f->face);
    FT_Done_FreeType(f->lib);
    free(f);
}

int ms_font_ascent(const ms_font *f) { return f->ascent; }
int ms_font_descent(const ms_font *f) { return f->descent; }
int ms_font_line_height(const ms_font *f) { return f->ascent + f->descent; }

static FT_Face get_fallback(ms_font *f) {
    if (!f->fallback_tried) {
        f->fallback_tried = 1;
        const char *path = env_or("MONOSCOPE_FONT_CJK", FONT_CJK);
        if (FT_New_Face(f->lib, path, 0, &f->fallback) == 0)
            FT_Set_Pixel_Sizes(f->fallback, 0, (FT_UInt)lround(f->px));
        else
            f->fallback = NULL; // CJK shows as the primary font's missing-glyph box
    }
    return f->fallback;
}

int ms_font_has_glyph(ms_font *f, uint32_t cp, int fallback) {
    if (!fallback) return FT_Get_Char_Index(f->face, cp) != 0;
    FT_Face fb = get_fallback(f);
    if (!fb) return -1;
    return FT_Get_Char_Index(fb, cp) != 0;
}

static uint32_t hash_cp(uint32_t cp) { return cp * 2654435761u; }

static glyph *cache_slot(ms_font *f, uint32_t cp) {
    uint32_t mask = (uint32_t)f->cap - 1;
    for (uint32_t i = hash_cp(cp) & mask;; i = (i + 1) & mask)
        if (f->cache[i].cp == cp || f->cache[i].cp == 0xFFFFFFFFu) return &f->cache[i];
}

static const glyph *get_glyph(ms_font *f, uint32_t cp) {
    glyph *g = cache_slot(f, cp);
    if (g->cp == cp) return g;
    if (2 * (f->count + 1) > f->cap) { // grow to keep the load factor under 1/2
        glyph *old = f->cache;
        int oldcap = f->cap;
        f->cap *= 2;
        f->cache = ms_malloc((size_t)f->cap * sizeof *f->cache);
        for (int i = 0; i < f->cap; i++) f->cache[i].cp = 0xFFFFFFFFu;
        for (int i = 0; i < oldcap; i++)
            if (old[i].cp != 0xFFFFFFFFu) *cache_slot(f, old[i].cp) = old[i];
        free(old);
        g = cache_slot(f, cp);
    }
    FT_Face face = f->face;
    FT_UInt idx = FT_Get_Char_Index(face, cp);
    if (idx == 0) { // per-glyph fallback
        FT_Face fb = get_fallback(f);
        FT_UInt j = fb ? FT_Get_Char_Index(fb, cp) : 0;
        if (j) { face = fb; idx = j; }
    }
    memset(g, 0, sizeof *g);
    g->cp = cp;
    f->count++;
    if (FT_Load_Glyph(face, idx, FT_LOAD_RENDER | FT_LOAD_TARGET_LIGHT) == 0) {
        FT_GlyphSlot s = face->glyph;
        g->advance = (int)((s->advance.x + 32) >> 6);
        g->left = s->bitmap_left;
        g->top = s->bitmap_top;
        g->w = (int)s->bitmap.width;
        g->h = (int)s->bitmap.rows;
        if (g->w > 0 && g->h > 0 && s->bitmap.pixel_mode == FT_PIXEL_MODE_GRAY) {
            g->bitmap = ms_malloc((size_t)g->w * g->h);
            for (int y = 0; y < g->h; y++)
                memcpy(g->bitmap + (size_t)y * g->w, s->bitmap.buffer + (ptrdiff_t)y * s->bitmap.pitch, (size_t)g->w);
        } else {
            g->w = g->h = 0;
        }
    }
    return g;
}

int ms_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, int *valid) {
    *valid = 0;
    *cp = 0xFFFD;
    if (n == 0) return 0;
    unsigned char c = s[0];
    if (c < 0x80) { *cp = c; *valid = 1; return 1; }
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 1;
    if ((size_t)len > n) return 1;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 1;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 1;
    *cp = v;
    *valid = 1;
    return len;
}

int ms_utf8_encode(uint32_t cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; o[1] = 0; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); o[2] = 0; return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)); o[3] = 0;
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F)); o[4] = 0;
    return 4;
}

int ms_text_width(ms_font *f, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    int w = 0;
    while (n) {
        uint32_t cp;
        int ok, k = ms_utf8_decode(p, n, &cp, &ok);
        w += get_glyph(f, cp)->advance;
        p += k;
        n -= (size_t)k;
    }
    return w;
}

// rot: 0 = normal; 1 = 90 degrees counter-clockwise around the origin (ox, oy) = pen start
static int draw(ms_canvas *c, ms_font *f, int x, int y, const char *s, ms_rgb col, int rot) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    int pen = 0;
    while (n) {
        uint32_t cp;
        int ok, k = ms_utf8_decode(p, n, &cp, &ok);
        const glyph *g = get_glyph(f, cp);
        for (int gy = 0; gy < g->h; gy++)
            for (int gx = 0; gx < g->w; gx++) {
                int a = g->bitmap[(size_t)gy * g->w + gx];
                if (!a) continue;
                // unrotated offsets from the top-left of the line box
                int u = pen + g->left + gx;             // along the text
                int v = f->ascent - g->top + gy;        // down from the line top
                if (!rot) ms_canvas_blend(c, x + u, y + v, col, a);
                else ms_canvas_blend(c, x + v, y - 1 - u, col, a); // line box left edge at x, start at y (bottom)
            }
        pen += g->advance;
        p += k;
        n -= (size_t)k;
    }
    return pen;
}

int ms_text_draw(ms_canvas *c, ms_font *f, int x, int y, const char *s, ms_rgb col) {
    return draw(c, f, x, y, s, col, 0);
}

int ms_text_draw_aligned(ms_canvas *c, ms_font *f, int x, int y, const char *s, ms_rgb col, int align) {
    int w = align ? ms_text_width(f, s) : 0;
    if (align == 1) x -= w / 2;
    else if (align == 2) x -= w;
    return draw(c, f, x, y, s, col, 0);
}

int ms_text_draw_rot90(ms_canvas *c, ms_font *f, int x, int y_bottom, const char *s, ms_rgb col) {
    return draw(c, f, x, y_bottom, s, col, 1);
}

int ms_text_fit(ms_font *f, const char *s, int max_w, char *out, size_t outsz) {
    if (outsz == 0) return 0;
    size_t n = strlen(s);
    if (n < outsz) {
        int w = ms_text_width(f, s);
        if (w <= max_w) {
            memcpy(out, s, n + 1);
            return w;
        }
    }
    // shorten at codepoint boundaries until "prefix…" fits
    static const char ell[] = "\xe2\x80\xa6";
    int ell_w = ms_text_width(f, ell);
    const unsigned char *p = (const unsigned char *)s;
    size_t used = 0;
    int w = 0;
    while (used < n) {
        uint32_t cp;
        int ok, k = ms_utf8_decode(p + used, n - used, &cp, &ok);
        int adv = get_glyph(f, cp)->advance;
        if (w + adv + ell_w > max_w || used + (size_t)k + sizeof ell > outsz) break;
        w += adv;
        used += (size_t)k;
    }
    memcpy(out, s, used);
    memcpy(out + used, ell, sizeof ell);
    return w + ell_w;
}
