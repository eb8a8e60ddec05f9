// generate.h: decoding, greedy (argmax) or sampled. The prompt goes through one batched prefill that
// fills the forward pass's KV cache (model.h ms_forward_opts.kv_cache); each later step runs the
// forward pass on the one new token against the cached keys and values.
#ifndef MS_MODEL_GENERATE_H
#define MS_MODEL_GENERATE_H
#include <stdint.h>
#include "model/model.h"

// Called with each new token as soon as it is chosen; non-zero stops the generation.
typedef int (*ms_token_fn)(int32_t id, void *user);

// How the next token is chosen. temperature 0: greedy (argmax, the default). Otherwise a draw from
// softmax(logits / temperature) restricted to the top_k largest logits (0: all), with a
// deterministic generator seeded by seed (same seed, same model, same prompt: same tokens).
typedef struct {
    double temperature;
    int top_k;
    uint64_t seed;
    int no_kv_cache;   // 1: rerun the whole prefix every step (the KV cache's reference; benchmarks)
} ms_sampling;

// Extends ids[0..n) (n >= 1) up to total tokens (ids holds total; total <= n_ctx), stopping after
// the model's EOS. smp NULL: greedy. Returns the final length, or -1 with ms_error().
int ms_generate(const ms_model *m, int32_t *ids, int n, int total, const ms_sampling *smp, ms_token_fn on_token,
                void *user);

#endif
