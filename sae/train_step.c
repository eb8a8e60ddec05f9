// train_step.c: forward + backward of one batch (see train_step.h).
//
// Data flow (B tokens, d inputs, S latents, nnz active (token, latent) pairs):
//   xc  = x − bd                                   (B, d)
//   pre = xc · Wtᵀ + be                            (B, S)   the only dense O(B·d·S) product (enc_gemm.h),
//                                                           in blocks of ROW_BLOCK tokens
//   codes: CSR per token (idx, val)                (nnz)    selection per architecture (the ARCH
//                                                           table below); CSC transpose
//   x̂   = bd + Σ val · Wd[idx]                    (B, d)   sparse-dense, O(nnz·d), latent-major
//   then per latent i, over its entries (CSC), with ge = 2(x̂ − x)/B:
//   ∂L/∂f_bi = ge_b · Wd_i (= ∂L/∂pre_bi where active), ∂L/∂Wd_i = Σ_b f_bi ge_b,
//   ∂L/∂Wt_i = Σ_b (∂L/∂pre_bi) xc_b, ∂L/∂be_i = Σ_b ∂L/∂pre_bi
//   ∂L/∂bd = Σ_b ge_b − Σ_i (∂L/∂be_i) Wt_i          (d)
// Every sum has a fixed order (per latent over tokens ascending, per dimension over tokens
// ascending), so results do not depend on scheduling or thread count.
#include "sae/train_step.h"
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "backend/enc_gemm.h"
#include "train/topk.h"
#include "util/util.h"
#include "util/vecops.h"

// Latents per partial sum of ∂L/∂bd, and per pack of updated encoder rows: 64 is also the width
// of oneDNN's f32 weight blocks, so each pack writes whole cache lines.
enum { BD_CHUNK = 64 };
// Tokens per block of the encoder product: smaller blocks measured slower (each block streams the
// whole weight matrix from memory once more).
enum { ROW_BLOCK = 4096 };

typedef struct {
    int64_t *row;   // (B+1)
    int32_t *idx, *tok;
    float *val;
    float *g;       // JumpReLU window entries only (has_g): ∂L/∂logθ contribution (main and AuxK
                    // codes get their ∂L/∂f in the gradient pass instead)
    int has_g;
    int64_t cap, nnz;
} csr;

struct ms_step_ws {
    int Bmax, d, S;
    int nt;                               // threads of this step's loops (ms_step_opts.threads)
    float *xc, *e, *ge, *gea, *gxc;       // (B,d)
    float *pre;                           // (pre_rows, S): all B rows, or one block (TopK)
    int pre_rows;
    float *th;                            // (S) exp(logth)
    float *dnorm;                         // (S) decoder row norms (relu)
    csr m, a, win;                        // main codes, AuxK codes, jumprelu window entries
    int32_t *cnt;                         // (B)
    int32_t *tk_idx; float *tk_val;       // (B * k) per-token top-k (main codes)
    int64_t tk_cap;
    int32_t *ak_idx, *acnt; float *ak_val; // (B * k_aux), (B) per-token AuxK selection
    int64_t ak_cap;
    int64_t *cptr, *cfill;                // (S+1) CSC over main + aux entries; (S) its fill cursors
    int64_t *cref, ccap;
    int32_t *fired;                       // (S)
    int32_t *cand;                        // (S) dead latents
    double *tok_mse, *tok_aux;            // (B)
    uint32_t *hist;                       // batchtopk histograms, nthreads * 65536
    int64_t *seg;                         // (nthreads + 1) batchtopk: each thread's segment of the cut bin
    int hist_threads;
    float *fsum;                          // (S) relu dense path: Σ_b f_bi
    double *thacc;                        // (S) jumprelu: ∂L/∂θ_i accumulated in entry order
    float *binvals; int64_t bincap;
    float *g2;                            // (B,S) relu dense path: ∂L/∂pre, allocated on first use
    float *bdpart;                        // (⌈S/BD_CHUNK⌉, d) partial sums for ∂L/∂bd
    float *rowbuf;                        // (threads, 2, d) a latent's gradient rows for the sink
    int rowbuf_threads;
    ms_enc_gemm *enc;                     // the dense encoder product
    const float *packed_wt;               // every row of this Wt was packed into enc after the last step's sink
    double gemm_seconds;                  // time in the encoder product (for the summary line)
};

ms_step_ws *ms_step_ws_new(int B, int d, int S, ms_enc_dtype dt) {
    ms_step_ws *w = ms_calloc(1, sizeof *w);
    w->Bmax = B; w->d = d; w->S = S;
    w->bdpart = ms_aligned_alloc((size_t)((S + BD_CHUNK - 1) / BD_CHUNK) * d * sizeof(float));
    w->enc = ms_enc_gemm_new(d, S, B < ROW_BLOCK ? B : ROW_BLOCK, dt, MS_ENC_WT);
    if (!w->enc) { free(w); return NULL; }
    size_t bd = (size_t)B * d * sizeof(float);
    w->xc = ms_aligned_alloc(bd); w->e = ms_aligned_alloc(bd); w->ge = ms_aligned_alloc(bd);
    w->gea = ms_aligned_alloc(bd); w->gxc = ms_aligned_alloc(bd);
    w->th = ms_aligned_alloc((size_t)S * sizeof(float));
    w->dnorm = ms_aligned_alloc((size_t)S * sizeof(float));
    csr *cs[3] = {&w->m, &w->a, &w->win};
    for (int i = 0; i < 3; i++) cs[i]->row = ms_calloc((size_t)B + 1, sizeof(int64_t));
    w->win.has_g = 1;
    w->cnt = ms_calloc((size_t)B, sizeof(int32_t));
    w->acnt = ms_calloc((size_t)B, sizeof(int32_t));
    w->cptr = ms_calloc((size_t)S + 1, sizeof(int64_t));
    w->cfill = ms_malloc((size_t)S * sizeof(int64_t));
    w->fired = ms_calloc((size_t)S, sizeof(int32_t));
    w->cand = ms_calloc((size_t)S, sizeof(int32_t));
    w->tok_mse = ms_calloc((size_t)B, sizeof(double));
    w->tok_aux = ms_calloc((size_t)B, sizeof(double));
    w->fsum = ms_aligned_alloc((size_t)S * sizeof(float));
    w->thacc = ms_calloc((size_t)S, sizeof(double));
    return w;
}

static void csr_free(csr *c) { free(c->row); free(c->idx); free(c->tok); free(c->val); free(c->g); }
void ms_step_ws_free(ms_step_ws *w) {
    if (!w) return;
    ms_enc_gemm_free(w->enc);
    free(w->bdpart);
    free(w->rowbuf);
    free(w->xc); free(w->pre); free(w->e); free(w->ge); free(w->gea); free(w->gxc); free(w->th); free(w->dnorm);
    csr_free(&w->m); csr_free(&w->a); csr_free(&w->win);
    free(w->cnt); free(w->tk_idx); free(w->tk_val); free(w->acnt); free(w->ak_idx); free(w->ak_val); free(w->cptr); free(w->cfill); free(w->cref); free(w->fired); free(w->cand);
    free(w->tok_mse); free(w->tok_aux); free(w->hist); free(w->seg); free(w->fsum); free(w->thacc); free(w->binvals); free(w->g2);
    free(w);
}
const float *ms_step_residual_neg(const ms_step_ws *w) { return w->e; }
const float *ms_step_preacts(const ms_step_ws *w) { return w->pre; }
double ms_step_gemm_seconds(const ms_step_ws *w) { return w->gemm_seconds; }
const char *ms_step_encoder_describe(const ms_step_ws *w) { return ms_enc_gemm_describe(w->enc); }

// Prefix-sums cnt into c->row and makes room for the entries.
static void csr_alloc(const int32_t *cnt, csr *c, int B) {
    c->row[0] = 0;
    for (int b = 0; b < B; b++) c->row[b + 1] = c->row[b] + cnt[b];
    c->nnz = c->row[B];
    if (c->nnz > c->cap) {
        int64_t cap = c->nnz + c->nnz / 4 + 1024;
        free(c->idx); free(c->tok); free(c->val); free(c->g);
        c->idx = ms_malloc((size_t)cap * sizeof(int32_t));
        c->tok = ms_malloc((size_t)cap * sizeof(int32_t));
        c->val = ms_malloc((size_t)cap * sizeof(float));
        if (c->has_g) c->g = ms_malloc((size_t)cap * sizeof(float));
        c->cap = cap;
    }
}

// Room for n entries in a pair of per-token selection arrays.
static void sel_reserve(int32_t **idx, float **val, int64_t *cap, int64_t n) {
    if (n <= *cap) return;
    free(*idx); free(*val);
    *idx = ms_malloc((size_t)n * sizeof(int32_t));
    *val = ms_malloc((size_t)n * sizeof(float));
    *cap = n;
}

// Codes from per-token selections (kk slots per token, cnt[b] valid ones).
static void csr_from_sel(csr *c, int B, const int32_t *cnt, const int32_t *idx, const float *val, int kk, int nt) {
    csr_alloc(cnt, c, B);
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int b = 0; b < B; b++) {
        int64_t o = c->row[b];
        for (int j = 0; j < cnt[b]; j++) {
            c->idx[o + j] = idx[(int64_t)b * kk + j];
            c->val[o + j] = val[(int64_t)b * kk + j];
            c->tok[o + j] = b;
        }
    }
}

// Keeps the positive entries of a selection of m; returns their count.
static int relu_sel(int32_t *ix, float *vv, int m) {
    int c = 0;
    for (int j = 0; j < m; j++) if (vv[j] > 0) { ix[c] = ix[j]; vv[c] = vv[j]; c++; }
    return c;
}

// Tokens b0..b0+n (pre: their rows): the top-k of each row (bias included), over every latent
// or over the nc candidates cand (AuxK: dead latents), relu'd, into idx/val (k per token) and cnt.
static void select_rows(const float *pre, int S, int b0, int n, int k, const int32_t *cand, int nc,
                        int32_t *idx, float *val, int32_t *cnt, int nt) {
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int r = 0; r < n; r++) {
        const int64_t b = b0 + r;
        const float *row = pre + (int64_t)r * S;
        int32_t *ix = idx + b * k;
        float *vv = val + b * k;
        cnt[b] = relu_sel(ix, vv, cand ? ms_topk_subset(row, cand, nc, k, ix, vv) : ms_topk_row(row, S, k, ix, vv));
    }
}

// Entries with pre > thr_i (per latent) or pre > 0 when thr == NULL; scal: one threshold for all.
static void select_threshold(ms_step_ws *w, int B, const float *thr, float scal, int ge_scal) {
    const int S = w->S;
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int b = 0; b < B; b++) {
        const float *r = w->pre + (int64_t)b * S;
        int n = 0;
        if (thr) { for (int i = 0; i < S; i++) n += r[i] > thr[i] && r[i] > 0; }
        else if (ge_scal) { for (int i = 0; i < S; i++) n += r[i] >= scal && r[i] > 0; }
        else { for (int i = 0; i < S; i++) n += r[i] > scal; }
        w->cnt[b] = n;
    }
    csr *c = &w->m;
    csr_alloc(w->cnt, c, B);
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int b = 0; b < B; b++) {
        const float *r = w->pre + (int64_t)b * S;
        int64_t o = c->row[b];
        for (int i = 0; i < S; i++) {
            float v = r[i];
            int on = thr ? (v > thr[i] && v > 0) : ge_scal ? (v >= scal && v > 0) : (v > scal);
            if (on) { c->idx[o] = i; c->val[o] = v; c->tok[o] = b; o++; }
        }
    }
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

// BatchTopK: the B·k largest positive pre-activations of the whole batch. Radix selection on the
// float bit patterns (monotonic for positive floats): a 16-bit histogram pass finds the bin of
// the cut, the values of that bin are sorted to find the exact cut value t; then pre >= t.
static float select_batchtopk(ms_step_ws *w, int B, int k) {
    const int S = w->S;
    const int64_t N = (int64_t)B * S, K = (int64_t)B * k;
    const int nt = w->nt;
    if (w->hist_threads < nt) { // once per workspace (the thread count does not change)
        free(w->hist); free(w->seg);
        w->hist = ms_malloc((size_t)nt * 65536 * sizeof(uint32_t));
        w->seg = ms_malloc((size_t)(nt + 1) * sizeof(int64_t));
        w->hist_threads = nt;
    }
    memset(w->hist, 0, (size_t)nt * 65536 * sizeof(uint32_t));
    int used = 1;
    #pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        #pragma omp single
        used = n;
        uint32_t *h = w->hist + (size_t)t * 65536;
        int64_t lo = N * t / n, hi = N * (t + 1) / n;
        const uint32_t *bits = (const uint32_t *)w->pre;
        for (int64_t i = lo; i < hi; i++) {
            float v = w->pre[i];
            if (v > 0) h[bits[i] >> 16]++;
        }
    }
    int64_t above = 0, total = 0;
    for (int bin = 65535; bin >= 0; bin--) for (int t = 0; t < used; t++) total += w->hist[(size_t)t * 65536 + bin];
    float cut;
    if (total <= K) {
        select_threshold(w, B, NULL, 0.0f, 0); // every positive entry
        float mn = INFINITY;
        for (int64_t j = 0; j < w->m.nnz; j++) if (w->m.val[j] < mn) mn = w->m.val[j];
        return w->m.nnz ? mn : 0.0f;
    }
    int bstar = 65535;
    for (; bstar >= 0; bstar--) {
        int64_t c = 0;
        for (int t = 0; t < used; t++) c += w->hist[(size_t)t * 65536 + bstar];
        if (above + c >= K) break;
        above += c;
    }
    int64_t inbin = 0;
    for (int t = 0; t < used; t++) inbin += w->hist[(size_t)t * 65536 + bstar];
    if (inbin > w->bincap) { free(w->binvals); w->binvals = ms_malloc((size_t)inbin * sizeof(float)); w->bincap = inbin; }
    // gather the cut bin's values: each thread its own range, into its own segment (same partition as the histogram)
    int64_t *seg = w->seg;
    seg[0] = 0;
    for (int t = 0; t < used; t++) seg[t + 1] = seg[t] + w->hist[(size_t)t * 65536 + bstar];
    #pragma omp parallel num_threads(used)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        const uint32_t *bits = (const uint32_t *)w->pre;
        for (int tt = t; tt < used; tt += n) { // (any team size works: partitions are those of the histogram)
            int64_t lo = N * tt / used, hi = N * (tt + 1) / used, o = seg[tt];
            for (int64_t i = lo; i < hi; i++)
                if (w->pre[i] > 0 && (int)(bits[i] >> 16) == bstar) w->binvals[o++] = w->pre[i];
        }
    }
    const int64_t pos = seg[used];
    qsort(w->binvals, (size_t)pos, sizeof(float), cmp_desc);
    int64_t r = K - above; // 1-based rank within the bin
    cut = w->binvals[r - 1];
    select_threshold(w, B, NULL, cut, 1);
    return cut;
}

// CSC transpose of the main + AuxK entries: per latent, its entries in token order (main before
// aux for the same token), as references j < m.nnz into m and m.nnz + j into a.
static void build_csc(ms_step_ws *w, int B) {
    const csr *m = &w->m, *a = &w->a;
    const int S = w->S;
    int64_t tot = m->nnz + a->nnz;
    if (tot > w->ccap) { free(w->cref); w->ccap = tot + tot / 4 + 1024; w->cref = ms_malloc((size_t)w->ccap * sizeof(int64_t)); }
    memset(w->cptr, 0, (size_t)(S + 1) * sizeof(int64_t));
    for (int64_t j = 0; j < m->nnz; j++) w->cptr[m->idx[j] + 1]++;
    for (int64_t j = 0; j < a->nnz; j++) w->cptr[a->idx[j] + 1]++;
    for (int i = 0; i < S; i++) w->cptr[i + 1] += w->cptr[i];
    int64_t *fill = w->cfill;
    memcpy(fill, w->cptr, (size_t)S * sizeof(int64_t));
    for (int b = 0; b < B; b++) { // a token-major walk keeps each latent's list in token order
        for (int64_t j = m->row[b]; j < m->row[b + 1]; j++) w->cref[fill[m->idx[j]]++] = j;
        for (int64_t j = a->row[b]; j < a->row[b + 1]; j++) w->cref[fill[a->idx[j]]++] = m->nnz + j;
    }
}

// y = f·u (first) or y += f·u, and returns ms_dot(u, v, n) with the same lanes and order: one
// pass over u for both, and the dot's dependent additions interleave with independent work.
static inline float axpy_dot(float *restrict y, int first, float f, const float *restrict u,
                             const float *restrict v, int n) {
    float acc[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) {
            y[i + j] = first ? f * u[i + j] : y[i + j] + f * u[i + j];
            acc[j] += u[i + j] * v[i + j];
        }
    for (int j = 0; i < n; i++, j++) {
        y[i] = first ? f * u[i] : y[i] + f * u[i];
        acc[j] += u[i] * v[i];
    }
    for (int w = 8; w; w >>= 1)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

// Σ_b ‖x_b − mean(x)‖², fixed order: per block of 16 dimensions, tokens ascending.
static double batch_var(const float *x, int B, int d, int nt) {
    const int nblk = (d + 15) / 16;
    double part[nblk];
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int k = 0; k < nblk; k++) {
        const int q0 = 16 * k, n = d - q0 < 16 ? d - q0 : 16;
        double mean[16] = {0}, ss[16] = {0};
        for (int b = 0; b < B; b++)
            for (int j = 0; j < n; j++) mean[j] += x[(int64_t)b * d + q0 + j];
        for (int j = 0; j < n; j++) mean[j] /= B;
        for (int b = 0; b < B; b++)
            for (int j = 0; j < n; j++) { double t = x[(int64_t)b * d + q0 + j] - mean[j]; ss[j] += t * t; }
        part[k] = 0;
        for (int j = 0; j < n; j++) part[k] += ss[j];
    }
    double v = 0;
    for (int k = 0; k < nblk; k++) v += part[k];
    return v;
}

// ReLU while the codes are still dense (early training): every product as one sgemm, since
// sparse-dense products only pay off below ~10 % density. w->pre holds pre-activations on entry.
static int relu_dense(ms_step_ws *w, const ms_sae_params *p, const float *x, int B, const ms_step_opts *o,
                      ms_sae_grads *g, ms_step_stats *st, int64_t nnz) {
    const int d = p->d, S = p->S;
    float *f = w->pre;
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int64_t i = 0; i < (int64_t)B * S; i++) f[i] = f[i] > 0 ? f[i] : 0;
    // x̂ − x = f Wd + bd − x
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int b = 0; b < B; b++)
        for (int q = 0; q < d; q++) w->e[(int64_t)b * d + q] = p->bd[q] - x[(int64_t)b * d + q];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, d, S, 1.0f, f, S, p->Wd, d, 1.0f, w->e, d);
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int b = 0; b < B; b++) {
        const float *e = w->e + (int64_t)b * d;
        float *ge = w->ge + (int64_t)b * d;
        for (int q = 0; q < d; q++) ge[q] = 2.0f * e[q] / (float)B;
        w->tok_mse[b] = ms_sumsq(e, d);
    }
    double mse = 0;
    for (int b = 0; b < B; b++) mse += w->tok_mse[b];
    // per-latent column statistics (blocks of 16 latents, tokens in order): Σ f, Σ f‖Wd‖, count
    double sp = 0;
    float *fsum = w->fsum;
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int i0 = 0; i0 < S; i0 += 16) {
        int i1 = i0 + 16 < S ? i0 + 16 : S;
        float acc[16] = {0};
        int cnt[16] = {0};
        for (int b = 0; b < B; b++) {
            const float *r = f + (int64_t)b * S;
            for (int i = i0; i < i1; i++) { acc[i - i0] += r[i]; cnt[i - i0] += r[i] > 0; }
        }
        for (int i = i0; i < i1; i++) { fsum[i] = acc[i - i0]; w->fired[i] = cnt[i - i0]; }
    }
    for (int i = 0; i < S; i++) sp += (double)fsum[i] * w->dnorm[i];
    st->mse_sum = mse;
    st->var_sum = batch_var(x, B, d, w->nt);
    st->l0 = (double)nnz / B;
    st->sparsity_loss = o->lambda * sp / B;
    st->loss = mse / B + st->sparsity_loss;
    st->fired = w->fired;
    if (!g) return 0;
    const float lam_b = (float)(o->lambda / B);
    // ∂L/∂Wd = fᵀ ge + (λ/B) Σ_b f_bi Wd_i/‖Wd_i‖
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, S, d, B, 1.0f, f, S, w->ge, d, 0.0f, g->Wd, d);
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int i = 0; i < S; i++) {
        g->row_active[i] = 1;
        if (w->dnorm[i] > 0) {
            const float c = lam_b * fsum[i] / w->dnorm[i];
            for (int q = 0; q < d; q++) g->Wd[(int64_t)i * d + q] += c * p->Wd[(int64_t)i * d + q];
        }
    }
    // ∂L/∂pre = (ge Wdᵀ + λ/B ‖Wd‖) · [pre > 0]
    if (!w->g2) w->g2 = ms_aligned_alloc((size_t)w->Bmax * S * sizeof(float));
    float *gp = w->g2;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, S, d, 1.0f, w->ge, d, p->Wd, d, 0.0f, gp, S);
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int b = 0; b < B; b++)
        for (int i = 0; i < S; i++) {
            int64_t j = (int64_t)b * S + i;
            gp[j] = f[j] > 0 ? gp[j] + lam_b * w->dnorm[i] : 0.0f;
        }
    // ∂L/∂Wt = gpᵀ xc, ∂L/∂be = Σ_b gp, ∂L/∂bd = Σ_b (ge − gp Wt)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, S, d, B, 1.0f, gp, S, w->xc, d, 0.0f, g->Wt, d);
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int i0 = 0; i0 < S; i0 += 16) {
        int i1 = i0 + 16 < S ? i0 + 16 : S;
        float acc[16] = {0};
        for (int b = 0; b < B; b++) for (int i = i0; i < i1; i++) acc[i - i0] += gp[(int64_t)b * S + i];
        for (int i = i0; i < i1; i++) g->be[i] = acc[i - i0];
    }
    memcpy(w->gxc, w->ge, (size_t)B * d * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, d, S, -1.0f, gp, S, p->Wt, d, 1.0f, w->gxc, d);
    for (int q = 0; q < d; q++) {
        float acc = 0;
        for (int b = 0; b < B; b++) acc += w->gxc[(int64_t)b * d + q];
        g->bd[q] = acc;
    }
    if (o->sink) { // every parameter gradient above was computed before any row changes
        #pragma omp parallel for schedule(static) num_threads(w->nt)
        for (int i = 0; i < S; i++)
            o->sink(o->sink_ctx, i, g->Wd + (int64_t)i * d, g->Wt + (int64_t)i * d, g->be[i], 0.0f);
    }
    return 0;
}

// ---- the per-architecture parts of a step: which latents are active (select) and the sparsity
// terms; everything else (encoder product, CSC, decoder, AuxK, the gradient pass, ∂L/∂bd) is the
// shared pipeline of ms_sae_step.

typedef struct {
    int ka, k;      // AuxK latents per token (0: no AuxK this step), main top-k
    int nd;         // AuxK candidates (dead latents) in w->cand
    int stream;     // TopK: codes selected from each block of the encoder product, one block's buffer
} step_plan;

// Each selects the main codes into w->m from the pre-activations. Returns 0, or 1 when it
// completed the whole step itself (ReLU while still dense).
typedef int (*select_fn)(ms_step_ws *w, const ms_sae_params *p, const float *x, int B, const ms_step_opts *o,
                         const step_plan *sp, ms_sae_grads *g, ms_step_stats *st);

static int select_topk(ms_step_ws *w, const ms_sae_params *p, const float *x, int B, const ms_step_opts *o,
                       const step_plan *sp, ms_sae_grads *g, ms_step_stats *st) {
    (void)p; (void)x; (void)o; (void)g; (void)st;
    csr_from_sel(&w->m, B, w->cnt, w->tk_idx, w->tk_val, sp->k, w->nt); // selected block by block
    return 0;
}

static int select_batch(ms_step_ws *w, const ms_sae_params *p, const float *x, int B, const ms_step_opts *o,
                        const step_plan *sp, ms_sae_grads *g, ms_step_stats *st) {
    (void)x; (void)o; (void)sp; (void)g;
    st->min_selected = select_batchtopk(w, B, p->k);
    return 0;
}

static int select_jump(ms_step_ws *w, const ms_sae_params *p, const float *x, int B, const ms_step_opts *o,
                       const step_plan *sp, ms_sae_grads *g, ms_step_stats *st) {
    (void)x; (void)o; (void)sp; (void)g; (void)st;
    for (int i = 0; i < w->S; i++) w->th[i] = expf(p->logth[i]);
    select_threshold(w, B, w->th, 0, 0);
    return 0;
}

// ReLU: the decoder norms weight the L1 penalty; while more than 10 % of the codes are active,
// every product runs dense (relu_dense) instead.
static int select_relu(ms_step_ws *w, const ms_sae_params *p, const float *x, int B, const ms_step_opts *o,
                       const step_plan *sp, ms_sae_grads *g, ms_step_stats *st) {
    (void)sp;
    const int d = w->d, S = w->S;
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int i = 0; i < S; i++) w->dnorm[i] = (float)sqrt(ms_sumsq(p->Wd + (int64_t)i * d, d));
    if (!o->force_sparse) {
        int64_t nnz = 0;
        #pragma omp parallel for schedule(static) num_threads(w->nt)
        for (int b = 0; b < B; b++) {
            const float *r = w->pre + (int64_t)b * S;
            int n = 0;
            for (int i = 0; i < S; i++) n += r[i] > 0;
            w->cnt[b] = n;
        }
        for (int b = 0; b < B; b++) nnz += w->cnt[b];
        if (nnz * 10 > (int64_t)B * S || o->force_dense) return relu_dense(w, p, x, B, o, g, st, nnz) < 0 ? -1 : 1;
    }
    select_threshold(w, B, NULL, 0.0f, 0);
    return 0;
}

// JumpReLU thresholds: straight-through estimator with a rectangle kernel of width ε around θ.
static void threshold_grad(ms_step_ws *w, const ms_sae_params *p, int B, const ms_step_opts *o, ms_sae_grads *g) {
    const int d = w->d, S = w->S;
    const float eps = (float)o->eps, half = 0.5f * eps, lam_b = (float)(o->lambda / B);
    csr *wn = &w->win;
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int b = 0; b < B; b++) {
        const float *r = w->pre + (int64_t)b * S;
        int n = 0;
        for (int i = 0; i < S; i++) n += fabsf(r[i] - w->th[i]) < half;
        w->cnt[b] = n;
    }
    csr_alloc(w->cnt, wn, B);
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int b = 0; b < B; b++) {
        const float *r = w->pre + (int64_t)b * S;
        const float *ge = w->ge + (int64_t)b * d;
        int64_t off = wn->row[b];
        for (int i = 0; i < S; i++) {
            if (!(fabsf(r[i] - w->th[i]) < half)) continue;
            const float *wd = p->Wd + (int64_t)i * d;
            const float s = ms_dot(ge, wd, d);
            // ∂/∂θ of f (recon) and of H (L0):  −(θ/ε)·K·∂L/∂f  −  (1/ε)·K·λ/B
            wn->idx[off] = i;
            wn->g[off] = -(w->th[i] / eps) * s - lam_b / eps;
            off++;
        }
    }
    double *acc = w->thacc;
    memset(acc, 0, (size_t)S * sizeof(double));
    for (int64_t j = 0; j < wn->nnz; j++) acc[wn->idx[j]] += wn->g[j];
    for (int i = 0; i < S; i++) g->logth[i] = (float)(acc[i] * w->th[i]); // chain rule through θ = exp(logθ)
}

static double penalty_l1(const ms_step_ws *w) { // Σ f_bi ‖Wd_i‖
    double sp = 0;
    for (int64_t j = 0; j < w->m.nnz; j++) sp += (double)w->m.val[j] * w->dnorm[w->m.idx[j]];
    return sp;
}
static double penalty_l0(const ms_step_ws *w) { return (double)w->m.nnz; }

typedef struct {
    select_fn select;
    int auxk;               // dead latents revived by AuxK
    int l1_decoder_norm;    // relu's L1 term λ Σ f_bi ‖Wd_i‖: its gradient terms in the shared pass
    double (*penalty)(const ms_step_ws *w); // the sparsity term before λ/B; NULL: none
    void (*param_grad)(ms_step_ws *w, const ms_sae_params *p, int B, const ms_step_opts *o, ms_sae_grads *g);
                            // gradients of parameters only this architecture has (JumpReLU's θ)
} arch_ops;

static const arch_ops ARCH[MS_SAE_ARCH_COUNT] = {
    [MS_SAE_TOPK] = {select_topk, 1, 0, NULL, NULL},
    [MS_SAE_BATCHTOPK] = {select_batch, 1, 0, NULL, NULL},
    [MS_SAE_JUMPRELU] = {select_jump, 0, 0, penalty_l0, threshold_grad},
    [MS_SAE_RELU] = {select_relu, 0, 1, penalty_l1, NULL},
};

// ---- the shared pipeline

// The step's sizes and the AuxK candidates; makes room for the selections.
static step_plan plan_step(ms_step_ws *w, const ms_sae_params *p, int B, const ms_step_opts *o, const arch_ops *A) {
    const int S = w->S;
    step_plan sp = {0, p->k < S ? p->k : S, 0, p->arch == MS_SAE_TOPK && !o->keep_preacts};
    if (A->auxk && o->k_aux > 0 && o->dead && o->aux_coef > 0)
        for (int i = 0; i < S; i++) if (o->dead[i]) w->cand[sp.nd++] = i;
    sp.ka = o->k_aux < sp.nd ? o->k_aux : sp.nd;
    if (sp.nd > 0) sel_reserve(&w->ak_idx, &w->ak_val, &w->ak_cap, (int64_t)B * sp.ka);
    if (p->arch == MS_SAE_TOPK) sel_reserve(&w->tk_idx, &w->tk_val, &w->tk_cap, (int64_t)B * sp.k);
    const int rows = sp.stream ? (B < ROW_BLOCK ? B : ROW_BLOCK) : B;
    if (w->pre_rows < rows) { // grows at most once per layout (TopK's block, then a whole batch)
        free(w->pre);
        w->pre = ms_aligned_alloc((size_t)rows * S * sizeof(float));
        w->pre_rows = rows;
    }
    return sp;
}

// Encoder: pre = (x − bd) Wtᵀ + be in blocks of ROW_BLOCK tokens. TopK selects its codes (and
// AuxK's) from each block as soon as it is computed and, streaming, reuses one block's buffer, so
// its workspace stays (ROW_BLOCK, S) for any batch size. The other architectures need all
// pre-activations at once (a batch-wide threshold, the dense ReLU path, JumpReLU's window).
static int encode(ms_step_ws *w, const ms_sae_params *p, const float *x, int B, const ms_step_opts *o,
                  const step_plan *sp) {
    const int d = w->d, S = w->S;
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int b = 0; b < B; b++) {
        const float *xb = x + (int64_t)b * d;
        float *c = w->xc + (int64_t)b * d;
        for (int j = 0; j < d; j++) c[j] = xb[j] - p->bd[j];
    }
    const int reuse = o->wt_only_by_sink && w->packed_wt == p->Wt;
    w->packed_wt = NULL;
    if (!reuse && ms_enc_gemm_set_weights(w->enc, p->Wt) < 0) return -1;
    for (int b0 = 0; b0 < B; b0 += ROW_BLOCK) {
        const int n = B - b0 < ROW_BLOCK ? B - b0 : ROW_BLOCK;
        float *blk = sp->stream ? w->pre : w->pre + (int64_t)b0 * S;
        double tg = ms_now();
        if (ms_enc_gemm_rows(w->enc, w->xc + (int64_t)b0 * d, n, p->be, blk) < 0) return -1;
        w->gemm_seconds += ms_now() - tg;
        if (p->arch != MS_SAE_TOPK) continue;
        select_rows(blk, S, b0, n, sp->k, NULL, 0, w->tk_idx, w->tk_val, w->cnt, w->nt);
        if (sp->nd > 0) select_rows(blk, S, b0, n, sp->ka, w->cand, sp->nd, w->ak_idx, w->ak_val, w->acnt, w->nt);
    }
    return 0;
}

// AuxK codes (the k_aux largest pre-activations among dead latents), into w->a.
static void select_aux(ms_step_ws *w, const ms_sae_params *p, int B, const step_plan *sp) {
    csr *a = &w->a;
    a->nnz = 0;
    for (int b = 0; b <= B; b++) a->row[b] = 0;
    if (sp->nd == 0) return;
    if (p->arch != MS_SAE_TOPK) select_rows(w->pre, w->S, 0, B, sp->ka, w->cand, sp->nd, w->ak_idx, w->ak_val, w->acnt, w->nt);
    csr_from_sel(a, B, w->acnt, w->ak_idx, w->ak_val, sp->ka, w->nt);
}

// Decoder and reconstruction error: x̂_b = bd + Σ_i f_bi Wd_i, walked latent by latent. Each
// thread owns a contiguous range of tokens and visits every latent's entries in its range, so a
// decoder row is read from memory once per thread rather than once per entry (k ≈ 32 per token),
// and each token still sums its latents in ascending order. e = x̂ − x, ge = 2e/B. Returns Σ‖e‖².
static double decode_error(ms_step_ws *w, const ms_sae_params *p, const float *x, int B) {
    const int d = w->d, S = w->S;
    const csr *m = &w->m;
    #pragma omp parallel num_threads(w->nt)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int b_lo = (int)((int64_t)B * t / nt), b_hi = (int)((int64_t)B * (t + 1) / nt);
        for (int b = b_lo; b < b_hi; b++) memcpy(w->e + (int64_t)b * d, p->bd, (size_t)d * sizeof(float));
        for (int i = 0; i < S; i++) {
            const float *r = p->Wd + (int64_t)i * d;
            for (int64_t c = w->cptr[i]; c < w->cptr[i + 1]; c++) {
                const int64_t j = w->cref[c];
                if (j >= m->nnz) continue; // AuxK entry
                const int b = m->tok[j];
                if (b < b_lo || b >= b_hi) continue;
                float *e = w->e + (int64_t)b * d;
                const float v = m->val[j];
                for (int q = 0; q < d; q++) e[q] += v * r[q];
            }
        }
        for (int b = b_lo; b < b_hi; b++) {
            float *e = w->e + (int64_t)b * d, *ge = w->ge + (int64_t)b * d;
            const float *xb = x + (int64_t)b * d;
            for (int q = 0; q < d; q++) {
                e[q] -= xb[q];
                ge[q] = 2.0f * e[q] / (float)B;
            }
            w->tok_mse[b] = ms_sumsq(e, d);
        }
    }
    double mse = 0;
    for (int b = 0; b < B; b++) mse += w->tok_mse[b];
    return mse;
}

// AuxK: ê_b decodes the AuxK codes; its loss against the residual r_b = x_b − x̂_b (held constant),
// and gea = aux_coef · 2(ê − r)/B. Returns the AuxK loss.
static double aux_error(ms_step_ws *w, const ms_sae_params *p, int B, const ms_step_opts *o) {
    const int d = w->d;
    const csr *a = &w->a;
    const float coef = (float)o->aux_coef;
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int b = 0; b < B; b++) {
        float *ga = w->gea + (int64_t)b * d;
        memset(ga, 0, (size_t)d * sizeof(float));
        for (int64_t j = a->row[b]; j < a->row[b + 1]; j++) {
            const float v = a->val[j];
            const float *r = p->Wd + (int64_t)a->idx[j] * d;
            for (int q = 0; q < d; q++) ga[q] += v * r[q];
        }
        // residual r = x − x̂ = −e (held constant)
        const float *tgt = o->aux_target ? o->aux_target + (int64_t)b * d : NULL;
        const float *e = w->e + (int64_t)b * d;
        for (int q = 0; q < d; q++) ga[q] -= tgt ? tgt[q] : -e[q]; // ê − r
        w->tok_aux[b] = ms_sumsq(ga, d);
        for (int q = 0; q < d; q++) ga[q] *= coef * 2.0f / (float)B;
    }
    double s = 0;
    for (int b = 0; b < B; b++) s += w->tok_aux[b];
    return o->aux_coef * s / B;
}

// Per-latent gradients: Wd, Wt, be; chunks of BD_CHUNK latents, each also adding its part of
// ∂L/∂bd = Σ_b ge_b − Σ_i (∂L/∂be_i) Wt_i (b_dec enters every pre-activation as −Wt_i·bd) while
// the row is in cache and before a sink updates it. Rows without entries are left untouched (zero
// gradient); with a sink, every row goes to it instead of into g. l1: relu's decoder-norm-weighted
// L1 term (one flag per call: no per-element indirection in this hot loop).
static void latent_grads(ms_step_ws *w, const ms_sae_params *p, int B, const ms_step_opts *o, ms_sae_grads *g, int l1) {
    const int d = w->d, S = w->S;
    const csr *m = &w->m, *a = &w->a;
    const float lam_b = (float)(o->lambda / B);
    const int nch = (S + BD_CHUNK - 1) / BD_CHUNK;
    const int pack = o->sink && ms_enc_gemm_can_pack(w->enc);
    if (w->rowbuf_threads < w->nt) { // once per workspace (the thread count does not change)
        free(w->rowbuf);
        w->rowbuf_threads = w->nt;
        w->rowbuf = ms_aligned_alloc((size_t)w->rowbuf_threads * 2 * d * sizeof(float));
    }
    #pragma omp parallel num_threads(w->nt)
    {
        float *scratch = w->rowbuf + (int64_t)omp_get_thread_num() * 2 * d;
        #pragma omp for schedule(dynamic, 1)
        for (int ch = 0; ch < nch; ch++) {
            float *bdacc = w->bdpart + (int64_t)ch * d;
            memset(bdacc, 0, (size_t)d * sizeof(float));
            const int i1 = (ch + 1) * BD_CHUNK < S ? (ch + 1) * BD_CHUNK : S;
            for (int i = ch * BD_CHUNK; i < i1; i++) {
                const int64_t c0 = w->cptr[i], c1 = w->cptr[i + 1];
                const int on = c1 > c0;
                float *gd = o->sink ? scratch : g->Wd + (int64_t)i * d;
                float *gt = o->sink ? scratch + d : g->Wt + (int64_t)i * d;
                float gb = 0, fsum = 0;
                const float *wdi = p->Wd + (int64_t)i * d;
                for (int64_t c = c0; c < c1; c++) {
                    int64_t j = w->cref[c];
                    const int aux = j >= m->nnz;
                    const csr *cs = aux ? a : m;
                    if (aux) j -= m->nnz;
                    const int b = cs->tok[j];
                    const float *U = (aux ? w->gea : w->ge) + (int64_t)b * d;
                    const float *xc = w->xc + (int64_t)b * d;
                    // ∂L/∂pre = ∂L/∂f = U_b · Wd_i where active (+ the L1 term on relu's main codes)
                    const float f = cs->val[j];
                    float gp = axpy_dot(gd, c == c0, f, U, wdi, d);
                    if (!aux && l1) gp += lam_b * w->dnorm[i];
                    if (c == c0) for (int q = 0; q < d; q++) gt[q] = gp * xc[q];
                    else for (int q = 0; q < d; q++) gt[q] += gp * xc[q];
                    gb += gp;
                    if (!aux) fsum += f;
                }
                if (on && l1 && w->dnorm[i] > 0) { // ∂/∂Wd_i of (λ/B) Σ_b f_bi ‖Wd_i‖
                    const float c = lam_b * fsum / w->dnorm[i];
                    for (int q = 0; q < d; q++) gd[q] += c * wdi[q];
                }
                g->be[i] = gb;
                g->row_active[i] = on;
                if (on) {
                    const float *wt = p->Wt + (int64_t)i * d;
                    for (int q = 0; q < d; q++) bdacc[q] += gb * wt[q];
                }
                if (o->sink)
                    o->sink(o->sink_ctx, i, on ? gd : NULL, on ? gt : NULL, gb, g->logth && p->logth ? g->logth[i] : 0.0f);
            }
            if (pack) ms_enc_gemm_pack_rows(w->enc, p->Wt, ch * BD_CHUNK, i1); // the rows the sink just updated
        }
    }
    if (pack) w->packed_wt = p->Wt;
}

// ∂L/∂bd = Σ_b ge_b − Σ_chunks bdpart, per block of 16 dimensions in a fixed order.
static void bd_grad(ms_step_ws *w, int B, ms_sae_grads *g) {
    const int d = w->d, nch = (w->S + BD_CHUNK - 1) / BD_CHUNK;
    #pragma omp parallel for schedule(static) num_threads(w->nt)
    for (int q0 = 0; q0 < d; q0 += 16) {
        const int n = d - q0 < 16 ? d - q0 : 16;
        float acc[16] = {0}, enc[16] = {0};
        for (int b = 0; b < B; b++)
            for (int j = 0; j < n; j++) acc[j] += w->ge[(int64_t)b * d + q0 + j];
        for (int c = 0; c < nch; c++)
            for (int j = 0; j < n; j++) enc[j] += w->bdpart[(int64_t)c * d + q0 + j];
        for (int j = 0; j < n; j++) g->bd[q0 + j] = acc[j] - enc[j];
    }
}

int ms_sae_step(ms_step_ws *w, const ms_sae_params *p, const float *x, int B, const ms_step_opts *o,
                ms_sae_grads *g, ms_step_stats *st) {
    const arch_ops *A = &ARCH[p->arch];
    memset(st, 0, sizeof *st);
    w->nt = o->threads > 0 ? o->threads : omp_get_max_threads();
    const step_plan sp = plan_step(w, p, B, o, A);
    if (encode(w, p, x, B, o, &sp) < 0) return -1;
    const int sel = A->select(w, p, x, B, o, &sp, g, st); // codes into w->m
    if (sel != 0) return sel < 0 ? -1 : 0;
    st->l0 = (double)w->m.nnz / B;
    select_aux(w, p, B, &sp);
    build_csc(w, B);
    const double mse = decode_error(w, p, x, B);
    st->mse_sum = mse;
    st->var_sum = batch_var(x, B, w->d, w->nt); // explained variance denominator
    st->sparsity_loss = A->penalty ? o->lambda * A->penalty(w) / B : 0;
    if (w->a.nnz > 0) st->aux_loss = aux_error(w, p, B, o);
    st->loss = mse / B + st->sparsity_loss + st->aux_loss;
    // fired counts (main codes): also needed without gradients, for dead tracking
    memset(w->fired, 0, (size_t)w->S * sizeof(int32_t));
    for (int64_t j = 0; j < w->m.nnz; j++) w->fired[w->m.idx[j]]++;
    st->fired = w->fired;
    if (!g) return 0;
    if (A->param_grad) A->param_grad(w, p, B, o, g);
    latent_grads(w, p, B, o, g, A->l1_decoder_norm);
    bd_grad(w, B, g);
    return 0;
}
