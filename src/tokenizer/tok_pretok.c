// tok_pretok.c: pre-tokenizer steps. Each step splits every piece of the current list into finer
// pieces, exactly like Hugging Face's Split pre-tokenizer: a regex finds matches inside one piece
// (lookarounds see that piece's ends, not the whole text), matches and the gaps between them are
// then kept, dropped or merged according to the split behavior.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok_internal.h"
#include "util/util.h"

void tok_spans_push(tok_spans *s, size_t off, size_t len) {
    if (s->n == s->cap) { s->cap = s->cap ? s->cap * 2 : 64; s->v = ms_realloc(s->v, s->cap * sizeof *s->v); }
    s->v[s->n].off = off;
    s->v[s->n].len = len;
    s->n++;
}

// PCRE2's \s under UCP is \p{Z} + \h + \v, which adds U+180E (MONGOLIAN VOWEL SEPARATOR, a format
// character since Unicode 6.3) to Unicode's White_Space; the references (tiktoken's Rust regex, HF's
// Oniguruma, Python's regex) use White_Space exactly. Rewrite \s and \S (outside classes) to
// White_Space = [\t-\r\x{85}\p{Z}]; \S inside a class has no such spelling and stays.
#define WS_SET "\\t-\\r\\x{85}\\p{Z}"
static char *rewrite_space_classes(const char *p) {
    size_t n = strlen(p), o = 0;
    char *out = ms_malloc(n * 24 + 1);
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n) {
            char c = p[i + 1];
            if (c == 's') o += (size_t)sprintf(out + o, in_class ? "%s" : "[%s]", WS_SET);
            else if (c == 'S' && !in_class) o += (size_t)sprintf(out + o, "[^%s]", WS_SET);
            else { out[o++] = p[i]; out[o++] = c; }
            i++;
            continue;
        }
        if (!in_class && p[i] == '[') {
            in_class = 1;
            out[o++] = p[i];
            if (i + 1 < n && p[i + 1] == '^') out[o++] = p[++i];
            if (i + 1 < n && p[i + 1] == ']') out[o++] = p[++i]; // a leading ']' is literal
            continue;
        }
        if (in_class && p[i] == '[' && i + 1 < n && p[i + 1] == ':') { // POSIX [:name:]
            const char *e = strstr(p + i + 2, ":]");
            if (e) { size_t l = (size_t)(e + 2 - (p + i)); memcpy(out + o, p + i, l); o += l; i += l - 1; continue; }
        }
        if (in_class && p[i] == ']') in_class = 0;
        out[o++] = p[i];
    }
    out[o] = 0;
    return out;
}

int tok_step_regex(tok_step *s, const char *pattern, int is_literal, tok_split_behavior b, int invert) {
    memset(s, 0, sizeof *s);
    s->kind = TOK_STEP_REGEX;
    s->behavior = b;
    s->invert = invert;
    if (!pattern) pattern = TOK_GPT2_PATTERN;
    int err;
    PCRE2_SIZE eoff;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | (is_literal ? PCRE2_LITERAL : 0);
    char *rw = is_literal ? NULL : rewrite_space_classes(pattern);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(rw ? rw : pattern), PCRE2_ZERO_TERMINATED, opts, &err, &eoff, NULL);
    free(rw);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        ms_error("pre-tokenizer pattern /%s/: %s", pattern, (const char *)msg);
        return -1;
    }
    s->jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
    s->re = re;
    return 0;
}

void tok_step_free(tok_step *s) {
    if (s->re) pcre2_code_free((pcre2_code *)s->re);
    s->re = NULL;
}

typedef struct { size_t a, b; int m; } seg; // [a, b) of the piece, m = is a match

int tok_step_apply(const tok_step *s, const char *text, const tok_spans *in, tok_spans *out) {
    pcre2_code *re = s->re;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    seg *sg = NULL;
    size_t nsg = 0, capsg = 0;
    int rc_all = 0;
    for (size_t p = 0; p < in->n && !rc_all; p++) {
        const char *subj = text + in->v[p].off;
        size_t len = in->v[p].len, pos = 0, gap = 0;
        nsg = 0;
        while (pos < len) {
            int rc = s->jit ? pcre2_jit_match(re, (PCRE2_SPTR)subj, len, pos, 0, md, NULL)
                            : pcre2_match(re, (PCRE2_SPTR)subj, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
            if (rc == PCRE2_ERROR_JIT_STACKLIMIT || rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT) {
                // very long runs can exhaust the JIT stack; the interpreter keeps its frames on the heap
                rc = pcre2_match(re, (PCRE2_SPTR)subj, len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
            }
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                ms_error("pre-tokenizer: regex match failed: %s", (const char *)msg);
                rc_all = -1;
                break;
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t a = ov[0], b = ov[1];
            if (b == a) { // empty match: no piece; step over one character
                pos = a + 1;
                while (pos < len && ((unsigned char)subj[pos] & 0xC0) == 0x80) pos++;
                continue;
            }
            if (nsg + 2 > capsg) { capsg = capsg ? capsg * 2 : 64; sg = ms_realloc(sg, capsg * sizeof *sg); }
            if (a > gap) sg[nsg++] = (seg){gap, a, 0};
            sg[nsg++] = (seg){a, b, 1};
            gap = pos = b;
        }
        if (rc_all) break;
        if (gap < len) {
            if (nsg + 1 > capsg) { capsg = capsg ? capsg * 2 : 64; sg = ms_realloc(sg, capsg * sizeof *sg); }
            sg[nsg++] = (seg){gap, len, 0};
        }
        if (s->invert) for (size_t i = 0; i < nsg; i++) sg[i].m = !sg[i].m;
        size_t base = in->v[p].off, first_out = out->n;
        switch (s->behavior) {
        case TOK_SPLIT_ISOLATED:
            for (size_t i = 0; i < nsg; i++) tok_spans_push(out, base + sg[i].a, sg[i].b - sg[i].a);
            break;
        case TOK_SPLIT_REMOVED:
            for (size_t i = 0; i < nsg; i++) if (!sg[i].m) tok_spans_push(out, base + sg[i].a, sg[i].b - sg[i].a);
            break;
        case TOK_SPLIT_CONTIGUOUS: {
            int prev_m = 0;
            for (size_t i = 0; i < nsg; i++) {
                if (sg[i].m && prev_m && out->n > first_out) out->v[out->n - 1].len = base + sg[i].b - out->v[out->n - 1].off;
                else tok_spans_push(out, base + sg[i].a, sg[i].b - sg[i].a);
                prev_m = sg[i].m;
            }
            break;
        }
        case TOK_SPLIT_MERGED_PREV: {
            int prev_m = 0;
            for (size_t i = 0; i < nsg; i++) {
                if (sg[i].m && !prev_m && out->n > first_out) out->v[out->n - 1].len = base + sg[i].b - out->v[out->n - 1].off;
                else tok_spans_push(out, base + sg[i].a, sg[i].b - sg[i].a);
                prev_m = sg[i].m;
            }
            break;
        }
        case TOK_SPLIT_MERGED_NEXT: { // walk backwards: a match joins the piece after it
            size_t start_out = out->n;
            int prev_m = 0;
            for (size_t i = nsg; i-- > 0;) {
                if (sg[i].m && !prev_m && out->n > start_out) {
                    tok_span *l = &out->v[out->n - 1];
                    l->len = l->off + l->len - (base + sg[i].a);
                    l->off = base + sg[i].a;
                } else tok_spans_push(out, base + sg[i].a, sg[i].b - sg[i].a);
                prev_m = sg[i].m;
            }
            for (size_t i = start_out, j = out->n; i + 1 < j; i++, j--) { // restore text order
                tok_span tmp = out->v[i]; out->v[i] = out->v[j - 1]; out->v[j - 1] = tmp;
            }
            break;
        }
        }
    }
    free(sg);
    pcre2_match_data_free(md);
    return rc_all;
}
