// steer.h: steering with a dictionary feature: `run --steer SITE:feature=F[,scale=X][,head=H]`
// as an MS_IV_ADD intervention whose vector is row F of the SAE's W_dec.
#ifndef MS_SAE_STEER_H
#define MS_SAE_STEER_H
#include "model/intervene.h"
#include "sae/sae.h"

// Parses "SITE:feature=F[,scale=X][,head=H]" (scale 1 by default) into iv: kind is left to the caller
// (MS_IV_ADD), site/layer/head from SITE, vec = sae's W_dec row F (not copied: sae must outlive iv).
// Checks that the SAE was trained on SITE (its hook attribute), that its d_in is the site's per-token
// size and that F < d_sae. Returns 0, or -1 + ms_error.
int ms_intervention_steer(ms_intervention *iv, const ms_model *m, const ms_sae *sae, const char *text);
#endif
