// ops.h: the elementwise and row-wise kernels of the forward pass (private to src/model).
// Every kernel works on contiguous (N, C) row-major buffers and is deterministic: rows are split
// across threads, but each row is computed by one thread in a fixed order.
#ifndef MS_OPS_H
#define MS_OPS_H
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
    const int32_t bits = (ti - 0x4B400000 + 127) << 23; // integer n from t's mantissa, biased
    float s;
    memcpy(&s, &bits, sizeof s);
    return hi < -87.3f ? 0.0f : p * s;
}

// gelu_new of one value: 0.5 (1 + tanh(u)) = sigmoid(2u), so gelu_new(v) = v / (1 + exp(-2u)).
// Shared by the plain and the bias-fused kernels so both give the same bits.
static inline float ms_gelu_new1(float v) {
    const float k2 = -2.0f * 0.7978845608028654f; // -2 sqrt(2/pi)
    return v / (1.0f + ms_expf(k2 * (v + 0.044715f * v * v * v)));
}

// Y(N, out) = X(N, in) · W(out, in)ᵀ + b   (b may be NULL); one sgemm.
void ms_op_linear(float *Y, const float *X, const float *W, const float *b, int N, int in, int out);
// x(N,C) = x * w + b  (b may be NULL)
void ms_op_gain(float *x, const float *w, const float *b, int N, int C);
// x(n) += y(n)
void ms_op_add(float *x, const float *y, size_t n);
// x(N,C) += b  (row bias; no-op if b is NULL)
void ms_op_bias(float *x, const float *b, int N, int C);
// x(N,C) += (y + b)  per element (b may be NULL: x += y). Same bits as ms_op_bias(y) then ms_op_add.
void ms_op_add_bias(float *x, const float *y, const float *b, int N, int C);
// out(N,C) = (x - mean) / sqrt(var + eps) per row, then * w + b in the same pass (w NULL: no gain
// and no bias; b may be NULL). With w, the same bits as without it followed by ms_op_gain.
void ms_op_layernorm(float *out, const float *x, const float *w, const float *b, int N, int C, float eps);
// out(N,C) = x / sqrt(mean(x²) + eps) per row, then * w in the same pass (w NULL: no gain); with
// w, the same bits as without it followed by ms_op_gain.
void ms_op_rmsnorm(float *out, const float *x, const float *w, int N, int C, float eps);
// x(n) = gelu_new(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³)))
void ms_op_gelu_new(float *x, size_t n);
// x(N,C) = gelu_new(x + b) (b may be NULL); same bits as ms_op_bias then ms_op_gelu_new.
void ms_op_bias_gelu_new(float *x, const float *b, int N, int C);
// g(n) = silu(g) * u = g * sigmoid(g) * u
void ms_op_swiglu(float *g, const float *u, size_t n);
// Rotates pairs of each head of x (N rows of n_heads * Dh) by position (row % T):
// interleaved: pairs (2i, 2i+1); half: pairs (i, i + Dh/2). cos/sin tables are (T, Dh/2).
void ms_op_rope(float *x, int N, int T, int n_heads, int Dh, int half_style, const float *cos_t,
                const float *sin_t);
#endif
