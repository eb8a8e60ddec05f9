// bpe_train.c: byte-level BPE training (see bpe_train.h for the algorithm, ids and tie rule).
//
// Data layout. Words: every distinct pre-tokenized piece once, its symbols (token ids) in one flat
// array (syms[word_off[w] .. + word_len[w]]), shrinking in place as merges join symbols. Pairs: a
// hash map (left, right) -> pair index; per pair its weighted count and the list of words it
// occurs in. A max-heap orders pairs by (count, then smallest ids); counts only fall for existing
// pairs (a merge replaces their occurrences), so stale heap entries are detected on pop and
// re-pushed with their current count ("lazy" updates). Only pairs that contain the new token are
// new, and those are pushed once the merge has been applied to every word.
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer/bpe_train.h"
#include "tokenizer/tok_internal.h"
#include "util/util.h"

// ---------------------------------------------------------------- word counting
struct ms_bpe_words {
    tok_strmap index;   // word bytes -> word number
    int64_t *count;     // (n,) occurrences
    int cap;
    tok_step pretok;    // GPT-2's split regex, as the encoder runs it
    tok_spans whole, pieces;
    int64_t n_docs, n_bytes, n_total;
};

ms_bpe_words *ms_bpe_words_new(void) {
    ms_bpe_words *w = ms_calloc(1, sizeof *w);
    tok_strmap_init(&w->index, 1 << 16);
    if (tok_step_regex(&w->pretok, NULL, 0, TOK_SPLIT_ISOLATED, 0)) { ms_bpe_words_free(w); return NULL; }
    return w;
}

void ms_bpe_words_free(ms_bpe_words *w) {
    if (!w) return;
    tok_strmap_free(&w->index);
    tok_step_free(&w->pretok);
    free(w->count);
    free(w->whole.v);
    free(w->pieces.v);
    free(w);
}

int ms_bpe_words_add_text(ms_bpe_words *w, const char *text, size_t len) {
    size_t fixed_len;
    char *fixed = tok_utf8_repair(text, len, &fixed_len);
    if (fixed) { text = fixed; len = fixed_len; }
    w->whole.n = w->pieces.n = 0;
    tok_spans_push(&w->whole, 0, len);
    int rc = tok_step_apply(&w->pretok, text, &w->whole, &w->pieces);
    for (size_t i = 0; i < w->pieces.n && !rc; i++) {
        const char *p = text + w->pieces.v[i].off;
        size_t n = w->pieces.v[i].len;
        int32_t id = tok_strmap_get(&w->index, p, n);
        if (id < 0) {
            id = (int32_t)w->index.n;
            if (id == w->cap) { w->cap = w->cap ? w->cap * 2 : 1 << 16; w->count = ms_realloc(w->count, (size_t)w->cap * sizeof *w->count); }
            w->count[id] = 0;
            tok_strmap_put(&w->index, p, n, id);
        }
        w->count[id]++;
    }
    w->n_docs++;
    w->n_bytes += (int64_t)len;
    w->n_total += (int64_t)w->pieces.n;
    free(fixed);
    return rc;
}

int ms_bpe_words_add_jsonl(ms_bpe_words *w, const char *path) {
    size_t len;
    char *data = ms_read_file(path, &len);
    if (!data) return -1;
    json_tokener *tk = json_tokener_new();
    int rc = 0, line_no = 0;
    for (char *line = data, *end; line < data + len && !rc; line = end + 1) {
        end = memchr(line, '\n', (size_t)(data + len - line));
        if (!end) end = data + len;
        *end = 0; // ms_read_file leaves room for the NUL at data[len]
        line_no++;
        size_t l = (size_t)(end - line);
        if (strspn(line, " \t\r") == l) continue;
        json_tokener_reset(tk);
        json_object *o = json_tokener_parse_ex(tk, line, (int)l);
        json_object *t = NULL;
        if (!o || json_tokener_get_error(tk) != json_tokener_success) {
            ms_error("%s:%d: not a JSON object: %s", path, line_no, json_tokener_error_desc(json_tokener_get_error(tk)));
            rc = -1;
        } else if (!json_object_object_get_ex(o, "text", &t) || !json_object_is_type(t, json_type_string)) {
            ms_error("%s:%d: no string \"text\" member", path, line_no);
            rc = -1;
        } else {
            rc = ms_bpe_words_add_text(w, json_object_get_string(t), (size_t)json_object_get_string_len(t));
        }
        json_object_put(o);
    }
    json_tokener_free(tk);
    free(data);
    if (!rc && w->n_docs == 0) { ms_error("%s: no documents", path); rc = -1; }
    return rc;
}

// ---------------------------------------------------------------- pairs and the heap
typedef struct { int32_t *w; int32_t n, cap; } word_list;
typedef struct { int64_t count; int32_t left, right; } heap_item;

typedef struct {
    int32_t *syms;                  // all words' symbols
    int64_t *word_off, *word_count; // (n_words,)
    int32_t *word_len;              // (n_words,) current number of symbols
    int n_words;
    tok_pairmap index;              // (left, right) -> pair number (stored as the map's "rank")
    int32_t *left, *right;          // (n_pairs,)
    int64_t *count;                 // (n_pairs,) occurrences weighted by word frequency
    word_list *where;               // (n_pairs,) words holding the pair (a superset: may be stale)
    int n_pairs, cap_pairs;
    heap_item *heap;
    size_t heap_n, heap_cap;
    int32_t *fresh;                 // pairs created by the current merge
    int n_fresh, cap_fresh;
} bpe_state;

// a ranks above b: higher count, then the smaller (left, right)
static int heap_above(const heap_item *a, const heap_item *b) {
    if (a->count != b->count) return a->count > b->count;
    if (a->left != b->left) return a->left < b->left;
    return a->right < b->right;
}

static void heap_push(bpe_state *s, heap_item it) {
    if (s->heap_n == s->heap_cap) { s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 4096; s->heap = ms_realloc(s->heap, s->heap_cap * sizeof *s->heap); }
    size_t i = s->heap_n++;
    while (i > 0 && heap_above(&it, &s->heap[(i - 1) / 2])) { s->heap[i] = s->heap[(i - 1) / 2]; i = (i - 1) / 2; }
    s->heap[i] = it;
}

static heap_item heap_pop(bpe_state *s) {
    heap_item top = s->heap[0], last = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_above(&s->heap[c + 1], &s->heap[c])) c++;
        if (!heap_above(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = last;
    return top;
}

static int32_t pair_find(const bpe_state *s, int32_t a, int32_t b) {
    int32_t idx, unused;
    return tok_pairmap_get(&s->index, a, b, &idx, &unused) ? idx : -1;
}

static int32_t pair_new(bpe_state *s, int32_t a, int32_t b) {
    if (s->n_pairs == s->cap_pairs) {
        s->cap_pairs = s->cap_pairs ? s->cap_pairs * 2 : 1 << 16;
        s->left = ms_realloc(s->left, (size_t)s->cap_pairs * sizeof *s->left);
        s->right = ms_realloc(s->right, (size_t)s->cap_pairs * sizeof *s->right);
        s->count = ms_realloc(s->count, (size_t)s->cap_pairs * sizeof *s->count);
        s->where = ms_realloc(s->where, (size_t)s->cap_pairs * sizeof *s->where);
    }
    int32_t p = s->n_pairs++;
    s->left[p] = a; s->right[p] = b; s->count[p] = 0;
    s->where[p] = (word_list){0};
    tok_pairmap_put(&s->index, a, b, p, 0);
    return p;
}

// Adds delta occurrences of (a, b) in word w; list_word: record w in the pair's word list (once:
// a word's pairs are added consecutively, one word at a time). New pairs are recorded in s->fresh.
static void pair_add(bpe_state *s, int32_t a, int32_t b, int64_t delta, int32_t w, int list_word) {
    int32_t p = pair_find(s, a, b);
    if (p < 0) {
        p = pair_new(s, a, b);
        if (s->n_fresh == s->cap_fresh) { s->cap_fresh = s->cap_fresh ? s->cap_fresh * 2 : 1024; s->fresh = ms_realloc(s->fresh, (size_t)s->cap_fresh * sizeof *s->fresh); }
        s->fresh[s->n_fresh++] = p;
    }
    s->count[p] += delta;
    word_list *l = &s->where[p];
    if (list_word && (l->n == 0 || l->w[l->n - 1] != w)) {
        if (l->n == l->cap) { l->cap = l->cap ? l->cap * 2 : 4; l->w = ms_realloc(l->w, (size_t)l->cap * sizeof *l->w); }
        l->w[l->n++] = w;
    }
}

static void push_fresh(bpe_state *s) {
    for (int i = 0; i < s->n_fresh; i++) {
        int32_t p = s->fresh[i];
        if (s->count[p] > 0) heap_push(s, (heap_item){s->count[p], s->left[p], s->right[p]});
    }
    s->n_fresh = 0;
}

// Byte b's token id: its rank among the 256 bytes ordered by their GPT-2 code points.
static void byte_ids(int32_t id_of_byte[256], uint32_t byte_to_cp[256]) {
    tok_byte_unicode_table(byte_to_cp);
    for (int b = 0; b < 256; b++) {
        int rank = 0;
        for (int o = 0; o < 256; o++) rank += byte_to_cp[o] < byte_to_cp[b];
        id_of_byte[b] = rank;
    }
}

static void state_init(bpe_state *s, const ms_bpe_words *words) {
    memset(s, 0, sizeof *s);
    const tok_strmap *m = &words->index;
    s->n_words = (int)m->n;
    s->syms = ms_malloc((m->keys_len + 1) * sizeof *s->syms);
    s->word_off = ms_malloc(((size_t)s->n_words + 1) * sizeof *s->word_off);
    s->word_count = ms_malloc(((size_t)s->n_words + 1) * sizeof *s->word_count);
    s->word_len = ms_malloc(((size_t)s->n_words + 1) * sizeof *s->word_len);
    tok_pairmap_init(&s->index, 1 << 16);
    int32_t id_of_byte[256];
    uint32_t byte_to_cp[256];
    byte_ids(id_of_byte, byte_to_cp);
    for (uint32_t e = 0; e < m->n; e++) { // the map's entries are in insertion order = word number
        int32_t w = m->val[e];
        const unsigned char *k = (const unsigned char *)m->keys + m->off[e];
        s->word_off[w] = m->off[e];
        s->word_len[w] = (int32_t)m->len[e];
        s->word_count[w] = words->count[w];
        int32_t *sym = s->syms + m->off[e];
        for (uint32_t i = 0; i < m->len[e]; i++) sym[i] = id_of_byte[k[i]];
        for (uint32_t i = 0; i + 1 < m->len[e]; i++) pair_add(s, sym[i], sym[i + 1], s->word_count[w], w, 1);
    }
    push_fresh(s);
}

static void state_free(bpe_state *s) {
    for (int p = 0; p < s->n_pairs; p++) free(s->where[p].w);
    free(s->syms); free(s->word_off); free(s->word_count); free(s->word_len);
    tok_pairmap_free(&s->index);
    free(s->left); free(s->right); free(s->count); free(s->where);
    free(s->heap); free(s->fresh);
}

// Replaces every (a, b) in word w, left to right without overlap, by c, moving the word's pair
// counts from the old symbol sequence to the new one.
static void merge_word(bpe_state *s, int32_t w, int32_t a, int32_t b, int32_t c) {
    int32_t *sym = s->syms + s->word_off[w];
    int32_t n = s->word_len[w], j = 0;
    int found = 0;
    for (int32_t i = 0; i + 1 < n && !found; i++) found = sym[i] == a && sym[i + 1] == b;
    if (!found) return; // a stale entry of the pair's word list
    int64_t cnt = s->word_count[w];
    for (int32_t i = 0; i + 1 < n; i++) pair_add(s, sym[i], sym[i + 1], -cnt, w, 0);
    for (int32_t i = 0; i < n; i++) {
        if (i + 1 < n && sym[i] == a && sym[i + 1] == b) { sym[j++] = c; i++; }
        else sym[j++] = sym[i];
    }
    s->word_len[w] = j;
    // pairs without c were pairs of the old word, so w is on their lists already
    for (int32_t i = 0; i + 1 < j; i++) pair_add(s, sym[i], sym[i + 1], cnt, w, sym[i] == c || sym[i + 1] == c);
}

// The most frequent pair (ties: smallest ids) with a non-zero count, or -1 when none is left.
static int32_t best_pair(bpe_state *s) {
    while (s->heap_n) {
        heap_item it = heap_pop(s);
        int32_t p = pair_find(s, it.left, it.right);
        if (s->count[p] == it.count) return p;
        if (s->count[p] > 0) heap_push(s, (heap_item){s->count[p], it.left, it.right}); // stale: counts only fall
    }
    return -1;
}

int ms_bpe_learn(const ms_bpe_words *words, int max_merges, ms_bpe_merges *out) {
    memset(out, 0, sizeof *out);
    if (max_merges < 0) { ms_error("bpe: negative number of merges"); return -1; }
    bpe_state s;
    state_init(&s, words);
    out->left = ms_malloc(((size_t)max_merges + 1) * sizeof *out->left);
    out->right = ms_malloc(((size_t)max_merges + 1) * sizeof *out->right);
    out->count = ms_malloc(((size_t)max_merges + 1) * sizeof *out->count);
    for (int k = 0; k < max_merges; k++) {
        int32_t p = best_pair(&s);
        if (p < 0) break;
        int32_t a = s.left[p], b = s.right[p], c = 256 + k;
        out->left[k] = a; out->right[k] = b; out->count[k] = s.count[p];
        out->n_merges = k + 1;
        word_list todo = s.where[p]; // merge_word may append to other pairs' lists, never to p's
        s.where[p] = (word_list){0};
        for (int32_t i = 0; i < todo.n; i++) merge_word(&s, todo.w[i], a, b, c);
        free(todo.w);
        push_fresh(&s);
    }
    state_free(&s);
    return 0;
}

void ms_bpe_merges_free(ms_bpe_merges *m) {
    free(m->left); free(m->right); free(m->count);
    memset(m, 0, sizeof *m);
}

// ---------------------------------------------------------------- output
int ms_bpe_save(const ms_bpe_merges *m, const char *dir) {
    int n_tokens = 256 + m->n_merges + 1;
    char **tok = ms_malloc((size_t)n_tokens * sizeof *tok);
    char **merge = ms_malloc(((size_t)m->n_merges + 1) * sizeof *merge);
    int32_t id_of_byte[256];
    uint32_t byte_to_cp[256];
    byte_ids(id_of_byte, byte_to_cp);
    for (int b = 0; b < 256; b++) { // GPT-2's unicode form: one code point per byte
        char u[8];
        u[tok_utf8_encode(byte_to_cp[b], u)] = 0;
        tok[id_of_byte[b]] = ms_strdup(u);
    }
    for (int k = 0; k < m->n_merges; k++) {
        const char *l = tok[m->left[k]], *r = tok[m->right[k]];
        size_t ll = strlen(l), rl = strlen(r);
        tok[256 + k] = ms_malloc(ll + rl + 1);
        memcpy(tok[256 + k], l, ll);
        memcpy(tok[256 + k] + ll, r, rl + 1);
        merge[k] = ms_malloc(ll + rl + 2);
        memcpy(merge[k], l, ll);
        merge[k][ll] = ' ';
        memcpy(merge[k] + ll + 1, r, rl + 1);
    }
    tok[n_tokens - 1] = ms_strdup("<|endoftext|>");
    int rc = ms_tokenizer_save_vocab_merges(dir, n_tokens, (const char *const *)tok, m->n_merges,
                                            (const char *const *)merge);
    for (int i = 0; i < n_tokens; i++) free(tok[i]);
    for (int k = 0; k < m->n_merges; k++) free(merge[k]);
    free(tok); free(merge);
    return rc;
}

int ms_bpe_train_jsonl(const char *corpus, int vocab_size, const char *out_dir, ms_bpe_stats *stats) {
    // the loader needs at least one merge: 256 bytes + 1 merge + <|endoftext|>
    if (vocab_size < 258) { ms_error("vocabulary size %d: at least 258 (256 bytes, a merge, <|endoftext|>)", vocab_size); return -1; }
    double t0 = ms_now();
    ms_bpe_words *w = ms_bpe_words_new();
    if (!w) return -1;
    if (ms_bpe_words_add_jsonl(w, corpus)) { ms_bpe_words_free(w); return -1; }
    ms_bpe_merges m;
    int rc = ms_bpe_learn(w, vocab_size - 257, &m);
    if (!rc && m.n_merges == 0) { ms_error("%s: nothing to merge (every word is one byte)", corpus); rc = -1; }
    if (!rc) rc = ms_bpe_save(&m, out_dir);
    if (!rc && stats) {
        *stats = (ms_bpe_stats){.n_docs = w->n_docs, .n_bytes = w->n_bytes, .n_words_total = w->n_total,
                                .n_words_unique = (int)w->index.n, .n_merges = m.n_merges,
                                .vocab_size = 256 + m.n_merges + 1, .seconds = ms_now() - t0};
    }
    ms_bpe_merges_free(&m);
    ms_bpe_words_free(w);
    return rc;
}
