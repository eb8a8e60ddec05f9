// enc_gemm.c: the encoder product through oneDNN, or OpenBLAS without it (see enc_gemm.h).
#include "backend/enc_gemm.h"
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"
#include "backend/dnnl_util.h"
#ifdef __AVX512F__
#include <immintrin.h>
#endif

const char *ms_enc_dtype_name(ms_enc_dtype dt) { return dt == MS_ENC_BF16 ? "bf16" : "f32"; }

int ms_enc_dtype_parse(const char *s) {
    if (!strcmp(s, "f32") || !strcmp(s, "fp32") || !strcmp(s, "float32")) return MS_ENC_F32;
    if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16")) return MS_ENC_BF16;
    return -1;
}

#ifdef MS_HAVE_DNNL

struct ms_enc_gemm {
    int d, S, max_rows;
    ms_enc_dtype dt;
    ms_dnnl dnnl;                 // engine and stream (dnnl_util.h, shared with the forward pass's products)
    ms_dnnl_plan full, tail;      // max_rows, and the last other row count asked for
    dnnl_memory_desc_t wt_plain;  // the f32 weights as given (Wt or W_enc), seen as the (d, S) matrix
    dnnl_memory_t w_plain, w_kernel;
    void *w_buf;                  // weights in the kernel's layout and precision
    dnnl_primitive_t reorder;
    uint16_t *src_bf16;           // (max_rows, d) bf16 inputs
    ms_enc_wlayout wl;
    // Where weight (q, i) lies in w_buf: off_q[q] + off_i[i] elements (blocked layouts place each
    // dimension independently). NULL when the kernel's layout is not a blocked one (no packing).
    int64_t *off_q, *off_i;
    int lines64;                  // f32, and every aligned run of 64 latents lies contiguous and
                                  // 64-byte aligned for each q: packs write whole cache lines
    float *zero_bias;             // (S) for products without a bias
    char desc[160];
};

static dnnl_data_type_t in_type(const ms_enc_gemm *g) { return g->dt == MS_ENC_BF16 ? dnnl_bf16 : dnnl_f32; }

// Builds the product for max_rows rows, the weights in the layout it chose, and their reorder.
static int plan_full(ms_enc_gemm *g) {
    if (ms_dnnl_plan_make(&g->dnnl, &g->full, g->max_rows, g->d, g->S, in_type(g), 1, dnnl_alg_kind_undef, 0, NULL) < 0) {
        if (g->dt == MS_ENC_BF16) ms_error("encoder product: oneDNN has no bf16 kernel for this CPU (bf16 needs AVX-512; use --encoder-dtype f32)");
        return -1;
    }
    const dnnl_memory_desc_t *wk = &g->full.wts;
    const dnnl_version_t *v = dnnl_version();
    snprintf(g->desc, sizeof g->desc, "oneDNN %d.%d.%d %s (%s)", v->major, v->minor, v->patch, ms_enc_dtype_name(g->dt),
             g->full.impl);
    size_t bytes = dnnl_memory_desc_get_size(wk);
    g->w_buf = ms_aligned_alloc(bytes ? bytes : 64);
    if (!ms_dnnl_ok(dnnl_memory_create(&g->w_kernel, wk, g->dnnl.eng, g->w_buf), "weights memory") ||
        !ms_dnnl_ok(dnnl_memory_create(&g->w_plain, &g->wt_plain, g->dnnl.eng, DNNL_MEMORY_NONE), "weights memory"))
        return -1;
    return ms_dnnl_reorder_make(&g->dnnl, &g->wt_plain, wk, &g->reorder);
}

// Offset in elements of index x along dimension dim of a blocked layout: its outer block times that
// dimension's stride, plus its digit in each inner block (walked innermost first) times the size
// of the inner blocks below that one.
static int64_t blocked_offset(const dnnl_memory_desc_t *md, int dim, int64_t x) {
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int64_t blk = 1;
    for (int j = 0; j < b->inner_nblks; j++) if (b->inner_idxs[j] == dim) blk *= b->inner_blks[j];
    int64_t off = (x / blk) * b->strides[dim], inner = 1, below = 1;
    for (int j = b->inner_nblks - 1; j >= 0; j--) {
        if (b->inner_idxs[j] == dim) { off += (x / below) % b->inner_blks[j] * inner; below *= b->inner_blks[j]; }
        inner *= b->inner_blks[j];
    }
    return off;
}

// The offset tables for ms_enc_gemm_pack_rows, when the kernel's weights are plainly blocked.
static void pack_tables(ms_enc_gemm *g) {
    const dnnl_memory_desc_t *hp = NULL;
    dnnl_memory_get_memory_desc(g->w_kernel, &hp);
    if (g->wl != MS_ENC_WT || hp->format_kind != dnnl_blocked || hp->ndims != 2 || hp->padded_offsets[0] ||
        hp->padded_offsets[1])
        return;
    g->off_q = ms_malloc((size_t)g->d * sizeof(int64_t));
    g->off_i = ms_malloc((size_t)g->S * sizeof(int64_t));
    for (int q = 0; q < g->d; q++) g->off_q[q] = hp->offset0 + blocked_offset(hp, 0, q);
    for (int i = 0; i < g->S; i++) g->off_i[i] = blocked_offset(hp, 1, i);
    int lines = g->dt == MS_ENC_F32 && ((uintptr_t)g->w_buf & 63) == 0;
    for (int q = 0; q < g->d && lines; q++) lines = g->off_q[q] % 16 == 0;
    for (int i = 0; i < g->S && lines; i++) lines = g->off_i[i] - g->off_i[i - i % 64] == i % 64 && g->off_i[i - i % 64] % 16 == 0;
    g->lines64 = lines;
}

ms_enc_gemm *ms_enc_gemm_new(int d, int S, int max_rows, ms_enc_dtype dt, ms_enc_wlayout wl) {
    ms_enc_gemm *g = ms_calloc(1, sizeof *g);
    g->d = d; g->S = S; g->max_rows = max_rows; g->dt = dt; g->wl = wl;
    dnnl_dims_t wd = {d, S}, ws = {1, d};
    if (wl == MS_ENC_W) { ws[0] = S; ws[1] = 1; }
    if (ms_dnnl_open(&g->dnnl) < 0 ||
        !ms_dnnl_ok(dnnl_memory_desc_init_by_strides(&g->wt_plain, 2, wd, dnnl_f32, ws), "weights descriptor") ||
        plan_full(g) < 0) {
        ms_enc_gemm_free(g);
        return NULL;
    }
    pack_tables(g);
    g->zero_bias = ms_calloc((size_t)S, sizeof(float));
    if (dt == MS_ENC_BF16) g->src_bf16 = ms_aligned_alloc((size_t)max_rows * d * sizeof(uint16_t));
    return g;
}

void ms_enc_gemm_free(ms_enc_gemm *g) {
    if (!g) return;
    ms_dnnl_plan_free(&g->full);
    ms_dnnl_plan_free(&g->tail);
    if (g->reorder) dnnl_primitive_destroy(g->reorder);
    if (g->w_plain) dnnl_memory_destroy(g->w_plain);
    if (g->w_kernel) dnnl_memory_destroy(g->w_kernel);
    ms_dnnl_close(&g->dnnl);
    free(g->w_buf);
    free(g->src_bf16);
    free(g->zero_bias);
    free(g->off_q);
    free(g->off_i);
    free(g);
}

int ms_enc_gemm_set_weights(ms_enc_gemm *g, const float *W) {
    if (!ms_dnnl_ok(dnnl_memory_set_data_handle(g->w_plain, (void *)W), "weights handle")) return -1;
    return ms_dnnl_reorder_run(&g->dnnl, g->reorder, g->w_plain, g->w_kernel);
}

int ms_enc_gemm_can_pack(const ms_enc_gemm *g) { return g->off_q != NULL; }

#ifdef __AVX512F__
// r[l][c] -> r[c][l] for a 16 × 16 tile: pairs of rows interleaved by 32 then 64 bits (each
// 128-bit lane L of r[4g + c] then holds column 4L + c of rows 4g..4g+3), then the four lanes of
// each column gathered across row groups by two rounds of 128-bit lane shuffles.
static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        const __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
        const __m512d c = _mm512_castps_pd(t[i + 2]), e = _mm512_castps_pd(t[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, e));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, e));
    }
    for (int c = 0; c < 4; c++) {
        const __m512 u0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88), u1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
        const __m512 u2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88), u3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
        t[c] = _mm512_shuffle_f32x4(u0, u2, 0x88);      // column c
        t[4 + c] = _mm512_shuffle_f32x4(u1, u3, 0x88);  // column 4 + c
        t[8 + c] = _mm512_shuffle_f32x4(u0, u2, 0xDD);  // column 8 + c
        t[12 + c] = _mm512_shuffle_f32x4(u1, u3, 0xDD); // column 12 + c
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}
#endif

void ms_enc_gemm_pack_rows(ms_enc_gemm *g, const float *Wt, int i0, int i1) {
    const int d = g->d;
#ifdef __AVX512F__
    // 64 latents at a time: for each q their 64 weights are one contiguous run of 4 cache lines.
    // 16 × 16 tiles of Wt (rows in cache) are transposed in registers and written with streaming
    // stores, so the old contents are not read back first.
    if (g->lines64) {
        float *buf = g->w_buf;
        const int d16 = d - d % 16;
        for (; i0 % 64 == 0 && i0 + 64 <= i1; i0 += 64) {
            for (int q0 = 0; q0 < d16; q0 += 16)
                for (int j = 0; j < 64; j += 16) {
                    __m512 r[16];
                    for (int l = 0; l < 16; l++) r[l] = _mm512_loadu_ps(Wt + (int64_t)(i0 + j + l) * d + q0);
                    transpose16(r);
                    for (int c = 0; c < 16; c++) _mm512_stream_ps(buf + g->off_q[q0 + c] + g->off_i[i0] + j, r[c]);
                }
            for (int i = i0; i < i0 + 64; i++)
                for (int q = d16; q < d; q++) buf[g->off_q[q] + g->off_i[i]] = Wt[(int64_t)i * d + q];
        }
        _mm_sfence(); // streaming stores are weakly ordered: visible before the next product
    }
#endif
    if (g->dt == MS_ENC_BF16) {
        uint16_t *buf = g->w_buf;
        for (int i = i0; i < i1; i++)
            for (int q = 0; q < d; q++) buf[g->off_q[q] + g->off_i[i]] = ms_to_bf16(Wt[(int64_t)i * d + q]);
    } else {
        float *buf = g->w_buf;
        for (int i = i0; i < i1; i++)
            for (int q = 0; q < d; q++) buf[g->off_q[q] + g->off_i[i]] = Wt[(int64_t)i * d + q];
    }
}

int ms_enc_gemm_rows(ms_enc_gemm *g, const float *xc, int rows, const float *be, float *pre) {
    if (rows <= 0) return 0;
    if (rows > g->max_rows) { ms_error("encoder product: %d rows > %d", rows, g->max_rows); return -1; }
    ms_dnnl_plan *p = rows == g->max_rows ? &g->full : &g->tail;
    // a partial batch reads the weights in the layout they were laid out in for max_rows
    if (p->rows != rows && ms_dnnl_plan_make(&g->dnnl, p, rows, g->d, g->S, in_type(g), 1, dnnl_alg_kind_undef, 0, &g->full.wts) < 0) return -1;
    const void *src = xc;
    if (g->dt == MS_ENC_BF16) {
        const int64_t n = (int64_t)rows * g->d;
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) g->src_bf16[i] = ms_to_bf16(xc[i]);
        src = g->src_bf16;
    }
    return ms_dnnl_plan_run(&g->dnnl, p, src, g->w_kernel, be ? be : g->zero_bias, pre);
}

const char *ms_enc_gemm_describe(const ms_enc_gemm *g) { return g->desc; }

#else // OpenBLAS only

struct ms_enc_gemm {
    int d, S, max_rows;
    ms_enc_wlayout wl;
    const float *W;
};

ms_enc_gemm *ms_enc_gemm_new(int d, int S, int max_rows, ms_enc_dtype dt, ms_enc_wlayout wl) {
    if (dt != MS_ENC_F32) {
        ms_error("--encoder-dtype %s needs monoscope built with oneDNN (libdnnl-dev)", ms_enc_dtype_name(dt));
        return NULL;
    }
    ms_enc_gemm *g = ms_calloc(1, sizeof *g);
    g->d = d; g->S = S; g->max_rows = max_rows; g->wl = wl;
    return g;
}
void ms_enc_gemm_free(ms_enc_gemm *g) { free(g); }
int ms_enc_gemm_set_weights(ms_enc_gemm *g, const float *W) { g->W = W; return 0; }
int ms_enc_gemm_can_pack(const ms_enc_gemm *g) { return g->wl == MS_ENC_WT; }
void ms_enc_gemm_pack_rows(ms_enc_gemm *g, const float *Wt, int i0, int i1) { (void)g; (void)Wt; (void)i0; (void)i1; } // Wt is read in place

int ms_enc_gemm_rows(ms_enc_gemm *g, const float *xc, int rows, const float *be, float *pre) {
    if (rows <= 0) return 0;
    const int S = g->S;
    if (g->wl == MS_ENC_W) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, S, g->d, 1.0f, xc, g->d, g->W, S, 0.0f, pre, S);
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, S, g->d, 1.0f, xc, g->d, g->W, g->d, 0.0f, pre, S);
    if (be) {
        #pragma omp parallel for schedule(static)
        for (int b = 0; b < rows; b++) {
            float *r = pre + (int64_t)b * S;
            for (int i = 0; i < S; i++) r[i] += be[i];
        }
    }
    return 0;
}
const char *ms_enc_gemm_describe(const ms_enc_gemm *g) { (void)g; return "OpenBLAS sgemm f32"; }

#endif
