// sgemm_rate.c: the machine's single-precision GEMM ceiling for given shapes, for the products a
// Linear layer makes, C(M,N) = A(M,K) · B(N,K)ᵀ, timed two ways: one OpenBLAS sgemm call (the
// library monoscope links), and ms_op_linear on a weight cache (oneDNN's matmul on weights laid out
// once, what the forward pass runs; absent in a build without oneDNN). The benchmark scripts take the
// faster as the GEMM bound.
// usage: sgemm_rate M N K [M N K ...]
// prints one line per shape: "M N K <OpenBLAS GFLOPS> <linear GFLOPS>" (median of 7 runs after a
// warm-up), then time-weighted totals over all shapes: "total <OpenBLAS GFLOPS>",
// "total_linear <linear GFLOPS>" and "total_best <the faster>". Threads: OMP_NUM_THREADS.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include "backend/backend.h"
#include "util/util.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Median seconds of 7 runs after a warm-up (which also lays out the cache's weights).
static double time_product(const ms_backend_ctx *be, int M, int N, int K, const float *A, const float *B, float *C) {
    double t[8];
    for (int r = 0; r < 8; r++) {
        double t0 = ms_now();
        if (be) ms_op_linear(be, C, A, B, NULL, M, K, N);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, A, K, B, K, 0.f, C, N);
        t[r] = ms_now() - t0;
    }
    qsort(t + 1, 7, sizeof t[0], cmp_double);
    return t[4];
}

int main(int argc, char **argv) {
    if (argc < 4 || (argc - 1) % 3) {
        fprintf(stderr, "usage: sgemm_rate M N K [M N K ...]\n");
        return 2;
    }
    ms_gemm_cache *gc = ms_gemm_cache_new(MS_COMPUTE_F32);
    const ms_backend_ctx be = {.n_threads = ms_num_threads(), .gemm = gc};
    double total_flops = 0, t_blas = 0, t_lin = 0;
    for (int a = 1; a + 2 < argc; a += 3) {
        int M = atoi(argv[a]), N = atoi(argv[a + 1]), K = atoi(argv[a + 2]);
        float *A = ms_aligned_alloc(sizeof(float) * (size_t)M * K);
        float *B = ms_aligned_alloc(sizeof(float) * (size_t)N * K);
        float *C = ms_aligned_alloc(sizeof(float) * (size_t)M * N);
        for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
        for (size_t i = 0; i < (size_t)N * K; i++) B[i] = (float)((i * 40503u) % 1000) * 1e-3f;
        const double flops = 2.0 * M * N * K;
        const double tb = time_product(NULL, M, N, K, A, B, C);
        const double tl = gc ? time_product(&be, M, N, K, A, B, C) : tb;
        printf("%d %d %d %.2f %.2f\n", M, N, K, flops / tb * 1e-9, flops / tl * 1e-9);
        total_flops += flops, t_blas += tb, t_lin += tl;
        ms_gemm_cache_forget(gc, B);
        free(A); free(B); free(C);
    }
    printf("total %.2f\n", total_flops / t_blas * 1e-9);
    printf("total_linear %.2f (%s)\n", total_flops / t_lin * 1e-9, ms_gemm_cache_describe(gc));
    printf("total_best %.2f\n", total_flops / (t_lin < t_blas ? t_lin : t_blas) * 1e-9);
    ms_gemm_cache_free(gc);
    return 0;
}
