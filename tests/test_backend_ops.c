// test_backend_ops.c: every kernel of src/backend/backend.h (the weight cache's f32 and bf16 products
// included, and the encoder product of enc_gemm.h)
// against a naive double-precision reference written here, in the manner of ggml's test-backend-ops:
// several shapes including odd sizes, both transposes, padded leading dimensions, 1 and 3 threads
// (the row kernels must give the same bits for any thread count), and bf16 when oneDNN is built in.
//
// Tolerances are forward error bounds, not numbers the code produced:
//   a K-term float dot product:  |err| <= 2 K eps · Σ|a_k b_k|        (eps = 2^-24, per term rounding)
//   bf16 inputs, f32 accumulate:  |err| <= 2^-7 · Σ|a_k b_k| + the above  (two roundings to 8 bits)
//   elementwise kernels:          a few ulp relative (ms_expf is within ~2 ulp of exp)
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "backend/enc_gemm.h"
#include "util/util.h"
#include "harness.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { // uniform in [-1, 1)
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}
static float *rand_buf(size_t n, float scale) {
    float *p = ms_malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = scale * frand();
    return p;
}
static float *copy_buf(const float *src, size_t n) {
    float *p = ms_malloc((n ? n : 1) * sizeof(float));
    memcpy(p, src, n * sizeof(float));
    return p;
}

static const ms_backend_ctx one = {.n_threads = 1}, three = {.n_threads = 3};
static const ms_backend_ctx *const ctxs[2] = {&one, &three};
#define DOT_TOL(K, sum_abs) (2.0 * (K)*FLT_EPSILON / 2 * (sum_abs) + 1e-30)

// ---- GEMM
static void test_sgemm(int M, int N, int K, int ta, int tb, int pad) {
    const int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    const int arows = ta ? K : M, brows = tb ? N : K;
    float *A = rand_buf((size_t)arows * lda, 1), *B = rand_buf((size_t)brows * ldb, 1);
    float *C0 = rand_buf((size_t)M * ldc, 1);
    const float alpha = 0.75f, beta = -0.5f;
    for (int c = 0; c < 2; c++) {
        float *C = copy_buf(C0, (size_t)M * ldc);
        ms_op_sgemm(ctxs[c], ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        int bad = 0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double ref = 0, mag = 0;
                for (int k = 0; k < K; k++) {
                    double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                    double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                    ref += a * b, mag += fabs(a * b);
                }
                ref = alpha * ref + beta * C0[(size_t)i * ldc + j];
                mag = fabs(alpha) * mag + fabs(beta * C0[(size_t)i * ldc + j]);
                bad += !(fabs(C[(size_t)i * ldc + j] - ref) <= DOT_TOL(K + 1, mag));
            }
        // padding columns of C are not part of the product and must be untouched
        for (int i = 0; i < M; i++)
            for (int j = N; j < ldc; j++) bad += C[(size_t)i * ldc + j] != C0[(size_t)i * ldc + j];
        CHECK(!bad, "sgemm M%d N%d K%d ta%d tb%d pad%d threads %d: %d entries off", M, N, K, ta, tb, pad,
              ctxs[c]->n_threads, bad);
        free(C);
    }
    free(A), free(B), free(C0);
}

// Entries of Y (N, out) off X · Wᵀ + b by more than the dot-product bound (bf16: plus the rounding
// of both inputs to 8 significant bits, 2^-7 · Σ|x w|).
static int linear_bad_dt(const float *Y, const float *X, const float *W, const float *b, int N, int in, int out,
                         int bf16) {
    int bad = 0;
    for (int r = 0; r < N; r++)
        for (int o = 0; o < out; o++) {
            double ref = b ? b[o] : 0, mag = fabs(ref);
            for (int i = 0; i < in; i++) {
                double p = (double)X[(size_t)r * in + i] * W[(size_t)o * in + i];
                ref += p, mag += fabs(p);
            }
            bad += !(fabs(Y[(size_t)r * out + o] - ref) <= DOT_TOL(in + 1, mag) + (bf16 ? mag / 128 : 0));
        }
    return bad;
}
static int linear_bad(const float *Y, const float *X, const float *W, const float *b, int N, int in, int out) {
    return linear_bad_dt(Y, X, W, b, N, in, out, 0);
}

static void test_linear(int N, int in, int out, int with_bias) {
    float *X = rand_buf((size_t)N * in, 1), *W = rand_buf((size_t)out * in, 1), *b = rand_buf(out, 1);
    float *Y = ms_malloc((size_t)N * out * sizeof(float));
    for (int c = 0; c < 2; c++) {
        ms_op_linear(ctxs[c], Y, X, W, with_bias ? b : NULL, N, in, out);
        int bad = linear_bad(Y, X, W, with_bias ? b : NULL, N, in, out);
        CHECK(!bad, "linear N%d in%d out%d bias%d threads %d: %d entries off", N, in, out, with_bias,
              ctxs[c]->n_threads, bad);
    }
    free(X), free(W), free(b), free(Y);
}

// ms_op_linear through a weight cache (oneDNN; skipped in a build without it), f32 or bf16: every
// row count from one weight copy, with and without bias, 1 and 3 threads; a repeated call gives the
// same bits (the cached copy and compiled product are reused); after ms_gemm_cache_forget a changed
// W is seen.
static void test_linear_cached(int in, int out, ms_compute dt) {
    ms_gemm_cache *gc = ms_gemm_cache_new(dt);
    if (!gc) { printf("linear on the weight cache, %s: not available (%s), skipped\n", ms_compute_name(dt), ms_last_error()); return; }
    const int bf16 = dt == MS_COMPUTE_BF16;
    const int Ns[] = {1, 7, 64, 130};
    float *X = rand_buf((size_t)130 * in, 1), *W = rand_buf((size_t)out * in, 1), *b = rand_buf(out, 1);
    float *Y = ms_malloc((size_t)130 * out * sizeof(float)), *Y2 = ms_malloc((size_t)130 * out * sizeof(float));
    for (int t = 0; t < 2; t++) {
        const ms_backend_ctx be = {.n_threads = t ? 3 : 1, .gemm = gc};
        for (int k = 0; k < 8; k++) {
            const int N = Ns[k % 4], with_bias = k / 4;
            const float *bv = with_bias ? b : NULL;
            ms_op_linear(&be, Y, X, W, bv, N, in, out);
            CHECK(!linear_bad_dt(Y, X, W, bv, N, in, out, bf16), "cached linear N%d in%d out%d bias%d threads %d (%s)", N, in,
                  out, with_bias, be.n_threads, ms_gemm_cache_describe(gc));
            ms_op_linear(&be, Y2, X, W, bv, N, in, out);
            CHECK(!memcmp(Y, Y2, (size_t)N * out * sizeof(float)), "cached linear N%d: a second call differs", N);
        }
    }
    for (size_t i = 0; i < (size_t)out * in; i++) W[i] = -W[i];
    ms_gemm_cache_forget(gc, W);
    const ms_backend_ctx be = {.n_threads = 1, .gemm = gc};
    ms_op_linear(&be, Y, X, W, b, 7, in, out);
    CHECK(!linear_bad_dt(Y, X, W, b, 7, in, out, bf16), "cached linear after forget: the old weights were used");
    free(X), free(W), free(b), free(Y), free(Y2);
    ms_gemm_cache_free(gc);
}

static double gelu_new_ref(double v);

// The products with a fused epilogue, on each back-end: no cache (OpenBLAS then our own kernels), the
// f32 and bf16 weight caches, and bf16-held weights (read in place). The bits must be those of the
// unfused path a hook forces, for both transposes of the point: ms_op_linear_act = ms_op_linear then
// ms_op_act (a hook between them reads the biased pre-activation), ms_op_linear_add = ms_op_linear
// without bias then ms_op_add_bias (a hook reads the sublayer's output). Shapes with K = 3072 (GPT-2's
// MLP out: several K blocks inside the kernel), 1 and 3 threads, with and without bias. And ms_op_act
// within its error bound of gelu_new in double: a few ulp relative, plus the cancellation in
// 0.5 x (1 + tanh u) where tanh u nears -1, a few eps of 1 scaled by |x| (PyTorch's own f32 gelu
// 'tanh' has the same term).
enum { PLAIN, CACHE_F32, CACHE_BF16, HELD_BF16 };
static const char *const kind_name[] = {"no cache", "f32 cache", "bf16 cache", "bf16-held weights"};
static void test_fused_products(int in, int out, int kind) {
    ms_gemm_cache *gc = kind == CACHE_F32    ? ms_gemm_cache_new(MS_COMPUTE_F32)
                      : kind == CACHE_BF16   ? ms_gemm_cache_new(MS_COMPUTE_BF16)
                      : kind == HELD_BF16    ? ms_gemm_cache_new_bf16_weights()
                                             : NULL;
    if (kind != PLAIN && !gc) { printf("fused products, %s: not available, skipped\n", kind_name[kind]); return; }
    const int Ns[] = {1, 7, 130};
    float *X = rand_buf((size_t)130 * in, 2), *W = rand_buf((size_t)out * in, 1), *b = rand_buf(out, 1);
    if (kind == HELD_BF16) { // W's values as bfloat16, packed into the first half of its buffer
        uint16_t *h = (uint16_t *)(void *)W;
        for (size_t i = 0; i < (size_t)out * in; i++) {
            uint32_t u;
            memcpy(&u, &W[i], sizeof u);
            h[i] = (uint16_t)(u >> 16);
        }
    }
    const size_t cap = (size_t)130 * out;
    float *Y = ms_malloc(cap * sizeof(float)), *Y2 = ms_malloc(cap * sizeof(float)), *L = ms_malloc(cap * sizeof(float));
    float *R = rand_buf(cap, 1), *S = ms_malloc(cap * sizeof(float)); // a residual stream, a scratch
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 6; k++) {
            const ms_backend_ctx be = {.n_threads = t ? 3 : 1, .gemm = gc, .weights_bf16 = kind == HELD_BF16};
            const int N = Ns[k % 3];
            const float *bv = k / 3 ? b : NULL;
            const size_t n = (size_t)N * out;
            ms_op_linear_act(&be, Y, X, W, bv, N, in, out, MS_ACT_GELU_TANH);
            ms_op_linear(&be, Y2, X, W, bv, N, in, out);
            memcpy(L, Y2, n * sizeof(float));
            ms_op_act(&be, Y2, N, out, MS_ACT_GELU_TANH);
            CHECK(!memcmp(Y, Y2, n * sizeof(float)), "linear_act N%d in%d out%d bias%d threads %d, %s: not the bits of linear then act",
                  N, in, out, bv != NULL, be.n_threads, kind_name[kind]);
            int bad = 0;
            for (size_t i = 0; i < n; i++) {
                const double r = gelu_new_ref(L[i]);
                bad += !(fabs(Y2[i] - r) <= 4e-6 * fabs(r) + 4.0 * FLT_EPSILON * fabs(L[i]));
            }
            CHECK(!bad, "act gelu_new N%d out%d, %s: %d entries beyond the bound", N, out, kind_name[kind], bad);
            memcpy(Y, R, n * sizeof(float));
            memcpy(Y2, R, n * sizeof(float));
            CHECK(ms_op_linear_add(&be, Y, X, W, bv, N, in, out, S) == 0, "linear_add N%d failed: %s", N, ms_last_error());
            ms_op_linear(&be, L, X, W, NULL, N, in, out);
            ms_op_add_bias(&be, Y2, L, bv, N, out);
            CHECK(!memcmp(Y, Y2, n * sizeof(float)),
                  "linear_add N%d in%d out%d bias%d threads %d, %s: not the bits of linear then add_bias", N, in, out,
                  bv != NULL, be.n_threads, kind_name[kind]);
        }
    // not vacuous: where the plain product runs on oneDNN's brgemm kernels, the fused ones are taken
    if (gc && strstr(ms_gemm_cache_describe(gc), "(brg")) {
        const ms_backend_ctx be = {.n_threads = 1, .gemm = gc, .weights_bf16 = kind == HELD_BF16};
        CHECK(ms_gemm_linear(gc, be.n_threads, Y, X, W, b, 7, in, out, MS_ACT_GELU_TANH, 0) == 0 &&
                  ms_gemm_linear(gc, be.n_threads, Y, X, W, b, 7, in, out, MS_ACT_NONE, 1) == 0,
              "fused products refused on a brgemm kernel (%s, %s)", kind_name[kind], ms_gemm_cache_describe(gc));
    }
    free(X), free(W), free(b), free(Y), free(Y2), free(L), free(R), free(S);
    ms_gemm_cache_free(gc);
}

// More products than the cache keeps (row counts 1..90, each a fused and an unfused plan): the
// evicted and recompiled plans still give the unfused path's bits.
static void test_fused_eviction(void) {
    ms_gemm_cache *gc = ms_gemm_cache_new(MS_COMPUTE_F32);
    if (!gc) { printf("fused products' eviction: no weight cache, skipped\n"); return; }
    enum { IN = 33, OUT = 19, NMAX = 90 };
    float *X = rand_buf((size_t)NMAX * IN, 2), *W = rand_buf((size_t)OUT * IN, 1), *b = rand_buf(OUT, 1);
    float *R = rand_buf((size_t)NMAX * OUT, 1), *Y = ms_malloc((size_t)NMAX * OUT * sizeof(float));
    float *Y2 = ms_malloc((size_t)NMAX * OUT * sizeof(float)), *S = ms_malloc((size_t)NMAX * OUT * sizeof(float));
    const ms_backend_ctx be = {.n_threads = 1, .gemm = gc};
    int bad = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int N = 1; N <= NMAX; N++) {
            const size_t n = (size_t)N * OUT;
            memcpy(Y, R, n * sizeof(float));
            memcpy(Y2, R, n * sizeof(float));
            bad += ms_op_linear_add(&be, Y, X, W, b, N, IN, OUT, S) != 0;
            ms_op_linear(&be, S, X, W, NULL, N, IN, OUT);
            ms_op_add_bias(&be, Y2, S, b, N, OUT);
            bad += memcmp(Y, Y2, n * sizeof(float)) != 0;
        }
    CHECK(!bad, "fused products across cache eviction: %d row counts differ from the unfused path", bad);
    free(X), free(W), free(b), free(R), free(Y), free(Y2), free(S);
    ms_gemm_cache_free(gc);
}

// ---- row and elementwise kernels: reference per element in double; results identical for 1 and 3
// threads (same bits), and within a few ulp of the reference.
static int near_rel(float got, double ref, double rel, double abs_floor) {
    return fabs(got - ref) <= rel * fabs(ref) + abs_floor;
}

static void test_norms(int N, int C) {
    const float eps = 1e-5f;
    float *x = rand_buf((size_t)N * C, 3), *w = rand_buf(C, 1), *b = rand_buf(C, 1);
    for (size_t i = 0; i < (size_t)N * C; i++) x[i] += 0.5f; // a nonzero mean to subtract
    float *o[2], *g[2];
    for (int variant = 0; variant < 3; variant++) { // layernorm without gain, with gain+bias, with gain only
        const float *wv = variant ? w : NULL, *bv = variant == 1 ? b : NULL;
        for (int c = 0; c < 2; c++) {
            o[c] = ms_malloc((size_t)N * C * sizeof(float));
            ms_op_layernorm(ctxs[c], o[c], x, wv, bv, N, C, eps);
        }
        int bad = 0;
        for (int r = 0; r < N; r++) {
            const float *xr = x + (size_t)r * C;
            double mean = 0, var = 0;
            for (int i = 0; i < C; i++) mean += xr[i];
            mean /= C;
            for (int i = 0; i < C; i++) var += (xr[i] - mean) * (xr[i] - mean);
            const double s = 1 / sqrt(var / C + eps);
            for (int i = 0; i < C; i++) {
                double ref = (xr[i] - mean) * s;
                if (wv) ref = ref * wv[i] + (bv ? bv[i] : 0);
                bad += !near_rel(o[0][(size_t)r * C + i], ref, 1e-5, 1e-5);
            }
        }
        CHECK(!bad, "layernorm N%d C%d variant %d: %d entries off", N, C, variant, bad);
        CHECK(!memcmp(o[0], o[1], (size_t)N * C * sizeof(float)), "layernorm N%d C%d: thread count changes bits", N, C);
        free(o[0]), free(o[1]);
    }
    for (int gain = 0; gain < 2; gain++) {
        for (int c = 0; c < 2; c++) {
            g[c] = ms_malloc((size_t)N * C * sizeof(float));
            ms_op_rmsnorm(ctxs[c], g[c], x, gain ? w : NULL, N, C, eps);
        }
        int bad = 0;
        for (int r = 0; r < N; r++) {
            const float *xr = x + (size_t)r * C;
            double ss = 0;
            for (int i = 0; i < C; i++) ss += (double)xr[i] * xr[i];
            const double s = 1 / sqrt(ss / C + eps);
            for (int i = 0; i < C; i++)
                bad += !near_rel(g[0][(size_t)r * C + i], xr[i] * s * (gain ? w[i] : 1.0), 1e-5, 1e-6);
        }
        CHECK(!bad, "rmsnorm N%d C%d gain %d: %d entries off", N, C, gain, bad);
        CHECK(!memcmp(g[0], g[1], (size_t)N * C * sizeof(float)), "rmsnorm N%d C%d: thread count changes bits", N, C);
        free(g[0]), free(g[1]);
    }
    free(x), free(w), free(b);
}

static double gelu_new_ref(double v) { return 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); }

// Runs one in-place kernel on a copy for each thread count; checks the two agree bit for bit and
// each element against ref(i). Returns the 1-thread result (caller frees).
typedef void (*apply_fn)(const ms_backend_ctx *be, float *x, const void *arg);
static void check_elementwise(const char *name, const float *x0, size_t n, apply_fn f, const void *arg,
                              double (*ref)(size_t i, const void *arg), double rel, double abs_floor) {
    float *r[2];
    for (int c = 0; c < 2; c++) {
        r[c] = copy_buf(x0, n);
        f(ctxs[c], r[c], arg);
    }
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += !near_rel(r[0][i], ref(i, arg), rel, abs_floor);
    CHECK(!bad, "%s (%zu elements): %zu off", name, n, bad);
    CHECK(!memcmp(r[0], r[1], n * sizeof(float)), "%s (%zu elements): thread count changes bits", name, n);
    free(r[0]), free(r[1]);
}

typedef struct {
    const float *x, *y, *w, *b;
    int N, C;
} ew_args;
static void ap_gain(const ms_backend_ctx *be, float *x, const void *a_) {
    const ew_args *a = a_;
    ms_op_gain(be, x, a->w, a->b, a->N, a->C);
}
static double rf_gain(size_t i, const void *a_) {
    const ew_args *a = a_;
    return (double)a->x[i] * a->w[i % a->C] + (a->b ? a->b[i % a->C] : 0);
}
static void ap_add(const ms_backend_ctx *be, float *x, const void *a_) {
    const ew_args *a = a_;
    ms_op_add(be, x, a->y, (size_t)a->N * a->C);
}
static double rf_add(size_t i, const void *a_) {
    const ew_args *a = a_;
    return (double)a->x[i] + a->y[i];
}
static void ap_bias(const ms_backend_ctx *be, float *x, const void *a_) {
    const ew_args *a = a_;
    ms_op_bias(be, x, a->b, a->N, a->C);
}
static double rf_bias(size_t i, const void *a_) {
    const ew_args *a = a_;
    return (double)a->x[i] + (a->b ? a->b[i % a->C] : 0);
}
static void ap_add_bias(const ms_backend_ctx *be, float *x, const void *a_) {
    const ew_args *a = a_;
    ms_op_add_bias(be, x, a->y, a->b, a->N, a->C);
}
static double rf_add_bias(size_t i, const void *a_) {
    const ew_args *a = a_;
    return (double)a->x[i] + a->y[i] + (a->b ? a->b[i % a->C] : 0);
}
static void ap_gelu(const ms_backend_ctx *be, float *x, const void *a_) {
    const ew_args *a = a_;
    ms_op_gelu_new(be, x, (size_t)a->N * a->C);
}
static double rf_gelu(size_t i, const void *a_) {
    const ew_args *a = a_;
    return gelu_new_ref(a->x[i]);
}
static void ap_swiglu(const ms_backend_ctx *be, float *x, const void *a_) {
    const ew_args *a = a_;
    ms_op_swiglu(be, x, a->y, (size_t)a->N * a->C);
}
static double rf_swiglu(size_t i, const void *a_) {
    const ew_args *a = a_;
    double g = a->x[i];
    return g / (1 + exp(-g)) * a->y[i];
}

static void test_elementwise(int N, int C) {
    const size_t n = (size_t)N * C;
    float *x = rand_buf(n, 4), *y = rand_buf(n, 2), *w = rand_buf(C, 1), *b = rand_buf(C, 1);
    for (int with_b = 0; with_b < 2; with_b++) {
        const ew_args a = {x, y, w, with_b ? b : NULL, N, C};
        char name[64];
        // one or two float roundings of exactly rounded inputs: 2 eps relative (+ cancellation floor)
        snprintf(name, sizeof name, "gain b%d N%d C%d", with_b, N, C);
        check_elementwise(name, x, n, ap_gain, &a, rf_gain, 2.5e-7, 1e-6);
        snprintf(name, sizeof name, "bias b%d N%d C%d", with_b, N, C);
        check_elementwise(name, x, n, ap_bias, &a, rf_bias, 2.5e-7, 1e-6);
        snprintf(name, sizeof name, "add_bias b%d N%d C%d", with_b, N, C);
        check_elementwise(name, x, n, ap_add_bias, &a, rf_add_bias, 2.5e-7, 1e-6);
    }
    const ew_args a = {x, y, w, NULL, N, C};
    check_elementwise("add", x, n, ap_add, &a, rf_add, 1.2e-7, 1e-7);
    // ms_expf (~2 ulp) inside: a few ulp relative, with a floor where gelu's output is ~0
    check_elementwise("gelu_new", x, n, ap_gelu, &a, rf_gelu, 2e-6, 1e-7);
    check_elementwise("swiglu", x, n, ap_swiglu, &a, rf_swiglu, 2e-6, 1e-7);
    free(x), free(y), free(w), free(b);
}

static void test_expf(void) {
    int bad = 0;
    for (double v = -87.0; v <= 88.0; v += 0.0137) {
        const double ref = exp((float)v);
        bad += !(fabs(ms_expf((float)v) - ref) <= 3 * FLT_EPSILON * ref);
    }
    CHECK(!bad, "ms_expf: %d of the grid beyond 3 ulp", bad);
    CHECK(ms_expf(-INFINITY) == 0.0f && ms_expf(-100.0f) == 0.0f, "ms_expf of -inf / -100 must be exactly 0");
    CHECK(ms_expf(0.0f) == 1.0f, "ms_expf(0) = %.9g", ms_expf(0.0f));
    // non-finite and huge inputs (weights a corrupt checkpoint may hold) are defined behaviour under
    // UBSan: NaN stays NaN, +inf and huge values clamp to exp(88), gelu_new of NaN is NaN
    CHECK(isnan(ms_expf(NAN)) && isnan(ms_expf(-NAN)), "ms_expf(NaN) must be NaN");
    const float e88 = ms_expf(88.0f);
    CHECK(ms_expf(INFINITY) == e88 && ms_expf(3e38f) == e88 && isfinite(e88), "ms_expf(+inf / 3e38) must clamp to exp(88)");
    CHECK(ms_expf(-3e38f) == 0.0f, "ms_expf(-3e38) must be 0");
    CHECK(isnan(ms_gelu_new1(NAN)), "gelu_new(NaN) must be NaN");
}

static void test_rope(int N, int T, int heads, int Dh, int half) {
    const int P = Dh / 2;
    const size_t n = (size_t)N * heads * Dh;
    float *x = rand_buf(n, 1), *cs = ms_malloc((size_t)T * P * sizeof(float)),
          *sn = ms_malloc((size_t)T * P * sizeof(float));
    for (int t = 0; t < T; t++)
        for (int i = 0; i < P; i++) {
            const double ang = t * pow(10000.0, -2.0 * i / Dh);
            cs[(size_t)t * P + i] = (float)cos(ang), sn[(size_t)t * P + i] = (float)sin(ang);
        }
    float *r[2];
    for (int c = 0; c < 2; c++) {
        r[c] = copy_buf(x, n);
        ms_op_rope(ctxs[c], r[c], N, T, heads, Dh, half, cs, sn);
    }
    int bad = 0;
    for (int row = 0; row < N; row++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < P; i++) {
                const size_t base = ((size_t)row * heads + h) * Dh;
                const size_t ia = base + (half ? i : 2 * i), ib = base + (half ? i + P : 2 * i + 1);
                const double c = cs[(size_t)(row % T) * P + i], s = sn[(size_t)(row % T) * P + i];
                const double ra = x[ia] * c - x[ib] * s, rb = x[ia] * s + x[ib] * c;
                bad += !near_rel(r[0][ia], ra, 1e-6, 2e-7) + !near_rel(r[0][ib], rb, 1e-6, 2e-7);
            }
    CHECK(!bad, "rope N%d T%d heads%d Dh%d half%d: %d entries off", N, T, heads, Dh, half, bad);
    CHECK(!memcmp(r[0], r[1], n * sizeof(float)), "rope: thread count changes bits");
    free(x), free(cs), free(sn), free(r[0]), free(r[1]);
}

// ---- attention: q, k, v inside one fused (B*T, H*Dh + 2*Hkv*Dh) buffer (strided rows) against a
// naive causal softmax(Q Kᵀ / sqrt(Dh)) V in double.
static void test_attention(int B, int T, int H, int Hkv, int Dh) {
    const int QD = H * Dh, KD = Hkv * Dh, ld = QD + 2 * KD, N = B * T;
    float *qkv = rand_buf((size_t)N * ld, 2);
    const size_t zn = (size_t)N * QD, TT = (size_t)T * T;
    float *zf = ms_calloc(zn, sizeof(float)), *z3 = ms_calloc(zn, sizeof(float));
    float *att = ms_malloc((size_t)B * H * TT * sizeof(float)), *scratch = ms_malloc(3 * ms_attention_scratch_floats() * sizeof(float));
    ms_attention_io io = {.q = qkv,
                          .k = qkv + QD,
                          .v = qkv + QD + KD,
                          .ldq = ld,
                          .ldkv = ld,
                          .z = zf,
                          .B = B,
                          .T = T,
                          .H = H,
                          .Hkv = Hkv,
                          .Dh = Dh};
    ms_op_attention(&three, &io, scratch);
    io.z = z3;
    ms_op_attention_scores(&one, &io, att);
    // scores: -inf above the diagonal, the scaled dot product on and below it
    int bad_scores = 0;
    double *p = ms_malloc((size_t)T * sizeof(double));
    size_t bad = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const int kvh = h / (H / Hkv);
            const float *S = att + ((size_t)b * H + h) * TT;
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)b * T + t) * ld + (size_t)h * Dh;
                double mx = -INFINITY, sum = 0, score_tol = 0;
                for (int j = 0; j <= t; j++) {
                    const float *k = qkv + ((size_t)b * T + j) * ld + QD + (size_t)kvh * Dh;
                    double d = 0, mag = 0;
                    for (int i = 0; i < Dh; i++) d += (double)q[i] * k[i], mag += fabs((double)q[i] * k[i]);
                    p[j] = d / sqrt((double)Dh);
                    const double tol = DOT_TOL(Dh + 2, mag / sqrt((double)Dh));
                    bad_scores += !(fabs(S[(size_t)t * T + j] - p[j]) <= tol);
                    score_tol = tol > score_tol ? tol : score_tol;
                    mx = p[j] > mx ? p[j] : mx;
                }
                for (int j = t + 1; j < T; j++) bad_scores += S[(size_t)t * T + j] != -INFINITY;
                for (int j = 0; j <= t; j++) p[j] = exp(p[j] - mx), sum += p[j];
                for (int i = 0; i < Dh; i++) {
                    double zr = 0, mag = 0;
                    for (int j = 0; j <= t; j++) {
                        const double v = qkv[((size_t)b * T + j) * ld + QD + KD + (size_t)kvh * Dh + i];
                        zr += p[j] / sum * v, mag += fabs(p[j] / sum * v);
                    }
                    // softmax entries carry a few ulp (ms_expf, the division) on top of the dot product,
                    // and the scores' own error: exp turns an absolute error e of a score into a
                    // relative one of its weight, e again through the normalising sum (2 e at most)
                    const float got = zf[((size_t)b * T + t) * QD + (size_t)h * Dh + i];
                    bad += !(fabs(got - zr) <= DOT_TOL(t + 2, mag) + (4e-7 + 2.0 * score_tol) * mag);
                }
            }
        }
    CHECK(!bad_scores, "attention scores B%d T%d H%d Hkv%d Dh%d: %d entries off", B, T, H, Hkv, Dh, bad_scores);
    CHECK(!bad, "attention B%d T%d H%d Hkv%d Dh%d: %zu outputs off", B, T, H, Hkv, Dh, bad);
    ms_op_attention_softmax(&three, &io, att);
    ms_op_attention_values(&one, &io, att);
    double md = 0; // the fused online softmax and the materialised pattern: equal to rounding
    for (size_t i = 0; i < zn; i++) md = fmax(md, fabs((double)zf[i] - z3[i]) / (1.0 + fabs((double)z3[i])));
    CHECK(md <= 2e-6, "attention B%d T%d: fused and three-step paths differ by %.3g", B, T, md);
    // an edited pattern that attends ahead (uniform over all T keys) takes the full product
    for (size_t i = 0; i < (size_t)B * H * TT; i++) att[i] = 1.0f / T;
    ms_op_attention_values(&three, &io, att);
    bad = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < Dh; i++) {
                    double zr = 0, mag = 0;
                    for (int j = 0; j < T; j++) {
                        const double v = qkv[((size_t)b * T + j) * ld + QD + KD + (size_t)(h / (H / Hkv)) * Dh + i];
                        zr += v / T, mag += fabs(v) / T;
                    }
                    bad += !(fabs(z3[((size_t)b * T + t) * QD + (size_t)h * Dh + i] - zr) <=
                             DOT_TOL(T + 1, mag) + 1e-7 * mag);
                }
    CHECK(!bad, "attention values of a non-causal pattern B%d T%d: %zu off", B, T, bad);
    free(qkv), free(zf), free(z3), free(att), free(scratch), free(p);
}

// ---- the encoder product: pre (rows, S) = x (rows, d) · W_enc (d, S) + be
static void test_enc_gemm(int d, int S, int rows, ms_enc_dtype dt, ms_enc_wlayout wl) {
    ms_enc_gemm *g = ms_enc_gemm_new(d, S, rows, dt, wl);
    if (!g) {
        printf("enc_gemm %s: not available here (%s), skipped\n", ms_enc_dtype_name(dt), ms_last_error());
        CHECK(dt == MS_ENC_BF16, "the f32 encoder product must always be available");
        return;
    }
    float *x = rand_buf((size_t)rows * d, 1), *W = rand_buf((size_t)d * S, 1), *be = rand_buf(S, 1);
    float *pre = ms_malloc((size_t)rows * S * sizeof(float));
    CHECK(ms_enc_gemm_set_weights(g, W) == 0, "set_weights: %s", ms_last_error());
    CHECK(ms_enc_gemm_rows(g, x, rows, be, pre) == 0, "enc_gemm_rows: %s", ms_last_error());
    size_t bad = 0;
    for (int r = 0; r < rows; r++)
        for (int s = 0; s < S; s++) {
            double ref = be[s], mag = fabs(be[s]);
            for (int i = 0; i < d; i++) {
                const double w = wl == MS_ENC_WT ? W[(size_t)s * d + i] : W[(size_t)i * S + s];
                ref += x[(size_t)r * d + i] * w, mag += fabs(x[(size_t)r * d + i] * w);
            }
            const double tol = DOT_TOL(d + 1, mag) + (dt == MS_ENC_BF16 ? mag / 128 : 0);
            bad += !(fabs(pre[(size_t)r * S + s] - ref) <= tol);
        }
    CHECK(!bad, "enc_gemm %s (%s) d%d S%d rows%d layout %d: %zu entries off", ms_enc_dtype_name(dt),
          ms_enc_gemm_describe(g), d, S, rows, (int)wl, bad);
    if (wl == MS_ENC_WT && ms_enc_gemm_can_pack(g)) { // packing rows in pieces = laying out all at once
        float *pre2 = ms_malloc((size_t)rows * S * sizeof(float));
        ms_enc_gemm_pack_rows(g, W, 0, S / 3);
        ms_enc_gemm_pack_rows(g, W, S / 3, S);
        CHECK(ms_enc_gemm_rows(g, x, rows, be, pre2) == 0, "enc_gemm_rows after pack: %s", ms_last_error());
        CHECK(!memcmp(pre, pre2, (size_t)rows * S * sizeof(float)), "enc_gemm %s: pack_rows differs from set_weights",
              ms_enc_dtype_name(dt));
        free(pre2);
    }
    free(x), free(W), free(be), free(pre);
    ms_enc_gemm_free(g);
}

int main(void) {
    static const int mnk[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 31, 13}, {64, 65, 67}, {130, 33, 257}, {2, 300, 129}};
    for (size_t s = 0; s < sizeof mnk / sizeof mnk[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) test_sgemm(mnk[s][0], mnk[s][1], mnk[s][2], ta, tb, s % 2 ? 3 : 0);
    test_linear(1, 1, 1, 1);
    test_linear(7, 33, 19, 0);
    test_linear(70, 96, 130, 1);
    for (int dt = 0; dt < 2; dt++) {
        test_linear_cached(33, 19, (ms_compute)dt);
        test_linear_cached(96, 130, (ms_compute)dt);
        test_linear_cached(768, 2304, (ms_compute)dt);
    }
    for (int kind = PLAIN; kind <= HELD_BF16; kind++) {
        test_fused_products(33, 19, kind);
        test_fused_products(3072, 100, kind);
    }
    test_fused_eviction();
    // rows × width: tiny, odd, and large enough (>= 65536 elements) for the row loops to fork
    static const int nc[][2] = {{1, 1}, {3, 7}, {7, 33}, {300, 257}};
    for (size_t s = 0; s < sizeof nc / sizeof nc[0]; s++) {
        test_norms(nc[s][0], nc[s][1]);
        test_elementwise(nc[s][0], nc[s][1]);
    }
    test_expf();
    for (int half = 0; half < 2; half++) {
        test_rope(5, 5, 1, 2, half);
        test_rope(14, 7, 3, 10, half);
        test_rope(600, 300, 4, 32, half);
    }
    test_attention(1, 1, 1, 1, 4);
    test_attention(2, 5, 4, 2, 8);
    test_attention(2, 65, 6, 3, 12);  // crosses one query block of 64
    test_attention(1, 130, 4, 1, 16); // multi-query, two block boundaries
    test_attention(3, 100, 8, 8, 64); // enough work for the (sequence, head) loop to fork
    test_attention(1, 300, 2, 1, 16); // three key blocks of the online softmax
    for (int dt = 0; dt < 2; dt++) {
        test_enc_gemm(33, 70, 5, (ms_enc_dtype)dt, MS_ENC_WT);
        test_enc_gemm(64, 128, 37, (ms_enc_dtype)dt, MS_ENC_W);
        test_enc_gemm(128, 512, 64, (ms_enc_dtype)dt, MS_ENC_WT);
    }
    return ms_test_summary("test_backend_ops");
}
