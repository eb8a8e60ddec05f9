// backend.h: the kernels of the forward pass (GEMMs, norms, activations, RoPE, attention), with one
// CPU implementation: weight products on oneDNN's matmul where monoscope is built with it, else
// OpenBLAS sgemm (cpu_gemm.c, gemm_cache.c), and OpenMP loops (cpu_ops.c, cpu_attention.c). The SAE
// encoder's f32/bf16 product is enc_gemm.h, beside it; both use the oneDNN glue of dnnl_util.h.
//
// A header of plain functions, not a struct of function pointers as in ggml's backends: there is one
// implementation, so a table would add an indirect call per kernel (and block inlining) for no choice
// anyone can make at run time; a second backend would be a second component implementing this same
// header, picked when linking. The forward pass calls kernels only through this header.
//
// Dimensions as in model/model.h: N rows (= B*T tokens), C model width, H / Hkv query / key-value
// heads, Dh head width, F MLP width. Every kernel works on contiguous row-major buffers and is
// deterministic: rows are split across threads, but each row is computed by one thread in a fixed
// order, so results do not depend on the thread count (only sgemm's internal blocking might).
//
// Threads: every kernel takes an ms_backend_ctx and runs on at most ctx->n_threads (num_threads
// clauses; OpenBLAS is handed the same count per call, cpu_gemm.c). Nothing here sets process-wide
// OpenMP state.
#ifndef MS_BACKEND_H
#define MS_BACKEND_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// exp(x) for float32 in plain arithmetic that compilers vectorise (libm's expf is a call per
// element): x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), e^r by its degree-7 Taylor
// polynomial (truncation < 2e-9 relative), times 2^n built in the exponent bits. Max error ~2 ulp.
// Returns 0 below -87.3 (where expf turns denormal) and clamps above 88.
static inline float ms_expf(float x) {
    const float hi = x > 88.0f ? 88.0f : x;
    const float xc = hi < -87.3f ? -87.3f : hi;
    const float shift = 12582912.0f; // 1.5 * 2^23: adding it rounds to an integer in the low bits
    const float t = xc * 1.44269504088896341f + shift;
    const float n = t - shift;
    const float r = (xc - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t ti;
    memcpy(&ti, &t, sizeof ti);
    // integer n from t's mantissa, biased; shifted as unsigned so that every input, NaN included,
    // is defined behaviour (a NaN x gives a NaN p, so the result stays NaN)
    const uint32_t bits = (uint32_t)(ti - 0x4B400000 + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return hi < -87.3f ? 0.0f : p * s;
}

// Row reductions in MS_LANES interleaved partials (element i goes to partial i % MS_LANES), folded
// pairwise at the end. One running float sum is a chain of dependent adds (one per ~4 cycles: 3,000
// cycles for a 768-wide LayerNorm row); without -ffast-math a compiler must keep that order, so it
// cannot vectorise it. The partials are independent, so each step is one vector add, and the order
// is still fixed: the same bits on every call and every thread count.
#define MS_LANES 16
// The partials live in one vector (GCC/Clang vector extensions) and are folded in registers by
// shuffles: kept as a float array, they went through memory, and the fold's 8-, 4- and 2-wide loads
// at offsets into the loop's 64-byte store stalled on store forwarding; short rows (an attention
// tile's 64-128 keys) spent as long folding as summing. Same pairwise order, so the same bits.
typedef float ms_f32x16 __attribute__((vector_size(64)));
typedef float ms_f32x8 __attribute__((vector_size(32)));
typedef float ms_f32x4 __attribute__((vector_size(16)));
typedef int32_t ms_i32x8 __attribute__((vector_size(32)));
typedef int32_t ms_i32x4 __attribute__((vector_size(16)));
// __builtin_shufflevector: GCC 12 or later (Debian 12's), or Clang.
// Vectors are passed by pointer, never by value: a 64-byte vector argument's ABI depends on whether
// AVX-512 is enabled, and compilers warn about it in builds without -march=native.
static inline void ms_lanes_load(ms_f32x16 *v, const float *x) { memcpy(v, x, sizeof *v); }
static inline float ms_fold_vec(const ms_f32x16 *v) {
    const ms_f32x8 s8 = __builtin_shufflevector(*v, *v, 0, 1, 2, 3, 4, 5, 6, 7) +
                        __builtin_shufflevector(*v, *v, 8, 9, 10, 11, 12, 13, 14, 15);
    const ms_f32x4 s4 = __builtin_shufflevector(s8, s8, 0, 1, 2, 3) + __builtin_shufflevector(s8, s8, 4, 5, 6, 7);
    const float s0 = s4[0] + s4[2], s1 = s4[1] + s4[3];
    return s0 + s1;
}
static inline float ms_fold_lanes(const float *acc) {
    ms_f32x16 v;
    ms_lanes_load(&v, acc);
    return ms_fold_vec(&v);
}
// The same fold for a max: lane l becomes v[l + w] > v[l] ? v[l + w] : v[l].
static inline float ms_fold_vec_max(const ms_f32x16 *v) {
    const ms_f32x8 lo8 = __builtin_shufflevector(*v, *v, 0, 1, 2, 3, 4, 5, 6, 7);
    const ms_f32x8 hi8 = __builtin_shufflevector(*v, *v, 8, 9, 10, 11, 12, 13, 14, 15);
    const ms_i32x8 gt8 = hi8 > lo8;
    const ms_f32x8 m8 = (ms_f32x8)(((ms_i32x8)hi8 & gt8) | ((ms_i32x8)lo8 & ~gt8));
    const ms_f32x4 lo4 = __builtin_shufflevector(m8, m8, 0, 1, 2, 3), hi4 = __builtin_shufflevector(m8, m8, 4, 5, 6, 7);
    const ms_i32x4 gt4 = hi4 > lo4;
    const ms_f32x4 m4 = (ms_f32x4)(((ms_i32x4)hi4 & gt4) | ((ms_i32x4)lo4 & ~gt4));
    const float m0 = m4[2] > m4[0] ? m4[2] : m4[0], m1 = m4[3] > m4[1] ? m4[3] : m4[1];
    return m1 > m0 ? m1 : m0;
}
// x[0..n) (n < MS_LANES) in lanes 0..n-1, pad in the others.
static inline void ms_lanes_load_part(ms_f32x16 *v, const float *x, int n, float pad) {
    float t[MS_LANES];
    for (int l = 0; l < MS_LANES; l++) t[l] = l < n ? x[l] : pad;
    ms_lanes_load(v, t);
}
// Σ x[i]. A partial group's missing lanes add -0, which leaves every partial as it was.
static inline float ms_sum(const float *x, int n) {
    ms_f32x16 acc = {0}, v;
    int i = 0;
    for (; i + MS_LANES <= n; i += MS_LANES) {
        ms_lanes_load(&v, x + i);
        acc += v;
    }
    if (i < n) {
        ms_lanes_load_part(&v, x + i, n - i, -0.0f);
        acc += v;
    }
    return ms_fold_vec(&acc);
}
// Σ (x[i] - c)²
static inline float ms_sum_sq_dev(const float *x, int n, float c) {
    ms_f32x16 acc = {0}, v;
    int i = 0;
    for (; i + MS_LANES <= n; i += MS_LANES) {
        ms_lanes_load(&v, x + i);
        v -= c;
        acc += v * v;
    }
    if (i < n) { // missing lanes hold d = 0: d * d adds +0 to a partial that is never -0
        float t[MS_LANES];
        for (int l = 0; l < MS_LANES; l++) t[l] = i + l < n ? x[i + l] - c : 0.0f;
        ms_lanes_load(&v, t);
        acc += v * v; // the main loop's expression, so a compiler that contracts it to an FMA does so in both
    }
    return ms_fold_vec(&acc);
}
// *acc = max(*acc, x) per lane, as `x > m ? x : m` (a NaN x leaves m).
static inline void ms_lanes_max(ms_f32x16 *acc, const ms_f32x16 *x) {
    typedef int32_t i32x16 __attribute__((vector_size(64)));
    const i32x16 gt = *x > *acc;
    *acc = (ms_f32x16)(((i32x16)*x & gt) | ((i32x16)*acc & ~gt));
}
// max(m0, x[0..n)), NaNs skipped; a partial group's missing lanes are -inf.
static inline float ms_max(const float *x, int n, float m0) {
    float init[MS_LANES];
    for (int l = 0; l < MS_LANES; l++) init[l] = m0;
    ms_f32x16 acc, v;
    ms_lanes_load(&acc, init);
    int i = 0;
    for (; i + MS_LANES <= n; i += MS_LANES) {
        ms_lanes_load(&v, x + i);
        ms_lanes_max(&acc, &v);
    }
    if (i < n) {
        ms_lanes_load_part(&v, x + i, n - i, -INFINITY);
        ms_lanes_max(&acc, &v);
    }
    return ms_fold_vec_max(&acc);
}

// gelu_new of one value: 0.5 (1 + tanh(u)) = sigmoid(2u), so gelu_new(v) = v / (1 + exp(-2u)).
// Shared by the plain and the bias-fused kernels so both give the same bits.
static inline float ms_gelu_new1(float v) {
    const float k2 = -2.0f * 0.7978845608028654f; // -2 sqrt(2/pi)
    return v / (1.0f + ms_expf(k2 * (v + 0.044715f * v * v * v)));
}

// The weight products' cache (gemm_cache.c): each weight matrix laid out once in the layout the
// oneDNN kernel reads, and one compiled product per shape. Owned by whoever owns the weights'
// lifetime (a forward state); NULL: products run on OpenBLAS sgemm.
typedef struct ms_gemm_cache ms_gemm_cache;

// How many threads the kernels of one call may use. Decided by the caller (a forward pass runs
// small problems on one thread); n_threads >= 1. gemm: the cache ms_op_linear uses, or NULL.
// weights_bf16: the weight matrices ms_op_linear is given hold bfloat16 values (uint16_t behind the
// float pointer; model.h weights_bf16); gemm is then NULL (products widen W, cpu_gemm.c) or a cache
// made by ms_gemm_cache_new_bf16_weights (products read W in place).
typedef struct {
    int n_threads;
    ms_gemm_cache *gemm;
    int weights_bf16;
} ms_backend_ctx;

// ---- GEMM (cpu_gemm.c)
// C(M, N) = alpha · op(A)(M, K) · op(B)(K, N) + beta · C, row-major with leading dimensions lda, ldb,
// ldc; op(A) = Aᵀ when trans_a (A stored (K, M)), likewise B. oneDNN sgemm (OpenBLAS without oneDNN) on ctx->n_threads
// threads (one when called from inside a parallel region).
void ms_op_sgemm(const ms_backend_ctx *be, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc);
// Y(N, out) = X(N, in) · W(out, in)ᵀ + b   (b may be NULL). With be->gemm, oneDNN's matmul on W's
// cached copy in the kernel's layout, bias fused; W must not change while the cache knows it
// (ms_gemm_cache_forget). Otherwise, or if oneDNN fails, one OpenBLAS sgemm, then the bias. Either
// way the bias is added once to the finished product (the bits of the product, then + b), and the
// result for a given shape and thread count is the same on every call.
void ms_op_linear(const ms_backend_ctx *be, float *Y, const float *X, const float *W, const float *b, int N, int in,
                  int out);
// The activation a weight product can end with.
typedef enum { MS_ACT_NONE = 0, MS_ACT_GELU_TANH = 1 } ms_act;
// Y = act(X · Wᵀ + b): with be->gemm the activation is applied in registers as the product's tiles
// are finished (a oneDNN post-op: no second pass over Y); otherwise ms_op_linear then ms_op_act.
// Bit for bit ms_op_linear followed by ms_op_act with the same be, so a hook may look at the biased
// product in between without changing anything. 0, or -1 + ms_error as ms_op_act.
int ms_op_linear_act(const ms_backend_ctx *be, float *Y, const float *X, const float *W, const float *b, int N,
                     int in, int out, ms_act act);
// x(N, C) = act(x), in the arithmetic ms_op_linear_act uses with this be: oneDNN's (the post-op's
// code) with be->gemm, else ours (MS_ACT_GELU_TANH: ms_op_gelu_new). 0, or -1 + ms_error when oneDNN
// failed part way through x (which is then undefined).
int ms_op_act(const ms_backend_ctx *be, float *x, int N, int C, ms_act act);
// Y(N, out) += X · Wᵀ + b, a residual add done by the product: with be->gemm, a oneDNN sum post-op
// (Y's old rows are read as each tile is finished: no (N, out) intermediate and no second pass);
// otherwise, or where oneDNN's kernel would not keep the bits, ms_op_linear into scratch (N, out)
// without bias, then ms_op_add_bias. The bits of that second way either way: Y + (product + b).
// 0, or -1 + ms_error when oneDNN failed while adding (Y's rows are then undefined).
int ms_op_linear_add(const ms_backend_ctx *be, float *Y, const float *X, const float *W, const float *b, int N,
                     int in, int out, float *scratch);

// The precision of the weight products. bf16: weights converted to bfloat16 once (into the
// cache's copy) and the inputs per product, fp32 accumulation and output; every other kernel
// (norms, softmax, residual adds) stays fp32.
typedef enum { MS_COMPUTE_F32 = 0, MS_COMPUTE_BF16 = 1 } ms_compute;
// "f32" / "bf16"; parse gives -1 for anything else.
const char *ms_compute_name(ms_compute c);
int ms_compute_parse(const char *s);

// A cache for ms_op_linear. f32: NULL when monoscope is built without oneDNN (products on
// OpenBLAS). bf16: NULL + ms_error without oneDNN or without a bf16 kernel for this CPU.
ms_gemm_cache *ms_gemm_cache_new(ms_compute compute);
// A bf16 cache for weights held as bfloat16 (W(out, in) row-major uint16_t behind the float
// pointer): the products read them in place, in that plain layout (no copy: ~5-10 % slower than
// the kernel's own layout, at half the memory of the model alone). NULL + ms_error without oneDNN
// or a bf16 kernel.
ms_gemm_cache *ms_gemm_cache_new_bf16_weights(void);
void ms_gemm_cache_free(ms_gemm_cache *c);
// Drops the cached copy of W, or of every weight when W is NULL (call after changing, or before
// freeing, weights the cache has seen).
void ms_gemm_cache_forget(ms_gemm_cache *c, const float *W);
// Marks every cached copy stale: the next product with a weight reorders it again from the same
// pointer into the buffer it has (call after changing weights in place, e.g. an optimizer step;
// nothing is allocated or compiled again).
void ms_gemm_cache_refresh(ms_gemm_cache *c);
// "oneDNN 2.6.3 f32|bf16 (<kernel of the last product built>)" or "OpenBLAS sgemm f32", for logs.
const char *ms_gemm_cache_describe(const ms_gemm_cache *c);
// Y = act(X · Wᵀ + b) on the cache (see ms_op_linear_act), or with accumulate Y += that
// (ms_op_linear_add). 0; -1 when it did not run (Y untouched): oneDNN failed to compile it (+ ms_error)
// or, with an activation or accumulate, its kernel would not give the unfused path's bits; -2 +
// ms_error when it failed while running (Y undefined).
int ms_gemm_linear(ms_gemm_cache *c, int n_threads, float *Y, const float *X, const float *W, const float *b, int N,
                   int in, int out, ms_act act, int accumulate);
// x (rows, cols) = act(x) in place by oneDNN's eltwise primitive (the post-op's code); 0, or < 0 +
// ms_error as ms_gemm_linear.
int ms_gemm_act(ms_gemm_cache *c, int n_threads, float *x, int rows, int cols, ms_act act);

// ---- elementwise and row-wise kernels (cpu_ops.c)
// x(N,C) = x * w + b  (b may be NULL)
void ms_op_gain(const ms_backend_ctx *be, float *x, const float *w, const float *b, int N, int C);
// x(n) += y(n)
void ms_op_add(const ms_backend_ctx *be, float *x, const float *y, size_t n);
// x(N,C) += b  (row bias; no-op if b is NULL)
void ms_op_bias(const ms_backend_ctx *be, float *x, const float *b, int N, int C);
// x(N,C) += (y + b)  per element (b may be NULL: x += y). Same bits as ms_op_bias(y) then ms_op_add.
void ms_op_add_bias(const ms_backend_ctx *be, float *x, const float *y, const float *b, int N, int C);
// out(N,C) = (x - mean) / sqrt(var + eps) per row, then * w + b in the same pass (w NULL: no gain
// and no bias; b may be NULL). With w, the same bits as without it followed by ms_op_gain.
void ms_op_layernorm(const ms_backend_ctx *be, float *out, const float *x, const float *w, const float *b, int N, int C,
                     float eps);
// out(N,C) = x / sqrt(mean(x²) + eps) per row, then * w in the same pass (w NULL: no gain); with
// w, the same bits as without it followed by ms_op_gain.
void ms_op_rmsnorm(const ms_backend_ctx *be, float *out, const float *x, const float *w, int N, int C, float eps);
// scale(N) = the divisor of each row's norm: sqrt(var + eps) (center: LayerNorm) or sqrt(mean x² + eps)
// (RMSNorm), TransformerLens' hook_scale; the reciprocal of the factor the two kernels above use.
void ms_op_norm_scale(const ms_backend_ctx *be, float *scale, const float *x, int N, int C, float eps, int center);
// out(N,C) = (x - mean (center) or x) / scale per row: a norm by a given (e.g. frozen) scale, no gain.
void ms_op_norm_by_scale(const ms_backend_ctx *be, float *out, const float *x, const float *scale, int N, int C,
                         int center);
// x(n) = gelu_new(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³)))
void ms_op_gelu_new(const ms_backend_ctx *be, float *x, size_t n);
// x = x * Φ(x) = 0.5 x (1 + erf(x / √2)), the exact gelu (GPT-NeoX "gelu")
void ms_op_gelu_erf(const ms_backend_ctx *be, float *x, size_t n);
// g(n) = silu(g) * u = g * sigmoid(g) * u
void ms_op_swiglu(const ms_backend_ctx *be, float *g, const float *u, size_t n);
// g(n) = gelu_new(g) * u (Gemma's GeGLU)
void ms_op_geglu(const ms_backend_ctx *be, float *g, const float *u, size_t n);
// x(n) = cap * tanh(x / cap) (Gemma 2's logit soft-capping)
void ms_op_softcap(const ms_backend_ctx *be, float *x, float cap, size_t n);
// Rotates pairs of each head of x (N rows of n_heads * Dh) by position (row % T):
// interleaved: pairs (2i, 2i+1); half: pairs (i, i + Dh/2). cos/sin tables are (T, Dh/2).
void ms_op_rope(const ms_backend_ctx *be, float *x, int N, int T, int n_heads, int Dh, int half_style,
                const float *cos_t, const float *sin_t);
// The same on the first rot (even, <= Dh) dims of each head only, pairs (i, i + rot/2) or (2i, 2i+1);
// the other Dh - rot pass through (GPT-NeoX partial rotary). cos/sin tables are (T, rot/2).
void ms_op_rope_dims(const ms_backend_ctx *be, float *x, int N, int T, int n_heads, int Dh, int rot, int half_style,
                     const float *cos_t, const float *sin_t);

// ---- causal multi-head attention (cpu_attention.c)
// Q rows of B sequences × T tokens: q (B*T, ldq) holds head h at columns [h*Dh, (h+1)*Dh); k and v
// (B*T, ldkv) hold the Hkv key/value heads likewise (query head h reads kv head h / (H / Hkv)).
// Row strides let attention read q, k, v straight out of a fused (N, H*Dh + 2*Hkv*Dh) projection.
// z (B*T, H*Dh) is the per-head output, heads side by side.
typedef struct {
    const float *q, *k, *v;
    int ldq, ldkv;
    float *z;
    int B, T, H, Hkv, Dh;
    int window;   // > 0: query t sees keys (t - window, t] only (sliding-window attention); 0: all of [0, t]
    float scale;  // score scale; 0: 1/sqrt(Dh)
    float softcap; // > 0: scores = softcap * tanh(scores / softcap) before the mask (Gemma 2)
    // KV cache (fused path only; 0 for the three-step path): the T query rows sit at positions
    // pos0..pos0+T-1, and k, v hold kv_T rows per sequence (0: T), of which [0, pos0+T) are read.
    int pos0, kv_T;
} ms_attention_io;

// Fused: per (sequence, head), an online softmax over key blocks accumulating P·V into z; no
// (T, T) matrix (agrees with the three-step path to float rounding, not bit for bit). scratch:
// n_threads × ms_attention_scratch_floats(), a small score tile per thread whatever T is.
size_t ms_attention_scratch_floats(void);
void ms_op_attention(const ms_backend_ctx *be, const ms_attention_io *io, float *scratch);
// The same in three steps on a materialised att (B, H, T, T), so a caller can read or edit the
// scores and the pattern between them:
//   scores:  att = Q·Kᵀ · scale (soft-capped), -inf above the diagonal and, with a window, at keys t - window and before
//   softmax: row softmax over all T columns (a fully -inf row becomes 0)
//   values:  Z = P·V; by causal blocks where P is zero above the diagonal (same bits as the fused path)
void ms_op_attention_scores(const ms_backend_ctx *be, const ms_attention_io *io, float *att);
void ms_op_attention_softmax(const ms_backend_ctx *be, const ms_attention_io *io, float *att);
void ms_op_attention_values(const ms_backend_ctx *be, const ms_attention_io *io, const float *att);
#endif
