// codes.h: the sparse-codes file written by `monoscope sae encode` (layout in sae/eval.h and README):
// CSR datasets /indptr, /indices, /values (and /tokens) appended batch by batch, root attributes at the end.
#ifndef MS_IO_CODES_H
#define MS_IO_CODES_H
#include <stdint.h>

typedef struct {          // the root attributes, written in this order when the file is finished
    int64_t n_tokens, n_seq, ctx, d_in, d_sae, nnz, k;
    const char *architecture, *hook, *acts;
    const char *sae;      // NULL: omitted
} ms_codes_meta;

typedef struct ms_codes_writer ms_codes_writer;
// Creates the file (with_tokens: also /tokens) holding /indptr = [0]. NULL + ms_error.
ms_codes_writer *ms_codes_writer_create(const char *path, int with_tokens);
// Appends m tokens: indptr (m) global end offsets, their nnz latents idx/val, ids (m) when with_tokens.
int ms_codes_writer_append(ms_codes_writer *w, const int64_t *indptr, int64_t m, const int32_t *idx, const float *val,
                           int64_t nnz, const int32_t *ids);
// meta NULL: close without attributes (a failed run). Closes the file and frees w. 0 / -1 + ms_error.
int ms_codes_writer_close(ms_codes_writer *w, const ms_codes_meta *meta);

#endif
