// act_stream.h: streaming activations from one or more acts.h5 files (README "On-disk formats")
// through a shuffle buffer, for training.
//
// The data is a list of blocks of whole sequences (several consecutive sequences of one file).
// Every epoch visits all blocks in a random order (seeded by (seed, epoch)); a *round* loads as
// many of the next blocks as fit in the buffer (buffer_tokens tokens per hook), then hands out
// its tokens in a random order (seeded by (seed, epoch, round)). So memory is bounded by the
// buffer, not the files; sequences come from anywhere in the files; tokens are shuffled within
// the buffer; and the position is one integer (tokens consumed) from which the exact state is
// rebuilt on resume (seek), without storing the buffer.
//
// Several hooks are read together (same blocks, same token order): one pass over the files
// feeds one dictionary per hook. /acts/<hook> is [n_seq, ctx, ...] float32/float16 (float64
// accepted); the trailing dims are flattened into d_in.
#ifndef MS_ACT_STREAM_H
#define MS_ACT_STREAM_H
#include <stdint.h>

typedef struct ms_act_stream ms_act_stream;

typedef struct {
    const char *const *files;
    int n_files;
    const char *const *hooks;  // exact hook names (see ms_acts_match_hooks for globs)
    int n_hooks;
    int64_t buffer_tokens;     // shuffle buffer, in tokens (per hook); 0 = default
    uint64_t seed;
} ms_act_stream_cfg;

// Hooks under /acts of `file` matching the glob `pattern` (ms_glob_match), sorted by name.
// *names is allocated (free each and the array). Returns the count, or -1 + ms_error (no file,
// no /acts, nothing matches: the error lists what the file has).
int ms_acts_match_hooks(const char *file, const char *pattern, char ***names);

// Opens and validates every (file, hook): present, same trailing shape across files, rows
// complete (root attribute n_seq when present). -1/NULL + ms_error on failure.
ms_act_stream *ms_act_stream_open(const ms_act_stream_cfg *cfg);
void ms_act_stream_close(ms_act_stream *s);

int ms_act_stream_d_in(const ms_act_stream *s, int hook);
int64_t ms_act_stream_tokens(const ms_act_stream *s);        // tokens in one epoch (all files)
int64_t ms_act_stream_buffer_tokens(const ms_act_stream *s); // the buffer actually used
// Model name from the first file's root attribute "model" ("" if absent).
const char *ms_act_stream_model(const ms_act_stream *s);
// How the tokens were windowed, for the SAE's provenance (SAELens' context_size / prepend_bos): the
// files' common row length (0 when they differ) and whether rows start with BOS (1 / 0; -1 when the
// files differ or do not say).
int ms_act_stream_context_size(const ms_act_stream *s);
int ms_act_stream_prepend_bos(const ms_act_stream *s);

// Next n tokens for every hook: out[h] is (n, d_in[h]) float32. Fails (-1 + ms_error) on a
// read error or a non-finite value ("<file>: /acts/<hook>: non-finite value in sequence N").
int ms_act_stream_next(ms_act_stream *s, int64_t n, float *const *out);
// Tokens handed out since the start (across epochs), and repositioning to such a count.
int64_t ms_act_stream_pos(const ms_act_stream *s);
int ms_act_stream_seek(ms_act_stream *s, int64_t pos);

#endif
