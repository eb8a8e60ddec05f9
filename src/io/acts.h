// acts.h: the activations file (README "Activations file"): its one reader and its one writer.
//
//   /acts/<hook>  float16/32/64 [rows, ctx, ...site shape]   (attention sites: [rows, n_head, ctx, ctx])
//   /tokens       int32 [rows, ctx]                          token ids, -1 past a sequence's end
//   /vocab        variable-length byte strings [vocab]
//   root attributes (capture): model, dims, hooks, ctx, dtype, n_seq (complete rows), n_tokens (real
//                  tokens), padding, packing + separator_id (capture --pack), ...
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
int ms_acts_prepend_bos(const ms_acts *a);       // root attribute "prepend_bos": 1, 0, or -1 if absent
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
// /vocab: malloc'ed byte strings, lengths in *lens; NULL (no error) if the file has none (or one of
// over 2^21 strings: no real vocabulary, and a compressed file can declare 10^8 in a few KB).
char **ms_acts_vocab(ms_acts *a, size_t **lens, int *n_vocab);
void ms_vocab_free(char **v, size_t *lens, int n); // what ms_acts_vocab returned (NULL v: only lens)

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
// Reads the next up to max positions as float32 into x (max·d) and their ids into ids (may be NULL;
// -1 when the file has no tokens). Returns the count, 0 at the end, -1 on a read error.
int64_t ms_acts_reader_next(ms_acts_reader *r, float *x, int32_t *ids, int64_t max);
// From now on ms_acts_reader_next returns real tokens only: positions whose /tokens id is -1 (a
// row's padding past its sequence's end) are skipped. No effect on a file without /tokens.
void ms_acts_reader_skip_padding(ms_acts_reader *r);

// ---- writer (monoscope capture): create or resume "<out>.partial", append batches, finish.
// Crash safety: every append extends the datasets, writes the rows and flushes, then sets the root
// attributes n_seq and n_tokens and flushes again, so a crash loses at most the batch in flight and
// n_seq never counts a row that is not on disk.
typedef struct {            // the root attributes of a capture, written in this order
    const char *model, *architecture, *source_format, *source_dtype;
    int64_t n_layer, d_model, n_head, n_kv_head, d_head, d_mlp, vocab_size, n_ctx, n_params;
    const char *hooks;      // comma-separated site names
    int ctx, f16;           // row length; store float16 (else float32)
    const char *input, *input_format;
    int64_t prepend_bos, batch, compress;
    int64_t max_tokens;     // the run's token budget (0: the whole input); --resume may raise it
    const char *padding, *resume_key;
    const char *packing;    // NULL: rows are windows of one document each; else how documents were packed
    int64_t separator_id;   // with packing: the token between documents
    const char *const *vocab; // (n_vocab) NUL-terminated byte strings; NULL: vocab_note instead of /vocab
    int n_vocab;
    const char *vocab_note;
} ms_acts_header;

typedef struct {
    const char *name;       // /acts/<name>
    int ndim;               // per-sequence rank (<= 5)
    const int64_t *shape;   // per-sequence shape
} ms_acts_site;

typedef struct ms_acts_writer ms_acts_writer;
// A new file at path (the caller has checked it can be written). batch: the most rows per append.
ms_acts_writer *ms_acts_writer_create(const char *path, const ms_acts_header *hd, const ms_acts_site *sites, int n_sites);
// Reopens a partial file: its resume_key must equal `key` (else an error naming the first setting
// that differs, reported against `out_path`); *n_seq / *n_tok get its complete rows and tokens.
ms_acts_writer *ms_acts_writer_resume(const char *path, const char *out_path, const char *key, int ctx, int f16,
                                      int batch, const ms_acts_site *sites, int n_sites, int64_t *n_seq, int64_t *n_tok);
// The resume key and extent of a capture file (complete or partial): n_tokens and the budget it was
// captured with (max_tokens; 0: the whole input). Files written before max_tokens was an attribute
// have it inside their key; it is taken from there, and *key never holds it. 0 / -1 + ms_error.
int ms_acts_capture_extent(const char *path, char **key, int64_t *n_tokens, int64_t *max_tokens);
// 0 when `key` (this run's settings) equals the file's, else -1 + an error naming the first setting
// that differs, reported against out_path.
int ms_acts_check_key(const char *have, const char *want, const char *out_path);
// The root attribute "batch" of a partial file, or 0 when it cannot be read.
int ms_acts_partial_batch(const char *path);
// Row r of /tokens (ctx ids).
int ms_acts_writer_token_row(ms_acts_writer *w, int64_t r, int32_t *row);
// Appends B rows: tok (B, ctx), rows[i] (B, site i's per-sequence size) float32; then sets n_seq and
// n_tokens (= n_tokens, the running total) and flushes. 0 / -1 + ms_error.
// Each rows[i] must be followed by MS_ACTS_ROWS_SLACK writable bytes: float32 chunks are written
// where they lie, their checksum put for the write in the 4 bytes after each chunk, which are
// restored (the rows come back unchanged).
#define MS_ACTS_ROWS_SLACK 64
int ms_acts_writer_append(ms_acts_writer *w, int B, const int32_t *tok, float *const *rows, int64_t n_tokens);
int64_t ms_acts_writer_rows(const ms_acts_writer *w);
// Before the next append: the file keeps only its first n_seq rows (a row that a smaller budget cut
// short is captured again whole), and records the run's budget. 0 / -1 + ms_error.
int ms_acts_writer_rewind(ms_acts_writer *w, int64_t n_seq, int64_t max_tokens);
// Trims the datasets to the complete rows and closes the file (the caller renames it). Frees w.
int ms_acts_writer_finish(ms_acts_writer *w);
void ms_acts_writer_abort(ms_acts_writer *w); // closes without finishing; frees w

#endif
