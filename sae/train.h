// train.h: the SAE trainer behind `monoscope sae train`: one dictionary per hook site, all fed
// from one shuffled activation stream; Adam with warmup and a linear decay to 0 over the last
// 20 %; sparsity-coefficient warmup; activation normalisation folded into the saved weights;
// geometric-median b_dec; dead-latent tracking; AuxK; atomic checkpoints and bit-exact resume.
#ifndef MS_SAE_TRAIN_H
#define MS_SAE_TRAIN_H
#include <stdint.h>
#include "sae/sae.h"

typedef struct {
    ms_sae_arch arch;
    int d_sae;               // 0: expansion · d_in
    double expansion;        // default 8
    int k;                   // topk/batchtopk active latents; default 32
    double l1;               // sparsity coefficient (relu: L1, jumprelu: L0); < 0: adapted to l0_target
    double l0_target;        // relu/jumprelu target L0 when l1 < 0; <= 0: k
    int64_t tokens;          // 0: one pass over the files
    int batch;               // default 4096
    double lr;               // <= 0: 3e-3 · sqrt(1024 / d_sae), at most 3e-3
    uint64_t seed;
    int64_t checkpoint_every;// tokens; < 0: tokens / 10; 0: never
    int resume;
    int threads;             // the trainer's own OpenMP loops; 0: ms_num_threads(). OpenBLAS and
                             // oneDNN follow the caller's OpenMP default (the CLI sets it to this)
    int64_t buffer_tokens;   // 0: act_stream default
    double warmup_frac;      // LR warmup, fraction of steps (default 0.01)
    double decay_frac;       // LR linear decay to 0 over the last fraction of steps (0.2)
    double sparsity_warmup_frac; // sparsity coefficient linear warmup (0.05)
    int64_t dead_window;     // tokens without firing before a latent counts as dead; 0: auto
    int64_t resample_every;  // relu: resample dead latents every N tokens during the first half of
                             // training (sae/resample.h); < 0: the dead window; 0: off (always off
                             // for the other architectures, which use AuxK)
    int k_aux;               // AuxK latents; 0: d_in / 2
    double aux_coef;         // AuxK coefficient (1/32)
    double bandwidth;        // JumpReLU STE bandwidth ε (0.001·√d_in: 0.001 at unit mean squared norm)
    double jumprelu_warm;    // JumpReLU: fraction of steps trained as TopK (k = l0_target) before
                             // switching to thresholds (0.2); < 0: default
    double threshold_beta;   // BatchTopK threshold EMA (0.99)
    double controller_rate;  // per-step max relative change of λ when adapting to l0_target (0.01)
    double clip;             // gradient-norm clip; < 0: 1.0 for relu, off otherwise
    double adam_b1, adam_b2, adam_eps;
    int log_every;           // steps between training-log rows; 0: auto
    int64_t init_tokens;     // sample for the normalisation scale and geometric median (32768)
    int gm_iters;            // Weiszfeld iterations (10)
    const char *init_from;   // start from this sae.h5 (same d_in, d_sae) instead of a random init; NULL: off
    int progress;            // draw the progress bar (when stderr is a terminal)
    int encoder_dtype;       // ms_enc_dtype of the encoder product's inputs (MS_ENC_F32)
} ms_train_cfg;

// Fills every field with its documented "unset" value (so defaults get resolved later).
void ms_train_cfg_init(ms_train_cfg *c);

// Trains one dictionary per hook (exact names, see ms_acts_match_hooks) on the files, writing
// outs[h]; checkpoints to ckpt_path. Prints the resolved configuration at start and a summary
// (tokens/s, peak RSS) at the end on stderr. Returns 0 / -1 + ms_error.
int ms_sae_train(const ms_train_cfg *cfg, const char *const *files, int n_files, const char *const *hooks,
                 int n_hooks, const char *const *outs, const char *ckpt_path);

#endif
