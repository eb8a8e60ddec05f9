// train_step.h: one forward + backward pass of an SAE on a batch, for every architecture, with
// the sparse structure of the codes exploited (sgemm for the dense encoder forward; the decoder
// and every backward product touch only active latents). Used by the trainer and checked against
// finite differences in tests/test_sae_grad.c.
//
// Parameters live in training layout: the encoder is stored transposed, Wt (d_sae, d_in), so a
// latent's encoder and decoder vectors are both contiguous rows. Inputs are already normalised.
//
// Loss (mean over the batch of B tokens; x̂ = f·Wd + bd; e = x̂ − x):
//   L = (1/B) Σ_b ‖e_b‖²                                      reconstruction
//     + relu:     (λ/B) Σ_b Σ_i f_bi ‖Wd_i‖                     (L1 weighted by decoder norms)
//     + jumprelu: (λ/B) Σ_b Σ_i H(pre_bi − θ_i)                 (L0; θ = exp(logθ); straight-through
//                 estimator with a rectangle kernel of bandwidth ε for ∂/∂θ, none for ∂/∂pre)
//     + topk/batchtopk with dead latents: aux_coef · (1/B) Σ_b ‖ê_b − r_b‖², AuxK: ê_b decodes the
//       k_aux largest pre-activations among dead latents (relu'd, no bias), r_b = x_b − x̂_b held
//       constant (no gradient through the residual).
#ifndef MS_SAE_TRAIN_STEP_H
#define MS_SAE_TRAIN_STEP_H
#include <stdint.h>
#include "backend/enc_gemm.h"
#include "sae/sae.h"

typedef struct {
    ms_sae_arch arch;
    int d, S, k;
    float *Wt;      // (S, d) encoder, transposed
    float *Wd;      // (S, d) decoder
    float *be;      // (S)
    float *bd;      // (d)
    float *logth;   // (S) jumprelu log-threshold; NULL otherwise
} ms_sae_params;

typedef struct {
    float *Wt, *Wd, *be, *bd, *logth; // same shapes as the parameters
    // Rows of Wt/Wd whose gradient was written this step; other rows' gradients are zero and
    // were not touched (the optimizer treats them as 0).
    uint8_t *row_active; // (S)
} ms_sae_grads;

// Receives latent i's parameter gradients as soon as they are complete, on the thread that
// computed them, instead of their being stored in ms_sae_grads: an optimizer can update the row
// while it is in cache, and two (S, d) gradient arrays are never written nor read back. Called once
// per latent per step, after everything in the step that reads row i's parameters; gWd and gWt are
// NULL for a latent without entries in the batch (zero gradient). gWd may be modified.
typedef void (*ms_row_sink)(void *ctx, int i, float *gWd, float *gWt, float gbe, float glogth);

typedef struct {
    double lambda;             // sparsity coefficient in effect (relu: L1, jumprelu: L0)
    double eps;                // jumprelu bandwidth
    int k_aux;                 // AuxK latents per token (0: no AuxK)
    double aux_coef;
    const uint8_t *dead;       // (S) 1 = dead latent (AuxK candidates), or NULL
    const float *aux_target;   // tests: a fixed residual (B, d) for AuxK instead of x − x̂
    int force_dense, force_sparse; // tests: relu's dense (sgemm) or sparse path regardless of density
    int keep_preacts;          // topk: keep all (B, S) pre-activations for ms_step_preacts (others always do)
    ms_row_sink sink;          // NULL: gradients stored in g (Wt, Wd, be, logth rows)
    void *sink_ctx;
    // Wt has changed since the previous call on this workspace only through that call's sink. A
    // step with a sink lays each chunk of updated rows out for the next encoder product right after
    // the sink ran (ms_enc_gemm_pack_rows); with this set, the next step uses that copy instead of
    // a full reorder of Wt. Leave 0 when anything else (resampling, loading) wrote Wt.
    int wt_only_by_sink;
    int threads;               // OpenMP threads of the step's own loops; 0: omp_get_max_threads()
                               // (BLAS and oneDNN follow the caller's OpenMP setting)
} ms_step_opts;

typedef struct {
    double loss, mse_sum, sparsity_loss, aux_loss;
    double var_sum;            // Σ_b ‖x_b − mean(x)‖² (for explained variance)
    double l0;                 // mean active latents per token
    double min_selected;       // batchtopk: smallest selected activation (for the inference threshold)
    const int32_t *fired;      // (S) tokens of this batch in which each latent was active (points into ws)
} ms_step_stats;

typedef struct ms_step_ws ms_step_ws;
// NULL + ms_error when the encoder precision is not available.
ms_step_ws *ms_step_ws_new(int B, int d, int S, ms_enc_dtype dt);
void ms_step_ws_free(ms_step_ws *w);

// Forward (+ backward when g != NULL) on x (B, d). The batch size may be smaller than the
// workspace's. Gradients are overwritten (not accumulated). Returns 0, or -1 + ms_error.
int ms_sae_step(ms_step_ws *w, const ms_sae_params *p, const float *x, int B, const ms_step_opts *o,
                ms_sae_grads *g, ms_step_stats *st);

// Seconds spent in the dense encoder product so far (the bound every other part is measured against).
double ms_step_gemm_seconds(const ms_step_ws *w);
// Which kernel runs the encoder product.
const char *ms_step_encoder_describe(const ms_step_ws *w);
// Pre-activations (B, S) of the last call; TopK keeps them only with keep_preacts (it selects
// from each block of the product as it is computed and reuses one block's buffer).
const float *ms_step_preacts(const ms_step_ws *w);
// The residual x − x̂ (B, d) of the last call (tests: AuxK target).
const float *ms_step_residual_neg(const ms_step_ws *w); // returns e = x̂ − x

#endif
