// acts_h5.h: random access to an activations file (README "On-disk formats") for the viewers:
// whole sequences of one hook site with their token ids, and the /vocab byte strings.
// (Training streams the file through sae/act_stream.h; the viewers need sequence I, or runs of
// whole sequences so that every context lies inside the rows in memory.)
#ifndef MS_VIZ_ACTS_H5_H
#define MS_VIZ_ACTS_H5_H
#include <stddef.h>
#include <stdint.h>
#include "io/acts.h"

typedef struct ms_acts_file ms_acts_file;

// hook NULL or "": the file's only /acts dataset (error listing them if several). NULL + ms_error().
ms_acts_file *ms_acts_file_open(const char *path, const char *hook);
void ms_acts_file_close(ms_acts_file *a);
int64_t ms_acts_file_n_seq(const ms_acts_file *a); // complete rows (attribute n_seq, else dim 0)
int ms_acts_file_ctx(const ms_acts_file *a);
int ms_acts_file_d(const ms_acts_file *a);         // per-token size (trailing dims flattened)
const char *ms_acts_file_hook(const ms_acts_file *a);
const char *ms_acts_file_model(const ms_acts_file *a); // root attribute "model" or ""
int ms_acts_file_has_tokens(const ms_acts_file *a);
// Sequences [s0, s0 + n): x (n*ctx, d) float32 (float16/64 converted), ids (n*ctx) or NULL
// (zeros when the file has no /tokens). Returns 0 / -1.
int ms_acts_file_read(ms_acts_file *a, int64_t s0, int64_t n, float *x, int32_t *ids);

// /vocab: the byte strings; NULL (no error) if the file has none. *n_vocab gets the count.
// Returned strings are malloc'ed; lengths in *lens. Free with ms_vocab_free (io/acts.h).
char **ms_acts_file_vocab(ms_acts_file *a, size_t **lens, int *n_vocab);

#endif
