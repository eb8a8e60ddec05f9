// logit_lens.h: what a dictionary feature's decoder direction writes to the logits, read through
// the model's final norm and unembedding (the dashboards' "logit lens" section).
#ifndef MS_VIZ_LOGIT_LENS_H
#define MS_VIZ_LOGIT_LENS_H
#include "model/model.h"
#include <stddef.h>
#include "model/site_resid.h"
#include "sae/sae.h"

// For features feat[0..n) of a dictionary at site / layer: the n_top most positive and most
// negative logits of W_U · g(r_f), r_f = the residual-stream direction of W_dec[f]
// (ms_site_to_resid: the row itself, W_O · row for attn.hook_z, W_out · row for mlp.hook_post),
// g = the final norm's linear part: LayerNorm (gpt2) centres then scales by its gain, RMSNorm
// (llama) scales by its gain; the data-dependent 1/rms is a positive factor common to every
// logit, so it does not change the ranking. pos_id/pos_v (n, n_top) in decreasing order,
// neg_id/neg_v (n, n_top) in increasing order. Returns 0, or -1 + ms_error() where the site has
// no path into the residual stream (check first with ms_site_resid_width) or its width is not d_in.
int ms_logit_lens(const ms_model *m, const ms_sae *sae, ms_site site, int layer, const int *feat, int n, int n_top,
                  int *pos_id, float *pos_v, int *neg_id, float *neg_v);
// One line saying how the directions were computed, for under the table, into buf (cap bytes).
void ms_logit_lens_note(const ms_model *m, ms_site site, char *buf, size_t cap);

#endif
