// resample.h: dead-latent resampling for the ReLU (+L1) SAE, after Anthropic's "Towards
// Monosemanticity" (2023), adapted to the trainer (sae/train.c):
//
// At a resample point, every dead latent i (site.dead[i]: no firing for a dead window of tokens)
// is given an input x_b of the current batch, drawn with probability proportional to its squared
// reconstruction error ‖x_b − x̂_b‖² in the step just taken (weighted sampling without replacement,
// by Efraimidis-Spirakis keys, so two dead latents get the same input only when there are more dead
// latents than tokens). Then, in training layout (inputs already normalised):
//   Wd_i = (x_b − b_dec) / ‖x_b − b_dec‖                      (unit norm)
//   Wt_i = Wd_i · 0.2 · mean ‖Wt_j‖ over alive latents j        (encoder row)
//   b_enc_i = 0; Adam moments of Wt_i, Wd_i and b_enc_i = 0; since_fired_i = 0, dead_i = 0.
// The draw uses only the rng passed in (derived by the caller from (seed, step, site)), the batch
// and the parameters, so a resumed run replays it exactly.
#ifndef MS_SAE_RESAMPLE_H
#define MS_SAE_RESAMPLE_H
#include <stdint.h>
#include "train/rng.h"

typedef struct {
    int d, S;
    float *Wt, *Wd, *be, *bd;                     // parameters, training layout (S, d), (S, d), (S), (d)
    float *mWt, *vWt, *mWd, *vWd, *mbe, *vbe;     // their Adam moments (bd's are not touched)
    int64_t *since_fired;                         // (S)
    uint8_t *dead;                                // (S) 1 = dead; cleared for resampled latents
} ms_resample_site;

// 1 when the step t (0-based, B tokens each, n_steps in all) ends at a resample point: the tokens
// seen after it cross a multiple of `every`, and it lies in the first half of training
// (t + 1 <= n_steps / 2). every <= 0: never.
int ms_resample_due(int64_t t, int64_t B, int64_t every, int64_t n_steps);

// Resamples every dead latent of s from the batch x (B, d) whose reconstruction error was
// e = x̂ − x (B, d) (ms_step_residual_neg of the step just taken). Returns the number of latents
// resampled (a dead latent is left alone only when its drawn input equals b_dec).
int64_t ms_resample_dead(ms_resample_site *s, const float *x, const float *e, int B, ms_rng *r);

#endif
