// tokenizer_stub.c: TEMPORARY placeholder so the tree links until the tokenizer lands.
// The tokenizer engineer deletes this file.
#include <stdlib.h>
#include "tokenizer/tokenizer.h"
#include "util/util.h"
ms_tokenizer *ms_tokenizer_load_hf(const char *dir) { ms_error("%s: tokenizer not implemented", dir); return NULL; }
ms_tokenizer *ms_tokenizer_load_llama2c(const char *path, int v) { (void)v; ms_error("%s: tokenizer not implemented", path); return NULL; }
ms_tokenizer *ms_tokenizer_from_tables(ms_tok_kind k, int n, const char *const *t, const float *s,
    const int32_t *ty, int nm, const char *const *m, const char *p, int b, int e) {
    (void)k;(void)n;(void)t;(void)s;(void)ty;(void)nm;(void)m;(void)p;(void)b;(void)e;
    ms_error("tokenizer not implemented"); return NULL; }
void ms_tokenizer_free(ms_tokenizer *t) { (void)t; }
ms_tok_kind ms_tokenizer_kind(const ms_tokenizer *t) { (void)t; return MS_TOK_BYTE_BPE; }
const char *ms_tokenizer_kind_name(const ms_tokenizer *t) { (void)t; return "none"; }
int ms_tokenizer_vocab_size(const ms_tokenizer *t) { (void)t; return 0; }
int ms_tokenizer_bos(const ms_tokenizer *t) { (void)t; return -1; }
int ms_tokenizer_eos(const ms_tokenizer *t) { (void)t; return -1; }
int ms_tokenizer_encode(const ms_tokenizer *t, const char *x, size_t l, int b, int32_t **i, size_t *n) {
    (void)t;(void)x;(void)l;(void)b;(void)i;(void)n; ms_error("tokenizer not implemented"); return -1; }
const char *ms_tokenizer_token_bytes(const ms_tokenizer *t, int32_t id, size_t *len) { (void)t;(void)id; *len = 0; return ""; }
char *ms_tokenizer_decode(const ms_tokenizer *t, const int32_t *ids, size_t n) { (void)t;(void)ids;(void)n; return ms_strdup(""); }
