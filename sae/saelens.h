// saelens.h: exchange of dictionaries with SAELens (cfg.json + sae_weights.safetensors).
//
// Export writes what SAELens' SAE.load_from_disk reads (SAELens >= 6 layout, plus the pre-6 keys so
// SAELens 4/5 load it too):
//   architecture  relu -> "standard", topk -> "topk" (k), jumprelu -> "jumprelu" (threshold),
//                 batchtopk -> "jumprelu" with the learned global threshold for every latent: that
//                 is how SAELens itself saves a BatchTopK SAE for inference (its k is kept in
//                 "monoscope": {"architecture": "batchtopk", "k": ...} so our import restores it).
//   tensors       W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc [d_sae], b_dec [d_in],
//                 threshold [d_sae] (jumprelu/batchtopk), all F32, the normalisation folded in
//                 (normalize_activations "none", apply_b_dec_to_input true).
//   hook/model    metadata.hook_name / metadata.model_name (and the top-level pre-6 names); the
//                 model's name is the last component of the path it was loaded from.
//   data          prepend_bos and context_size as the activations were captured (left out when the
//                 SAE does not record them); reshape_activations "hook_z" for attn.hook_z.
//   attributes    every other attribute of sae.h5 under "monoscope": {"attrs": [...]}, /eval's under
//                 "eval_attrs", the training log in monoscope_training_log.safetensors and /eval's
//                 datasets in monoscope_eval.safetensors, so export -> import is exact.
//
// Import reads SAELens directories of any version (cfg.json keys of SAELens 6 "metadata"/"meta",
// SAELens 3-5 hook_name/hook_layer/activation_fn_kwargs, and the pre-3 hook_point keys of the
// public GPT-2-small residual SAEs), tensors in F32/F16/BF16/F64, and converts to monoscope's
// encoding rule exactly or up to float rounding:
//   apply_b_dec_to_input false            b_enc += b_dec · W_enc
//   rescale_acts_by_decoder_norm (topk)    W_enc[:,i] *= |W_dec[i]|, b_enc[i] *= |W_dec[i]|, W_dec[i] /= |W_dec[i]|
//   log_threshold (old jumprelu files)     threshold = exp(log_threshold)
//   scaling_factor (finetuning)            W_dec[i] *= scaling_factor[i]
//   normalize_activations "expected_average_only_in"  needs the release's scale s (norm_scale):
//                                          W_enc *= s, W_dec /= s, b_dec /= s (as SAELens folds it)
// Per-token normalisations (constant_norm_rescale, layer_norm) and other architectures (gated, ...)
// cannot be expressed and are refused with one error line.
#ifndef MS_SAELENS_H
#define MS_SAELENS_H
#include "sae/sae.h"

// Creates dir if needed; writes both files atomically (temp + rename). 0 / -1 + ms_error.
int ms_saelens_export(const ms_sae *s, const char *dir);

typedef struct {
    double norm_scale;   // > 0: the expected_average_only_in scale to fold; 0: none given
} ms_saelens_import_opts;

// NULL + ms_error("<dir>: <problem>") on anything unreadable or unsupported. opts may be NULL.
ms_sae *ms_saelens_import(const char *dir, const ms_saelens_import_opts *opts);

#endif
