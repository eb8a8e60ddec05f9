// sgemm_rate.c: the machine's single-precision GEMM ceiling for given shapes, with the OpenBLAS
// that monoscope links. Used by the benchmark scripts as the "sgemm-bound" reference.
// usage: sgemm_rate M N K [M N K ...]   (C(M,N) = A(M,K) · B(N,K)ᵀ, like a Linear layer)
// prints one line per shape: "M N K GFLOPS" (median of 7 runs after a warm-up), then the total
// time-weighted rate over all shapes as "total GFLOPS".
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include "util/util.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 4 || (argc - 1) % 3) {
        fprintf(stderr, "usage: sgemm_rate M N K [M N K ...]\n");
        return 2;
    }
    double total_flops = 0, total_time = 0;
    for (int a = 1; a + 2 < argc; a += 3) {
        int M = atoi(argv[a]), N = atoi(argv[a + 1]), K = atoi(argv[a + 2]);
        float *A = ms_aligned_alloc(sizeof(float) * (size_t)M * K);
        float *B = ms_aligned_alloc(sizeof(float) * (size_t)N * K);
        float *C = ms_aligned_alloc(sizeof(float) * (size_t)M * N);
        for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
        for (size_t i = 0; i < (size_t)N * K; i++) B[i] = (float)((i * 40503u) % 1000) * 1e-3f;
        double t[7];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, A, K, B, K, 0.f, C, N);
        for (int r = 0; r < 7; r++) {
            double t0 = ms_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, A, K, B, K, 0.f, C, N);
            t[r] = ms_now() - t0;
        }
        qsort(t, 7, sizeof t[0], cmp_double);
        double flops = 2.0 * M * N * K;
        printf("%d %d %d %.2f\n", M, N, K, flops / t[3] * 1e-9);
        total_flops += flops;
        total_time += t[3];
        free(A); free(B); free(C);
    }
    printf("total %.2f\n", total_flops / total_time * 1e-9);
    return 0;
}
