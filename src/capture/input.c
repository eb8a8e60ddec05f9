// input.c: corpus readers for capture (see input.h).
#include "capture/input.h"
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

int ms_parse_ids(const char *s, const char *what, int32_t **ids, size_t *n) {
    size_t cap = 16, k = 0;
    int32_t *v = ms_malloc(cap * sizeof(int32_t));
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || (*end && !strchr(" \t\r\n,", *end))) {
            int len = 0;
            while (p[len] && !strchr(" \t\r\n,", p[len]) && len < 20) len++;
            ms_error("%s: '%.*s' is not a token id", what, len, p);
            free(v);
            return -1;
        }
        if (x < 0 || x > INT32_MAX || errno == ERANGE) {
            ms_error("%s: token id %s out of range", what, x < 0 ? "is negative" : "too large");
            free(v);
            return -1;
        }
        if (k == cap) v = ms_realloc(v, (cap *= 2) * sizeof(int32_t));
        v[k++] = (int32_t)x;
        p = end;
    }
    *ids = v;
    *n = k;
    return 0;
}

struct ms_input {
    char *path;
    FILE *f;
    ms_input_format fmt;
    const ms_tokenizer *tok;
    int ctx, prepend_bos, bos, vocab;
    char *line;
    size_t line_cap;
    long line_no;
    int32_t *doc;   // current document's tokens (text, jsonl)
    size_t doc_n, doc_pos;
    int text_done;
    long size;      // bytes in the file
    int pack, sep;  // packing: documents joined by sep into full windows
    int sep_due;    // the current document's tokens are out; its separator is next
    int keep_text;  // ms_input_keep_text: doc_text holds the current document
    char *doc_text;
    size_t doc_text_len, win_first;
    long doc_no;
};

ms_input *ms_input_open(const char *path, ms_input_format fmt, const ms_tokenizer *tok, int ctx, int prepend_bos,
                        int bos, int vocab_size) {
    if ((fmt == MS_INPUT_TEXT || fmt == MS_INPUT_JSONL) && !tok) {
        ms_error("%s: %s input needs a tokenizer, and this model has none (use --input-format ids)", path,
                 fmt == MS_INPUT_TEXT ? "text" : "jsonl");
        return NULL;
    }
    if (prepend_bos && bos < 0) {
        ms_error("--prepend-bos: this model has no BOS token");
        return NULL;
    }
    if (ctx < 1 + (prepend_bos ? 1 : 0)) {
        ms_error("--ctx %d is too small", ctx);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        ms_error("%s: cannot open input: %s", path, strerror(errno));
        return NULL;
    }
    ms_input *in = ms_calloc(1, sizeof(ms_input));
    in->path = ms_strdup(path);
    in->f = f;
    in->fmt = fmt;
    in->tok = tok;
    in->ctx = ctx;
    in->prepend_bos = prepend_bos;
    in->bos = bos;
    in->vocab = vocab_size;
    if (fseek(f, 0, SEEK_END) == 0) in->size = ftell(f);
    rewind(f);
    return in;
}

double ms_input_fraction(const ms_input *in) {
    if (in->fmt == MS_INPUT_TEXT) return in->doc_n ? (double)in->doc_pos / (double)in->doc_n : 0.0;
    long pos = ftell(in->f);
    return in->size > 0 && pos > 0 ? (double)pos / (double)in->size : 0.0;
}

void ms_input_close(ms_input *in) {
    if (!in) return;
    if (in->f) fclose(in->f);
    free(in->line);
    free(in->doc);
    free(in->doc_text);
    free(in->path);
    free(in);
}

void ms_input_keep_text(ms_input *in) { in->keep_text = 1; }

int ms_input_last_window(const ms_input *in, ms_input_window *w) {
    if (in->fmt == MS_INPUT_IDS) return -1;
    *w = (ms_input_window){in->doc_text, in->doc_text_len, in->doc, in->doc_n, in->win_first, in->doc_no - 1};
    return 0;
}

// Keeps a copy of the document text when asked (text/jsonl); ids otherwise need none.
static void keep_doc_text(ms_input *in, const char *text, size_t len) {
    free(in->doc_text);
    in->doc_text = NULL;
    in->doc_text_len = len;
    if (!in->keep_text) return;
    in->doc_text = ms_malloc(len + 1);
    memcpy(in->doc_text, text, len);
    in->doc_text[len] = 0;
}

static int check_vocab(ms_input *in, const int32_t *ids, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= in->vocab) {
            ms_error("%s: token id %d is outside the model's vocabulary (0..%d)", what, (int)ids[i], in->vocab - 1);
            return -1;
        }
    return 0;
}

// Loads the next document into in->doc; 1 loaded, 0 end, -1 error.
static int next_doc(ms_input *in) {
    free(in->doc);
    in->doc = NULL;
    in->doc_n = in->doc_pos = 0;
    char what[512];
    if (in->fmt == MS_INPUT_TEXT) {
        if (in->text_done) return 0;
        in->text_done = 1;
        // the whole file is one stream: tokenizers are not chunk-invariant (SentencePiece adds a
        // dummy prefix per call, GPT-2's regex groups whitespace runs), so it is encoded at once
        size_t len;
        char *text = ms_read_file(in->path, &len);
        if (!text) return -1;
        int rc = ms_tokenizer_encode(in->tok, text, len, 0, &in->doc, &in->doc_n);
        keep_doc_text(in, text, len);
        free(text);
        if (rc) return -1;
        snprintf(what, sizeof what, "%s", in->path);
        return check_vocab(in, in->doc, in->doc_n, what) ? -1 : (in->doc_n > 0);
    }
    // jsonl: next non-blank line
    for (;;) {
        ssize_t got = getline(&in->line, &in->line_cap, in->f);
        if (got < 0) return 0;
        in->line_no++;
        char *p = in->line;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
        if (!*p) continue;
        snprintf(what, sizeof what, "%s line %ld", in->path, in->line_no);
        enum json_tokener_error jerr;
        json_object *o = json_tokener_parse_verbose(in->line, &jerr);
        if (!o) {
            ms_error("%s: invalid JSON: %s", what, json_tokener_error_desc(jerr));
            return -1;
        }
        json_object *t;
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "text", &t) ||
            !json_object_is_type(t, json_type_string)) {
            ms_error("%s: expected an object with a string field \"text\"", what);
            json_object_put(o);
            return -1;
        }
        int rc = ms_tokenizer_encode(in->tok, json_object_get_string(t), (size_t)json_object_get_string_len(t), 0,
                                     &in->doc, &in->doc_n);
        keep_doc_text(in, json_object_get_string(t), (size_t)json_object_get_string_len(t));
        json_object_put(o);
        if (rc) return -1;
        if (check_vocab(in, in->doc, in->doc_n, what)) return -1;
        if (in->doc_n > 0) return 1;
        free(in->doc); // an empty document: try the next line
        in->doc = NULL;
    }
}

int ms_input_set_packing(ms_input *in, int sep) {
    if (in->fmt == MS_INPUT_IDS) {
        ms_error("--pack joins tokenized documents (text or jsonl input); ids rows are taken as given");
        return -1;
    }
    in->pack = 1;
    in->sep = sep;
    return 0;
}

// One full window of the packed stream (document, sep, document, sep, ...); 0 when the stream ends
// before the window is full (the tail is dropped).
static int next_packed(ms_input *in, int32_t *out) {
    const int nb = in->prepend_bos ? 1 : 0, need = in->ctx - nb;
    if (nb) out[0] = in->bos;
    int filled = 0;
    while (filled < need) {
        if (in->doc_pos < in->doc_n) {
            size_t take = in->doc_n - in->doc_pos;
            if (take > (size_t)(need - filled)) take = (size_t)(need - filled);
            memcpy(out + nb + filled, in->doc + in->doc_pos, take * sizeof(int32_t));
            in->doc_pos += take;
            filled += (int)take;
            in->sep_due = in->doc_pos == in->doc_n;
        } else if (in->sep_due) {
            out[nb + filled++] = in->sep;
            in->sep_due = 0;
        } else {
            int rc = next_doc(in);
            if (rc <= 0) return rc;
        }
    }
    return in->ctx;
}

int ms_input_next(ms_input *in, int32_t *out) {
    if (in->pack) return next_packed(in, out);
    const int nb = in->prepend_bos ? 1 : 0;
    if (in->fmt == MS_INPUT_IDS) {
        for (;;) {
            ssize_t got = getline(&in->line, &in->line_cap, in->f);
            if (got < 0) return 0;
            in->line_no++;
            char what[512];
            snprintf(what, sizeof what, "%s line %ld", in->path, in->line_no);
            if (memchr(in->line, 0, (size_t)got)) { ms_error("%s: binary data in an ids file", what); return -1; }
            int32_t *ids;
            size_t n;
            if (ms_parse_ids(in->line, what, &ids, &n)) return -1;
            if (n == 0) { free(ids); continue; }
            if (n + nb > (size_t)in->ctx) {
                ms_error("%s: %zu ids%s exceed --ctx %d", what, n, nb ? " plus BOS" : "", in->ctx);
                free(ids);
                return -1;
            }
            if (check_vocab(in, ids, n, what)) { free(ids); return -1; }
            if (nb) out[0] = in->bos;
            memcpy(out + nb, ids, n * sizeof(int32_t));
            free(ids);
            return (int)n + nb;
        }
    }
    if (in->doc_pos >= in->doc_n) {
        int rc = next_doc(in);
        if (rc <= 0) return rc;
        in->doc_no++;
    }
    in->win_first = in->doc_pos;
    size_t take = in->doc_n - in->doc_pos;
    if (take > (size_t)(in->ctx - nb)) take = (size_t)(in->ctx - nb);
    if (nb) out[0] = in->bos;
    memcpy(out + nb, in->doc + in->doc_pos, take * sizeof(int32_t));
    in->doc_pos += take;
    return (int)take + nb;
}
