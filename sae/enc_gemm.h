// enc_gemm.h: the SAE encoder's dense product, pre = xc · Wtᵀ + be, (rows, d) · (d, S) -> (rows, S),
// the one O(B·d·S) product of a training step (every other product touches only active latents).
//
// Built with oneDNN (libdnnl-dev), the weights are reordered once per step into the kernel's own
// blocked layout and the product runs on its AVX-512 (fp32) or AMX/AVX512-BF16 (bf16 inputs,
// fp32 accumulation and output) kernels, with the bias fused. Without oneDNN: OpenBLAS sgemm plus
// a bias pass (fp32 only). Results are deterministic for a given thread count either way.
#ifndef MS_SAE_ENC_GEMM_H
#define MS_SAE_ENC_GEMM_H

typedef enum { MS_ENC_F32 = 0, MS_ENC_BF16 = 1 } ms_enc_dtype;

typedef struct ms_enc_gemm ms_enc_gemm;

// A product for up to max_rows rows at a time. NULL + ms_error when the precision is not
// available (bf16 without oneDNN, or on a CPU without bf16 instructions).
ms_enc_gemm *ms_enc_gemm_new(int d, int S, int max_rows, ms_enc_dtype dt);
void ms_enc_gemm_free(ms_enc_gemm *g);

// Takes the current encoder weights Wt (S, d); call whenever they changed. Wt must stay valid
// (the fp32 fallback reads it in place).
int ms_enc_gemm_set_weights(ms_enc_gemm *g, const float *Wt);

// pre (rows, S) = xc (rows, d) · Wtᵀ + be (be may be NULL). rows <= max_rows. 0 / -1 + ms_error.
int ms_enc_gemm_rows(ms_enc_gemm *g, const float *xc, int rows, const float *be, float *pre);

// "oneDNN <version> (<kernel>)" or "OpenBLAS sgemm", for logs.
const char *ms_enc_gemm_describe(const ms_enc_gemm *g);
const char *ms_enc_dtype_name(ms_enc_dtype dt);
// Parses "f32"/"fp32"/"bf16"; -1 if unknown.
int ms_enc_dtype_parse(const char *s);

#endif
