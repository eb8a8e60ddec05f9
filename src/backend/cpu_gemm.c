// cpu_gemm.c: the GEMMs of backend.h: oneDNN's sgemm where oneDNN is built in, OpenBLAS otherwise
// (ms_op_linear on oneDNN's matmul with pre-laid-out weights when given a cache, gemm_cache.c).
#include <cblas.h>
#include <omp.h>
#include <string.h>
#include "backend/backend.h"
#include "backend/threads.h"
#include <stdint.h>
#include <stdlib.h>
#include "util/util.h"
#ifdef MS_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

static void sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc) {
#ifdef MS_HAVE_DNNL
    // oneDNN's JIT sgemm (row-major like cblas): ~2x OpenBLAS under this environment's Haswell pin on
    // AVX-512 machines; it takes its thread count from the same nthreads-var as OpenBLAS (below)
    if (dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == dnnl_success)
        return;
#endif
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                A, lda, B, ldb, beta, C, ldc);
}

// Debian's OpenMP build of OpenBLAS (0.3.21: no per-call thread count) sizes its team from the calling
// task's nthreads-var, and runs on one thread inside an active parallel region; oneDNN (OpenMP
// runtime) sizes a primitive's team from nthreads-var when it is compiled and runs it on that many.
// To hand either n_threads without changing the caller's OpenMP state, the count is set in the data
// environment of an undeferred task: nthreads-var has data-environment scope, so the setting belongs
// to that task and ends with it; no thread team is forked for it, and the library's own parallel
// region inside is not nested. (OpenBLAS still caps the count at the cores it found when it started.)
int ms_on_threads(int n_threads, int (*run)(void *arg, int n_threads), void *arg) {
    if (omp_in_parallel()) return run(arg, 0);
    if (n_threads == omp_get_max_threads()) return run(arg, n_threads);
    // the call's parts in one shared struct: clang 14 crashes generating a task that calls a
    // function-pointer parameter it captured itself
    struct { int (*run)(void *, int); void *arg; int n_threads, rc; } call = {run, arg, n_threads, -1};
#pragma omp task if (0) shared(call)
    {
        omp_set_num_threads(call.n_threads); // this task's ICV only
        call.rc = call.run(call.arg, call.n_threads);
    }
    return call.rc;
}

typedef struct {
    int trans_a, trans_b, M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
} sgemm_job;

static int sgemm_run(void *arg, int n_threads) {
    (void)n_threads; // the libraries read it from nthreads-var
    const sgemm_job *j = arg;
    sgemm(j->trans_a, j->trans_b, j->M, j->N, j->K, j->alpha, j->A, j->lda, j->B, j->ldb, j->beta, j->C, j->ldc);
    return 0;
}

void ms_op_sgemm(const ms_backend_ctx *be, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    sgemm_job j = {.trans_a = trans_a, .trans_b = trans_b, .M = M, .N = N, .K = K, .lda = lda, .ldb = ldb, .ldc = ldc,
                   .alpha = alpha, .beta = beta, .A = A, .B = B, .C = C};
    ms_on_threads(be->n_threads, sgemm_run, &j);
}

// Y(N, out) = X · Wᵀ + b for bf16-held W without a bf16 cache: W widened to float32
// LINEAR_BF16_ROWS rows at a time, one sgemm per block. The path of the few products outside a
// forward pass (the logit lens, ms_site_to_resid, ms_resid_logits: no cache) and of a oneDNN failure;
// the forward pass's products read bf16 in place (gemm_cache.c). The buffer is allocated per call.
#define LINEAR_BF16_ROWS 256
static void linear_bf16_weights(const ms_backend_ctx *be, float *Y, const float *X, const uint16_t *W, const float *b,
                                int N, int in, int out) {
    float *w = ms_malloc((size_t)LINEAR_BF16_ROWS * in * sizeof(float));
    for (int j0 = 0; j0 < out; j0 += LINEAR_BF16_ROWS) {
        const int nj = out - j0 < LINEAR_BF16_ROWS ? out - j0 : LINEAR_BF16_ROWS;
        for (size_t i = 0; i < (size_t)nj * in; i++) {
            const uint32_t u = (uint32_t)W[(size_t)j0 * in + i] << 16;
            memcpy(&w[i], &u, sizeof u);
        }
        ms_op_sgemm(be, 0, 1, N, nj, in, 1.0f, X, in, w, in, 0.0f, Y + j0, out);
    }
    free(w);
    ms_op_bias(be, Y, b, N, out); // after the product, as ms_op_linear adds it
}

void ms_op_linear(const ms_backend_ctx *be, float *Y, const float *X, const float *W, const float *b, int N, int in,
                  int out) {
    if (be->gemm && ms_gemm_linear(be->gemm, be->n_threads, Y, X, W, b, N, in, out, MS_ACT_NONE, 0) == 0) return;
    if (be->weights_bf16) {
        linear_bf16_weights(be, Y, X, (const uint16_t *)(const void *)W, b, N, in, out);
        return;
    }
    // the bias after the product, as oneDNN adds it (sgemm with beta = 1 over bias rows would add
    // it to the first block of the K sum instead: other bits)
    ms_op_sgemm(be, 0, 1, N, out, in, 1.0f, X, in, W, in, 0.0f, Y, out);
    ms_op_bias(be, Y, b, N, out);
}

int ms_op_act(const ms_backend_ctx *be, float *x, int N, int C, ms_act act) {
    if (act == MS_ACT_NONE) return 0;
    const int rc = be->gemm ? ms_gemm_act(be->gemm, be->n_threads, x, N, C, act) : -1;
    if (rc == 0) return 0;
    if (rc == -2) return -1; // it failed part way in place: a second pass would apply it twice
    ms_op_gelu_new(be, x, (size_t)N * C);
    return 0;
}

int ms_op_linear_act(const ms_backend_ctx *be, float *Y, const float *X, const float *W, const float *b, int N,
                     int in, int out, ms_act act) {
    if (be->gemm && ms_gemm_linear(be->gemm, be->n_threads, Y, X, W, b, N, in, out, act, 0) == 0) return 0;
    ms_op_linear(be, Y, X, W, b, N, in, out); // Y written whole again, whatever a failed run left
    return ms_op_act(be, Y, N, out, act);
}

int ms_op_linear_add(const ms_backend_ctx *be, float *Y, const float *X, const float *W, const float *b, int N,
                     int in, int out, float *scratch) {
    const int rc = be->gemm ? ms_gemm_linear(be->gemm, be->n_threads, Y, X, W, b, N, in, out, MS_ACT_NONE, 1) : -1;
    if (rc == 0) return 0;
    if (rc == -2) return -1; // it failed while adding into Y: Y's rows are lost, a second add would be wrong
    ms_op_linear(be, scratch, X, W, NULL, N, in, out);
    ms_op_add_bias(be, Y, scratch, b, N, out);
    return 0;
}
