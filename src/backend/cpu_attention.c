// cpu_attention.c: causal multi-head attention of backend.h, per (sequence b, head h) on a (T, T)
// score matrix S, the pairs split across threads, each pair with small sgemms (Q·Kᵀ and P·V) that
// run single-threaded inside the parallel loop.
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include "backend/backend.h"

// Query rows go in blocks of ATT_QB: block [t0, t1) only needs keys [0, t1), which skips nearly
// half of the Q·Kᵀ and P·V work that a full square product would spend on masked entries.
#define ATT_QB 64

// fork only when there is enough work: on a loaded machine an idle spinning team costs more
static int att_parallel(const ms_attention_io *io) { return (double)io->B * io->H * io->T * io->T * io->Dh >= 1 << 20; }

// S (T, T) = Q·Kᵀ / sqrt(Dh) for pair (b, h). mask: write -inf above the diagonal (for callers that
// read the scores and for the general softmax); the fused causal path skips it, since its softmax
// never reads those entries and zero-fills them itself.
static void att_scores(const ms_backend_ctx *one, const ms_attention_io *io, int b, int h, float *S, int mask) {
    const int T = io->T, Dh = io->Dh, ldq = io->ldq, ldk = io->ldkv;
    const int kvh = h / (io->H / io->Hkv); // query head h reads kv head h / group size
    const float *q = io->q + (size_t)b * T * ldq + (size_t)h * Dh;
    const float *k = io->k + (size_t)b * T * ldk + (size_t)kvh * Dh;
    // S[t0:t1, 0:t1] = Q[t0:t1] · K[0:t1]ᵀ / sqrt(Dh); rows strided through the (T, heads, Dh) buffers
    const float scale = io->scale > 0 ? io->scale : 1.0f / sqrtf((float)Dh);
    for (int t0 = 0; t0 < T; t0 += ATT_QB) {
        const int t1 = t0 + ATT_QB < T ? t0 + ATT_QB : T;
        ms_op_sgemm(one, 0, 1, t1 - t0, t1, Dh, scale, q + (size_t)t0 * ldq, ldq, k, ldk, 0.0f, S + (size_t)t0 * T, T);
        if (io->softcap > 0) // entries beyond t1 in these rows are masked or zeroed later, never read
            for (int t = t0; t < t1; t++)
                for (int j = 0; j < t1; j++)
                    S[(size_t)t * T + j] = io->softcap * tanhf(S[(size_t)t * T + j] / io->softcap);
    }
    // sliding window: keys before the window get -inf on both paths (the causal softmax reads them)
    for (int t = io->window; io->window > 0 && t < T; t++)
        for (int j = 0; j <= t - io->window; j++) S[(size_t)t * T + j] = -INFINITY;
    if (!mask) return;
    for (int t = 0; t < T; t++)
        for (int j = t + 1; j < T; j++) S[(size_t)t * T + j] = -INFINITY;
}

// Row softmax. causal: row t covers columns 0..t and the rest of its query block is set to 0;
// otherwise (a caller may have edited the scores) all T columns. Both give bit-identical results on
// causal scores: the max ignores -inf, exp(-inf) is exactly 0, and adding trailing zeros to the
// left-to-right sum changes nothing, so observe-only hooks never change the pattern.
static void att_softmax(float *S, int T, int causal) {
    for (int t = 0; t < T; t++) {
        float *r = S + (size_t)t * T;
        const int n = causal ? t + 1 : T;
        float mx = -INFINITY;
        for (int j = 0; j < n; j++) mx = r[j] > mx ? r[j] : mx;
        if (mx == -INFINITY) {
            for (int j = 0; j < T; j++) r[j] = 0.0f;
            continue;
        }
        float sum = 0.0f;
        for (int j = 0; j < n; j++) r[j] = ms_expf(r[j] - mx); // masked: exp(-inf) = 0 exactly
        for (int j = 0; j < n; j++) sum += r[j];
        float inv = 1.0f / sum;
        for (int j = 0; j < n; j++) r[j] *= inv;
        // causal: att_values reads row t only up to the end of its ATT_QB query block
        const int zend = causal && (t / ATT_QB + 1) * ATT_QB < T ? (t / ATT_QB + 1) * ATT_QB : T;
        for (int j = n; j < zend; j++) r[j] = 0.0f;
    }
}

// Z = P · V for pair (b, h). causal (P is 0 above the diagonal): by query blocks over keys [0, t1)
// only, else the full product (an edited pattern attends ahead). Exact zeros add nothing to a sum,
// so both give the same bits on a causal P.
static void att_values(const ms_backend_ctx *one, const ms_attention_io *io, int b, int h, const float *P, int causal) {
    const int T = io->T, H = io->H, Dh = io->Dh, ldv = io->ldkv;
    const int kvh = h / (H / io->Hkv);
    const float *v = io->v + (size_t)b * T * ldv + (size_t)kvh * Dh;
    float *z = io->z + (size_t)b * T * H * Dh + (size_t)h * Dh;
    const int qb = causal ? ATT_QB : T;
    for (int t0 = 0; t0 < T; t0 += qb) {
        const int t1 = t0 + qb < T ? t0 + qb : T;
        // Z[t0:t1] (rows of H*Dh) = P[t0:t1, 0:t1] · V[0:t1]
        ms_op_sgemm(one, 0, 0, t1 - t0, Dh, t1, 1.0f, P + (size_t)t0 * T, T, v, ldv, 0.0f, z + (size_t)t0 * H * Dh,
                    H * Dh);
    }
}

static int is_causal(const float *P, int T) {
    for (int t = 0; t < T; t++)
        for (int j = t + 1; j < T; j++)
            if (P[(size_t)t * T + j] != 0.0f) return 0;
    return 1;
}

// The per-pair products run on one thread each when the pairs are split across threads (the pairs
// are the parallelism), else on the caller's count.
static const ms_backend_ctx one_thread = {.n_threads = 1};
static const ms_backend_ctx *pair_ctx(const ms_backend_ctx *be, const ms_attention_io *io) {
    return att_parallel(io) ? &one_thread : be;
}

void ms_op_attention(const ms_backend_ctx *be, const ms_attention_io *io, float *scratch) {
    const int BH = io->B * io->H, H = io->H;
    const size_t TT = (size_t)io->T * io->T;
    const ms_backend_ctx *pc = pair_ctx(be, io);
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if (att_parallel(io))
    for (int bh = 0; bh < BH; bh++) {
        float *S = scratch + (size_t)omp_get_thread_num() * TT;
        att_scores(pc, io, bh / H, bh % H, S, 0);
        att_softmax(S, io->T, 1);
        att_values(pc, io, bh / H, bh % H, S, 1);
    }
}

void ms_op_attention_scores(const ms_backend_ctx *be, const ms_attention_io *io, float *att) {
    const int BH = io->B * io->H, H = io->H;
    const size_t TT = (size_t)io->T * io->T;
    const ms_backend_ctx *pc = pair_ctx(be, io);
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if (att_parallel(io))
    for (int bh = 0; bh < BH; bh++) att_scores(pc, io, bh / H, bh % H, att + bh * TT, 1);
}

void ms_op_attention_softmax(const ms_backend_ctx *be, const ms_attention_io *io, float *att) {
    const int BH = io->B * io->H;
    const size_t TT = (size_t)io->T * io->T;
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if (att_parallel(io))
    for (int bh = 0; bh < BH; bh++) att_softmax(att + bh * TT, io->T, 0);
}

void ms_op_attention_values(const ms_backend_ctx *be, const ms_attention_io *io, const float *att) {
    const int BH = io->B * io->H, H = io->H;
    const size_t TT = (size_t)io->T * io->T;
    const ms_backend_ctx *pc = pair_ctx(be, io);
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if (att_parallel(io))
    for (int bh = 0; bh < BH; bh++) {
        const float *P = att + bh * TT;
        att_values(pc, io, bh / H, bh % H, P, is_causal(P, io->T));
    }
}
