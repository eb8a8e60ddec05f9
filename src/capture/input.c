// input.c: corpus readers for capture (see input.h).
#include "capture/input.h"
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
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
    // text read in chunks (see next_text_chunk): bytes read but not yet encoded
    int stream;     // 1: chunked; 0: the whole file at once
    size_t chunk;   // bytes read per step
    char *pend;
    size_t pend_n, pend_cap;
    int eof;
    long read_bytes;
    // the last hist_k windows returned (ring, hist_n filled, next slot hist_head), for ms_input_unread
    int32_t *hist;  // (hist_k, ctx)
    int *hist_len;  // (hist_k)
    int hist_k, hist_n, hist_head, replay;
};

// Text is encoded a chunk at a time, each chunk ending just after a newline between two printable
// ASCII characters. The byte-level BPE pre-tokenizers (GPT-2's, Llama 3's, Qwen's split regexes)
// never join such a newline with what follows, and BPE merges stay within a pre-token, so the ids are
// those of the whole file encoded at once (tests/test_input_stream.c checks it at thousands of cuts).
// SentencePiece adds a dummy prefix per call, so its text is still encoded whole.
#define MS_TEXT_CHUNK (1 << 20)

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
    // the size from fstat, not fseek: glibc's fseek may read the file's last block into the stream's
    // buffer, and a later rewind then moves only within that buffer, leaving the descriptor that
    // read(2) uses at the end of a small file
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode)) in->size = (long)sb.st_size;
    in->stream = fmt == MS_INPUT_TEXT && ms_tokenizer_kind(tok) == MS_TOK_BYTE_BPE;
    in->chunk = MS_TEXT_CHUNK;
    ms_input_set_history(in, 1);
    return in;
}

double ms_input_fraction(const ms_input *in) {
    if (in->fmt == MS_INPUT_TEXT && !in->stream) return in->doc_n ? (double)in->doc_pos / (double)in->doc_n : 0.0;
    long pos = in->stream ? in->read_bytes : ftell(in->f);
    return in->size > 0 && pos > 0 ? (double)pos / (double)in->size : 0.0;
}

void ms_input_close(ms_input *in) {
    if (!in) return;
    if (in->f) fclose(in->f);
    free(in->line);
    free(in->doc);
    free(in->doc_text);
    free(in->pend);
    free(in->hist);
    free(in->hist_len);
    free(in->path);
    free(in);
}

// Token labelling maps each window back to its document's text: one document, the whole file.
void ms_input_keep_text(ms_input *in) { in->keep_text = 1; in->stream = 0; }

void ms_input_set_text_chunk(ms_input *in, size_t bytes) { in->chunk = bytes > 0 ? bytes : MS_TEXT_CHUNK; }

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

static int printable_ascii(char c) { return c > ' ' && c < 0x7f; }

// Where the pending bytes may be cut: just after the last lone "\n" between two printable ASCII
// characters, "x\ny" (0: nowhere yet). A newline in a whitespace run is not a place: "  \n" or
// "\n\n" at the end of a text is one pre-token, inside it two.
static size_t safe_cut(const char *p, size_t n) {
    for (size_t i = n; i-- > 2;)
        if (p[i - 1] == '\n' && printable_ascii(p[i]) && printable_ascii(p[i - 2])) return i;
    return 0;
}

// Appends the next chunk's tokens to in->doc, after moving its unread tokens to the front; 1 when
// tokens were added, 0 at the end of the file, -1 on error.
static int next_text_chunk(ms_input *in) {
    size_t keep = in->doc_n - in->doc_pos;
    if (in->doc && in->doc_pos) memmove(in->doc, in->doc + in->doc_pos, keep * sizeof(int32_t));
    in->doc_n = keep;
    in->doc_pos = 0;
    for (;;) {
        size_t cut = in->eof ? in->pend_n : safe_cut(in->pend, in->pend_n);
        if (cut > 0) {
            int32_t *ids = NULL;
            size_t n = 0;
            if (ms_tokenizer_encode(in->tok, in->pend, cut, 0, &ids, &n)) return -1;
            if (check_vocab(in, ids, n, in->path)) { free(ids); return -1; }
            in->doc = ms_realloc(in->doc, (in->doc_n + n + 1) * sizeof(int32_t));
            memcpy(in->doc + in->doc_n, ids, n * sizeof(int32_t));
            in->doc_n += n;
            free(ids);
            memmove(in->pend, in->pend + cut, in->pend_n - cut);
            in->pend_n -= cut;
            if (n > 0) return 1;
            continue;
        }
        if (in->eof) return 0;
        if (in->pend_cap - in->pend_n < in->chunk) { // a line longer than a chunk: the buffer grows
            in->pend_cap = in->pend_n + in->chunk;
            in->pend = ms_realloc(in->pend, in->pend_cap);
        }
        // read(2), not fread: from a pipe it returns what has arrived instead of waiting for a
        // whole chunk (the file is not read through stdio in this mode)
        ssize_t got = read(fileno(in->f), in->pend + in->pend_n, in->chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) { ms_error("%s: read error: %s", in->path, strerror(errno)); return -1; }
        in->pend_n += (size_t)got;
        in->read_bytes += (long)got;
        if (got == 0) in->eof = 1;
    }
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
            in->sep_due = in->doc_pos == in->doc_n && !in->stream; // a chunk's end is not a document's
        } else if (in->sep_due) {
            out[nb + filled++] = in->sep;
            in->sep_due = 0;
        } else if (in->stream) { // the file is one document: its separator comes at the end of the file
            int rc = next_text_chunk(in);
            if (rc < 0) return -1;
            if (rc == 0) {
                if (in->text_done) return 0;
                in->text_done = 1;
                in->sep_due = 1;
            }
        } else {
            int rc = next_doc(in);
            if (rc <= 0) return rc;
        }
    }
    return in->ctx;
}

void ms_input_set_history(ms_input *in, int k) {
    if (k < 1) k = 1;
    free(in->hist);
    free(in->hist_len);
    in->hist = ms_malloc((size_t)k * in->ctx * sizeof(int32_t));
    in->hist_len = ms_calloc((size_t)k, sizeof(int));
    in->hist_k = k;
    in->hist_n = in->hist_head = in->replay = 0;
}

int ms_input_unread(ms_input *in, int k) {
    if (k < 0 || in->replay + k > in->hist_n) {
        ms_error("%s: cannot step back %d windows (%d kept)", in->path, k, in->hist_n - in->replay);
        return -1;
    }
    in->replay += k;
    return 0;
}

static int next_window(ms_input *in, int32_t *out);

int ms_input_next(ms_input *in, int32_t *out) {
    if (in->replay > 0) { // the window `replay` places before the newest
        int slot = ((in->hist_head - in->replay) % in->hist_k + in->hist_k) % in->hist_k;
        in->replay--;
        memcpy(out, in->hist + (size_t)slot * in->ctx, (size_t)in->hist_len[slot] * sizeof(int32_t));
        return in->hist_len[slot];
    }
    int len = next_window(in, out);
    if (len > 0) {
        memcpy(in->hist + (size_t)in->hist_head * in->ctx, out, (size_t)len * sizeof(int32_t));
        in->hist_len[in->hist_head] = len;
        in->hist_head = (in->hist_head + 1) % in->hist_k;
        if (in->hist_n < in->hist_k) in->hist_n++;
    }
    return len;
}

static int next_window(ms_input *in, int32_t *out) {
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
    if (in->stream) { // the window may run into the next chunk: read on until it is full
        while (in->doc_n - in->doc_pos < (size_t)(in->ctx - nb)) {
            int rc = next_text_chunk(in);
            if (rc < 0) return -1;
            if (rc == 0) break;
        }
        if (in->doc_pos >= in->doc_n) return 0;
    } else if (in->doc_pos >= in->doc_n) {
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
