// lm_data.h: a JSONL corpus (one {"text": ...} object a line, as scripts/make-corpus.sh writes) as one
// int32 token stream, documents joined by the tokenizer's EOS (<|endoftext|>), and the B×(T+1)
// training windows drawn from it.
#ifndef MS_TRAIN_LM_DATA_H
#define MS_TRAIN_LM_DATA_H
#include <stddef.h>
#include <stdint.h>
#include "tokenizer/tokenizer.h"

typedef struct {
    int32_t *tok; // (n)
    size_t n;
} ms_token_stream;

// Tokenizes every line's "text" and appends EOS after each document. -1 + ms_error naming the file
// (unreadable, a line that is not a JSON object with a string "text", no tokens at all).
int ms_token_stream_load(ms_token_stream *s, const char *jsonl, const ms_tokenizer *tok);
void ms_token_stream_free(ms_token_stream *s);

// Window starts for batch `step`: B offsets uniform in [0, n − T − 1] from a stream seeded by (seed,
// step), so any step's batch is known without replaying the ones before (resume needs no state).
// inputs(B,T) = tok[o .. o+T), targets(B,T) = tok[o+1 .. o+T+1).
void ms_lm_batch(const ms_token_stream *s, uint64_t seed, int64_t step, int B, int T, int32_t *inputs,
                 int32_t *targets);
// The i-th of the consecutive non-overlapping windows (validation: a fixed set); i wraps.
void ms_lm_batch_seq(const ms_token_stream *s, int64_t i, int B, int T, int32_t *inputs, int32_t *targets);

// The tokenizer directory's vocab.json + merges.txt as GPT-2 symbol strings, for a checkpoint's
// vocabulary (tokens: (vocab) by id). -1 + ms_error.
int ms_lm_read_vocab(const char *dir, int vocab, char ***tokens, char ***merges, int *n_merges);

#endif
