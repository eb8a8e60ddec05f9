// tok_save_hf.c: writes GPT-2's pair of tokenizer files, vocab.json + merges.txt, the format
// tok_load_hf.c reads (tokens in GPT-2's byte<->unicode form, merges as "left right" lines).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tokenizer.h"
#include "util/util.h"

typedef struct { char *p; size_t n, cap; } text_buf;

static void buf_put(text_buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        while (b->n + n + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 4096;
        b->p = ms_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

// A JSON string literal. Byte-level tokens only ever need \" and \\, but a token list from
// elsewhere may hold control characters, which JSON forbids raw.
static void buf_put_json_string(text_buf *b, const char *s) {
    buf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; buf_put(b, esc, 2); }
        else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); buf_put(b, esc, 6); }
        else buf_put(b, (const char *)&c, 1);
    }
    buf_put(b, "\"", 1);
}

static int write_atomic(const char *path, const text_buf *b) {
    char *tmp = ms_atomic_tmp_path(path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(b->p, 1, b->n, f) == b->n;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) { ms_error("%s: cannot write: %s", path, strerror(errno)); remove(tmp); free(tmp); return -1; }
    int rc = ms_atomic_commit(tmp, path);
    free(tmp);
    return rc;
}

int ms_tokenizer_save_vocab_merges(const char *dir, int n_tokens, const char *const *tokens, int n_merges,
                                   const char *const *merges) {
    if (ms_mkdir(dir) < 0) return -1;
    text_buf v = {0}, m = {0};
    buf_put(&v, "{", 1);
    for (int i = 0; i < n_tokens; i++) {
        char id[32];
        if (i) buf_put(&v, ", ", 2);
        buf_put_json_string(&v, tokens[i]);
        buf_put(&v, id, (size_t)snprintf(id, sizeof id, ": %d", i));
    }
    buf_put(&v, "}\n", 2);
    buf_put(&m, "#version: 0.2\n", 14);
    for (int i = 0; i < n_merges; i++) {
        buf_put(&m, merges[i], strlen(merges[i]));
        buf_put(&m, "\n", 1);
    }
    char *vp = ms_path_join(dir, "vocab.json"), *mp = ms_path_join(dir, "merges.txt");
    int rc = write_atomic(vp, &v) || write_atomic(mp, &m) ? -1 : 0;
    free(vp); free(mp); free(v.p); free(m.p);
    return rc;
}
