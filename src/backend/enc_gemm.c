// enc_gemm.c: the encoder product through oneDNN, or OpenBLAS without it (see enc_gemm.h).
#include "backend/enc_gemm.h"
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"
#ifdef MS_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif
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

// One compiled product for a fixed row count.
typedef struct {
    int rows;
    dnnl_primitive_t prim;
    dnnl_memory_t src, dst, bias;
} plan;

struct ms_enc_gemm {
    int d, S, max_rows;
    ms_enc_dtype dt;
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    plan full, tail;              // max_rows, and the last other row count asked for
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

static int ok(dnnl_status_t s, const char *what) {
    if (s == dnnl_success) return 1;
    ms_error("oneDNN: %s failed (status %d)", what, (int)s);
    return 0;
}

static dnnl_data_type_t in_type(const ms_enc_gemm *g) { return g->dt == MS_ENC_BF16 ? dnnl_bf16 : dnnl_f32; }

static void plan_free(plan *p) {
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->src) dnnl_memory_destroy(p->src);
    if (p->dst) dnnl_memory_destroy(p->dst);
    if (p->bias) dnnl_memory_destroy(p->bias);
    memset(p, 0, sizeof *p);
}

// Builds the product for `rows` rows; with want_layout, also the weights in the layout it chose.
static int plan_make(ms_enc_gemm *g, plan *p, int rows, int want_layout) {
    plan_free(p);
    dnnl_memory_desc_t src, wts, bias, dst;
    dnnl_dims_t sd = {rows, g->d}, ss = {g->d, 1};
    dnnl_dims_t wd = {g->d, g->S};
    dnnl_dims_t bd = {1, g->S}, bs = {g->S, 1};
    dnnl_dims_t od = {rows, g->S}, os = {g->S, 1};
    if (!ok(dnnl_memory_desc_init_by_strides(&src, 2, sd, in_type(g), ss), "source descriptor") ||
        !ok(dnnl_memory_desc_init_by_tag(&wts, 2, wd, in_type(g), dnnl_format_tag_any), "weights descriptor") ||
        !ok(dnnl_memory_desc_init_by_strides(&bias, 2, bd, dnnl_f32, bs), "bias descriptor") ||
        !ok(dnnl_memory_desc_init_by_strides(&dst, 2, od, dnnl_f32, os), "output descriptor"))
        return -1;
    dnnl_matmul_desc_t md;
    if (!ok(dnnl_matmul_desc_init(&md, &src, &wts, &bias, &dst), "matmul descriptor")) return -1;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_primitive_desc_create(&pd, &md, NULL, g->eng, NULL) != dnnl_success) {
        ms_error("encoder product: oneDNN has no %s kernel for this CPU%s", ms_enc_dtype_name(g->dt),
                 g->dt == MS_ENC_BF16 ? " (bf16 needs AVX-512; use --encoder-dtype f32)" : "");
        return -1;
    }
    int rc = -1;
    const dnnl_memory_desc_t *wk = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if (want_layout) {
        const char *impl = NULL;
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
        const dnnl_version_t *v = dnnl_version();
        snprintf(g->desc, sizeof g->desc, "oneDNN %d.%d.%d %s (%s)", v->major, v->minor, v->patch,
                 ms_enc_dtype_name(g->dt), impl ? impl : "?");
        size_t bytes = dnnl_memory_desc_get_size(wk);
        g->w_buf = ms_aligned_alloc(bytes ? bytes : 64);
        dnnl_primitive_desc_t rpd = NULL;
        if (!ok(dnnl_memory_create(&g->w_kernel, wk, g->eng, g->w_buf), "weights memory") ||
            !ok(dnnl_memory_create(&g->w_plain, &g->wt_plain, g->eng, DNNL_MEMORY_NONE), "weights memory") ||
            !ok(dnnl_reorder_primitive_desc_create(&rpd, &g->wt_plain, g->eng, wk, g->eng, NULL), "weights reorder")) {
            dnnl_primitive_desc_destroy(pd);
            return -1;
        }
        int okr = ok(dnnl_primitive_create(&g->reorder, rpd), "weights reorder");
        dnnl_primitive_desc_destroy(rpd);
        if (!okr) { dnnl_primitive_desc_destroy(pd); return -1; }
    }
    if (!want_layout) {
        // the weights were laid out for max_rows; a partial batch must use that same layout
        const dnnl_memory_desc_t *hp = NULL;
        dnnl_memory_get_memory_desc(g->w_kernel, &hp);
        dnnl_memory_desc_t have = *hp;
        if (!dnnl_memory_desc_equal(&have, wk)) {
            // pin the weights layout and ask again
            dnnl_primitive_desc_destroy(pd);
            pd = NULL;
            if (!ok(dnnl_matmul_desc_init(&md, &src, &have, &bias, &dst), "matmul descriptor") ||
                !ok(dnnl_primitive_desc_create(&pd, &md, NULL, g->eng, NULL), "matmul for a partial batch"))
                return -1;
        }
    }
    if (ok(dnnl_primitive_create(&p->prim, pd), "matmul") &&
        ok(dnnl_memory_create(&p->src, &src, g->eng, DNNL_MEMORY_NONE), "source memory") &&
        ok(dnnl_memory_create(&p->dst, &dst, g->eng, DNNL_MEMORY_NONE), "output memory") &&
        ok(dnnl_memory_create(&p->bias, &bias, g->eng, DNNL_MEMORY_NONE), "bias memory")) {
        p->rows = rows;
        rc = 0;
    }
    dnnl_primitive_desc_destroy(pd);
    return rc;
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
    if (!ok(dnnl_engine_create(&g->eng, dnnl_cpu, 0), "engine") ||
        !ok(dnnl_stream_create(&g->stream, g->eng, dnnl_stream_default_flags), "stream") ||
        !ok(dnnl_memory_desc_init_by_strides(&g->wt_plain, 2, wd, dnnl_f32, ws), "weights descriptor") ||
        plan_make(g, &g->full, max_rows, 1) < 0) {
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
    plan_free(&g->full);
    plan_free(&g->tail);
    if (g->reorder) dnnl_primitive_destroy(g->reorder);
    if (g->w_plain) dnnl_memory_destroy(g->w_plain);
    if (g->w_kernel) dnnl_memory_destroy(g->w_kernel);
    if (g->stream) dnnl_stream_destroy(g->stream);
    if (g->eng) dnnl_engine_destroy(g->eng);
    free(g->w_buf);
    free(g->src_bf16);
    free(g->zero_bias);
    free(g->off_q);
    free(g->off_i);
    free(g);
}

int ms_enc_gemm_set_weights(ms_enc_gemm *g, const float *W) {
    if (!ok(dnnl_memory_set_data_handle(g->w_plain, (void *)W), "weights handle")) return -1;
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, g->w_plain}, {DNNL_ARG_TO, g->w_kernel}};
    if (!ok(dnnl_primitive_execute(g->reorder, g->stream, 2, a), "weights reorder")) return -1;
    return ok(dnnl_stream_wait(g->stream), "weights reorder") ? 0 : -1;
}

// float -> bfloat16, round to nearest even (NaN stays NaN).
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
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
            for (int q = 0; q < d; q++) buf[g->off_q[q] + g->off_i[i]] = to_bf16(Wt[(int64_t)i * d + q]);
    } else {
        float *buf = g->w_buf;
        for (int i = i0; i < i1; i++)
            for (int q = 0; q < d; q++) buf[g->off_q[q] + g->off_i[i]] = Wt[(int64_t)i * d + q];
    }
}

int ms_enc_gemm_rows(ms_enc_gemm *g, const float *xc, int rows, const float *be, float *pre) {
    if (rows <= 0) return 0;
    if (rows > g->max_rows) { ms_error("encoder product: %d rows > %d", rows, g->max_rows); return -1; }
    plan *p = rows == g->max_rows ? &g->full : &g->tail;
    if (p->rows != rows && plan_make(g, p, rows, 0) < 0) return -1;
    const void *src = xc;
    if (g->dt == MS_ENC_BF16) {
        const int64_t n = (int64_t)rows * g->d;
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) g->src_bf16[i] = to_bf16(xc[i]);
        src = g->src_bf16;
    }
    if (!be) be = g->zero_bias;
    int r = ok(dnnl_memory_set_data_handle(p->src, (void *)src), "source handle") &&
            ok(dnnl_memory_set_data_handle(p->dst, pre), "output handle") &&
            ok(dnnl_memory_set_data_handle(p->bias, (void *)be), "bias handle");
    if (r) {
        dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, p->src}, {DNNL_ARG_WEIGHTS, g->w_kernel},
                                {DNNL_ARG_BIAS, p->bias}, {DNNL_ARG_DST, p->dst}};
        r = ok(dnnl_primitive_execute(p->prim, g->stream, 4, a), "matmul") && ok(dnnl_stream_wait(g->stream), "matmul");
    }
    return r ? 0 : -1;
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
