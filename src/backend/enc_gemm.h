// enc_gemm.h: the SAE encoder's dense product, pre = xc · W_enc + be, (rows, d) · (d, S) -> (rows, S),
// the one O(B·d·S) product of a training step (every other product touches only active latents),
// and of encoding (sae.c).
//
// Built with oneDNN (libdnnl-dev), the product runs on its AVX-512 (fp32) or AMX/AVX512-BF16 (bf16
// inputs, fp32 accumulation and output) kernels, with the bias fused, on its own copy of the
// weights in the kernel's blocked layout: laid out in full by ms_enc_gemm_set_weights, or row by
// row as a trainer updates them (ms_enc_gemm_pack_rows). Without oneDNN: OpenBLAS sgemm plus
// a bias pass (fp32 only). Results are deterministic for a given thread count either way.
#ifndef MS_BACKEND_ENC_GEMM_H
#define MS_BACKEND_ENC_GEMM_H

typedef enum { MS_ENC_F32 = 0, MS_ENC_BF16 = 1 } ms_enc_dtype;

// How the f32 weights are stored: Wt (S, d), each latent's d weights contiguous (the trainer's
// layout), or W_enc (d, S) as in sae.h and SAELens.
typedef enum { MS_ENC_WT = 0, MS_ENC_W = 1 } ms_enc_wlayout;

typedef struct ms_enc_gemm ms_enc_gemm;

// A product for up to max_rows rows at a time. NULL + ms_error when the precision is not
// available (bf16 without oneDNN, or on a CPU without bf16 instructions).
ms_enc_gemm *ms_enc_gemm_new(int d, int S, int max_rows, ms_enc_dtype dt, ms_enc_wlayout wl);
void ms_enc_gemm_free(ms_enc_gemm *g);

// Takes the current encoder weights (in the layout given to ms_enc_gemm_new); call whenever they
// changed. They must stay valid (the fp32 fallback reads them in place).
int ms_enc_gemm_set_weights(ms_enc_gemm *g, const float *W);

// Whether ms_enc_gemm_pack_rows can keep the product's weights current (Wt layout; oneDNN with a
// blocked weights layout, or the fallback, which reads Wt in place).
int ms_enc_gemm_can_pack(const ms_enc_gemm *g);
// Lays out latents [i0, i1) of Wt (S, d) into the product's own copy of the weights, bit for bit as
// ms_enc_gemm_set_weights does for all of them. A trainer calls it for rows it has just updated,
// while they are in cache, instead of a full reorder before the next product: the reorder would
// read all of Wt from memory again. Threads may pack disjoint ranges at the same time.
void ms_enc_gemm_pack_rows(ms_enc_gemm *g, const float *Wt, int i0, int i1);

// pre (rows, S) = xc (rows, d) · W_enc + be (be may be NULL). rows <= max_rows. 0, or < 0 + ms_error
// (-2: it failed while running, pre undefined).
int ms_enc_gemm_rows(ms_enc_gemm *g, const float *xc, int rows, const float *be, float *pre);

// "oneDNN <version> (<kernel>)" or "OpenBLAS sgemm", for logs.
const char *ms_enc_gemm_describe(const ms_enc_gemm *g);
const char *ms_enc_dtype_name(ms_enc_dtype dt);
// Parses "f32"/"fp32"/"bf16"; -1 if unknown.
int ms_enc_dtype_parse(const char *s);

#endif
