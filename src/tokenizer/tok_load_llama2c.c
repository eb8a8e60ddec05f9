// tok_load_llama2c.c: llama2.c's tokenizer.bin: int32 max_token_length, then for every token
// float32 score, int32 length, that many bytes (no terminator). Pieces spell space as ' ', bytes
// as "<0xNN>"; ids 0, 1, 2 are <unk>, BOS, EOS by llama2.c's convention.
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok_internal.h"
#include "util/util.h"

ms_tokenizer *ms_tokenizer_load_llama2c(const char *path, int vocab_size) {
    size_t len;
    char *data = ms_read_file(path, &len);
    if (!data) return NULL;
    if (len < 4) { ms_error("%s: not a llama2.c tokenizer: file too short for its header", path); free(data); return NULL; }
    int32_t max_len;
    memcpy(&max_len, data, 4);
    if (max_len <= 0 || max_len > (1 << 20)) {
        ms_error("%s: not a llama2.c tokenizer: bad max_token_length %d", path, max_len);
        free(data);
        return NULL;
    }
    // first pass: count and validate the records
    size_t pos = 4;
    int n = 0;
    while (pos < len && (vocab_size <= 0 || n < vocab_size)) {
        int32_t l;
        if (len - pos < 8) { ms_error("%s: truncated: token %d header ends past the end of the file", path, n); free(data); return NULL; }
        memcpy(&l, data + pos + 4, 4);
        // llama2.c's exporter writes max_token_length = the longest piece, so longer is corruption
        if (l >= 0 && l <= max_len && (size_t)l > len - pos - 8) {
            ms_error("%s: truncated: token %d needs %d bytes, %zu left", path, n, l, len - pos - 8);
            free(data);
            return NULL;
        }
        if (l < 0 || l > max_len || (size_t)l > len - pos - 8) {
            ms_error("%s: corrupt: token %d has length %d (%zu bytes left)", path, n, l, len - pos - 8);
            free(data);
            return NULL;
        }
        pos += 8 + (size_t)l;
        n++;
    }
    if (n == 0) { ms_error("%s: not a llama2.c tokenizer: no tokens", path); free(data); return NULL; }
    if (vocab_size > 0 && n < vocab_size) {
        ms_error("%s: truncated: %d tokens, the model expects %d", path, n, vocab_size);
        free(data);
        return NULL;
    }
    ms_tokenizer *t = tok_alloc(MS_TOK_SPM_BPE, n);
    t->score = ms_malloc((size_t)n * sizeof *t->score);
    pos = 4;
    for (int i = 0; i < n; i++) {
        int32_t l;
        memcpy(&t->score[i], data + pos, 4);
        memcpy(&l, data + pos + 4, 4);
        t->piece[i] = ms_malloc((size_t)l + 1);
        memcpy(t->piece[i], data + pos + 8, (size_t)l);
        t->piece[i][l] = 0;
        t->piece_len[i] = (uint32_t)l;
        pos += 8 + (size_t)l;
    }
    free(data);
    if (n > 2) {
        t->type[0] = TOK_TYPE_UNKNOWN;
        t->type[1] = TOK_TYPE_CONTROL;
        t->type[2] = TOK_TYPE_CONTROL;
        t->unk_id = 0;
        t->bos_id = 1;
        t->eos_id = 2;
    }
    t->merge_mode = TOK_MERGE_SCORE;
    t->meta_space = 0;
    t->prefix = TOK_PREFIX_FIRST; // llama2.c: a dummy " " before any non-empty text
    t->strip_leading_space = 1;
    t->byte_fallback = 1;
    tok_finish(t);
    return t;
}
