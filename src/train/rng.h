// rng.h: small deterministic random numbers (splitmix64), whose whole state is one uint64 so
// checkpoints can store it and resumed runs replay exactly.
#ifndef MS_TRAIN_RNG_H
#define MS_TRAIN_RNG_H
#include <math.h>
#include <stdint.h>

typedef struct { uint64_t s; } ms_rng;

static inline uint64_t ms_rng_u64(ms_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
// Seed from several words (seed, epoch, round ...): independent streams per tuple.
static inline ms_rng ms_rng_from(uint64_t a, uint64_t b, uint64_t c) {
    ms_rng r = {a * 0xD1B54A32D192ED03ull ^ (b + 0x8CB92BA72F3D8DD7ull) * 0xABC98388FB8FAC03ull ^ c * 0x9E3779B97F4A7C15ull};
    ms_rng_u64(&r);
    return r;
}
static inline double ms_rng_uniform(ms_rng *r) { return (double)(ms_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }
// Uniform integer in [0, n).
static inline uint64_t ms_rng_below(ms_rng *r, uint64_t n) { return n ? ms_rng_u64(r) % n : 0; }
static inline double ms_rng_normal(ms_rng *r) { // Box-Muller (one of the pair)
    double u = ms_rng_uniform(r), v = ms_rng_uniform(r);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}
// Fisher-Yates shuffle of a[0..n).
static inline void ms_rng_shuffle_i64(ms_rng *r, int64_t *a, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ms_rng_below(r, (uint64_t)i + 1), t = a[i];
        a[i] = a[j]; a[j] = t;
    }
}
static inline void ms_rng_shuffle_i32(ms_rng *r, int32_t *a, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ms_rng_below(r, (uint64_t)i + 1);
        int32_t t = a[i];
        a[i] = a[j]; a[j] = t;
    }
}
#endif
