// intervene.h: edits of the forward pass at hook sites (ablation, steering, activation patching),
// each one an ms_intervention, applied by hook callbacks that overwrite the activation in place.
//
// Every edit acts on every sequence of the batch. A site's activation for T tokens has one of two
// layouts (see model/hooks.h):
//   token-major  [pos, ...]             per-token row of D = prod(...) values (D = the flattened size)
//   head-major   [n_head, q_pos, k_pos] attn.hook_attn_scores and attn.hook_pattern
// head >= 0 restricts an edit to one head: the [h, :] slice of each row of [pos, heads, d_head]
// sites (hook_q/k/v, hook_rot_q/k, hook_z; k/v/rot_k count kv heads under GQA), or the [h, :, :]
// block of head-major sites. Other sites have no head dimension and refuse head >= 0.
#ifndef MS_INTERVENE_H
#define MS_INTERVENE_H
#include "model/model.h"

typedef enum {
    MS_IV_ABLATE = 0, // zero the activation (at every position)
    MS_IV_ADD,        // add scale · vec to every position's row (token-major sites only): steering
    MS_IV_PATCH,      // overwrite positions [0, min(T, patch_T)) with a recorded activation
} ms_intervention_kind;

typedef struct {
    ms_intervention_kind kind;
    ms_site site;
    int layer;            // -1 for global sites
    int head;             // -1: the whole site; else one head (see above)
    // MS_IV_ADD: vec (D) in the site's units, D the site's per-token flattened size; not owned
    const float *vec;
    int vec_len;
    float scale;
    // MS_IV_PATCH: the site's activation of one source sequence of patch_T tokens, laid out as the
    // site's shape for patch_T tokens; owned (ms_intervention_record_patch / ms_intervention_release).
    // Token-major: rows t < min(T, patch_T) are copied, positions aligned from the start. Head-major:
    // the [h, q, k] entries with q, k < min(T, patch_T).
    float *patch;
    int patch_T;
} ms_intervention;

// Parses "SITE" or "SITE:head=H" into iv->site/layer/head (other fields untouched). Checks the site
// exists for this model (layer < n_layer, architecture) and that the head is in range.
// Returns 0, or -1 + ms_error naming the text.
int ms_intervention_parse_site(ms_intervention *iv, const ms_config *c, const char *text);

// Per-token flattened size D of a token-major site, or -1 for head-major / missing sites.
int64_t ms_site_token_size(const ms_config *c, ms_site site);

// MS_IV_PATCH: runs the model on src (one sequence of src_T tokens) and records iv's site into
// iv->patch (allocated here). Returns 0, or -1 + ms_error.
int ms_intervention_record_patch(ms_intervention *iv, const ms_model *m, const int32_t *src, int src_T);
// Frees what the intervention owns (the recorded patch).
void ms_intervention_release(ms_intervention *iv);

// Validates iv[0..n) against the model and registers one callback per intervention on h, in order
// (edits at one site apply in list order). iv must outlive h. Returns 0, or -1 + ms_error.
int ms_interventions_attach(ms_hooks *h, const ms_model *m, const ms_intervention *iv, int n);

// Runs tokens (B, T) with the interventions and leaves (B, T, V) logits in ms_state_logits(s).
// n = 0 is the unedited model. Returns 0, or -1 + ms_error.
int ms_forward_intervened(const ms_model *m, ms_state *s, const int32_t *tokens, int B, int T,
                          const ms_intervention *iv, int n);

// Greedy (argmax) continuation of ids[0..n) with the interventions applied at every step (each step
// reruns the whole prefix, so an edit "at every position" covers the generated tokens too). ids has
// room for n + n_gen; s must hold n + n_gen tokens. Stops after EOS. Returns the new length, or -1.
int ms_generate_intervened(const ms_model *m, ms_state *s, int32_t *ids, int n, int n_gen,
                           const ms_intervention *iv, int n_iv);

// The k most probable next tokens of one logits row (V): ids, logits and softmax probabilities
// (computed in double), most probable first, ties by lower id. k is clipped to V; returns k.
typedef struct {
    int32_t id;
    float logit;
    double prob;
} ms_token_score;
int ms_logits_top(const float *logits, int V, int k, ms_token_score *out);

// A prompt ids[0..n) run twice (intervene_run.c): r[0] unedited, r[1] with iv[0..n_iv): the k most
// probable next tokens after the prompt (k <= V), then the greedy continuation of up to n_gen tokens
// (within the model's context). Returns 0, or -1 + ms_error; free each r with ms_run_result_free.
typedef struct {
    ms_token_score *top; // (k)
    int32_t *ids;        // prompt + continuation
    int len;             // tokens in ids
} ms_run_result;
int ms_run_clean_and_edited(const ms_model *m, const int32_t *ids, int n, int n_gen, int k,
                            const ms_intervention *iv, int n_iv, ms_run_result r[2]);
void ms_run_result_free(ms_run_result *r);

#endif
