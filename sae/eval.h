// eval.h: evaluation of a dictionary on an activations file (reconstruction and sparsity metrics,
// feature density), optional downstream metrics by splicing the reconstruction into the model,
// storage of the results in the SAE file, and sparse encoding of a whole activations file.
//
// Definitions (x: one token's activation, x̂: its reconstruction, N tokens, d = d_in):
//   mse                 Σ_t ‖x_t − x̂_t‖² / (N·d)                     (per element)
//   nmse                Σ_t ‖x_t − x̂_t‖² / Σ_t ‖x_t − x̄‖², x̄ the mean activation over the N tokens
//                       (fraction of variance unexplained)
//   explained_variance  1 − nmse
//   l0, l1              mean over tokens of #{i: f_i ≠ 0} and of Σ_i |f_i|
//   density_i           fraction of the N tokens on which latent i is non-zero
//   dead_frac           fraction of latents with density 0 on the eval set
//   dense_frac_1pct/10pct  fraction of latents with density > 0.01 / > 0.1
//   density histogram   counts of log10(density_i) of the live latents in MS_EVAL_HIST_BINS equal
//                       bins over [MS_EVAL_HIST_LO, 0]; dead latents are counted by dead_frac only
//   shrinkage           mean over tokens with x ≠ 0 of ‖x̂_t‖ / ‖x_t‖ (< 1: the codes shrink)
// Downstream, with a model (next-token cross-entropy over every predicted position):
//   ce_recovered        (CE_zero_ablate − CE_splice) / (CE_zero_ablate − CE_clean)
//   kl_splice, kl_zero  mean per token of KL(p_clean ‖ p_splice) and KL(p_clean ‖ p_zero_ablate)
//   kl_score            (kl_zero − kl_splice) / kl_zero
//   ce_delta            CE_zero_ablate − CE_clean, ce_recovered's denominator
// A ratio is only as good as its denominator: when zero-ablating the site barely moves the loss
// (ΔCE < MS_EVAL_CE_MIN_DELTA nats/token) or lowers it (ΔCE < 0), ce_recovered is noise divided by
// noise (2.8, 4.1 and 1.15 have been seen) and is flagged: ce_recovered_valid = 0. The same rule
// flags kl_score when kl_zero < MS_EVAL_CE_MIN_DELTA (KL is never negative, but a near-zero kl_zero
// amplifies noise just the same). Reports print the score with the reason; figures leave it out.
#ifndef MS_SAE_EVAL_H
#define MS_SAE_EVAL_H
#include <stdint.h>
#include <stdio.h>
#include "io/acts.h"
#include "sae/sae.h"

// ---- activations: the sequential reader of one hook site is ms_acts_reader (io/acts.h)
// The reader for an SAE: hook if given, else the SAE's "hook" attribute (an error if the file lacks
// it), else the file's only site.
ms_acts_reader *ms_acts_reader_open_for(const ms_sae *s, const char *acts_path, const char *hook);

// ---- metrics
#define MS_EVAL_HIST_BINS 50
#define MS_EVAL_HIST_LO (-10.0)
#define MS_EVAL_CE_MIN_DELTA 0.01 // nats/token: smallest denominator of a meaningful ce_recovered / kl_score

typedef struct {
    int64_t n_tokens;
    int d_in, d_sae;
    double mse, nmse, explained_variance, l0, l1, dead_frac, dense_frac_1pct, dense_frac_10pct, shrinkage;
    double *density;                       // (d_sae)
    int64_t hist[MS_EVAL_HIST_BINS];
    char hook[256], acts[1024];
    // downstream
    int have_model;
    int64_t ce_tokens;
    double ce_clean, ce_splice, ce_zero, ce_recovered, kl_splice, kl_zero, kl_score;
    double ce_delta;                       // ce_zero − ce_clean
    int ce_recovered_valid, kl_score_valid; // see the rule above (ms_sae_eval_check_downstream)
    char model[1024];
} ms_sae_eval_result;

typedef struct {
    const char *hook;     // NULL: the SAE's "hook" attribute, else the file's only site
    int64_t max_tokens;   // 0: all
    int64_t batch;        // tokens per step (0: 2048)
} ms_sae_eval_opts;

int ms_sae_eval_acts(const ms_sae *s, const char *acts_path, const ms_sae_eval_opts *o, ms_sae_eval_result *r);
void ms_sae_eval_result_free(ms_sae_eval_result *r);
// Downstream metrics (eval_model.c): runs the model on n_seq token rows (row stride T; row i has
// lens[i] tokens, lens NULL: all T) three times per batch: clean, with the SAE reconstruction
// spliced in at hook, and with the hook zero-ablated; fills the have_model/ce_*/kl_* fields.
struct ms_model;
int ms_sae_eval_downstream(const ms_sae *s, const struct ms_model *m, const char *hook, const int32_t *tokens,
                           const int *lens, int64_t n_seq, int T, int batch, ms_sae_eval_result *r);
// Sets ce_delta, ce_recovered_valid and kl_score_valid from the losses: the validity rule above, in
// one place (the downstream run and the reader of files written before the rule both use it).
void ms_sae_eval_check_downstream(ms_sae_eval_result *r);
// Writes the results as group /eval of the SAE file (attributes + /eval/feature_density and
// /eval/density_hist), replacing an earlier /eval: the file is copied, modified and renamed over the
// original, so a crash leaves either the old or the new file.
// (sae_io.c, the SAE file's owner, like ms_sae_eval_read.)
int ms_sae_eval_store(const char *sae_path, const ms_sae_eval_result *r);
// Reads /eval back into r (zeroed first; r->density malloc'ed when /eval/feature_density has d_sae
// values; have_model set when ce_recovered is present; ce_recovered_valid / kl_score_valid as stored,
// else judged by ms_sae_eval_check_downstream from the stored losses, else 1). Returns 1 when /eval
// holds at least l0 and explained_variance, 0 when it is absent or lacks them, -1 + ms_error when the
// file cannot be opened or an attribute has the wrong type. Free with ms_sae_eval_result_free.
int ms_sae_eval_read(const char *sae_path, int d_sae, ms_sae_eval_result *r);
void ms_sae_eval_print(FILE *f, const ms_sae_eval_result *r);
char *ms_sae_eval_json(const ms_sae_eval_result *r); // malloc'ed

// ---- sparse encoding of a whole activations file (encode.c)
// Output (HDF5, written in batches, memory bounded by the batch):
//   /indptr  int64 [n_tokens + 1]   token t's latents are indices[indptr[t] .. indptr[t+1])
//   /indices int32 [nnz]            ascending latent index within a token
//   /values  float32 [nnz]
//   /tokens  int32 [n_tokens]       token ids (when the activations file has /tokens)
//   attributes: n_tokens, n_seq, ctx, d_in, d_sae, nnz, hook, architecture, k, sae, acts, format="csr",
//               monoscope_version, command. Token t is sequence t / ctx, position t % ctx.
typedef struct {
    const char *hook;
    int64_t max_tokens;   // 0: all
    int64_t batch;        // tokens per step (0: 4096)
    const char *sae_path; // recorded as an attribute
} ms_sae_encode_opts;
int ms_sae_encode_file(const ms_sae *s, const char *acts_path, const char *out_path, const ms_sae_encode_opts *o);

#endif
