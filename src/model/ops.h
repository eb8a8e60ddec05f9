// ops.h: the elementwise and row-wise kernels of the forward pass (private to src/model).
// Every kernel works on contiguous (N, C) row-major buffers and is deterministic: rows are split
// across threads, but each row is computed by one thread in a fixed order.
#ifndef MS_OPS_H
#define MS_OPS_H
#include <stddef.h>

// Y(N, out) = X(N, in) · W(out, in)ᵀ + b   (b may be NULL); one sgemm.
void ms_op_linear(float *Y, const float *X, const float *W, const float *b, int N, int in, int out);
// out(N,C) = (x - mean) / sqrt(var + eps) per row (LayerNorm without gain/bias).
void ms_op_layernorm_core(float *out, const float *x, int N, int C, float eps);
// out(N,C) = x / sqrt(mean(x²) + eps) per row (RMSNorm without gain).
void ms_op_rmsnorm_core(float *out, const float *x, int N, int C, float eps);
// x(N,C) = x * w + b  (b may be NULL)
void ms_op_gain(float *x, const float *w, const float *b, int N, int C);
// x(n) += y(n)
void ms_op_add(float *x, const float *y, size_t n);
// x(n) = gelu_new(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³)))
void ms_op_gelu_new(float *x, size_t n);
// g(n) = silu(g) * u = g * sigmoid(g) * u
void ms_op_swiglu(float *g, const float *u, size_t n);
// Rotates pairs of each head of x (N rows of n_heads * Dh) by position (row % T):
// interleaved: pairs (2i, 2i+1); half: pairs (i, i + Dh/2). cos/sin tables are (T, Dh/2).
void ms_op_rope(float *x, int N, int T, int n_heads, int Dh, int half_style, const float *cos_t,
                const float *sin_t);
#endif
