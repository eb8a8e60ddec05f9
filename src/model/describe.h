// describe.h: what a checkpoint path holds, for the commands that inspect one: a model's summary as
// "key: value" lines, and the tokenizer behind a path (a tokenizer file or a model's own).
#ifndef MS_MODEL_DESCRIBE_H
#define MS_MODEL_DESCRIBE_H
#include <stdio.h>
#include "model/model.h"
#include "tokenizer/tokenizer.h"

// Architecture, every dimension, parameter count, source format and dtype, tokenizer kind: one
// "key: value" per line (the output of `monoscope info`).
void ms_model_describe(FILE *f, const ms_model *m);

// The tokenizer behind path: a tokenizer.json / vocab.json file, a Hugging Face directory holding
// one, a llama2.c tokenizer.bin are read on their own (no weights); anything else goes through
// ms_model_load and *model is set (free it instead of the tokenizer). NULL + ms_error on failure.
ms_tokenizer *ms_tokenizer_open_path(const char *path, ms_model **model);
#endif
