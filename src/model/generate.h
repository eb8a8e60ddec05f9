// generate.h: greedy (argmax) decoding. Each step reruns the batched prefill over the whole prefix
// (no KV cache): simple, exactly the same arithmetic as capture, and fast enough for the short
// generations this tool needs.
#ifndef MS_MODEL_GENERATE_H
#define MS_MODEL_GENERATE_H
#include "model/model.h"

// Called with each new token as soon as it is chosen; non-zero stops the generation.
typedef int (*ms_token_fn)(int32_t id, void *user);

// Extends ids[0..n) (n >= 1) up to total tokens (ids holds total; total <= n_ctx), stopping after
// the model's EOS. Returns the final length, or -1 with ms_error().
int ms_generate_greedy(const ms_model *m, int32_t *ids, int n, int total, ms_token_fn on_token, void *user);

#endif
