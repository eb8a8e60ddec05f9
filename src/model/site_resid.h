// site_resid.h: the linear path from a hook site into the residual stream, so a direction that lives
// in a site's space (a dictionary's decoder row, a probe's weight, a steering vector) can be read as
// the residual-stream direction it writes: the logit lens of the dashboards (src/viz/logit_lens.c),
// and any later user (steering, attribution) that needs a site's direction in d_model coordinates.
//
// Per site (TransformerLens names, shapes per token):
//   hook_embed, hook_pos_embed, blocks.L.hook_resid_pre | resid_mid | resid_post,
//   blocks.L.hook_attn_out, blocks.L.hook_mlp_out                 [C]      the direction itself
//   blocks.L.attn.hook_z                                          [H*Dh]   W_O · z: each head's d_head
//       slice through its columns of W_O, summed over heads (GQA shares K/V heads, not W_O: same map)
//   blocks.L.mlp.hook_post                                        [F]      W_out · h (gpt2 c_proj, llama down_proj)
//   (with post-norms, Gemma 2/3: γ_post ⊙ W_O · z and γ_post ⊙ W_out · h, the output norm's gain; its
//   1/rms depends on the token's whole output and is left out, as the final norm's is below)
//   ln_final.hook_normalized                                      [C]      the direction itself: the
//       residual direction divided by the per-token scale (centred for LayerNorm, which a reader of the
//       logits applies anyway); its only consumer is the unembedding, so W_U · (γ ⊙ v) is exact there
// Undefined everywhere else: hook_q/k/v, rot_q/k, scores, pattern (no linear path: they pass through
// attention's bilinear form or softmax), ln1/ln2.hook_normalized (a sublayer's input, divided by a
// per-token scale; the residual stream at that depth is hook_resid_pre/mid), mlp.hook_pre(_linear)
// (behind the MLP's nonlinearity), logits (after the unembedding).
#ifndef MS_MODEL_SITE_RESID_H
#define MS_MODEL_SITE_RESID_H
#include "model/model.h"

// Width of a direction at the site (C, H*Dh or F) when the path above is defined for this model, 0 when not.
int ms_site_resid_width(const ms_config *cfg, ms_site site);
// out (n, C) = the residual-stream directions of dir (n, ms_site_resid_width()) at site / layer
// (layer ignored for global sites). Returns 0, or -1 + ms_error() naming the site when the path is
// undefined or the layer is out of range.
int ms_site_to_resid(const ms_model *m, ms_site site, int layer, const float *dir, int n, float *out);

// logits (n, V) of residual-stream rows x (n, C) read exactly as the forward pass reads the last
// layer's output: the final norm (LayerNorm with bias, or RMSNorm; Gemma's gains already hold 1 + w),
// the unembedding, and the final logit soft-cap where the model has one. So the lens of
// blocks.{n_layer-1}.hook_resid_post is the model's logits; at any layer it is the full (nonlinear)
// logit lens. hook_embed rows need no rescaling: Gemma's hook_embed is already wte · sqrt(d_model).
// Returns 0 (no failure mode beyond allocation).
int ms_resid_logits(const ms_model *m, const float *x, int n, float *logits);

#endif
