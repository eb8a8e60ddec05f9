// tokens.c: see tokens.h.
#include "viz/tokens.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "render/text.h"
#include "util/util.h"

typedef struct { char *s; size_t n, cap; } sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = ms_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void put_cp(sbuf *b, uint32_t cp, int text_mode, int *newline) {
    char tmp[16];
    if (cp == ' ') sb_str(b, text_mode ? " " : "\xe2\x90\xa3"); // ␣ (U+2423): a middle dot reads as "." in small rotated labels
    else if (cp == '\n') { sb_str(b, "\xe2\x86\xb5"); *newline = 1; }
    else if (cp == '\t') sb_str(b, "\xe2\x86\x92");
    else if (cp < 0x20 || cp == 0x7F) { snprintf(tmp, sizeof tmp, "<0x%02X>", cp); sb_str(b, tmp); }
    else if ((cp >= 0x80 && cp < 0xA0) || cp == 0xAD || (cp >= 0x200B && cp <= 0x200F) ||
             (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2064) || cp == 0xFEFF) {
        snprintf(tmp, sizeof tmp, "<U+%04X>", cp);
        sb_str(b, tmp);
    } else {
        int k = ms_utf8_encode(cp, tmp);
        sb_add(b, tmp, (size_t)k);
    }
}

// 1 if s[0..n) is the beginning of a valid multi-byte sequence that needs more than n bytes
static int trailing_prefix(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (need == 0 || n >= need) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (n >= 2 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
                   (c == 0xF4 && s[1] > 0x8F)))
        return 0; // overlong / surrogate / out of range even before completion
    return 1;
}

ms_token_label *ms_token_labels(const char *const *bytes, const size_t *lens, int n, int text_mode) {
    ms_token_label *out = ms_calloc((size_t)(n > 0 ? n : 1), sizeof *out);
    if (n <= 0) return out;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += lens[i];
    // the whole byte stream and, for every byte, the token it came from
    unsigned char *all = ms_malloc(total + 1);
    int *owner = ms_malloc((total + 1) * sizeof *owner);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        memcpy(all + o, bytes[i], lens[i]);
        for (size_t j = 0; j < lens[i]; j++) owner[o + j] = i;
        o += lens[i];
    }
    sbuf *sb = ms_calloc((size_t)n, sizeof *sb);
    int *cont = ms_calloc((size_t)n, sizeof *cont);
    for (size_t i = 0; i < total;) {
        uint32_t cp;
        int valid, k = ms_utf8_decode(all + i, total - i, &cp, &valid);
        if (!valid && trailing_prefix(all + i, total - i)) {
            // the stream ends inside a character (a context window cut mid-character): the
            // holders of its leading bytes get the continuation mark, as if it completed later
            for (size_t b = i; b < total; b++) cont[owner[b]] = 1;
            break;
        }
        if (!valid) { // one byte that starts no valid sequence here
            char tmp[8];
            snprintf(tmp, sizeof tmp, "<0x%02X>", all[i]);
            sb_str(&sb[owner[i]], tmp);
            i += 1;
            continue;
        }
        int last = owner[i + (size_t)k - 1];
        for (int b = 0; b < k - 1; b++) // earlier tokens holding leading bytes get the mark
            if (owner[i + (size_t)b] != last) cont[owner[i + (size_t)b]] = 1;
        put_cp(&sb[last], cp, text_mode, &out[last].newline);
        i += (size_t)k;
    }
    for (int i = 0; i < n; i++) {
        if (cont[i]) sb_str(&sb[i], MS_TOKEN_CONTINUATION);
        if (sb[i].n == 0) sb_str(&sb[i], "\xe2\x88\x85"); // ∅
        out[i].text = sb[i].s;
    }
    free(sb);
    free(cont);
    free(all);
    free(owner);
    return out;
}

void ms_token_labels_free(ms_token_label *l, int n) {
    if (!l) return;
    for (int i = 0; i < n; i++) free(l[i].text);
    free(l);
}
