// acts.h: the activations file (README "Activations file"): its one reader and its one writer.
//
//   /acts/<hook>  float16/32/64 [rows, ctx, ...site shape]   (attention sites: [rows, n_head, ctx, ctx])
//   /tokens       int32 [rows, ctx]                          token ids, -1 past a sequence's end
//   /vocab        variable-length byte strings [vocab]
//   root attributes (capture): model, dims, hooks, ctx, dtype, n_seq (complete rows), n_tokens, ...
//
// Validation rules (checked once, at open; one error line naming the file and the object):
//   the file exists and is HDF5; /acts is a group holding at least one dataset; every /acts dataset is
//   float16/32/64 of rank 3..8 with non-zero trailing dims; the root attribute n_seq, if present, is
//   one integer >= 0 and caps the rows (a capture still running or interrupted); without it every
//   hook must have the same number of rows; every hook holds at least n_seq rows; /tokens, if present,
//   is an integer [rows >= n_seq, ctx] dataset; the attribute "model", if present, is a string.
#ifndef MS_IO_ACTS_H
#define MS_IO_ACTS_H
#include <stddef.h>
#include <stdint.h>

// ---- reader
typedef struct ms_acts ms_acts;

ms_acts *ms_acts_open(const char *path); // NULL + ms_error
void ms_acts_close(ms_acts *a);
const char *ms_acts_path(const ms_acts *a);
int ms_acts_n_hooks(const ms_acts *a);
const char *ms_acts_hook_name(const ms_acts *a, int h); // hooks sorted by name
// Index of a hook by exact name; -1 + ms_error "<file>: no /acts/<hook> (the file has: ...)".
int ms_acts_find_hook(const ms_acts *a, const char *hook);
// The file's only hook; -1 + ms_error when there are several (`hint` ends that message).
int ms_acts_only_hook(const ms_acts *a, const char *hint);
// Comma-separated hook names (at most ~max bytes, "..." when cut); malloc'ed.
char *ms_acts_hook_list(const ms_acts *a, size_t max);
int64_t ms_acts_n_seq(const ms_acts *a);         // complete rows
int ms_acts_ctx(const ms_acts *a, int h);        // dim 1 of the hook (tokens per row for token sites)
int64_t ms_acts_d(const ms_acts *a, int h);      // values per (row, dim-1 index): trailing dims flattened
int ms_acts_elsize(const ms_acts *a, int h);     // stored bytes per value: 2, 4 or 8
int ms_acts_dims(const ms_acts *a, int h, int64_t dims[8]); // the dataset's dims; returns the rank
const char *ms_acts_model(const ms_acts *a);     // root attribute "model", "" if absent
int ms_acts_has_tokens(const ms_acts *a);
int ms_acts_tokens_ctx(const ms_acts *a);        // dim 1 of /tokens (0 if none)

// Rows [seq, seq + ns), positions [pos, pos + np) of hook h as float32 into x (ns·np, d); np < ctx
// only with ns == 1. float16/float64 are converted (IEEE, exact for float16). 0 / -1 + ms_error.
int ms_acts_read(ms_acts *a, int h, int64_t seq, int64_t ns, int64_t pos, int64_t np, float *x);
// The matching token ids (ns·np) from /tokens; -1 + ms_error if the file has none.
int ms_acts_read_ids(ms_acts *a, int64_t seq, int64_t ns, int64_t pos, int64_t np, int32_t *ids);
// The first min(*n, n_seq) rows of /tokens of the file at path, malloc'ed (rows, ctx); *n and *ctx get
// the shape. NULL + ms_error when the file has no tokens ("... (give --input)").
int32_t *ms_acts_token_rows(const char *path, int64_t *n, int *ctx);
// /vocab: malloc'ed byte strings, lengths in *lens; NULL (no error) if the file has none.
char **ms_acts_vocab(ms_acts *a, size_t **lens, int *n_vocab);

// ---- sequential view: one hook, token after token (sequence-major)
typedef struct ms_acts_reader ms_acts_reader;
// hook NULL: the file's only hook. d_in > 0: checked against the per-token size. NULL + ms_error.
ms_acts_reader *ms_acts_reader_open(const char *path, const char *hook, int d_in);
void ms_acts_reader_close(ms_acts_reader *r);
const char *ms_acts_reader_hook(const ms_acts_reader *r);
int64_t ms_acts_reader_n_seq(const ms_acts_reader *r);
int ms_acts_reader_ctx(const ms_acts_reader *r);
int ms_acts_reader_d(const ms_acts_reader *r);
int ms_acts_reader_has_tokens(const ms_acts_reader *r); // /tokens present and [.., ctx] of this hook
// Reads the next up to max tokens as float32 into x (max·d) and their ids into ids (may be NULL;
// -1 when the file has no tokens). Returns the count, 0 at the end, -1 on a read error.
int64_t ms_acts_reader_next(ms_acts_reader *r, float *x, int32_t *ids, int64_t max);

#endif
