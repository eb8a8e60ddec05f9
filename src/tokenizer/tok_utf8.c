// tok_utf8.c: UTF-8 helpers and GPT-2's byte<->unicode table.
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok_internal.h"
#include "util/util.h"

// Lead byte -> number of continuation bytes and the allowed range of the first continuation
// (Unicode Table 3-7, which excludes overlongs, surrogates and code points above U+10FFFF).
static int lead_info(unsigned char c, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80; *hi = 0xBF;
    if (c < 0x80) return 0;
    if (c >= 0xC2 && c <= 0xDF) return 1;
    if (c == 0xE0) { *lo = 0xA0; return 2; }
    if (c == 0xED) { *hi = 0x9F; return 2; }
    if (c >= 0xE1 && c <= 0xEF) return 2;
    if (c == 0xF0) { *lo = 0x90; return 3; }
    if (c == 0xF4) { *hi = 0x8F; return 3; }
    if (c >= 0xF1 && c <= 0xF3) return 3;
    return -1; // 0x80..0xC1, 0xF5..0xFF never start a character
}

// Length of the well-formed prefix of the sequence starting at s: returns need+1 when complete,
// else the number of bytes forming a maximal ill-formed subpart (>= 1), negated.
static int scan(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned char lo, hi;
    int need = lead_info(s[0], &lo, &hi);
    if (need == 0) { *cp = s[0]; return 1; }
    if (need < 0) return -1;
    uint32_t v = s[0] & (0x3F >> need);
    for (int k = 1; k <= need; k++) {
        if ((size_t)k >= n || s[k] < lo || s[k] > hi) return -k;
        v = (v << 6) | (s[k] & 0x3F);
        lo = 0x80; hi = 0xBF;
    }
    *cp = v;
    return need + 1;
}

int tok_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    if (!n) return 0;
    int k = scan(s, n, cp);
    return k > 0 ? k : 0;
}

int tok_utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = 0xC0 | (cp >> 6); o[1] = 0x80 | (cp & 0x3F); return 2; }
    if (cp < 0x10000) { o[0] = 0xE0 | (cp >> 12); o[1] = 0x80 | ((cp >> 6) & 0x3F); o[2] = 0x80 | (cp & 0x3F); return 3; }
    o[0] = 0xF0 | (cp >> 18); o[1] = 0x80 | ((cp >> 12) & 0x3F); o[2] = 0x80 | ((cp >> 6) & 0x3F); o[3] = 0x80 | (cp & 0x3F);
    return 4;
}

char *tok_utf8_repair(const char *s, size_t n, size_t *out_len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    uint32_t cp;
    while (i < n) { // fast path: find the first bad byte, if any
        if (u[i] < 0x80) { i++; continue; }
        int k = scan(u + i, n - i, &cp);
        if (k < 0) break;
        i += (size_t)k;
    }
    if (i == n) return NULL;
    // each ill-formed subpart (>= 1 byte) becomes 3 bytes EF BF BD: at most 3n output bytes
    char *out = ms_malloc(3 * n + 1);
    memcpy(out, s, i);
    size_t o = i;
    while (i < n) {
        int k = scan(u + i, n - i, &cp);
        if (k > 0) { memcpy(out + o, s + i, (size_t)k); o += (size_t)k; i += (size_t)k; }
        else { out[o++] = (char)0xEF; out[o++] = (char)0xBF; out[o++] = (char)0xBD; i += (size_t)(-k); }
    }
    out[o] = 0;
    *out_len = o;
    return out;
}

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100 upward in byte order, so every byte has a visible, non-space character.
void tok_byte_unicode_table(uint32_t byte_to_cp[256]) {
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        byte_to_cp[b] = printable ? (uint32_t)b : next++;
    }
}
