// enc_gemm_rate.c: the SAE encoder product pre = X · Wᵀ + b, X (B, d), W (S, d), alone: the bound
// the trainer's throughput is measured against (bench_sae.sh). Every way this machine offers to
// compute it in each precision is timed, and the fastest is the bound:
//   f32:  OpenBLAS sgemm (one call), oneDNN f32 (one call; in 8 blocks of rows; and in 8 blocks of
//         rows that all write one block-sized output, as the TopK trainer does)
//   bf16: oneDNN bf16 inputs / fp32 accumulation (the same three ways)
// Weight layout is outside the timed region here (the trainer writes updated rows into the
// kernel's layout during its optimizer pass, ms_enc_gemm_pack_rows).
// usage: enc_gemm_rate B d S [reps]   prints "<variant> <seconds> <GFLOP/s>" per line (median of reps)
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/enc_gemm.h"
#include "util/util.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int B, d, S, reps;
static float *X, *W, *be, *pre;

static void report(const char *name, double *t) {
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    double s = t[reps / 2];
    printf("%s %.6f %.1f\n", name, s, 2.0 * B * d * (double)S / s * 1e-9);
    fflush(stdout);
}

static void time_openblas(void) {
    double t[64];
    for (int r = -1; r < reps; r++) {
        double t0 = ms_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, S, d, 1.f, X, d, W, d, 0.f, pre, S);
        if (r >= 0) t[r] = ms_now() - t0;
    }
    report("openblas_f32", t);
}

static void time_enc(ms_enc_dtype dt, int rows, int reuse, const char *name) {
    ms_enc_gemm *g = ms_enc_gemm_new(d, S, rows, dt, MS_ENC_WT);
    if (!g) { fprintf(stderr, "%s: %s\n", name, ms_last_error()); return; }
    ms_enc_gemm_set_weights(g, W);
    double t[64];
    for (int r = -1; r < reps; r++) {
        double t0 = ms_now();
        for (int b0 = 0; b0 < B; b0 += rows) {
            int n = B - b0 < rows ? B - b0 : rows;
            if (ms_enc_gemm_rows(g, X + (size_t)b0 * d, n, be, pre + (reuse ? 0 : (size_t)b0 * S)) < 0) {
                fprintf(stderr, "%s: %s\n", name, ms_last_error());
                ms_enc_gemm_free(g);
                return;
            }
        }
        if (r >= 0) t[r] = ms_now() - t0;
    }
    report(name, t);
    fprintf(stderr, "%s: %s\n", name, ms_enc_gemm_describe(g));
    ms_enc_gemm_free(g);
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: enc_gemm_rate B d S [reps]\n"); return 2; }
    B = atoi(argv[1]); d = atoi(argv[2]); S = atoi(argv[3]);
    reps = argc > 4 ? atoi(argv[4]) : 5;
    if (B < 1 || d < 1 || S < 1 || reps < 1 || reps > 64) { fprintf(stderr, "enc_gemm_rate: bad arguments\n"); return 2; }
    X = ms_aligned_alloc((size_t)B * d * sizeof(float));
    W = ms_aligned_alloc((size_t)S * d * sizeof(float));
    be = ms_aligned_alloc((size_t)S * sizeof(float));
    pre = ms_aligned_alloc((size_t)B * S * sizeof(float));
    for (size_t i = 0; i < (size_t)B * d; i++) X[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < (size_t)S * d; i++) W[i] = (float)((i * 40503u) % 1000) * 1e-3f - 0.5f;
    for (int i = 0; i < S; i++) be[i] = -0.01f * (float)(i % 7);
    time_openblas();
    const int rows8 = B / 8 > 0 ? B / 8 : 1;
    time_enc(MS_ENC_F32, B, 0, "onednn_f32");
    time_enc(MS_ENC_F32, rows8, 0, "onednn_f32_blocks");
    time_enc(MS_ENC_F32, rows8, 1, "onednn_f32_blocks_reuse");
    time_enc(MS_ENC_BF16, B, 0, "onednn_bf16");
    time_enc(MS_ENC_BF16, rows8, 0, "onednn_bf16_blocks");
    time_enc(MS_ENC_BF16, rows8, 1, "onednn_bf16_blocks_reuse");
    free(X); free(W); free(be); free(pre);
    return 0;
}
