// cpu_attention.c: causal multi-head attention of backend.h, per (sequence b, head h), the pairs split
// across threads, each pair with small sgemms that run single-threaded inside the parallel loop.
// ms_op_attention is fused (online softmax over key blocks, no (T, T) matrix); the three-step
// scores / softmax / values path materialises the pattern for the hooks that read or edit it.
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include "backend/backend.h"

// Query rows go in blocks of ATT_QB: block [t0, t1) only needs keys [0, t1), which skips nearly
// half of the Q·Kᵀ and P·V work that a full square product would spend on masked entries.
#define ATT_QB 64
// Keys go in blocks of ATT_KB through the fused path's online softmax: a (ATT_QB, ATT_KB) score
// tile per thread (32 KiB) stays in L1/L2 whatever the context length.
#define ATT_KB 128

// fork only when there is enough work: on a loaded machine an idle spinning team costs more
static int att_parallel(const ms_attention_io *io) {
    return (double)io->B * io->H * io->T * (io->pos0 + io->T) * io->Dh >= 1 << 20;
}

// S (T, T) = Q·Kᵀ · scale for pair (b, h), soft-capped, -inf above the diagonal and before the window.
static void att_scores(const ms_backend_ctx *one, const ms_attention_io *io, int b, int h, float *S) {
    const int T = io->T, Dh = io->Dh, ldq = io->ldq, ldk = io->ldkv;
    const int kvh = h / (io->H / io->Hkv); // query head h reads kv head h / group size
    const float *q = io->q + (size_t)b * T * ldq + (size_t)h * Dh;
    const float *k = io->k + (size_t)b * T * ldk + (size_t)kvh * Dh;
    // S[t0:t1, 0:t1] = Q[t0:t1] · K[0:t1]ᵀ / sqrt(Dh); rows strided through the (T, heads, Dh) buffers
    const float scale = io->scale > 0 ? io->scale : 1.0f / sqrtf((float)Dh);
    for (int t0 = 0; t0 < T; t0 += ATT_QB) {
        const int t1 = t0 + ATT_QB < T ? t0 + ATT_QB : T;
        ms_op_sgemm(one, 0, 1, t1 - t0, t1, Dh, scale, q + (size_t)t0 * ldq, ldq, k, ldk, 0.0f, S + (size_t)t0 * T, T);
        if (io->softcap > 0) // entries beyond t1 in these rows are masked below
            for (int t = t0; t < t1; t++)
                for (int j = 0; j < t1; j++)
                    S[(size_t)t * T + j] = io->softcap * tanhf(S[(size_t)t * T + j] / io->softcap);
    }
    for (int t = io->window; io->window > 0 && t < T; t++)
        for (int j = 0; j <= t - io->window; j++) S[(size_t)t * T + j] = -INFINITY;
    for (int t = 0; t < T; t++)
        for (int j = t + 1; j < T; j++) S[(size_t)t * T + j] = -INFINITY;
}

// Row softmax over all T columns (a caller may have edited the scores; on causal scores the -inf
// entries give exactly 0). A row with nothing visible becomes 0.
static void att_softmax(float *S, int T) {
    for (int t = 0; t < T; t++) {
        float *r = S + (size_t)t * T;
        const float mx = ms_max(r, T, -INFINITY);
        if (mx == -INFINITY) {
            for (int j = 0; j < T; j++) r[j] = 0.0f;
            continue;
        }
        for (int j = 0; j < T; j++) r[j] = ms_expf(r[j] - mx); // masked: exp(-inf) = 0 exactly
        const float inv = 1.0f / ms_sum(r, T);
        for (int j = 0; j < T; j++) r[j] *= inv;
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

// Scales row i of the (n, ld) block x by a[i].
static void scale_rows(float *x, int ld, int n, int w, const float *a) {
    for (int i = 0; i < n; i++)
        for (int d = 0; d < w; d++) x[(size_t)i * ld + d] *= a[i];
}

// r[j] = exp(r[j] - m) for j in [a, b) (a a multiple of MS_LANES), returning their sum accumulated as
// ms_sum would over the whole row with zeros outside [a, b): element j in lane j % MS_LANES, and
// missing lanes of a last partial group add +0, which leaves a partial of exps (never -0) as it was.
// The same bits as exp over the row followed by ms_sum.
static float exp_sum_span(float *r, int a, int b, float m) {
    ms_f32x16 acc = {0}, v;
    int j = a;
    for (; j + MS_LANES <= b; j += MS_LANES) {
        float e[MS_LANES];
        for (int l = 0; l < MS_LANES; l++) e[l] = r[j + l] = ms_expf(r[j + l] - m);
        ms_lanes_load(&v, e);
        acc += v;
    }
    if (j < b) {
        float part[MS_LANES];
        for (int l = 0; l < MS_LANES; l++) part[l] = j + l < b ? (r[j + l] = ms_expf(r[j + l] - m)) : 0.0f;
        ms_lanes_load(&v, part);
        acc += v;
    }
    return ms_fold_vec(&acc);
}

// One (ATT_QB, ATT_KB) tile of the online softmax: scores S of queries [t0, t0+nq) (absolute
// positions pos0 + t) against keys [j0, j0+nk), soft-capped and masked (causal, window), folded into
// the running row max mx and sum l. S becomes exp(S - mx_new), 0 at masked keys; corr gets the
// factor by which each row's earlier accumulation must shrink (exp(mx_old - mx_new); 0 while nothing
// was seen). Each row works on the whole lane groups holding its visible keys [a, b) (a diagonal
// tile's rows see part of it), the masked keys among them set to -inf so that their exp is 0 and adds
// nothing: no per-key mask test, and no scalar tail per row (the tail of a causal row was as costly
// as its vector part).
static void att_tile_softmax(const ms_attention_io *io, int t0, int nq, int j0, int nk, float *S, float *mx, float *l,
                             float *corr) {
    for (int i = 0; i < nq; i++) {
        float *r = S + (size_t)i * ATT_KB;
        const int pos = io->pos0 + t0 + i, lo = io->window > 0 ? pos - io->window + 1 : 0;
        int a = lo - j0 > 0 ? lo - j0 : 0, b = pos - j0 + 1 < nk ? pos - j0 + 1 : nk; // visible keys [j0+a, j0+b)
        if (b < a) b = a;
        if (io->softcap > 0)
            for (int j = a; j < b; j++) r[j] = io->softcap * tanhf(r[j] / io->softcap);
        const int a16 = a - a % MS_LANES, b16 = b % MS_LANES && b - b % MS_LANES + MS_LANES <= nk ? b - b % MS_LANES + MS_LANES : b;
        for (int j = a16; j < a; j++) r[j] = -INFINITY; // before the window
        for (int j = b; j < b16; j++) r[j] = -INFINITY; // the future
        for (int j = 0; j < a16; j++) r[j] = 0.0f;
        for (int j = b16; j < nk; j++) r[j] = 0.0f;
        const float m = ms_max(r + a16, b16 - a16, mx[i]);
        if (m == -INFINITY) { // nothing visible yet: contributes nothing, accumulator stays 0
            for (int j = a16; j < b16; j++) r[j] = 0.0f;
            corr[i] = 1.0f;
            continue;
        }
        const float sum = exp_sum_span(r, a16, b16, m);
        corr[i] = ms_expf(mx[i] - m);
        l[i] = l[i] * corr[i] + sum;
        mx[i] = m;
    }
}

// Fused attention of pair (b, h): per query block, an online softmax over the key blocks it can see,
// accumulating P·V straight into z (rescaled as the row max grows) and dividing by the row sum at
// the end. Queries sit at positions pos0..pos0+T-1 of sequences whose k, v hold kv_T rows (a KV
// cache), else pos0 = 0 and kv_T = T. scratch: ms_attention_scratch_floats().
static void att_fused(const ms_backend_ctx *one, const ms_attention_io *io, int b, int h, float *scratch) {
    const int T = io->T, H = io->H, Dh = io->Dh, ldq = io->ldq, ldkv = io->ldkv, ldz = H * Dh;
    const int TK = io->kv_T > 0 ? io->kv_T : T, kvh = h / (H / io->Hkv);
    const float *q = io->q + (size_t)b * T * ldq + (size_t)h * Dh;
    const float *k = io->k + (size_t)b * TK * ldkv + (size_t)kvh * Dh;
    const float *v = io->v + (size_t)b * TK * ldkv + (size_t)kvh * Dh;
    float *z = io->z + (size_t)b * T * ldz + (size_t)h * Dh;
    const float scale = io->scale > 0 ? io->scale : 1.0f / sqrtf((float)Dh);
    float *S = scratch, *mx = S + ATT_QB * ATT_KB, *l = mx + ATT_QB, *corr = l + ATT_QB; // (QB, KB), 3 × (QB)
    for (int t0 = 0; t0 < T; t0 += ATT_QB) {
        const int nq = t0 + ATT_QB < T ? ATT_QB : T - t0;
        // keys this block sees: from the window's start for its first query to its last query
        const int first = io->window > 0 && io->pos0 + t0 - io->window + 1 > 0 ? io->pos0 + t0 - io->window + 1 : 0;
        const int end = io->pos0 + t0 + nq;
        for (int i = 0; i < nq; i++) {
            mx[i] = -INFINITY, l[i] = 0.0f;
            for (int d = 0; d < Dh; d++) z[(size_t)(t0 + i) * ldz + d] = 0.0f;
        }
        for (int j0 = first; j0 < end; j0 += ATT_KB) {
            const int nk = j0 + ATT_KB < end ? ATT_KB : end - j0;
            // S (nq, nk) = Q[t0:t0+nq] · K[j0:j0+nk]ᵀ · scale
            ms_op_sgemm(one, 0, 1, nq, nk, Dh, scale, q + (size_t)t0 * ldq, ldq, k + (size_t)j0 * ldkv, ldkv, 0.0f, S,
                        ATT_KB);
            att_tile_softmax(io, t0, nq, j0, nk, S, mx, l, corr);
            if (j0 > first) scale_rows(z + (size_t)t0 * ldz, ldz, nq, Dh, corr);
            // Z[t0:t0+nq] += exp-scores (nq, nk) · V[j0:j0+nk]
            ms_op_sgemm(one, 0, 0, nq, Dh, nk, 1.0f, S, ATT_KB, v + (size_t)j0 * ldkv, ldkv, 1.0f,
                        z + (size_t)t0 * ldz, ldz);
        }
        for (int i = 0; i < nq; i++) l[i] = l[i] > 0 ? 1.0f / l[i] : 0.0f; // a row that saw nothing stays 0
        scale_rows(z + (size_t)t0 * ldz, ldz, nq, Dh, l);
    }
}

size_t ms_attention_scratch_floats(void) { return (size_t)ATT_QB * ATT_KB + 3 * ATT_QB; }

// The per-pair products run on one thread each when the pairs are split across threads (the pairs
// are the parallelism), else on the caller's count.
static const ms_backend_ctx one_thread = {.n_threads = 1};
static const ms_backend_ctx *pair_ctx(const ms_backend_ctx *be, const ms_attention_io *io) {
    return att_parallel(io) ? &one_thread : be;
}

void ms_op_attention(const ms_backend_ctx *be, const ms_attention_io *io, float *scratch) {
    const int BH = io->B * io->H, H = io->H;
    const size_t per_thread = ms_attention_scratch_floats();
    const ms_backend_ctx *pc = pair_ctx(be, io);
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if (att_parallel(io))
    for (int bh = 0; bh < BH; bh++)
        att_fused(pc, io, bh / H, bh % H, scratch + (size_t)omp_get_thread_num() * per_thread);
}

void ms_op_attention_scores(const ms_backend_ctx *be, const ms_attention_io *io, float *att) {
    const int BH = io->B * io->H, H = io->H;
    const size_t TT = (size_t)io->T * io->T;
    const ms_backend_ctx *pc = pair_ctx(be, io);
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if (att_parallel(io))
    for (int bh = 0; bh < BH; bh++) att_scores(pc, io, bh / H, bh % H, att + bh * TT);
}

void ms_op_attention_softmax(const ms_backend_ctx *be, const ms_attention_io *io, float *att) {
    const int BH = io->B * io->H;
    const size_t TT = (size_t)io->T * io->T;
#pragma omp parallel for schedule(static) num_threads(be->n_threads) if (att_parallel(io))
    for (int bh = 0; bh < BH; bh++) att_softmax(att + bh * TT, io->T);
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
