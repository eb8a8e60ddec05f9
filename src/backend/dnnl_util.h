// dnnl_util.h: the oneDNN glue shared by the forward pass's weight products (gemm_cache.c) and the
// SAE encoder product (enc_gemm.c): engine and stream, status checks, one compiled matmul with its
// argument memories (a "plan"), and reordering weights into the layout a kernel reads. Only compiled
// with oneDNN (MS_HAVE_DNNL); private to src/backend.
#ifndef MS_BACKEND_DNNL_UTIL_H
#define MS_BACKEND_DNNL_UTIL_H
#include <stdint.h>
#include <string.h>

// float -> bfloat16, round to nearest even (NaN stays NaN). Here, not under MS_HAVE_DNNL, for the
// few callers that convert whatever the build.
static inline uint16_t ms_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

#ifdef MS_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>

typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
} ms_dnnl;

// 0 / -1 + ms_error.
int ms_dnnl_open(ms_dnnl *d);
void ms_dnnl_close(ms_dnnl *d);
// 1 on dnnl_success; else 0 + ms_error naming `what`.
int ms_dnnl_ok(dnnl_status_t s, const char *what);

// dst (rows, n) f32 = src (rows, k) · wts (k, n) (+ bias (1, n) f32), src and wts of type in_t,
// f32 accumulation; src and dst row-major and contiguous. Or an activation in place (act_make: src
// the buffer, dst and bias NULL).
typedef struct {
    int rows;
    dnnl_primitive_t prim;
    dnnl_memory_t src, dst, bias; // handles set per run; bias NULL for a product without
    dnnl_memory_desc_t wts;       // the weights layout the kernel reads
    char impl[64];                // oneDNN's name of the kernel ("brg:avx512_core", ...)
} ms_dnnl_plan;

// Compiles the product for `rows` rows, ending with the activation act applied in registers to the
// biased product (a post-op; dnnl_alg_kind_undef: none), and with sum, dst's old values added to
// that (dst += ...; a sum post-op). wts_layout NULL: the kernel chooses its
// weights layout (returned in p->wts); otherwise the product reads weights already laid out so
// (compiled again with that layout pinned when the kernel would choose another). 0 / -1 + ms_error.
int ms_dnnl_plan_make(const ms_dnnl *d, ms_dnnl_plan *p, int rows, int k, int n, dnnl_data_type_t in_t,
                      int with_bias, dnnl_alg_kind_t act, int sum, const dnnl_memory_desc_t *wts_layout);
void ms_dnnl_plan_free(ms_dnnl_plan *p);
// Runs the plan on these buffers (bias ignored by a plan without); waits for it. 0; -1 + ms_error
// when it did not start (dst untouched); -2 + ms_error when it failed while running (dst undefined).
int ms_dnnl_plan_run(const ms_dnnl *d, ms_dnnl_plan *p, const void *src, dnnl_memory_t wts, const float *bias,
                     float *dst);
// x (rows, cols) f32 = act(x) in place: oneDNN's eltwise primitive, the same code (and bits) as a
// product's post-op of the same activation. make: 0 / -1 + ms_error; run: as ms_dnnl_plan_run.
int ms_dnnl_act_make(const ms_dnnl *d, ms_dnnl_plan *p, int rows, int cols, dnnl_alg_kind_t act);
int ms_dnnl_act_run(const ms_dnnl *d, ms_dnnl_plan *p, float *x);

// A reorder from weights laid out as `from` to `to` (both (k, n)), and its run on two memories.
int ms_dnnl_reorder_make(const ms_dnnl *d, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                         dnnl_primitive_t *r);
int ms_dnnl_reorder_run(const ms_dnnl *d, dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to);
// The f32 (k, n) matrix Wᵀ of weights W stored (n, k) row-major, as oneDNN sees it (strides 1, k).
int ms_dnnl_wt_desc(dnnl_memory_desc_t *md, int k, int n);

#endif
#endif
