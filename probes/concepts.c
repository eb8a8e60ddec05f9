// concepts.c: rule-based concept labels (concepts.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "probes/concepts.h"
#include <json-c/json.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

static const ms_concept_rule default_rules[] = {
    {"digits", "\\d+"},
    {"all_caps", "\\b\\p{Lu}{2,}\\b"},
    {"capitalised", "\\b\\p{Lu}\\p{Ll}+\\b"},
    {"in_quotes", "[\"\\x{201C}]([^\"\\x{201D}\\n]+)[\"\\x{201D}]"},
    {"in_parens", "\\(([^()]*)\\)"},
    {"c_comment", "/\\*[\\s\\S]*?\\*/|//[^\\n]*"},
    {"c_keyword", "\\b(?:auto|break|case|char|const|continue|default|do|double|else|enum|extern|float|for|goto|if|"
                  "inline|int|long|register|restrict|return|short|signed|sizeof|static|struct|switch|typedef|union|"
                  "unsigned|void|volatile|while)\\b"},
    {"punctuation", "\\p{P}+"},
    {"line_start", "(?m)^."},
    // "Book 3:16" references, and the layout the corpus' KJV chapters have (make-corpus.sh): a heading
    // line "1 Samuel 24" / "Song of Solomon 2", then verses "N Text..." (a number opening a line
    // before a capital)
    {"verse_ref", "(?m)(?:\\b\\p{Lu}\\p{Ll}+ )?\\b\\d+:\\d+\\b|^(?:[1-3] )?\\p{Lu}\\p{Ll}+(?: of \\p{Lu}\\p{Ll}+)? \\d+$"
                  "|^\\d{1,3}(?= \\p{Lu})"},
    {"pronoun", "\\b(?i:i|me|my|mine|myself|you|your|yours|yourself|he|him|his|himself|she|her|hers|herself|it|its|"
                "itself|we|us|our|ours|ourselves|they|them|their|theirs|themselves|thee|thou|thy|thine|ye)\\b"},
};

const ms_concept_rule *ms_concept_default_rules(int *n) {
    *n = (int)(sizeof default_rules / sizeof default_rules[0]);
    return default_rules;
}

void ms_concept_rules_free(ms_concept_rule *r, int n) {
    for (int i = 0; r && i < n; i++) {
        free((char *)r[i].name);
        free((char *)r[i].pattern);
    }
    free(r);
}

// Concept names become HDF5 dataset names and JSON keys: kept plain.
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."

ms_concept_rule *ms_concept_rules_load(const char *path, int *n) {
    size_t len;
    char *text = ms_read_file(path, &len);
    if (!text) return NULL;
    enum json_tokener_error jerr;
    json_object *o = json_tokener_parse_verbose(text, &jerr);
    free(text);
    if (!o || !json_object_is_type(o, json_type_object)) {
        ms_error("%s: expected a JSON object {\"concept name\": \"PCRE2 pattern\", ...}%s%s", path, o ? "" : ": ",
                 o ? "" : json_tokener_error_desc(jerr));
        json_object_put(o);
        return NULL;
    }
    ms_concept_rule *r = ms_calloc((size_t)json_object_object_length(o) + 1, sizeof *r);
    *n = 0;
    json_object_object_foreach(o, key, val) {
        if (!json_object_is_type(val, json_type_string) || !*key || key[strspn(key, NAME_CHARS)]) {
            ms_error("%s: rule '%s': expected a name of letters, digits, '_', '-', '.' and a string pattern", path, key);
            ms_concept_rules_free(r, *n);
            json_object_put(o);
            return NULL;
        }
        r[*n].name = ms_strdup(key);
        r[(*n)++].pattern = ms_strdup(json_object_get_string(val));
    }
    json_object_put(o);
    return r;
}

// ---- one document: token spans, then rule spans -> per-token flags

// Byte span [start, end) of each token in text: the tokens' bytes are walked in order against the
// text; a byte the text has next advances both, any other (SentencePiece's dummy-prefix space, BOS)
// takes no width. Returns -1 when the tokens do not spell the whole text (a tokenizer that maps unknown
// characters to <unk> without byte fallback): labels would be misaligned.
static int token_spans(const ms_tokenizer *tok, const int32_t *ids, size_t n, const char *text, size_t text_len,
                       size_t *start, size_t *end) {
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *b = ms_tokenizer_token_bytes(tok, ids[i], &len);
        start[i] = pos;
        for (size_t k = 0; k < len; k++)
            if (pos < text_len && b[k] == text[pos]) pos++;
        end[i] = pos;
        if (end[i] > start[i]) continue;
        start[i] = end[i] = pos; // zero width
    }
    return pos == text_len ? 0 : -1;
}

// Sets flags[i] for every token overlapping a span of rule code (flags (n)).
static int apply_rule(const pcre2_code *code, pcre2_match_data *md, const char *text, size_t text_len,
                      const size_t *start, const size_t *end, size_t n, uint8_t *flags) {
    uint32_t groups = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &groups);
    size_t at = 0, tok = 0;
    while (at <= text_len) {
        int rc = pcre2_match(code, (PCRE2_SPTR)text, text_len, at, 0, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return rc;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[groups ? 2 : 0], me = ov[groups ? 3 : 1];
        if (ms != PCRE2_UNSET) {
            while (tok < n && end[tok] < ms) tok++; // spans only move right: these tokens are done
            for (size_t i = tok; i < n && start[i] <= me; i++)
                if (me > ms ? start[i] < me && ms < end[i] : start[i] <= ms && ms < end[i]) flags[i] = 1;
        }
        size_t next = ov[1] > ov[0] ? ov[1] : ov[0] + 1; // past an empty match: one byte on
        while (next < text_len && ((unsigned char)text[next] & 0xC0) == 0x80) next++; // whole characters (UTF mode)
        at = next;
    }
    return 0;
}

typedef struct {
    pcre2_code **code;        // (n_rules)
    pcre2_match_data *md;
    long doc_no;              // the document whose flags are below (-1: none)
    size_t cap;               // tokens room
    size_t *start, *end;      // (doc_n) token byte spans
    uint8_t *flags;           // (n_rules, doc_n)
} labeller;

static int compile_rules(labeller *L, const ms_concept_rule *r, int n) {
    L->code = ms_calloc((size_t)n + 1, sizeof *L->code);
    for (int i = 0; i < n; i++) {
        int err;
        PCRE2_SIZE off;
        L->code[i] = pcre2_compile((PCRE2_SPTR)r[i].pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                                   &err, &off, NULL);
        if (!L->code[i]) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            ms_error("rule '%s': bad pattern at offset %zu: %s", r[i].name, (size_t)off, (const char *)msg);
            return -1;
        }
    }
    L->md = pcre2_match_data_create(32, NULL);
    L->doc_no = -1;
    return 0;
}

// Flags of every token of the window's document, for every rule (once per document).
static int label_document(labeller *L, const ms_concept_opts *o, const ms_input_window *w) {
    if (w->doc_n > L->cap) {
        L->cap = w->doc_n;
        L->start = ms_realloc(L->start, L->cap * sizeof *L->start);
        L->end = ms_realloc(L->end, L->cap * sizeof *L->end);
        L->flags = ms_realloc(L->flags, L->cap * (size_t)o->n_rules);
    }
    memset(L->flags, 0, w->doc_n * (size_t)o->n_rules);
    if (token_spans(o->tok, w->doc_ids, w->doc_n, w->text, w->text_len, L->start, L->end)) {
        ms_error("%s: document %ld: its tokens do not spell its text (unknown characters without byte fallback?): "
                 "cannot place token boundaries", o->input, w->doc_no + 1);
        return -1;
    }
    for (int r = 0; r < o->n_rules; r++) {
        int rc = apply_rule(L->code[r], L->md, w->text, w->text_len, L->start, L->end, w->doc_n, L->flags + (size_t)r * w->doc_n);
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            ms_error("%s: rule '%s': %s", o->input, o->rules[r].name, (const char *)msg);
            return -1;
        }
    }
    L->doc_no = w->doc_no;
    return 0;
}

static void labeller_free(labeller *L, int n_rules) {
    for (int i = 0; L->code && i < n_rules; i++) pcre2_code_free(L->code[i]);
    free(L->code);
    pcre2_match_data_free(L->md);
    free(L->start); free(L->end); free(L->flags);
}

// Room for one more row in l; returns its offset (n_seq * ctx) and counts it.
static size_t add_row(ms_labels *l, int64_t *cap, const ms_concept_opts *o) {
    if (l->n_seq == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        l->tokens = ms_realloc(l->tokens, (size_t)(*cap * o->ctx) * sizeof *l->tokens);
        for (int r = 0; r < o->n_rules; r++) l->labels[r] = ms_realloc(l->labels[r], (size_t)(*cap * o->ctx));
    }
    return (size_t)(l->n_seq++ * o->ctx);
}

// Packed rows (o->pack), as capture --pack cuts them (capture/input.h, ms_input_set_packing): every
// document's tokens followed by the separator, one stream cut into full windows of ctx (BOS first
// with prepend_bos), the final partial window dropped. BOS and separators are never labelled.
typedef struct {
    int filled;               // stream tokens in the row being built (after any BOS)
    size_t row;               // its offset in l
} packer;

static void pack_token(ms_labels *l, int64_t *cap, const ms_concept_opts *o, packer *pk, int32_t id,
                       const uint8_t *flags, size_t stride) {
    const int nb = o->prepend_bos ? 1 : 0;
    if (pk->filled == 0) { // a new row: claim it, BOS first
        pk->row = add_row(l, cap, o);
        if (nb) {
            l->tokens[pk->row] = o->bos;
            for (int r = 0; r < o->n_rules; r++) l->labels[r][pk->row] = 0;
        }
    }
    const size_t at = pk->row + (size_t)(nb + pk->filled);
    l->tokens[at] = id;
    for (int r = 0; r < o->n_rules; r++) l->labels[r][at] = flags ? flags[(size_t)r * stride] : 0;
    if (++pk->filled == o->ctx - nb) pk->filled = 0;
}

// One document into the packed stream: its tokens with their flags, then the separator.
static void pack_document(ms_labels *l, int64_t *cap, const ms_concept_opts *o, const labeller *L,
                          const ms_input_window *w, packer *pk) {
    for (size_t i = 0; i < w->doc_n; i++) pack_token(l, cap, o, pk, w->doc_ids[i], L->flags + i, w->doc_n);
    pack_token(l, cap, o, pk, o->sep, NULL, 0);
}

// Appends one window (len tokens in ids, BOS first with prepend_bos) to l, growing it.
static void append_window(ms_labels *l, int64_t *cap, const ms_concept_opts *o, const labeller *L, const ms_input_window *w,
                          const int32_t *ids, int len) {
    int nb = o->prepend_bos ? 1 : 0;
    size_t row = add_row(l, cap, o);
    for (int t = 0; t < o->ctx; t++) l->tokens[row + t] = t < len ? ids[t] : -1;
    for (int r = 0; r < o->n_rules; r++) {
        uint8_t *y = l->labels[r] + row;
        memset(y, 0, (size_t)o->ctx);
        for (int t = nb; t < len; t++) y[t] = L->flags[(size_t)r * w->doc_n + w->first + (size_t)(t - nb)];
    }
}

ms_labels *ms_concepts_label(const ms_concept_opts *o) {
    if (o->format != MS_INPUT_TEXT && o->format != MS_INPUT_JSONL) { ms_error("concepts label needs text or jsonl input (rules match text)"); return NULL; }
    if (o->pack && o->sep < 0) { ms_error("%s: --pack needs an EOS or BOS token; the model has neither", o->input); return NULL; }
    labeller L = {0};
    ms_labels *l = ms_calloc(1, sizeof *l);
    l->ctx = o->ctx;
    l->n_concepts = o->n_rules;
    l->names = ms_calloc((size_t)o->n_rules + 1, sizeof *l->names);
    l->labels = ms_calloc((size_t)o->n_rules + 1, sizeof *l->labels);
    for (int r = 0; r < o->n_rules; r++) l->names[r] = ms_strdup(o->rules[r].name);
    int32_t *ids = ms_malloc((size_t)o->ctx * sizeof *ids);
    ms_input *in = NULL;
    int64_t cap = 0;
    int len = -1;
    if (compile_rules(&L, o->rules, o->n_rules)) goto done;
    if (!(in = ms_input_open(o->input, o->format, o->tok, o->ctx, o->prepend_bos, o->bos, o->vocab_size))) goto done;
    ms_input_keep_text(in);
    packer pk = {0};
    while ((len = ms_input_next(in, ids)) > 0) {
        ms_input_window w;
        ms_input_last_window(in, &w);
        const int new_doc = w.doc_no != L.doc_no;
        if (new_doc && label_document(&L, o, &w)) { len = -1; break; }
        if (!o->pack) append_window(l, &cap, o, &L, &w, ids, len);
        else if (new_doc) pack_document(l, &cap, o, &L, &w, &pk); // the whole document at its first window
    }
    if (len == 0 && pk.filled > 0) l->n_seq--; // packed: the partial last row is dropped
done:
    ms_input_close(in);
    labeller_free(&L, o->n_rules);
    free(ids);
    if (len < 0) { ms_labels_free(l); return NULL; }
    return l;
}
