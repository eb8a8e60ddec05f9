// lm_train.h: `monoscope train-lm` as one library call: tokenize the corpus, train a GPT-2 from
// scratch (AdamW, warm-up + cosine learning rate, global-norm clipping), write a Hugging Face GPT-2
// directory that every other command loads like a downloaded one.
#ifndef MS_TRAIN_LM_TRAIN_H
#define MS_TRAIN_LM_TRAIN_H
#include <stdint.h>
#include "train/lm.h"

typedef struct {
    const char *corpus, *val, *tokenizer, *out; // val may be NULL
    ms_lm_config cfg;                           // vocab is the tokenizer's
    int batch;
    int64_t steps;                              // or tokens / (batch · ctx) when steps == 0
    int64_t tokens;
    double lr, warmup_frac, min_lr_frac, weight_decay, clip, beta1, beta2, eps;
    int64_t val_every, val_batches, ckpt_every;
    uint64_t seed;
    int threads, resume;
    const char *dump_grads; // testing: write parameters, first batch, loss and gradients here and stop
} ms_lm_train_opts;

void ms_lm_train_defaults(ms_lm_train_opts *o);
// Writes out/{config.json, model.safetensors, vocab.json, merges.txt, training_log.h5} and keeps
// out/checkpoint.h5 (atomic, every ckpt_every steps) for resume. 0 / -1 + ms_error.
int ms_lm_train(const ms_lm_train_opts *o);

#endif
