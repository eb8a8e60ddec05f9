// schedule.h: learning-rate and coefficient schedules by step (0-based t of n_steps).
#ifndef MS_TRAIN_SCHEDULE_H
#define MS_TRAIN_SCHEDULE_H
#include <math.h>
#include <stdint.h>

// Linear warm-up over the first warmup_steps, constant, then a linear decay to 0 over the steps
// from decay_start on.
typedef struct {
    double lr;
    int64_t n_steps, warmup_steps, decay_start;
} ms_lr_schedule;

// warmup: ⌈warmup_frac · n⌉ steps; decay over the last ⌊decay_frac · n⌋ steps.
static inline ms_lr_schedule ms_lr_schedule_make(double lr, int64_t n_steps, double warmup_frac, double decay_frac) {
    ms_lr_schedule s = {lr, n_steps, (int64_t)ceil(warmup_frac * n_steps), n_steps - (int64_t)floor(decay_frac * n_steps)};
    return s;
}

// Factor (t+1)/n during a linear warm-up of n steps, 1 after (and for n <= 0).
static inline double ms_warmup_factor(int64_t t, int64_t n) { return n > 0 && t < n ? (double)(t + 1) / n : 1.0; }

static inline double ms_lr_at(const ms_lr_schedule *s, int64_t t) {
    double f = ms_warmup_factor(t, s->warmup_steps);
    if (t >= s->decay_start && s->n_steps > s->decay_start)
        f *= (double)(s->n_steps - t) / (double)(s->n_steps - s->decay_start);
    return s->lr * f;
}

// Linear warm-up over warmup_steps, then a cosine from lr down to lr·min_frac at step n_steps
// (GPT-2 / nanoGPT training).
static inline double ms_lr_cosine_at(double lr, int64_t t, int64_t n_steps, int64_t warmup_steps, double min_frac) {
    if (t < warmup_steps) return lr * ms_warmup_factor(t, warmup_steps);
    double span = (double)(n_steps - warmup_steps), x = span > 0 ? (double)(t - warmup_steps) / span : 1.0;
    return lr * (min_frac + (1.0 - min_frac) * 0.5 * (1.0 + cos(3.141592653589793 * (x < 1.0 ? x : 1.0))));
}

#endif
