// tokenizer.c: building a tokenizer from tables, and the encode / decode paths of both families.
//
// Invalid UTF-8 input. Byte-level BPE references (tiktoken, HF tokenizers, GPT-2's encoder.py) take
// Unicode strings, so bytes that are not UTF-8 never reach them: a file is first decoded with
// replacement. We do the same, with the WHATWG rule (each maximal ill-formed subpart -> U+FFFD),
// which is what Node's TextDecoder and Python's errors='replace' do; the tests feed the same bytes
// to js-tiktoken through TextDecoder. SentencePiece-style tokenizers work on raw bytes exactly like
// llama2.c's encode (chars not in the vocab, valid or not, become <0xNN> pieces), so they are lossless.
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok_internal.h"
#include "util/util.h"

ms_tokenizer *tok_alloc(ms_tok_kind kind, int n_vocab) {
    ms_tokenizer *t = ms_calloc(1, sizeof *t);
    t->kind = kind;
    t->n_vocab = n_vocab;
    t->piece = ms_calloc((size_t)n_vocab + 1, sizeof *t->piece);
    t->piece_len = ms_calloc((size_t)n_vocab + 1, sizeof *t->piece_len);
    t->bytes = ms_calloc((size_t)n_vocab + 1, sizeof *t->bytes);
    t->bytes_len = ms_calloc((size_t)n_vocab + 1, sizeof *t->bytes_len);
    t->type = ms_malloc(((size_t)n_vocab + 1) * sizeof *t->type);
    for (int i = 0; i < n_vocab; i++) t->type[i] = TOK_TYPE_NORMAL;
    t->unk_id = t->bos_id = t->eos_id = -1;
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    tok_pairmap_init(&t->merges, 1024);
    return t;
}

void ms_tokenizer_free(ms_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_vocab; i++) { free(t->piece[i]); free(t->bytes[i]); }
    free(t->piece); free(t->piece_len); free(t->bytes); free(t->bytes_len);
    free(t->score); free(t->type); free(t->added);
    tok_strmap_free(&t->by_piece);
    tok_strmap_free(&t->by_bytes);
    tok_pairmap_free(&t->merges);
    for (int i = 0; i < t->n_steps; i++) tok_step_free(&t->steps[i]);
    free(t->steps);
    free(t);
}

ms_tok_kind ms_tokenizer_kind(const ms_tokenizer *t) { return t->kind; }
const char *ms_tokenizer_kind_name(const ms_tokenizer *t) {
    return t->kind == MS_TOK_BYTE_BPE ? "gpt2-bpe" : "sentencepiece-bpe";
}
int ms_tokenizer_vocab_size(const ms_tokenizer *t) { return t->n_vocab; }
int ms_tokenizer_bos(const ms_tokenizer *t) { return t->bos_id; }
int ms_tokenizer_eos(const ms_tokenizer *t) { return t->eos_id; }

static int is_added(const ms_tokenizer *t, int id) {
    return t->type[id] == TOK_TYPE_CONTROL || t->type[id] == TOK_TYPE_USER;
}

// "<0x0A>" -> 10, else -1
static int byte_piece_value(const char *p, size_t n) {
    if (n != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

int tok_add_merge(ms_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen, int rank) {
    int32_t ia = tok_strmap_get(&t->by_piece, a, alen), ib = tok_strmap_get(&t->by_piece, b, blen);
    if (ia < 0 || ib < 0) {
        ms_error("merge %d ('%.*s' '%.*s') uses a token missing from the vocabulary", rank, (int)alen, a, (int)blen, b);
        return -1;
    }
    char *cat = ms_malloc(alen + blen + 1);
    memcpy(cat, a, alen);
    memcpy(cat + alen, b, blen);
    int32_t im = tok_strmap_get(&t->by_piece, cat, alen + blen);
    free(cat);
    if (im < 0) {
        ms_error("merge %d ('%.*s' '%.*s') produces a token missing from the vocabulary", rank, (int)alen, a, (int)blen, b);
        return -1;
    }
    tok_pairmap_put(&t->merges, ia, ib, rank, im);
    t->n_merges++;
    return 0;
}

static tok_step *new_step(ms_tokenizer *t) {
    t->steps = ms_realloc(t->steps, (size_t)(t->n_steps + 1) * sizeof *t->steps);
    return &t->steps[t->n_steps];
}
int tok_add_step_regex(ms_tokenizer *t, const char *pattern, int is_literal, tok_split_behavior b, int invert) {
    if (tok_step_regex(new_step(t), pattern, is_literal, b, invert)) return -1;
    t->n_steps++;
    return 0;
}
void tok_add_step_digits(ms_tokenizer *t, int individual) { // HF Digits: char::is_numeric = \p{N}
    tok_add_step_regex(t, individual ? "\\p{N}" : "\\p{N}+", 0, TOK_SPLIT_ISOLATED, 0);
}

static int added_cmp_t(const void *a, const void *b, void *ctx) {
    const ms_tokenizer *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->piece_len[x] != t->piece_len[y]) return t->piece_len[x] > t->piece_len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}
void tok_set_added(ms_tokenizer *t, const int32_t *ids, int n) {
    free(t->added);
    t->added = ms_malloc((size_t)(n ? n : 1) * sizeof *t->added);
    t->n_added = 0;
    memset(t->added_first, 0, sizeof t->added_first);
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab || !t->piece_len[ids[i]]) continue;
        t->added[t->n_added++] = ids[i];
        t->added_first[(unsigned char)t->piece[ids[i]][0]] = 1;
    }
    qsort_r(t->added, (size_t)t->n_added, sizeof *t->added, added_cmp_t, t); // longest match first
}

int tok_finish(ms_tokenizer *t) {
    tok_strmap_init(&t->by_piece, (uint32_t)t->n_vocab);
    for (int i = 0; i < t->n_vocab; i++) {
        if (!t->piece[i]) { t->piece[i] = ms_strdup(""); t->piece_len[i] = 0; t->type[i] = TOK_TYPE_UNUSED; }
        if (t->type[i] == TOK_TYPE_UNUSED && !t->piece_len[i]) continue;
        if (tok_strmap_get(&t->by_piece, t->piece[i], t->piece_len[i]) < 0)
            tok_strmap_put(&t->by_piece, t->piece[i], t->piece_len[i], i);
    }
    if (t->kind == MS_TOK_BYTE_BPE) {
        uint32_t b2u[256];
        int32_t u2b[512];
        tok_byte_unicode_table(b2u);
        for (int i = 0; i < 512; i++) u2b[i] = -1;
        for (int b = 0; b < 256; b++) u2b[b2u[b]] = b;
        tok_strmap_init(&t->by_bytes, (uint32_t)t->n_vocab);
        for (int i = 0; i < t->n_vocab; i++) {
            const unsigned char *p = (const unsigned char *)t->piece[i];
            size_t n = t->piece_len[i], o = 0;
            char *out = ms_malloc(n + 1);
            int plain = !is_added(t, i);
            for (size_t k = 0; k < n && plain;) { // vocab strings spell bytes in GPT-2's alphabet
                uint32_t cp;
                int l = tok_utf8_decode(p + k, n - k, &cp);
                if (!l || cp >= 512 || u2b[cp] < 0) { plain = 0; break; }
                out[o++] = (char)u2b[cp];
                k += (size_t)l;
            }
            if (!plain) { memcpy(out, p, n); o = n; } // added tokens stand for their own text
            out[o] = 0;
            t->bytes[i] = out;
            t->bytes_len[i] = (uint32_t)o;
            if (!is_added(t, i) && t->type[i] != TOK_TYPE_UNUSED && tok_strmap_get(&t->by_bytes, out, o) < 0)
                tok_strmap_put(&t->by_bytes, out, o, i);
        }
        for (int b = 0; b < 256; b++) {
            char c = (char)b;
            t->byte_id[b] = tok_strmap_get(&t->by_bytes, &c, 1);
        }
    } else {
        for (int i = 0; i < t->n_vocab; i++) {
            const char *p = t->piece[i];
            size_t n = t->piece_len[i], o = 0;
            char *out = ms_malloc(n + 1);
            int bv = byte_piece_value(p, n);
            if (bv >= 0 && (t->type[i] == TOK_TYPE_BYTE || t->type[i] == TOK_TYPE_NORMAL)) {
                out[o++] = (char)bv;
                t->type[i] = TOK_TYPE_BYTE;
                if (t->byte_id[bv] < 0) t->byte_id[bv] = i;
            } else if (t->type[i] == TOK_TYPE_CONTROL || t->type[i] == TOK_TYPE_UNKNOWN || t->type[i] == TOK_TYPE_UNUSED) {
                // control pieces (<s>, </s>, <unk>) stand for no text
            } else {
                for (size_t k = 0; k < n; k++) {
                    if (t->meta_space && k + 2 < n && (unsigned char)p[k] == 0xE2 && (unsigned char)p[k + 1] == 0x96 &&
                        (unsigned char)p[k + 2] == 0x81) { out[o++] = ' '; k += 2; }
                    else out[o++] = p[k];
                }
            }
            out[o] = 0;
            t->bytes[i] = out;
            t->bytes_len[i] = (uint32_t)o;
        }
    }
    return 0;
}

ms_tokenizer *ms_tokenizer_from_tables(ms_tok_kind kind, int n_tokens, const char *const *tokens,
                                       const float *scores, const int32_t *types,
                                       int n_merges, const char *const *merges,
                                       const char *pre_pattern, int bos_id, int eos_id) {
    if (n_tokens <= 0 || !tokens) { ms_error("tokenizer tables: empty vocabulary"); return NULL; }
    if (kind == MS_TOK_SPM_BPE && !scores) { ms_error("tokenizer tables: SentencePiece vocabulary without scores"); return NULL; }
    if (kind == MS_TOK_BYTE_BPE && (n_merges <= 0 || !merges)) { ms_error("tokenizer tables: byte-level BPE without merges"); return NULL; }
    ms_tokenizer *t = tok_alloc(kind, n_tokens);
    int32_t *added = ms_malloc((size_t)n_tokens * sizeof *added);
    int n_added = 0;
    for (int i = 0; i < n_tokens; i++) {
        const char *s = tokens[i] ? tokens[i] : "";
        t->piece[i] = ms_strdup(s);
        t->piece_len[i] = (uint32_t)strlen(s);
        if (types) t->type[i] = types[i] >= 1 && types[i] <= 6 ? types[i] : TOK_TYPE_NORMAL;
        if (t->type[i] == TOK_TYPE_UNKNOWN && t->unk_id < 0) t->unk_id = i;
        if (t->type[i] == TOK_TYPE_USER || (kind == MS_TOK_BYTE_BPE && t->type[i] == TOK_TYPE_CONTROL)) added[n_added++] = i;
    }
    t->bos_id = bos_id >= 0 && bos_id < n_tokens ? bos_id : -1;
    t->eos_id = eos_id >= 0 && eos_id < n_tokens ? eos_id : -1;
    if (kind == MS_TOK_SPM_BPE) {
        t->score = ms_malloc((size_t)n_tokens * sizeof *t->score);
        memcpy(t->score, scores, (size_t)n_tokens * sizeof *t->score);
        t->merge_mode = TOK_MERGE_SCORE;
        t->meta_space = 1;        // GGUF llama vocabularies spell space as ▁
        t->prefix = TOK_PREFIX_FIRST;
        t->strip_leading_space = 1;
        t->byte_fallback = 1;
    }
    tok_finish(t);
    if (kind == MS_TOK_BYTE_BPE) {
        for (int m = 0; m < n_merges; m++) {
            const char *s = merges[m] ? merges[m] : "", *sp = strchr(s, ' ');
            if (!sp) { ms_error("tokenizer tables: merge %d '%s' is not \"a b\"", m, s); goto fail; }
            if (tok_add_merge(t, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), m)) goto fail;
        }
        if (tok_add_step_regex(t, pre_pattern, 0, TOK_SPLIT_ISOLATED, 0)) goto fail;
    }
    tok_set_added(t, added, n_added);
    free(added);
    return t;
fail:
    free(added);
    ms_tokenizer_free(t);
    return NULL;
}

// ---------------------------------------------------------------- encoding
typedef struct { int32_t *v; size_t n, cap; } idvec;
static void idvec_push(idvec *a, int32_t x) {
    if (a->n == a->cap) { a->cap = a->cap ? a->cap * 2 : 256; a->v = ms_realloc(a->v, a->cap * sizeof *a->v); }
    a->v[a->n++] = x;
}

// Per-call state: scratch for words and a cache of words already encoded (text repeats words).
typedef struct {
    tok_bpe_work *w;
    idvec word;
    tok_strmap cache;    // word bytes -> index into cache_at
    idvec cache_ids;     // concatenated results
    idvec cache_at;      // (start, count) pairs
} enc_ctx;

enum { CACHE_MAX_WORD = 64, CACHE_MAX_ENTRIES = 1 << 16 };

static int encode_word_bytes(const ms_tokenizer *t, enc_ctx *c, const char *s, size_t n, idvec *out) {
    if (!n) return 0;
    if (t->ignore_merges) {
        int32_t id = tok_strmap_get(&t->by_bytes, s, n);
        if (id >= 0) { idvec_push(out, id); return 0; }
    }
    int cacheable = n <= CACHE_MAX_WORD;
    if (cacheable) {
        int32_t e = tok_strmap_get(&c->cache, s, n);
        if (e >= 0) {
            int32_t st = c->cache_at.v[2 * e], cnt = c->cache_at.v[2 * e + 1];
            for (int32_t k = 0; k < cnt; k++) idvec_push(out, c->cache_ids.v[st + k]);
            return 0;
        }
    }
    c->word.n = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[(unsigned char)s[i]];
        if (id < 0) id = t->unk_id;
        if (id < 0) { ms_error("tokenizer: the vocabulary has no token for byte 0x%02X", (unsigned char)s[i]); return -1; }
        idvec_push(&c->word, id);
    }
    size_t m = tok_bpe_merge(t, c->w, c->word.v, c->word.n);
    for (size_t k = 0; k < m; k++) idvec_push(out, c->word.v[k]);
    if (cacheable && c->cache.n < CACHE_MAX_ENTRIES) {
        tok_strmap_put(&c->cache, s, n, (int32_t)(c->cache_at.n / 2));
        idvec_push(&c->cache_at, (int32_t)c->cache_ids.n);
        idvec_push(&c->cache_at, (int32_t)m);
        for (size_t k = 0; k < m; k++) idvec_push(&c->cache_ids, c->word.v[k]);
    }
    return 0;
}

// NFC is the identity on text without code points >= U+0300 (no combining marks, no Hangul jamo,
// no composition exclusions below that). We do not implement NFC; refuse input where it matters.
static int nfc_check(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0xCC) { // lead bytes of U+0300 and above
            ms_error("tokenizer: this tokenizer.json asks for NFC normalization, which monoscope implements "
                     "only for text below U+0300; normalize the input to NFC first");
            return -1;
        }
    }
    return 0;
}

static int encode_byte_segment(const ms_tokenizer *t, enc_ctx *c, const char *seg, size_t n, int at_start, idvec *out) {
    (void)at_start;
    if (!n) return 0;
    char *tmp = NULL;
    if (t->prefix != TOK_PREFIX_NONE && seg[0] != ' ') { // ByteLevel add_prefix_space
        tmp = ms_malloc(n + 2);
        tmp[0] = ' ';
        memcpy(tmp + 1, seg, n);
        seg = tmp;
        n++;
    }
    tok_spans a = {0}, b = {0};
    tok_spans_push(&a, 0, n);
    int rc = 0;
    for (int k = 0; k < t->n_steps && !rc; k++) {
        b.n = 0;
        rc = tok_step_apply(&t->steps[k], seg, &a, &b);
        tok_spans x = a; a = b; b = x;
    }
    for (size_t i = 0; i < a.n && !rc; i++) rc = encode_word_bytes(t, c, seg + a.v[i].off, a.v[i].len, out);
    free(a.v); free(b.v); free(tmp);
    return rc;
}

// llama2.c's grouping of bytes into "characters": a byte plus up to 3 following continuation bytes.
static size_t spm_char_len(const unsigned char *s, size_t n) {
    size_t l = 1;
    while (l < n && l < 4 && (s[l] & 0xC0) == 0x80) l++;
    return l;
}

static int encode_spm_segment(const ms_tokenizer *t, enc_ctx *c, const char *seg, size_t n, int at_start, idvec *out) {
    if (!n) return 0;
    // normalized text: dummy prefix, and ' ' -> ▁ when the pieces spell space that way
    int prefix = t->prefix == TOK_PREFIX_EVERY || (t->prefix == TOK_PREFIX_FIRST && at_start);
    char *buf = ms_malloc(3 * n + 4);
    size_t m = 0;
    const char *sp = t->meta_space ? "\xE2\x96\x81" : " ";
    size_t spn = t->meta_space ? 3 : 1;
    if (prefix) { memcpy(buf, sp, spn); m += spn; }
    for (size_t i = 0; i < n; i++) {
        if (seg[i] == ' ') { memcpy(buf + m, sp, spn); m += spn; }
        else buf[m++] = seg[i];
    }
    c->word.n = 0;
    const unsigned char *u = (const unsigned char *)buf;
    for (size_t i = 0; i < m;) {
        size_t l = spm_char_len(u + i, m - i);
        int32_t id = tok_strmap_get(&t->by_piece, buf + i, l);
        if (id >= 0 && t->type[id] != TOK_TYPE_CONTROL && t->type[id] != TOK_TYPE_UNUSED) idvec_push(&c->word, id);
        else {
            int all = t->byte_fallback;
            for (size_t k = 0; k < l && all; k++) all = t->byte_id[u[i + k]] >= 0;
            if (all) for (size_t k = 0; k < l; k++) idvec_push(&c->word, t->byte_id[u[i + k]]);
            else if (t->unk_id >= 0) idvec_push(&c->word, t->unk_id);
            else { ms_error("tokenizer: no piece, byte piece or <unk> for input byte 0x%02X", u[i]); free(buf); return -1; }
        }
        i += l;
    }
    free(buf);
    size_t k = tok_bpe_merge(t, c->w, c->word.v, c->word.n);
    for (size_t i = 0; i < k; i++) idvec_push(out, c->word.v[i]);
    return 0;
}

int ms_tokenizer_encode(const ms_tokenizer *t, const char *text, size_t len, int add_bos,
                        int32_t **ids, size_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    idvec out = {0};
    if (add_bos && t->bos_id >= 0) idvec_push(&out, t->bos_id);
    char *fixed = NULL;
    if (t->kind == MS_TOK_BYTE_BPE) {
        size_t fl;
        fixed = tok_utf8_repair(text, len, &fl);
        if (fixed) { text = fixed; len = fl; }
        if (t->nfc && nfc_check(text, len)) { free(fixed); free(out.v); return -1; }
    }
    enc_ctx c = {0};
    c.w = tok_bpe_work_new();
    tok_strmap_init(&c.cache, 4096);
    int rc = 0;
    size_t seg = 0, i = 0;
    // split on added tokens (leftmost, longest), encode the text between them
    while (i <= len && !rc) {
        int32_t hit = -1;
        if (i < len && t->added_first[(unsigned char)text[i]]) {
            for (int k = 0; k < t->n_added; k++) {
                int32_t id = t->added[k];
                size_t l = t->piece_len[id];
                if (l <= len - i && !memcmp(text + i, t->piece[id], l)) { hit = id; break; }
            }
        }
        if (hit < 0 && i < len) { i++; continue; }
        rc = t->kind == MS_TOK_BYTE_BPE ? encode_byte_segment(t, &c, text + seg, i - seg, seg == 0, &out)
                                        : encode_spm_segment(t, &c, text + seg, i - seg, seg == 0, &out);
        if (hit < 0) break;
        idvec_push(&out, hit);
        i += t->piece_len[hit];
        seg = i;
    }
    tok_bpe_work_free(c.w);
    free(c.word.v); free(c.cache_ids.v); free(c.cache_at.v);
    tok_strmap_free(&c.cache);
    free(fixed);
    if (rc) { free(out.v); return -1; }
    if (!out.v) out.v = ms_malloc(sizeof *out.v);
    *ids = out.v;
    *n_ids = out.n;
    return 0;
}

// ---------------------------------------------------------------- decoding
const char *ms_tokenizer_token_bytes(const ms_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) { *len = 0; return ""; }
    *len = t->bytes_len[id];
    return t->bytes[id];
}

char *ms_tokenizer_decode_bytes(const ms_tokenizer *t, const int32_t *ids, size_t n, size_t *len) {
    size_t cap = 64, o = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab) {
            ms_error("token id %d is outside the vocabulary (0..%d)", ids[i], t->n_vocab - 1);
            return NULL;
        }
        cap += t->bytes_len[ids[i]];
    }
    char *s = ms_malloc(cap);
    int started = 0; // a token with text has been seen
    for (size_t i = 0; i < n; i++) {
        const char *b = t->bytes[ids[i]];
        size_t l = t->bytes_len[ids[i]];
        // SentencePiece drops the dummy-prefix space at the start of the text (after BOS too)
        if (!started && l) {
            started = 1;
            if (t->strip_leading_space && b[0] == ' ') { b++; l--; }
        }
        memcpy(s + o, b, l);
        o += l;
    }
    s[o] = 0;
    if (len) *len = o;
    return s;
}

char *ms_tokenizer_decode(const ms_tokenizer *t, const int32_t *ids, size_t n) {
    return ms_tokenizer_decode_bytes(t, ids, n, NULL);
}
