// logit_lens.h: what a dictionary feature's decoder direction writes to the logits, read through
// the model's final norm and unembedding (the dashboards' "logit lens" section).
#ifndef MS_VIZ_LOGIT_LENS_H
#define MS_VIZ_LOGIT_LENS_H
#include "model/model.h"
#include "sae/sae.h"

// For features feat[0..n): the n_top most positive and most negative logits of
// W_U · g(W_dec[f]), g = the final norm's linear part: LayerNorm (gpt2) centres then scales by
// its gain, RMSNorm (llama) scales by its gain; the data-dependent 1/rms is a positive factor
// common to every logit, so it does not change the ranking. Needs d_model == d_in.
// pos_id/pos_v (n, n_top) in decreasing order, neg_id/neg_v (n, n_top) in increasing order.
void ms_logit_lens(const ms_model *m, const ms_sae *sae, const int *feat, int n, int n_top, int *pos_id,
                   float *pos_v, int *neg_id, float *neg_v);
// One line saying how the directions were computed, for under the table.
const char *ms_logit_lens_note(const ms_model *m);

#endif
