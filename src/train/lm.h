// lm.h: a GPT-2-architecture language model trained from scratch, in llm.c's train_gpt2.c shape:
// all parameters in one ms_params buffer (gradients and Adam moments beside them), all activations
// the backward needs in one buffer, and a backward per layer kind in lm.c.
// One forward pass: training runs capture's forward (model/forward.c) on an ms_model whose weight
// pointers are slices of the parameter buffer; a tape of hooks on the TransformerLens sites the
// backward needs copies them into the activation buffer as the pass goes (other hooks stay available).
// Layer order and maths are GPT-2's: wte+wpe, then per block x += attn(ln_1(x)), x += mlp(ln_2(x))
// (causal self-attention, GELU tanh form), ln_f, tied unembedding (logits = ln_f(x) · wteᵀ),
// mean softmax cross-entropy over the B·T positions.
#ifndef MS_TRAIN_LM_H
#define MS_TRAIN_LM_H
#include <stdint.h>
#include "backend/backend.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "train/params.h"

typedef struct {
    int n_layer, d_model, n_head, d_mlp, vocab, n_ctx;
} ms_lm_config;

// Parameter tensors, in ms_params order. Per-layer tensors are stacked on the first axis
// (L·rows, cols); matrices are (out, in) as llm.c keeps them (HF's Conv1D stores the transpose).
enum {
    LM_WTE,      // (V, C)
    LM_WPE,      // (T, C)
    LM_LN1W,     // (L, C)
    LM_LN1B,     // (L, C)
    LM_QKVW,     // (L·3C, C)
    LM_QKVB,     // (L, 3C)
    LM_ATTPROJW, // (L·C, C)
    LM_ATTPROJB, // (L, C)
    LM_LN2W,     // (L, C)
    LM_LN2B,     // (L, C)
    LM_FCW,      // (L·F, C)
    LM_FCB,      // (L, F)
    LM_FCPROJW,  // (L·C, F)
    LM_FCPROJB,  // (L, C)
    LM_LNFW,     // (C)
    LM_LNFB,     // (C)
    LM_NPARAMS
};

// Activations of one training forward for a (B, T) batch, each a slice of one buffer. The tape
// fills them from hook sites: encoded = blocks.0.hook_resid_pre, qkv = attn.hook_q|k|v side by side,
// att = attn.hook_pattern, atty = attn.hook_z, residual2 = hook_resid_mid, fch = mlp.hook_pre,
// fch_gelu = mlp.hook_post, residual3 = hook_resid_post; ln1/ln2/lnf are the norms' outputs (the
// hook_normalized values times the gain, plus the bias) with their rows' mean and 1/std; logits
// the forward's. attproj and fcproj are used only as gradient slots.
typedef struct {
    float *encoded;                      // (B,T,C)
    float *ln1, *ln1_mean, *ln1_rstd;    // (L,B,T,C), (L,B,T), (L,B,T)
    float *qkv;                          // (L,B,T,3C)
    float *atty;                         // (L,B,T,C) attention output before c_proj
    float *att;                          // (L,B,NH,T,T) softmax weights
    float *attproj, *residual2;          // (L,B,T,C)
    float *ln2, *ln2_mean, *ln2_rstd;    // (L,B,T,C), (L,B,T), (L,B,T)
    float *fch, *fch_gelu;               // (L,B,T,F)
    float *fcproj, *residual3;           // (L,B,T,C)
    float *lnf, *lnf_mean, *lnf_rstd;    // (B,T,C), (B,T), (B,T)
    float *logits;                       // (B,T,V) logits, softmax probabilities after the loss
    float *losses;                       // (B,T)
    float *mem;
} ms_lm_acts;

typedef struct {
    ms_lm_config cfg;
    ms_params P;          // parameters, gradients, Adam moments (one layout)
    int B, T;             // the batch shape the activation buffers were sized for
    ms_lm_acts acts, grads_acts;
    int32_t *targets;     // (B,T) of the last forward
    float *scratch;       // (B,NH,T) attention backward rows
    ms_backend_ctx be;
    ms_model net;         // the forward pass's model: weights point into P.p (tied unembedding)
    ms_layer_weights *layers; // [n_layer] of net
    ms_state *state;      // forward scratch for (B, T)
    ms_hooks *tape;       // the sites above, copied into acts; a caller may add its own hooks to observe training
    int pass_B, pass_T;   // the shape of the pass in progress (the tape's offsets)
} ms_lm;

// Checks the shape; NULL + ms_error when inconsistent.
int ms_lm_config_check(const ms_lm_config *c);
// Allocates parameters (GPT-2 init from seed: N(0, 0.02), residual projections N(0, 0.02/√(2L)),
// LN gains 1, biases 0) and activations for batches of at most (B, T), T <= n_ctx.
int ms_lm_init(ms_lm *m, const ms_lm_config *c, int B, int T, uint64_t seed, int threads);
void ms_lm_free(ms_lm *m);
// Forward over a (B,T) batch (B, T <= the init sizes); returns the mean cross-entropy of targets
// (B,T) (targets NULL: logits only, returns 0).
float ms_lm_forward(ms_lm *m, const int32_t *inputs, const int32_t *targets, int B, int T);
// Gradients of the last forward's mean loss into m->P.g (overwritten).
void ms_lm_backward(ms_lm *m, const int32_t *inputs, int B, int T);
// The L2 norm of all gradients (float64 sum in buffer order: deterministic).
double ms_lm_grad_norm(const ms_lm *m);
// One AdamW step t (0-based) at lr: decoupled weight decay wd on the matrices and embeddings
// (not on biases and LN gains), then Adam on gradients scaled by gscale (the clip factor).
void ms_lm_update(ms_lm *m, double lr, double b1, double b2, double eps, double wd, float gscale, int64_t t);
// The parameters as a Hugging Face GPT-2 checkpoint (Conv1D weights transposed to [in, out]),
// without vocabulary; free with ms_checkpoint_free.
ms_checkpoint *ms_lm_to_checkpoint(const ms_lm *m);

#endif
