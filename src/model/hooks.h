// hooks.h: named hook sites of the forward pass (TransformerLens names and shapes) and the
// registry of callbacks that observe or overwrite activations in place while the model runs.
#ifndef MS_HOOKS_H
#define MS_HOOKS_H
#include <stdint.h>

// Every site, in execution order within a block. Names follow TransformerLens
// (HookedTransformer.from_pretrained_no_processing: no LayerNorm folding, no centering):
//   hook_embed, hook_pos_embed (gpt2 only)                                  [pos, d_model]
//   blocks.L.hook_resid_pre                                                 [pos, d_model]
//   blocks.L.ln1.hook_scale  the norm's divisor per position: sqrt(var + eps) (LayerNorm, after
//        centering) or sqrt(mean x² + eps) (RMSNorm); an edited scale is honoured (LN freezing)  [pos, 1]
//   blocks.L.ln1.hook_normalized  (after centering/scaling, BEFORE the norm's gain and bias)
//   blocks.L.attn.hook_q | hook_rot_q                                       [pos, n_head, d_head]
//   blocks.L.attn.hook_k | hook_rot_k | hook_v                              [pos, n_kv_head, d_head]
//        (hook_q/hook_k before RoPE, hook_rot_q/hook_rot_k after; llama only for rot)
//   blocks.L.attn.hook_q_normed | hook_k_normed (qk-norm models only, e.g. Qwen3: after the
//        per-head RMSNorm and its gain, before RoPE)                       [pos, heads, d_head]
//   blocks.L.attn.hook_attn_scores  (pre-softmax, scaled, causal-masked to -inf) [n_head, q_pos, k_pos]
//   blocks.L.attn.hook_pattern                                              [n_head, q_pos, k_pos]
//   blocks.L.attn.hook_z                                                    [pos, n_head, d_head]
//   blocks.L.ln1_post.hook_scale | hook_normalized (post-norm models, Gemma: the attention output's
//        norm before hook_attn_out)                                         [pos, 1] | [pos, d_model]
//   blocks.L.hook_attn_out, blocks.L.hook_resid_mid                         [pos, d_model]
//   blocks.L.ln2.hook_scale | ln2.hook_normalized                           [pos, 1] | [pos, d_model]
//   blocks.L.mlp.hook_pre  (gpt2: fc pre-activation; llama: gate pre-activation)   [pos, d_mlp]
//   blocks.L.mlp.hook_pre_linear (llama only: up projection)                [pos, d_mlp]
//   blocks.L.mlp.hook_post                                                  [pos, d_mlp]
//   blocks.L.ln2_post.hook_scale | hook_normalized (post-norm models: the MLP output's norm)
//   blocks.L.hook_mlp_out, blocks.L.hook_resid_post                         [pos, d_model]
//   ln_final.hook_scale | ln_final.hook_normalized                          [pos, 1] | [pos, d_model]
//   logits                                                                  [pos, vocab]
typedef enum {
    MS_SITE_EMBED = 0,
    MS_SITE_POS_EMBED,
    MS_SITE_RESID_PRE,
    MS_SITE_LN1_SCALE,
    MS_SITE_LN1_NORMALIZED,
    MS_SITE_ATTN_Q,
    MS_SITE_ATTN_K,
    MS_SITE_ATTN_V,
    MS_SITE_ATTN_Q_NORMED,
    MS_SITE_ATTN_K_NORMED,
    MS_SITE_ATTN_ROT_Q,
    MS_SITE_ATTN_ROT_K,
    MS_SITE_ATTN_SCORES,
    MS_SITE_ATTN_PATTERN,
    MS_SITE_ATTN_Z,
    MS_SITE_LN1_POST_SCALE,
    MS_SITE_LN1_POST_NORMALIZED,
    MS_SITE_ATTN_OUT,
    MS_SITE_RESID_MID,
    MS_SITE_LN2_SCALE,
    MS_SITE_LN2_NORMALIZED,
    MS_SITE_MLP_PRE,
    MS_SITE_MLP_PRE_LINEAR,
    MS_SITE_MLP_POST,
    MS_SITE_LN2_POST_SCALE,
    MS_SITE_LN2_POST_NORMALIZED,
    MS_SITE_MLP_OUT,
    MS_SITE_RESID_POST,
    MS_SITE_LN_FINAL_SCALE,
    MS_SITE_LN_FINAL_NORMALIZED,
    MS_SITE_LOGITS,
    MS_SITE_COUNT
} ms_site;

// 1 if the site lives inside a block (its name starts with "blocks.L.").
int ms_site_is_block(ms_site s);
// Name suffix within a block ("attn.hook_q") or the whole name for global sites ("hook_embed").
const char *ms_site_suffix(ms_site s);
// Full name into buf: ("blocks.3.attn.hook_q"). Returns buf.
char *ms_site_name(ms_site s, int layer, char *buf, int bufsize);
// Parses a full name; returns 0 and fills site/layer (layer = -1 for global sites), -1 if unknown.
int ms_site_parse(const char *name, ms_site *site, int *layer);

// The tensor handed to a hook: a contiguous block of n_seq sequences, each of the site's
// per-sequence shape. data may be overwritten in place: the forward pass continues from it.
typedef struct {
    ms_site site;
    int layer;          // -1 for global sites
    const char *name;   // full TransformerLens name
    float *data;        // (shape[0], shape[1], ...) row-major, contiguous
    int ndim;           // including the leading sequence dimension
    int64_t shape[5];   // shape[0] = number of sequences in this call
    int seq0;           // batch index of the first sequence in this call
} ms_activation;

// Return 0 to continue, non-zero to abort the forward pass (ms_forward then returns -1).
typedef int (*ms_hook_fn)(ms_activation *act, void *user);

#define MS_MAX_LAYERS 256
typedef struct ms_hooks ms_hooks;
ms_hooks *ms_hooks_new(void);
void ms_hooks_free(ms_hooks *h);
// pattern: a full name or a glob ("blocks.*.hook_resid_post", "blocks.3.*").
// Callbacks run in registration order. Returns 0, or -1 if the pattern matches no known site.
int ms_hooks_add(ms_hooks *h, const char *pattern, ms_hook_fn fn, void *user);
// Cheap test the forward pass makes before materialising an optional site (NULL h = none).
int ms_hooks_wants(const ms_hooks *h, ms_site site, int layer);
// Calls every callback whose pattern matches act->name; returns the first non-zero result.
int ms_hooks_call(const ms_hooks *h, ms_activation *act);
// Highest layer any callback needs (-1 if only global pre-block sites, n_layer if anything after
// the last block: ln_final or logits), so a capture of early layers stops early.
int ms_hooks_last_layer(const ms_hooks *h, int n_layer);

#endif
