// lm_data.c: corpus → token stream, batches, the vocabulary for the written model (see lm_data.h).
#include "train/lm_data.h"
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include "train/rng.h"
#include "util/util.h"

static void append(ms_token_stream *s, size_t *cap, const int32_t *ids, size_t n) {
    if (s->n + n > *cap) {
        while (s->n + n > *cap) *cap = *cap ? 2 * *cap : 1 << 16;
        s->tok = ms_realloc(s->tok, *cap * sizeof *s->tok);
    }
    memcpy(s->tok + s->n, ids, n * sizeof *ids);
    s->n += n;
}

int ms_token_stream_load(ms_token_stream *s, const char *jsonl, const ms_tokenizer *tok) {
    memset(s, 0, sizeof *s);
    size_t len, cap = 0;
    char *text = ms_read_file(jsonl, &len);
    if (!text) return -1;
    const int32_t eos = ms_tokenizer_eos(tok);
    int rc = 0, line = 0;
    for (char *p = text, *nl; p < text + len && rc == 0; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(text + len - p));
        if (!nl) nl = text + len;
        *nl = 0;
        line++;
        if (p == nl) continue; // blank line
        json_object *o = json_tokener_parse(p), *t;
        if (!o || !json_object_object_get_ex(o, "text", &t) || !json_object_is_type(t, json_type_string)) {
            ms_error("%s:%d: not a JSON object with a string \"text\"", jsonl, line);
            rc = -1;
        } else {
            int32_t *ids = NULL;
            size_t n = 0;
            rc = ms_tokenizer_encode(tok, json_object_get_string(t), (size_t)json_object_get_string_len(t), 0, &ids, &n);
            if (rc == 0) {
                append(s, &cap, ids, n);
                append(s, &cap, &eos, 1);
            }
            free(ids);
        }
        json_object_put(o);
    }
    free(text);
    if (rc == 0 && s->n < 2) {
        ms_error("%s: no text to train on", jsonl);
        rc = -1;
    }
    if (rc) ms_token_stream_free(s);
    return rc;
}

void ms_token_stream_free(ms_token_stream *s) {
    free(s->tok);
    memset(s, 0, sizeof *s);
}

// One window at o, shortened by wrapping when the stream is shorter than T + 1.
static void window(const ms_token_stream *s, size_t o, int T, int32_t *in, int32_t *tg) {
    for (int t = 0; t < T; t++) {
        in[t] = s->tok[(o + t) % s->n];
        tg[t] = s->tok[(o + t + 1) % s->n];
    }
}

void ms_lm_batch(const ms_token_stream *s, uint64_t seed, int64_t step, int B, int T, int32_t *inputs,
                 int32_t *targets) {
    ms_rng r = ms_rng_from(seed, (uint64_t)step, 0x62617463ull); // "batc"
    const uint64_t span = s->n > (size_t)T + 1 ? s->n - (size_t)T : 1;
    for (int b = 0; b < B; b++)
        window(s, (size_t)ms_rng_below(&r, span), T, inputs + (size_t)b * T, targets + (size_t)b * T);
}

void ms_lm_batch_seq(const ms_token_stream *s, int64_t i, int B, int T, int32_t *inputs, int32_t *targets) {
    const size_t n_win = s->n > (size_t)T + 1 ? (s->n - 1) / (size_t)T : 1;
    for (int b = 0; b < B; b++)
        window(s, (size_t)(((uint64_t)i * B + b) % n_win) * T, T, inputs + (size_t)b * T, targets + (size_t)b * T);
}

// merges.txt: an optional "#version" line, then "left right" per line.
static int read_merges(const char *dir, char ***merges, int *n_merges) {
    char *path = ms_path_join(dir, "merges.txt");
    size_t len;
    char *text = ms_read_file(path, &len);
    free(path);
    if (!text) return -1;
    int cap = 0;
    *n_merges = 0;
    *merges = NULL;
    for (char *p = text, *nl; p < text + len; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(text + len - p));
        if (!nl) nl = text + len;
        *nl = 0;
        if (p == nl || (p == text && strncmp(p, "#version", 8) == 0)) continue;
        if (*n_merges == cap) *merges = ms_realloc(*merges, (size_t)(cap = cap ? 2 * cap : 1024) * sizeof **merges);
        (*merges)[(*n_merges)++] = ms_strdup(p);
    }
    free(text);
    return 0;
}

int ms_lm_read_vocab(const char *dir, int vocab, char ***tokens, char ***merges, int *n_merges) {
    char *path = ms_path_join(dir, "vocab.json");
    json_object *o = json_object_from_file(path);
    if (!o || !json_object_is_type(o, json_type_object)) {
        ms_error("%s: not a JSON object", path);
        json_object_put(o);
        free(path);
        return -1;
    }
    *tokens = ms_calloc((size_t)vocab, sizeof **tokens);
    json_object_object_foreach(o, key, val) {
        int id = json_object_get_int(val);
        if (id >= 0 && id < vocab && !(*tokens)[id]) (*tokens)[id] = ms_strdup(key);
    }
    json_object_put(o);
    int rc = 0;
    for (int i = 0; i < vocab && rc == 0; i++)
        if (!(*tokens)[i]) { ms_error("%s: no token has id %d", path, i); rc = -1; }
    free(path);
    if (rc == 0) rc = read_merges(dir, merges, n_merges);
    if (rc) {
        for (int i = 0; i < vocab; i++) free((*tokens)[i]);
        free(*tokens);
        *tokens = NULL;
    }
    return rc;
}
