// observe.h: run the model and copy the activations of chosen hook sites out, the one way
// capture (src/capture) and the figures (src/viz) read a site. The forward pass stops after the
// last layer the sites need; no logits are computed unless a site is "logits".
//
// Output rows have a fixed number of positions ctx >= T (capture writes rows of --ctx tokens);
// positions past a sequence's length are padding: 0, and -inf in the masked columns of
// hook_attn_scores (so a padded scores row still softmaxes to the stored pattern's zeros).
#ifndef MS_MODEL_OBSERVE_H
#define MS_MODEL_OBSERVE_H
#include "model/model.h"

typedef struct ms_observer ms_observer;

// sites: n full hook names ("blocks.3.hook_resid_post"); out[i]: the caller's buffer of
// (max_batch, per-sequence shape of sites[i] at ctx positions) floats, see ms_site_shape().
// NULL + ms_error() if a name is not a site of this model.
ms_observer *ms_observer_new(const ms_model *m, const char *const *sites, int n, int ctx, float *const *out);
void ms_observer_free(ms_observer *ob);

// Runs tokens (B, T), T <= ctx, and fills rows 0..B of every out[i]. lens: (B) valid tokens of
// each sequence (the rest padding, excluded from the rows), NULL when all are T long. Returns 0 / -1.
int ms_observe(ms_observer *ob, ms_state *st, const int32_t *tokens, int B, int T, const int *lens);

// One sequence, one site: out (T, per-token...) for tokens (T). Loads nothing, allocates the state.
int ms_observe_one(const ms_model *m, const int32_t *tokens, int T, const char *site, float *out);

#endif
