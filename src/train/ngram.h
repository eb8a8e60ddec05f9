// ngram.h: count-based baselines for a language model's validation loss. A unigram and a bigram
// model are estimated on the training token stream and scored on exactly the validation windows
// train-lm scores (ms_lm_batch_seq), so the three numbers are comparable token for token.
#ifndef MS_TRAIN_NGRAM_H
#define MS_TRAIN_NGRAM_H
#include <stdint.h>
#include "train/lm_data.h"

typedef struct {
    double unigram, bigram; // mean next-token cross-entropy over the scored targets, nats/token
    int64_t n_targets;      // targets scored: n_batches · B · T
} ms_ngram_loss;

// Smoothing (stated, so a reader can recompute it):
//   unigram, add-one:      p(b) = (c(b) + 1) / (N + V), c over the N training tokens;
//   bigram, interpolated Witten–Bell:
//                          p(b | a) = (c(a,b) + u(a)·p(b)) / (c(a) + u(a)),
//   c(a,b) the count of the pair in the training stream (N − 1 consecutive pairs), c(a) = Σ_b c(a,b),
//   u(a) the number of distinct b with c(a,b) > 0; p(b | a) = p(b) when a never precedes a token.
// The bigram's context for a window's target t is input t (the first target's is the window's first
// token). Tokens must lie in [0, vocab). -1 + ms_error when they do not or a stream is too short.
int ms_ngram_val_loss(const ms_token_stream *train, const ms_token_stream *val, int vocab, int64_t n_batches,
                      int B, int T, ms_ngram_loss *out);

#endif
