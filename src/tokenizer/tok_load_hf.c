// tok_load_hf.c: Hugging Face tokenizer files.
//   tokenizer.json: model (BPE: vocab, merges as "a b" or ["a", "b"], byte_fallback, ignore_merges,
//     unk_token), added_tokens, normalizer (Prepend / Replace " "->"▁" / NFC / Sequence),
//     pre_tokenizer (ByteLevel, Split with its own regex, Digits, Metaspace, Sequence),
//     post_processor (TemplateProcessing tells which special token is BOS).
//   vocab.json + merges.txt: GPT-2's original pair of files.
//   tokenizer_config.json / config.json beside them: bos/eos when tokenizer.json does not say.
// Anything we cannot reproduce exactly is an error naming the file, never a silent approximation.
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok_internal.h"
#include "util/util.h"

static json_object *parse_json_file(const char *path) {
    size_t len;
    char *data = ms_read_file(path, &len);
    if (!data) return NULL;
    if (len > INT32_MAX) { // json-c takes an int length
        ms_error("%s: %zu bytes is too large for a tokenizer file", path, len);
        free(data);
        return NULL;
    }
    json_tokener *tk = json_tokener_new_ex(64);
    json_object *o = json_tokener_parse_ex(tk, data, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tk);
    if (!o || e != json_tokener_success) {
        ms_error("%s: invalid JSON: %s (at byte %zu)", path,
                 e == json_tokener_continue ? "unexpected end of file" : json_tokener_error_desc(e),
                 (size_t)json_tokener_get_parse_end(tk));
        if (o) json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tk);
    free(data);
    return o;
}

static json_object *get(json_object *o, const char *key) {
    json_object *v = NULL;
    if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v)) return NULL;
    return v;
}
// o[key] when it is an array, else NULL.
static json_object *get_array(json_object *o, const char *key) {
    json_object *v = get(o, key);
    return v && json_object_is_type(v, json_type_array) ? v : NULL;
}
static const char *get_str(json_object *o, const char *key) {
    json_object *v = get(o, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}
static int get_bool(json_object *o, const char *key, int dflt) {
    json_object *v = get(o, key);
    return v && json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) : dflt;
}

// tokenizer_config.json's "bos_token": "<s>" or {"content": "<s>", ...}
static const char *special_name(json_object *cfg, const char *key) {
    json_object *v = get(cfg, key);
    if (!v) return NULL;
    if (json_object_is_type(v, json_type_string)) return json_object_get_string(v);
    return get_str(v, "content");
}

// bos/eos from tokenizer_config.json, then config.json's ids, for whatever is still unknown.
static void find_specials(ms_tokenizer *t, const char *dir) {
    if (!dir) return;
    char *p = ms_path_join(dir, "tokenizer_config.json");
    if (ms_file_exists(p)) {
        json_object *cfg = parse_json_file(p);
        const char *b = special_name(cfg, "bos_token"), *e = special_name(cfg, "eos_token");
        if (b && t->bos_id < 0) t->bos_id = tok_strmap_get(&t->by_piece, b, strlen(b));
        if (e && t->eos_id < 0) t->eos_id = tok_strmap_get(&t->by_piece, e, strlen(e));
        if (cfg) json_object_put(cfg);
    }
    free(p);
    p = ms_path_join(dir, "config.json");
    if (ms_file_exists(p) && (t->bos_id < 0 || t->eos_id < 0)) {
        json_object *cfg = parse_json_file(p);
        json_object *b = get(cfg, "bos_token_id"), *e = get(cfg, "eos_token_id");
        if (b && json_object_is_type(b, json_type_int) && t->bos_id < 0) t->bos_id = json_object_get_int(b);
        if (e && json_object_is_type(e, json_type_int) && t->eos_id < 0) t->eos_id = json_object_get_int(e);
        if (e && json_object_is_type(e, json_type_array) && json_object_array_length(e) && t->eos_id < 0)
            t->eos_id = json_object_get_int(json_object_array_get_idx(e, 0));
        if (cfg) json_object_put(cfg);
    }
    free(p);
    ms_clear_error();
    if (t->bos_id >= t->n_vocab) t->bos_id = -1;
    if (t->eos_id >= t->n_vocab) t->eos_id = -1;
}

// ---------------------------------------------------------------- vocab.json + merges.txt
// Ids are dense in every real vocabulary (0 .. n-1, the added tokens filling any gap). The table is
// sized by the largest id, so a small file naming id 16,000,000 would cost gigabytes and seconds for
// nothing: ids that leave more than half the table (and over 1,024 ids) unused are refused.
static int check_ids_dense(const char *path, int n, size_t n_entries) {
    if ((int64_t)n <= 2 * (int64_t)n_entries + 1024) return 0;
    ms_error("%s: token ids reach %d but only %zu tokens are defined (a vocabulary's ids are dense)", path, n - 1, n_entries);
    return -1;
}

static ms_tokenizer *load_vocab_merges(const char *vocab_path, const char *merges_path, const char *dir) {
    json_object *vocab = parse_json_file(vocab_path);
    if (!vocab) return NULL;
    if (!json_object_is_type(vocab, json_type_object)) {
        ms_error("%s: expected a JSON object of token -> id", vocab_path);
        json_object_put(vocab);
        return NULL;
    }
    int n = 0;
    json_object_object_foreach(vocab, k0, v0) {
        (void)k0;
        if (!json_object_is_type(v0, json_type_int) || json_object_get_int64(v0) < 0 || json_object_get_int64(v0) > (1 << 24)) {
            ms_error("%s: token '%s' has an invalid id", vocab_path, k0);
            json_object_put(vocab);
            return NULL;
        }
        if (json_object_get_int(v0) + 1 > n) n = json_object_get_int(v0) + 1;
    }
    if (n == 0) { ms_error("%s: empty vocabulary", vocab_path); json_object_put(vocab); return NULL; }
    if (check_ids_dense(vocab_path, n, (size_t)json_object_object_length(vocab)) < 0) { json_object_put(vocab); return NULL; }
    ms_tokenizer *t = tok_alloc(MS_TOK_BYTE_BPE, n);
    json_object_object_foreach(vocab, k, v) {
        int id = json_object_get_int(v);
        free(t->piece[id]);
        t->piece[id] = ms_strdup(k);
        t->piece_len[id] = (uint32_t)strlen(k);
    }
    json_object_put(vocab);
    // GPT2Tokenizer treats <|endoftext|> as its special (bos = eos = unk) token
    int32_t eot = -1;
    for (int i = 0; i < n; i++)
        if (t->piece[i] && !strcmp(t->piece[i], "<|endoftext|>")) { eot = i; t->type[i] = TOK_TYPE_CONTROL; }
    tok_finish(t);
    t->bos_id = t->eos_id = eot;
    if (eot >= 0) tok_set_added(t, &eot, 1);
    size_t len;
    char *m = ms_read_file(merges_path, &len);
    if (!m) { ms_tokenizer_free(t); return NULL; }
    int rank = 0, line_no = 0;
    for (char *line = m, *end; line < m + len; line = end + 1) {
        end = memchr(line, '\n', (size_t)(m + len - line));
        if (!end) end = m + len;
        line_no++;
        size_t l = (size_t)(end - line);
        if (l && line[l - 1] == '\r') l--;
        if (l == 0 || (line_no == 1 && l >= 8 && !memcmp(line, "#version", 8))) continue;
        char *sp = memchr(line, ' ', l);
        if (!sp || memchr(sp + 1, ' ', (size_t)(line + l - sp - 1))) {
            ms_error("%s:%d: expected two space-separated tokens", merges_path, line_no);
            free(m); ms_tokenizer_free(t); return NULL;
        }
        if (tok_add_merge(t, line, (size_t)(sp - line), sp + 1, (size_t)(line + l - sp - 1), rank++)) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", ms_last_error());
            ms_error("%s:%d: %s", merges_path, line_no, msg);
            free(m); ms_tokenizer_free(t); return NULL;
        }
    }
    free(m);
    if (rank == 0) { ms_error("%s: no merges", merges_path); ms_tokenizer_free(t); return NULL; }
    tok_add_step_regex(t, NULL, 0, TOK_SPLIT_ISOLATED, 0);
    find_specials(t, dir);
    return t;
}

// ---------------------------------------------------------------- tokenizer.json
typedef struct {
    const char *path;
    int byte_level, metaspace, replace_space, prepend, nfc;
    int add_prefix_space; // ByteLevel
    tok_prefix_mode meta_prefix;
} hf_conf;

static int parse_normalizer(ms_tokenizer *t, hf_conf *c, json_object *n) {
    (void)t;
    if (!n || json_object_is_type(n, json_type_null)) return 0;
    const char *type = get_str(n, "type");
    if (!type) { ms_error("%s: normalizer without a type", c->path); return -1; }
    if (!strcmp(type, "Sequence")) {
        json_object *arr = get_array(n, "normalizers");
        if (!arr) { ms_error("%s: Sequence normalizer without a \"normalizers\" array", c->path); return -1; }
        for (size_t i = 0; i < json_object_array_length(arr); i++)
            if (parse_normalizer(t, c, json_object_array_get_idx(arr, i))) return -1;
        return 0;
    }
    if (!strcmp(type, "Prepend")) {
        const char *p = get_str(n, "prepend");
        if (!p || strcmp(p, "\xE2\x96\x81")) { ms_error("%s: unsupported Prepend normalizer '%s'", c->path, p ? p : ""); return -1; }
        c->prepend = 1;
        return 0;
    }
    if (!strcmp(type, "Replace")) {
        const char *from = get_str(get(n, "pattern"), "String"), *to = get_str(n, "content");
        if (!from || !to || strcmp(from, " ") || strcmp(to, "\xE2\x96\x81")) {
            ms_error("%s: unsupported Replace normalizer (only ' ' -> '\xE2\x96\x81')", c->path);
            return -1;
        }
        c->replace_space = 1;
        return 0;
    }
    if (!strcmp(type, "NFC")) { c->nfc = 1; return 0; }
    ms_error("%s: unsupported normalizer '%s'", c->path, type);
    return -1;
}

static tok_split_behavior parse_behavior(const char *b, int *ok) {
    *ok = 1;
    if (!b || !strcmp(b, "Isolated")) return TOK_SPLIT_ISOLATED;
    if (!strcmp(b, "Removed")) return TOK_SPLIT_REMOVED;
    if (!strcmp(b, "MergedWithPrevious")) return TOK_SPLIT_MERGED_PREV;
    if (!strcmp(b, "MergedWithNext")) return TOK_SPLIT_MERGED_NEXT;
    if (!strcmp(b, "Contiguous")) return TOK_SPLIT_CONTIGUOUS;
    *ok = 0;
    return TOK_SPLIT_ISOLATED;
}

static int parse_pretok(ms_tokenizer *t, hf_conf *c, json_object *p) {
    if (!p || json_object_is_type(p, json_type_null)) return 0;
    const char *type = get_str(p, "type");
    if (!type) { ms_error("%s: pre_tokenizer without a type", c->path); return -1; }
    if (!strcmp(type, "Sequence")) {
        json_object *arr = get_array(p, "pretokenizers");
        if (!arr) { ms_error("%s: Sequence pre_tokenizer without a \"pretokenizers\" array", c->path); return -1; }
        for (size_t i = 0; i < json_object_array_length(arr); i++)
            if (parse_pretok(t, c, json_object_array_get_idx(arr, i))) return -1;
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) {
        c->byte_level = 1;
        c->add_prefix_space = get_bool(p, "add_prefix_space", 1);
        if (c->add_prefix_space && t->n_steps) { // HF would then prefix every earlier piece
            ms_error("%s: ByteLevel with add_prefix_space after another pre-tokenizer is not supported", c->path);
            return -1;
        }
        if (get_bool(p, "use_regex", 1) && tok_add_step_regex(t, NULL, 0, TOK_SPLIT_ISOLATED, 0)) return -1;
        return 0;
    }
    if (!strcmp(type, "Split")) {
        json_object *pat = get(p, "pattern");
        const char *re = get_str(pat, "Regex"), *lit = get_str(pat, "String");
        int ok;
        tok_split_behavior b = parse_behavior(get_str(p, "behavior"), &ok);
        if (!ok) { ms_error("%s: Split behavior '%s' not supported", c->path, get_str(p, "behavior")); return -1; }
        if (!re && !lit) { ms_error("%s: Split pre-tokenizer without a pattern", c->path); return -1; }
        if (tok_add_step_regex(t, re ? re : lit, !re, b, get_bool(p, "invert", 0))) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", ms_last_error());
            ms_error("%s: %s", c->path, msg);
            return -1;
        }
        return 0;
    }
    if (!strcmp(type, "Digits")) { tok_add_step_digits(t, get_bool(p, "individual_digits", 0)); return 0; }
    if (!strcmp(type, "Metaspace")) {
        const char *r = get_str(p, "replacement");
        if (r && strcmp(r, "\xE2\x96\x81")) { ms_error("%s: Metaspace replacement '%s' not supported", c->path, r); return -1; }
        if (get_bool(p, "split", 0)) { ms_error("%s: Metaspace with split=true is not supported", c->path); return -1; }
        c->metaspace = 1;
        const char *scheme = get_str(p, "prepend_scheme");
        if (scheme) c->meta_prefix = !strcmp(scheme, "always") ? TOK_PREFIX_EVERY : !strcmp(scheme, "first") ? TOK_PREFIX_FIRST : TOK_PREFIX_NONE;
        else c->meta_prefix = get_bool(p, "add_prefix_space", 1) ? TOK_PREFIX_EVERY : TOK_PREFIX_NONE;
        return 0;
    }
    ms_error("%s: unsupported pre_tokenizer '%s'", c->path, type);
    return -1;
}

// post_processor TemplateProcessing: a SpecialToken before $A means the model wants it as BOS.
static void parse_post(ms_tokenizer *t, json_object *p) {
    if (!p || json_object_is_type(p, json_type_null)) return;
    const char *type = get_str(p, "type");
    if (type && !strcmp(type, "Sequence")) {
        json_object *arr = get_array(p, "processors");
        for (size_t i = 0; arr && i < json_object_array_length(arr); i++) parse_post(t, json_object_array_get_idx(arr, i));
        return;
    }
    if (!type || strcmp(type, "TemplateProcessing")) return;
    json_object *single = get(p, "single");
    if (!single || !json_object_is_type(single, json_type_array) || !json_object_array_length(single)) return;
    const char *id = get_str(get(json_object_array_get_idx(single, 0), "SpecialToken"), "id");
    if (id) t->bos_id = tok_strmap_get(&t->by_piece, id, strlen(id));
}

// The vocabulary size: one past the largest id of model.vocab and added_tokens (ids checked). -1 + ms_error.
static int vocab_size_of(const char *path, json_object *vocab, json_object *added_tokens, size_t n_add_json) {
    int n = 0;
    json_object_object_foreach(vocab, k, v) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 || json_object_get_int64(v) > (1 << 24)) {
            ms_error("%s: token '%s' has an invalid id", path, k);
            return -1;
        }
        if (json_object_get_int(v) + 1 > n) n = json_object_get_int(v) + 1;
    }
    for (size_t i = 0; i < n_add_json; i++) {
        json_object *a = json_object_array_get_idx(added_tokens, i), *idv = get(a, "id");
        if (!idv || !json_object_is_type(idv, json_type_int) || !get_str(a, "content") || json_object_get_int64(idv) < 0 ||
            json_object_get_int64(idv) > (1 << 24)) {
            ms_error("%s: added_tokens[%zu] lacks a valid id or content", path, i);
            return -1;
        }
        if (json_object_get_int(idv) + 1 > n) n = json_object_get_int(idv) + 1;
    }
    return check_ids_dense(path, n, (size_t)json_object_object_length(vocab) + n_add_json) < 0 ? -1 : n;
}

// Byte-level BPE (a ByteLevel pre-tokenizer or decoder) or SentencePiece-style (▁): sets t's kind and
// its space handling from what the normalizer and pre-tokenizer said (c). 0 or -1 + ms_error.
static int set_family(ms_tokenizer *t, const hf_conf *c, const char *dtype, json_object *model, const char *path) {
    int byte_level = c->byte_level || (dtype && !strcmp(dtype, "ByteLevel"));
    int spm = c->metaspace || c->replace_space || c->prepend || get_bool(model, "byte_fallback", 0);
    if (byte_level == spm) {
        ms_error("%s: cannot tell a byte-level BPE from a SentencePiece-style one (no ByteLevel pre-tokenizer, "
                 "no ▁ normalizer)", path);
        return -1;
    }
    if (spm) {
        t->kind = MS_TOK_SPM_BPE;
        if (t->n_steps) { ms_error("%s: Split/Digits pre-tokenizers with a SentencePiece-style model are not supported", path); return -1; }
        t->meta_space = 1;
        t->prefix = c->metaspace ? c->meta_prefix : c->prepend ? TOK_PREFIX_EVERY : TOK_PREFIX_NONE;
        t->strip_leading_space = t->prefix != TOK_PREFIX_NONE;
        t->byte_fallback = get_bool(model, "byte_fallback", 0);
    } else {
        t->prefix = c->add_prefix_space ? TOK_PREFIX_EVERY : TOK_PREFIX_NONE;
    }
    return 0;
}

// model.merges ("a b" strings or ["a", "b"] pairs) into t's merge table, rank = position. 0 or -1 + ms_error.
static int read_merges(ms_tokenizer *t, json_object *merges, size_t nm, const char *path) {
    tok_pairmap_free(&t->merges);
    tok_pairmap_init(&t->merges, (uint32_t)nm + 16);
    for (size_t i = 0; i < nm; i++) {
        json_object *m = json_object_array_get_idx(merges, i);
        const char *a = NULL, *b = NULL;
        size_t al = 0, bl = 0;
        if (json_object_is_type(m, json_type_string)) {
            const char *s = json_object_get_string(m), *sp = strchr(s, ' ');
            if (sp) { a = s; al = (size_t)(sp - s); b = sp + 1; bl = strlen(b); }
        } else if (json_object_is_type(m, json_type_array) && json_object_array_length(m) == 2) {
            json_object *x = json_object_array_get_idx(m, 0), *y = json_object_array_get_idx(m, 1);
            if (json_object_is_type(x, json_type_string) && json_object_is_type(y, json_type_string)) {
                a = json_object_get_string(x); al = (size_t)json_object_get_string_len(x);
                b = json_object_get_string(y); bl = (size_t)json_object_get_string_len(y);
            }
        }
        if (!a) { ms_error("%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", path, i); return -1; }
        if (tok_add_merge(t, a, al, b, bl, (int)i)) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", ms_last_error());
            ms_error("%s: %s", path, msg);
            return -1;
        }
    }
    return 0;
}

static ms_tokenizer *load_tokenizer_json(const char *path, const char *dir) {
    json_object *root = parse_json_file(path);
    if (!root) return NULL;
    ms_tokenizer *t = NULL;
    int32_t *added = NULL;
    int n_added = 0;
    hf_conf c = {.path = path};
    json_object *model = get(root, "model"), *vocab = get(model, "vocab"), *merges = get(model, "merges");
    json_object *added_tokens = get(root, "added_tokens");
    const char *mtype = get_str(model, "type");
    if (!model) { ms_error("%s: no \"model\" section", path); goto fail; }
    if (mtype && strcmp(mtype, "BPE")) { ms_error("%s: tokenizer model type '%s' is not supported (BPE only)", path, mtype); goto fail; }
    if (!vocab || !json_object_is_type(vocab, json_type_object)) { ms_error("%s: model.vocab missing or not an object", path); goto fail; }
    if (merges && !json_object_is_type(merges, json_type_array)) { ms_error("%s: model.merges is not an array", path); goto fail; }
    size_t n_add_json = added_tokens && json_object_is_type(added_tokens, json_type_array) ? json_object_array_length(added_tokens) : 0;
    int n = vocab_size_of(path, vocab, added_tokens, n_add_json);
    if (n < 0) goto fail;
    if (n == 0) { ms_error("%s: empty vocabulary", path); goto fail; }

    // which family: byte-level (ByteLevel pre-tokenizer / decoder) or SentencePiece-style (▁)
    json_object *dec = get(root, "decoder");
    const char *dtype = get_str(dec, "type");
    t = tok_alloc(MS_TOK_BYTE_BPE, n);
    if (parse_normalizer(t, &c, get(root, "normalizer"))) goto fail;
    if (parse_pretok(t, &c, get(root, "pre_tokenizer"))) goto fail;
    if (set_family(t, &c, dtype, model, path)) goto fail;
    t->nfc = c.nfc;
    t->merge_mode = TOK_MERGE_RANK;
    t->ignore_merges = get_bool(model, "ignore_merges", 0);
    {
        json_object_object_foreach(vocab, k, v) {
            int id = json_object_get_int(v);
            free(t->piece[id]);
            t->piece[id] = ms_strdup(k);
            t->piece_len[id] = (uint32_t)strlen(k);
        }
    }
    added = ms_malloc((n_add_json ? n_add_json : 1) * sizeof *added);
    for (size_t i = 0; i < n_add_json; i++) {
        json_object *a = json_object_array_get_idx(added_tokens, i);
        int id = json_object_get_int(get(a, "id"));
        const char *content = get_str(a, "content");
        free(t->piece[id]);
        t->piece[id] = ms_strdup(content);
        t->piece_len[id] = (uint32_t)strlen(content);
        t->type[id] = get_bool(a, "special", 0) ? TOK_TYPE_CONTROL : TOK_TYPE_USER;
        added[n_added++] = id;
    }
    tok_finish(t);
    const char *unk = get_str(model, "unk_token");
    if (unk) {
        t->unk_id = tok_strmap_get(&t->by_piece, unk, strlen(unk));
        if (t->unk_id >= 0 && t->kind == MS_TOK_SPM_BPE) { t->type[t->unk_id] = TOK_TYPE_UNKNOWN; t->bytes_len[t->unk_id] = 0; }
    }
    size_t nm = merges ? json_object_array_length(merges) : 0;
    if (read_merges(t, merges, nm, path)) goto fail;
    if (t->kind == MS_TOK_BYTE_BPE && nm == 0) { ms_error("%s: model.merges is empty", path); goto fail; }
    if (t->kind == MS_TOK_BYTE_BPE && t->n_steps == 0 && !c.byte_level) tok_add_step_regex(t, NULL, 0, TOK_SPLIT_ISOLATED, 0);
    tok_set_added(t, added, n_added);
    parse_post(t, get(root, "post_processor"));
    find_specials(t, dir);
    if (t->eos_id < 0) { // common names, when no config says
        static const char *names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>"};
        for (size_t i = 0; i < sizeof names / sizeof *names && t->eos_id < 0; i++)
            t->eos_id = tok_strmap_get(&t->by_piece, names[i], strlen(names[i]));
    }
    free(added);
    json_object_put(root);
    return t;
fail:
    free(added);
    ms_tokenizer_free(t);
    json_object_put(root);
    return NULL;
}

static char *dir_of(const char *path) {
    const char *s = strrchr(path, '/');
    if (!s) return ms_strdup(".");
    char *d = ms_malloc((size_t)(s - path) + 2);
    memcpy(d, path, (size_t)(s - path));
    d[s - path] = 0;
    if (s == path) strcpy(d, "/");
    return d;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

ms_tokenizer *ms_tokenizer_load_hf(const char *path) {
    if (!ms_is_dir(path)) { // a file: tokenizer.json, or vocab.json with merges.txt beside it
        if (!ms_file_exists(path)) { ms_error("%s: no such file or directory", path); return NULL; }
        char *dir = dir_of(path);
        ms_tokenizer *t = NULL;
        if (ends_with(path, "vocab.json")) {
            char *m = ms_path_join(dir, "merges.txt");
            if (!ms_file_exists(m)) ms_error("%s: merges.txt missing beside it", path);
            else t = load_vocab_merges(path, m, dir);
            free(m);
        } else t = load_tokenizer_json(path, dir);
        free(dir);
        return t;
    }
    char *tj = ms_path_join(path, "tokenizer.json");
    char *vj = ms_path_join(path, "vocab.json");
    char *mt = ms_path_join(path, "merges.txt");
    ms_tokenizer *t = NULL;
    if (ms_file_exists(tj)) t = load_tokenizer_json(tj, path);
    else if (ms_file_exists(vj) && ms_file_exists(mt)) t = load_vocab_merges(vj, mt, path);
    else if (ms_file_exists(vj)) ms_error("%s: vocab.json without merges.txt", path);
    else ms_error("%s: no tokenizer.json, and no vocab.json + merges.txt", path);
    free(tj); free(vj); free(mt);
    return t;
}

ms_tokenizer *ms_tokenizer_load(const char *path) {
    if (ms_is_dir(path)) return ms_tokenizer_load_hf(path);
    if (ends_with(path, ".json")) return ms_tokenizer_load_hf(path);
    if (!ms_file_exists(path)) { ms_error("%s: no such file or directory", path); return NULL; }
    return ms_tokenizer_load_llama2c(path, 0);
}
