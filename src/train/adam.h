// adam.h: the Adam optimizer (Kingma & Ba 2015) over float parameters, as one loop over a flat
// buffer (ms_adam_update, the llm.c gpt2_update shape) or row by row (ms_adam_row: the primitive a
// trainer calls from its hot loop while a row is in cache, e.g. the SAE trainer's gradient sink).
#ifndef MS_TRAIN_ADAM_H
#define MS_TRAIN_ADAM_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>

// One step's constants, shared by every element of the update.
typedef struct {
    float b1, b2, eps;
    float a;    // lr_t / (1 − β1^t)
    float bc2s; // 1 / √(1 − β2^t)
} ms_adam_step;

// The constants of step t (0-based) at learning rate lr_t.
ms_adam_step ms_adam_at(double lr_t, double b1, double b2, double eps, int64_t t);

// One element: m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²; p ← p − a·m / (√v·bc2s + eps).
static inline void ms_adam1(float *p, float *m, float *v, float g, const ms_adam_step *k) {
    *m = k->b1 * *m + (1 - k->b1) * g;
    *v = k->b2 * *v + (1 - k->b2) * g * g;
    *p -= k->a * *m / (sqrtf(*v) * k->bc2s + k->eps);
}

// ms_adam1 over n elements with gradient g[j]·gscale (g == NULL: zero gradient, the moments still
// decay). Bit-identical to the element loop (vectorised without FMA, like the scalar code).
void ms_adam_row(float *restrict p, float *restrict m, float *restrict v, const float *restrict g, float gscale,
                 size_t n, const ms_adam_step *k);

// The whole flat buffer (n elements): ms_adam_row in chunks over the threads.
void ms_adam_update(float *p, float *m, float *v, const float *g, float gscale, size_t n, const ms_adam_step *k,
                    int threads);

// Decoupled weight decay (Loshchilov & Hutter, AdamW): p ← p · keep with keep = 1 − lr_t·λ, applied
// before the Adam step of the same t, as torch.optim.AdamW does.
void ms_adam_decay(float *p, size_t n, float keep);

#endif
