// train.c: the training loop, optimizer, schedules, initialisation, checkpoints (see train.h).
#include "sae/train.h"
#include <cblas.h>
#include <math.h>
#include <omp.h>
#ifdef __AVX__
#include <immintrin.h>
#endif
#include <stdlib.h>
#include <string.h>
#include "sae/act_stream.h"
#include "io/h5util.h"
#include "sae/resample.h"
#include "sae/rng.h"
#include "sae/train_step.h"
#include "util/util.h"
#include "util/vecops.h"

enum { LOG_STEP, LOG_TOKENS, LOG_LR, LOG_COEF, LOG_LOSS, LOG_MSE, LOG_L0, LOG_DEAD, LOG_EV, LOG_AUX, LOG_THR, LOG_RS, LOG_SEC, LOG_COLS };
static const char *log_columns[LOG_COLS] = {"step", "tokens", "lr", "sparsity_coef", "loss", "mse", "l0",
                                            "dead_frac", "explained_variance", "aux_loss", "threshold",
                                            "resampled", "seconds"};
// resampled: latents resampled so far (cumulative); seconds: training-loop wall time at the end of
// the step (since the start of this run, or of the resumed part)

void ms_train_cfg_init(ms_train_cfg *c) {
    memset(c, 0, sizeof *c);
    c->arch = MS_SAE_TOPK;
    c->expansion = 0;
    c->k = 0;
    c->l1 = -1;
    c->l0_target = 0;
    c->checkpoint_every = -1;
    c->warmup_frac = -1;
    c->decay_frac = -1;
    c->sparsity_warmup_frac = -1;
    c->aux_coef = -1;
    c->bandwidth = -1;
    c->jumprelu_warm = -1;
    c->threshold_beta = -1;
    c->controller_rate = -1;
    c->clip = -1;
    c->adam_b1 = -1; c->adam_b2 = -1; c->adam_eps = -1;
    c->gm_iters = -1;
    c->resample_every = -1;
    c->progress = 1;
}

// One dictionary being trained: parameters in training layout, Adam moments, trackers, log.
typedef struct {
    const char *hook, *out;
    int d, S;
    ms_sae_params p;
    float *mWt, *vWt, *mWd, *vWd, *mbe, *vbe, *mbd, *vbd, *mth, *vth;
    ms_sae_grads g;
    int64_t *since_fired;   // (S) tokens since each latent last fired
    uint8_t *dead;          // (S)
    double lambda;          // sparsity coefficient before warmup (adapted when controlled)
    double scale;           // normalisation: x_train = scale · x
    double bt_thr, bt_wsum; // batchtopk threshold EMA (bias-corrected: bt_thr / bt_wsum)
    double *log; int64_t log_rows, log_cap;
    ms_step_stats last;
    double last_dead;
    int64_t resampled;      // dead latents resampled so far (relu, sae/resample.h)
    int wt_only_by_sink;    // since the last step, Wt changed only through its sink (ms_step_opts)
} site;

static void site_alloc(site *s, ms_sae_arch arch, int d, int S, int k) {
    size_t n = (size_t)S * d * sizeof(float);
    s->d = d; s->S = S;
    s->p.arch = arch; s->p.d = d; s->p.S = S; s->p.k = k;
    s->p.Wt = ms_aligned_alloc(n); s->p.Wd = ms_aligned_alloc(n);
    s->p.be = ms_aligned_alloc((size_t)S * 4); s->p.bd = ms_aligned_alloc((size_t)d * 4);
    s->mWt = ms_aligned_alloc(n); s->vWt = ms_aligned_alloc(n); s->mWd = ms_aligned_alloc(n); s->vWd = ms_aligned_alloc(n);
    s->mbe = ms_aligned_alloc((size_t)S * 4); s->vbe = ms_aligned_alloc((size_t)S * 4);
    s->mbd = ms_aligned_alloc((size_t)d * 4); s->vbd = ms_aligned_alloc((size_t)d * 4);
    s->g.Wt = ms_aligned_alloc(n); s->g.Wd = ms_aligned_alloc(n);
    s->g.be = ms_aligned_alloc((size_t)S * 4); s->g.bd = ms_aligned_alloc((size_t)d * 4);
    s->g.row_active = ms_calloc((size_t)S, 1);
    if (arch == MS_SAE_JUMPRELU) {
        s->p.logth = ms_aligned_alloc((size_t)S * 4);
        s->mth = ms_aligned_alloc((size_t)S * 4); s->vth = ms_aligned_alloc((size_t)S * 4);
        s->g.logth = ms_aligned_alloc((size_t)S * 4);
    }
    s->since_fired = ms_calloc((size_t)S, sizeof(int64_t));
    s->dead = ms_calloc((size_t)S, 1);
}

static void site_free(site *s) {
    free(s->p.Wt); free(s->p.Wd); free(s->p.be); free(s->p.bd); free(s->p.logth);
    free(s->mWt); free(s->vWt); free(s->mWd); free(s->vWd); free(s->mbe); free(s->vbe); free(s->mbd); free(s->vbd);
    free(s->mth); free(s->vth);
    free(s->g.Wt); free(s->g.Wd); free(s->g.be); free(s->g.bd); free(s->g.logth); free(s->g.row_active);
    free(s->since_fired); free(s->dead); free(s->log);
}

static void log_row(site *s, const double *row) {
    if (s->log_rows == s->log_cap) {
        s->log_cap = s->log_cap ? 2 * s->log_cap : 256;
        s->log = ms_realloc(s->log, (size_t)s->log_cap * LOG_COLS * sizeof(double));
    }
    memcpy(s->log + s->log_rows * LOG_COLS, row, LOG_COLS * sizeof(double));
    s->log_rows++;
}

// ---- resolved configuration

typedef struct {
    ms_train_cfg c;
    int64_t n_steps, warmup_steps, decay_start, sp_warmup_steps, jr_warm_steps;
    int unit_norm, controlled;
} plan;

static void resolve(plan *P, const ms_train_cfg *in, int d_in, int64_t epoch_tokens) {
    ms_train_cfg *c = &P->c;
    *c = *in;
    if (c->expansion <= 0) c->expansion = 8;
    if (c->d_sae <= 0) c->d_sae = (int)lround(c->expansion * d_in);
    else c->expansion = (double)c->d_sae / d_in;
    if (c->k <= 0) c->k = 32;
    if (c->k > c->d_sae) c->k = c->d_sae;
    if (c->l0_target <= 0) c->l0_target = c->k;
    if (c->batch <= 0) c->batch = 4096;
    if (c->tokens <= 0) c->tokens = epoch_tokens;
    if (c->lr <= 0) {
        // 1/√d_sae scaling (Gao et al. 2024) with a constant that also converges in a few hundred
        // steps (BatchTopK is the slowest): 3e-3 at 1024 latents, 6.1e-4 at 24576
        c->lr = 3e-3 * sqrt(1024.0 / c->d_sae);
        if (c->lr > 3e-3) c->lr = 3e-3;
    }
    if (c->threads <= 0) c->threads = ms_num_threads();
    if (c->warmup_frac < 0) c->warmup_frac = 0.01;
    if (c->decay_frac < 0) c->decay_frac = 0.2;
    if (c->sparsity_warmup_frac < 0) c->sparsity_warmup_frac = 0.05;
    if (c->dead_window <= 0) {
        c->dead_window = c->tokens / 10;
        if (c->dead_window > 10000000) c->dead_window = 10000000;
        if (c->dead_window < 4 * (int64_t)c->batch) c->dead_window = 4 * (int64_t)c->batch;
    }
    if (c->arch != MS_SAE_RELU) c->resample_every = 0; // the others revive dead latents with AuxK
    else if (c->resample_every < 0) c->resample_every = c->dead_window;
    if (c->k_aux <= 0) c->k_aux = d_in / 2 > 0 ? d_in / 2 : 1;
    if (c->aux_coef < 0) c->aux_coef = 1.0 / 32;
    // ε = 0.001 for activations of unit mean squared norm (Gemma Scope); ours have E‖x‖² = d_in,
    // so pre-activations are √d_in larger and so is the equivalent bandwidth.
    if (c->bandwidth <= 0) c->bandwidth = 0.001 * sqrt((double)d_in);
    if (c->threshold_beta < 0) c->threshold_beta = 0.99;
    if (c->jumprelu_warm < 0) c->jumprelu_warm = 0.2;
    if (c->controller_rate < 0) c->controller_rate = 0.01;
    if (c->clip < 0) c->clip = c->arch == MS_SAE_RELU ? 1.0 : 0.0;
    if (c->adam_b1 < 0) c->adam_b1 = 0.9;
    if (c->adam_b2 < 0) c->adam_b2 = 0.999;
    if (c->adam_eps < 0) c->adam_eps = 1e-8;
    if (c->init_tokens <= 0) c->init_tokens = 32768;
    if (c->init_tokens > epoch_tokens) c->init_tokens = epoch_tokens;
    if (c->gm_iters < 0) c->gm_iters = 10;
    P->n_steps = (c->tokens + c->batch - 1) / c->batch;
    if (c->log_every <= 0) c->log_every = P->n_steps >= 2000 ? (int)(P->n_steps / 1000) : 1;
    if (c->checkpoint_every < 0) c->checkpoint_every = c->tokens / 10;
    P->warmup_steps = (int64_t)ceil(c->warmup_frac * P->n_steps);
    P->decay_start = P->n_steps - (int64_t)floor(c->decay_frac * P->n_steps);
    P->sp_warmup_steps = (int64_t)ceil(c->sparsity_warmup_frac * P->n_steps);
    // (a TopK warm start for batchtopk/jumprelu, unless continuing from a saved SAE)
    P->jr_warm_steps = (c->arch == MS_SAE_JUMPRELU || c->arch == MS_SAE_BATCHTOPK) && !c->init_from
                           ? (int64_t)floor(c->jumprelu_warm * P->n_steps) : 0;
    P->unit_norm = c->arch != MS_SAE_RELU;
    P->controlled = (c->arch == MS_SAE_RELU || c->arch == MS_SAE_JUMPRELU) && c->l1 < 0;
}

static double lr_at(const plan *P, int64_t t) {
    double f = 1.0;
    if (P->warmup_steps > 0 && t < P->warmup_steps) f = (double)(t + 1) / P->warmup_steps;
    if (t >= P->decay_start && P->n_steps > P->decay_start)
        f *= (double)(P->n_steps - t) / (double)(P->n_steps - P->decay_start);
    return P->c.lr * f;
}
static double sparsity_warm(const plan *P, int64_t t) {
    return P->sp_warmup_steps > 0 && t < P->sp_warmup_steps ? (double)(t + 1) / P->sp_warmup_steps : 1.0;
}

// Canonical description of everything that determines the result (checked on resume).
static char *fingerprint(const plan *P, const char *const *files, int n_files, const char *const *hooks, int n_hooks) {
    const ms_train_cfg *c = &P->c;
    size_t cap = 4096;
    for (int i = 0; i < n_files; i++) cap += strlen(files[i]) + 2;
    for (int i = 0; i < n_hooks; i++) cap += strlen(hooks[i]) + 2;
    char *s = ms_malloc(cap);
    int n = snprintf(s, cap,
        "arch=%s d_sae=%d k=%d l1=%.17g l0_target=%.17g tokens=%lld batch=%d lr=%.17g seed=%llu threads=%d "
        "buffer=%lld warmup=%.17g decay=%.17g sp_warmup=%.17g dead_window=%lld k_aux=%d aux=%.17g eps=%.17g "
        "beta=%.17g jrwarm=%.17g ctrl=%.17g clip=%.17g adam=%.17g,%.17g,%.17g log_every=%d init=%lld gm=%d resample=%lld enc=%s init=%s files=",
        ms_sae_arch_name(c->arch), c->d_sae, c->k, c->l1, c->l0_target, (long long)c->tokens, c->batch, c->lr,
        (unsigned long long)c->seed, c->threads, (long long)c->buffer_tokens, c->warmup_frac, c->decay_frac,
        c->sparsity_warmup_frac, (long long)c->dead_window, c->k_aux, c->aux_coef, c->bandwidth, c->threshold_beta,
        c->jumprelu_warm, c->controller_rate, c->clip, c->adam_b1, c->adam_b2, c->adam_eps, c->log_every, (long long)c->init_tokens,
        c->gm_iters, (long long)c->resample_every, ms_enc_dtype_name((ms_enc_dtype)c->encoder_dtype), c->init_from ? c->init_from : "-");
    for (int i = 0; i < n_files; i++) n += snprintf(s + n, cap - n, "%s%s", i ? "," : "", files[i]);
    n += snprintf(s + n, cap - n, " hooks=");
    for (int i = 0; i < n_hooks; i++) n += snprintf(s + n, cap - n, "%s%s", i ? "," : "", hooks[i]);
    return s;
}

// ---- initialisation

// Parameters from a saved SAE instead of the random init (continued training, fine-tuning an
// imported SAE, benchmarks in a given sparsity regime). The file's weights act on raw
// activations; in training layout they act on scale·x: Wt = W_encᵀ / scale, Wd = W_dec · scale,
// bd = b_dec · scale; b_enc and the thresholds (on pre-activations, which are unchanged) as is.
static int site_init_from(site *s, const char *path) {
    ms_sae *f = ms_sae_load(path);
    if (!f) return -1;
    const int d = s->d, S = s->S;
    int rc = -1;
    if (f->d_in != d || f->d_sae != S) {
        ms_error("--init-from %s: d_in %d, d_sae %d; this run has d_in %d, d_sae %d", path, f->d_in, f->d_sae, d, S);
        goto out;
    }
    const float sc = (float)s->scale;
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < S; i++)
        for (int j = 0; j < d; j++) {
            s->p.Wt[(int64_t)i * d + j] = f->W_enc[(int64_t)j * S + i] / sc;
            s->p.Wd[(int64_t)i * d + j] = f->W_dec[(int64_t)i * d + j] * sc;
        }
    memcpy(s->p.be, f->b_enc, (size_t)S * sizeof(float));
    for (int j = 0; j < d; j++) s->p.bd[j] = f->b_dec[j] * sc;
    if (s->p.logth)
        for (int i = 0; i < S; i++) {
            float th = f->threshold ? f->threshold[i] : 1e-3f;
            s->p.logth[i] = logf(th > 1e-3f ? th : 1e-3f);
        }
    rc = 0;
out:
    ms_sae_free(f);
    return rc;
}

// Geometric median of n points (n, d) by Weiszfeld iterations from the mean.
static void geometric_median(const float *X, int64_t n, int d, int iters, float *out) {
    double *m = ms_calloc((size_t)d, sizeof(double)), *num = ms_calloc((size_t)d, sizeof(double));
    for (int64_t i = 0; i < n; i++) for (int j = 0; j < d; j++) m[j] += X[i * d + j];
    for (int j = 0; j < d; j++) m[j] /= (double)n;
    for (int it = 0; it < iters; it++) {
        double den = 0;
        memset(num, 0, (size_t)d * sizeof(double));
        for (int64_t i = 0; i < n; i++) {
            double dist = 0;
            for (int j = 0; j < d; j++) { double t = X[i * d + j] - m[j]; dist += t * t; }
            double w = 1.0 / (sqrt(dist) > 1e-8 ? sqrt(dist) : 1e-8);
            for (int j = 0; j < d; j++) num[j] += w * X[i * d + j];
            den += w;
        }
        for (int j = 0; j < d; j++) m[j] = num[j] / den;
    }
    for (int j = 0; j < d; j++) out[j] = (float)m[j];
    free(m); free(num);
}

static int cmp_float_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

// Weights, biases, thresholds, normalisation scale, from the seed and a sample of the data.
static void site_init(site *s, const plan *P, int h, const float *sample, int64_t ns) {
    const int d = s->d, S = s->S;
    const ms_train_cfg *c = &P->c;
    // scale so that E‖x‖² = d_in
    double sq = 0;
    for (int64_t i = 0; i < ns * d; i++) sq += (double)sample[i] * sample[i];
    sq /= (double)ns;
    s->scale = sq > 0 ? sqrt((double)d / sq) : 1.0;
    float *xs = ms_malloc((size_t)ns * d * sizeof(float));
    for (int64_t i = 0; i < ns * d; i++) xs[i] = (float)(sample[i] * s->scale);
    geometric_median(xs, ns, d, c->gm_iters, s->p.bd);
    // decoder rows: random directions, unit norm (relu: norm 0.1, Anthropic's init); encoder = decoderᵀ
    ms_rng r = ms_rng_from(c->seed, (uint64_t)h, 0xD1C7ull);
    const double norm = c->arch == MS_SAE_RELU ? 0.1 : 1.0;
    for (int i = 0; i < S; i++) {
        float *w = s->p.Wd + (int64_t)i * d;
        double n2 = 0;
        for (int j = 0; j < d; j++) { w[j] = (float)ms_rng_normal(&r); n2 += (double)w[j] * w[j]; }
        double f = norm / sqrt(n2 > 0 ? n2 : 1);
        for (int j = 0; j < d; j++) w[j] = (float)(w[j] * f);
    }
    memcpy(s->p.Wt, s->p.Wd, (size_t)S * d * sizeof(float));
    memset(s->p.be, 0, (size_t)S * sizeof(float));
    if (c->arch == MS_SAE_JUMPRELU) {
        // Thresholds at each latent's (1 − T/S) quantile of its initial pre-activations, so the
        // SAE starts at the target L0 instead of learning a threshold from ε-sized steps.
        int64_t n = ns < c->batch ? ns : c->batch;
        float *pre = ms_aligned_alloc((size_t)n * S * sizeof(float));
        for (int64_t i = 0; i < n; i++) for (int j = 0; j < d; j++) xs[i * d + j] -= s->p.bd[j];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, S, d, 1.0f, xs, d, s->p.Wt, d, 0.0f, pre, S);
        int64_t rank = (int64_t)floor(c->l0_target / S * n);
        if (rank >= n) rank = n - 1;
        #pragma omp parallel
        {
            float *col = ms_malloc((size_t)n * sizeof(float));
            #pragma omp for schedule(static)
            for (int i = 0; i < S; i++) {
                for (int64_t b = 0; b < n; b++) col[b] = pre[b * S + i];
                qsort(col, (size_t)n, sizeof(float), cmp_float_desc);
                float q = col[rank];
                s->p.logth[i] = logf(q > 1e-3f ? q : 1e-3f);
            }
            free(col);
        }
        free(pre);
    }
    // initial sparsity coefficient
    double T = c->l0_target, ratio = (double)d / T;
    if (c->l1 >= 0) s->lambda = c->l1;
    else if (c->arch == MS_SAE_JUMPRELU) s->lambda = 0.1 * ratio; // a tenth of a feature's energy (d_in/T each)
    else if (c->arch == MS_SAE_RELU) s->lambda = 0.2 * sqrt(ratio);
    else s->lambda = 0;
    s->bt_thr = 0; s->bt_wsum = 0;
    free(xs);
}

// ---- optimizer

static inline void adam1(float *p, float *m, float *v, float g, float b1, float b2, float a, float bc2s, float eps) {
    *m = b1 * *m + (1 - b1) * g;
    *v = b2 * *v + (1 - b2) * g * g;
    *p -= a * *m / (sqrtf(*v) * bc2s + eps);
}

// Adam over every parameter (moments decay on rows with zero gradient too), with the decoder
// gradient projected off each unit-norm row and the rows renormalised after the step.
// adam1 over one row of n parameters (gr == NULL: zero gradient), the same arithmetic element by
// element. With AVX, 8 lanes at a time with the identical sequence of correctly rounded IEEE
// operations (mul, add, sqrt, div; no FMA, as the scalar code is compiled with -std=c11, i.e.
// -ffp-contract=off): bit-identical results. The scalar sqrtf does not vectorise by itself
// because of errno.
static void adam_row(float *restrict p, float *restrict m, float *restrict v, const float *restrict gr, float gscale,
                     int n, float b1, float b2, float a, float bc2s, float eps) {
    int j = 0;
#ifdef __AVX__
    const __m256 vb1 = _mm256_set1_ps(b1), vc1 = _mm256_set1_ps(1 - b1), vb2 = _mm256_set1_ps(b2),
                 vc2 = _mm256_set1_ps(1 - b2), va = _mm256_set1_ps(a), vbc = _mm256_set1_ps(bc2s),
                 veps = _mm256_set1_ps(eps), vgs = _mm256_set1_ps(gscale);
    for (; j + 8 <= n; j += 8) {
        const __m256 g = gr ? _mm256_mul_ps(_mm256_loadu_ps(gr + j), vgs) : _mm256_setzero_ps();
        __m256 mm = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + j)), _mm256_mul_ps(vc1, g));
        __m256 vv = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + j)), _mm256_mul_ps(_mm256_mul_ps(vc2, g), g));
        __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vv), vbc), veps);
        __m256 pp = _mm256_sub_ps(_mm256_loadu_ps(p + j), _mm256_div_ps(_mm256_mul_ps(va, mm), den));
        _mm256_storeu_ps(m + j, mm);
        _mm256_storeu_ps(v + j, vv);
        _mm256_storeu_ps(p + j, pp);
    }
#endif
    for (; j < n; j++) adam1(p + j, m + j, v + j, gr ? gr[j] * gscale : 0.0f, b1, b2, a, bc2s, eps);
}

// The optimizer step's constants, shared by every row of one update.
typedef struct {
    site *s;
    float b1, b2, eps, a, bc2s; // Adam; a = lr_t / (1 − β1^t), bc2s = 1 / √(1 − β2^t)
    float gscale;               // gradient clipping factor (1: none)
    int unit;                   // unit-norm decoder rows
} row_step;

static row_step row_step_at(site *s, const plan *P, int64_t t, float gscale) {
    const ms_train_cfg *c = &P->c;
    const double bc1 = 1 - pow(c->adam_b1, (double)(t + 1)), bc2 = 1 - pow(c->adam_b2, (double)(t + 1));
    row_step k = {s, (float)c->adam_b1, (float)c->adam_b2, (float)c->adam_eps, (float)(lr_at(P, t) / bc1),
                  (float)(1.0 / sqrt(bc2)), gscale, P->unit_norm};
    return k;
}

// Latent i's parameters: encoder and decoder rows, b_enc[i], logθ[i]. gd/gt NULL: zero gradient
// (the moments still decay). gd is modified (projected off the unit-norm row). An ms_row_sink
// (ctx: the row_step), so the step can call it as soon as the row's gradient is complete.
static void update_row(void *ctx, int i, float *gd, float *gt, float gbe, float gth) {
    const row_step *k = ctx;
    site *s = k->s;
    const int d = s->d;
    const int64_t o = (int64_t)i * d;
    float *wt = s->p.Wt + o, *wd = s->p.Wd + o;
    if (gd && k->unit) { // remove the component along the (unit) row: keeps the step tangent to the sphere
        const float dot = ms_dot(gd, wd, d);
        for (int j = 0; j < d; j++) gd[j] -= dot * wd[j];
    }
    adam_row(wt, s->mWt + o, s->vWt + o, gt, k->gscale, d, k->b1, k->b2, k->a, k->bc2s, k->eps);
    adam_row(wd, s->mWd + o, s->vWd + o, gd, k->gscale, d, k->b1, k->b2, k->a, k->bc2s, k->eps);
    if (k->unit) {
        const float n2 = (float)ms_sumsq(wd, d);
        if (n2 > 0) { float f = 1.0f / sqrtf(n2); for (int j = 0; j < d; j++) wd[j] *= f; }
    }
    adam1(s->p.be + i, s->mbe + i, s->vbe + i, gbe * k->gscale, k->b1, k->b2, k->a, k->bc2s, k->eps);
    if (s->p.logth) adam1(s->p.logth + i, s->mth + i, s->vth + i, gth * k->gscale, k->b1, k->b2, k->a, k->bc2s, k->eps);
}

static void update_bd(const row_step *k) {
    site *s = k->s;
    for (int j = 0; j < s->d; j++)
        adam1(s->p.bd + j, s->mbd + j, s->vbd + j, s->g.bd[j] * k->gscale, k->b1, k->b2, k->a, k->bc2s, k->eps);
}

// Adam over every parameter from the stored gradients (when the rows were not already updated
// through the step's sink): the global gradient norm for clipping needs all of them first.
static void site_update(site *s, const plan *P, int64_t t) {
    const int d = s->d, S = s->S;
    const ms_train_cfg *c = &P->c;
    float gscale = 1.0f;
    if (c->clip > 0) { // global gradient norm, summed in a fixed order
        double *rs = ms_calloc((size_t)S, sizeof(double));
        #pragma omp parallel for schedule(static)
        for (int i = 0; i < S; i++) {
            double q = (double)s->g.be[i] * s->g.be[i];
            if (s->g.logth) q += (double)s->g.logth[i] * s->g.logth[i];
            if (s->g.row_active[i]) q += ms_sumsq(s->g.Wt + (int64_t)i * d, d) + ms_sumsq(s->g.Wd + (int64_t)i * d, d);
            rs[i] = q;
        }
        double tot = 0;
        for (int i = 0; i < S; i++) tot += rs[i];
        for (int j = 0; j < d; j++) tot += (double)s->g.bd[j] * s->g.bd[j];
        free(rs);
        double nrm = sqrt(tot);
        if (nrm > c->clip) gscale = (float)(c->clip / nrm);
    }
    row_step k = row_step_at(s, P, t, gscale);
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < S; i++) {
        const int on = s->g.row_active[i];
        update_row(&k, i, on ? s->g.Wd + (int64_t)i * d : NULL, on ? s->g.Wt + (int64_t)i * d : NULL, s->g.be[i],
                   s->g.logth ? s->g.logth[i] : 0.0f);
    }
    update_bd(&k);
}

// ---- checkpoints (HDF5, atomic): everything needed to continue bit-exactly

static int ckpt_write(const char *path, site *sites, int n, int64_t step, int64_t pos, const char *fp) {
    ms_h5_quiet();
    char *tmp = ms_atomic_tmp_path(path);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) { ms_error("%s: cannot create checkpoint", tmp); free(tmp); return -1; }
    int rc = 0;
    rc |= ms_h5_attr_int(f, "step", step);
    rc |= ms_h5_attr_int(f, "stream_pos", pos);
    rc |= ms_h5_attr_str(f, "fingerprint", fp);
    for (int h = 0; h < n; h++) {
        site *s = &sites[h];
        char name[32];
        snprintf(name, sizeof name, "site%d", h);
        hid_t g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        int64_t m2[2] = {s->S, s->d}, sv = s->S, dv = s->d;
        struct { const char *n; float *p; int64_t *shape; int nd; } t[] = {
            {"Wt", s->p.Wt, m2, 2}, {"Wd", s->p.Wd, m2, 2}, {"be", s->p.be, &sv, 1}, {"bd", s->p.bd, &dv, 1},
            {"mWt", s->mWt, m2, 2}, {"vWt", s->vWt, m2, 2}, {"mWd", s->mWd, m2, 2}, {"vWd", s->vWd, m2, 2},
            {"mbe", s->mbe, &sv, 1}, {"vbe", s->vbe, &sv, 1}, {"mbd", s->mbd, &dv, 1}, {"vbd", s->vbd, &dv, 1},
            {"logth", s->p.logth, &sv, 1}, {"mth", s->mth, &sv, 1}, {"vth", s->vth, &sv, 1}};
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
            if (t[i].p) rc |= ms_h5_write(g, t[i].n, H5T_NATIVE_FLOAT, t[i].nd, t[i].shape, t[i].p);
        rc |= ms_h5_write(g, "since_fired", H5T_NATIVE_INT64, 1, &sv, s->since_fired);
        int64_t ls[2] = {s->log_rows, LOG_COLS};
        rc |= ms_h5_write(g, "log", H5T_NATIVE_DOUBLE, 2, ls, s->log ? s->log : (double[1]){0});
        rc |= ms_h5_attr_float(g, "lambda", s->lambda);
        rc |= ms_h5_attr_float(g, "scale", s->scale);
        rc |= ms_h5_attr_float(g, "bt_thr", s->bt_thr);
        rc |= ms_h5_attr_float(g, "bt_wsum", s->bt_wsum);
        rc |= ms_h5_attr_int(g, "resampled", s->resampled);
        H5Gclose(g);
    }
    if (H5Fclose(f) < 0) rc = -1;
    if (rc) { ms_error("%s: cannot write checkpoint", path); remove(tmp); free(tmp); return -1; }
    rc = ms_atomic_commit(tmp, path);
    free(tmp);
    return rc;
}

static int read_attr_d(hid_t loc, const char *name, double *v) {
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    int rc = H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0 ? 0 : -1;
    H5Aclose(a);
    return rc;
}
static int read_attr_i(hid_t loc, const char *name, int64_t *v) {
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    int rc = H5Aread(a, H5T_NATIVE_INT64, v) >= 0 ? 0 : -1;
    H5Aclose(a);
    return rc;
}

static int ckpt_read(const char *path, site *sites, int n, int64_t *step, int64_t *pos, const char *fp) {
    ms_h5_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) { ms_error("%s: cannot open checkpoint", path); return -1; }
    int rc = 0;
    char *got = NULL;
    {
        hid_t a = H5Aopen(f, "fingerprint", H5P_DEFAULT);
        if (a >= 0) {
            hid_t t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, H5T_VARIABLE);
            H5Tset_cset(t, H5T_CSET_UTF8);
            char *v = NULL;
            if (H5Aread(a, t, &v) >= 0 && v) { got = ms_strdup(v); H5free_memory(v); }
            H5Tclose(t);
            H5Aclose(a);
        }
    }
    if (!got || strcmp(got, fp)) {
        ms_error("%s: checkpoint was written with different settings; rerun with the same options and thread count, or delete it", path);
        free(got); H5Fclose(f); return -1;
    }
    free(got);
    rc |= read_attr_i(f, "step", step);
    rc |= read_attr_i(f, "stream_pos", pos);
    for (int h = 0; h < n && !rc; h++) {
        site *s = &sites[h];
        char name[32];
        snprintf(name, sizeof name, "site%d", h);
        hid_t g = H5Gopen2(f, name, H5P_DEFAULT);
        if (g < 0) { rc = -1; break; }
        int64_t m2[2] = {s->S, s->d}, sv = s->S, dv = s->d;
        struct { const char *n; float *p; int64_t *shape; int nd; } t[] = {
            {"Wt", s->p.Wt, m2, 2}, {"Wd", s->p.Wd, m2, 2}, {"be", s->p.be, &sv, 1}, {"bd", s->p.bd, &dv, 1},
            {"mWt", s->mWt, m2, 2}, {"vWt", s->vWt, m2, 2}, {"mWd", s->mWd, m2, 2}, {"vWd", s->vWd, m2, 2},
            {"mbe", s->mbe, &sv, 1}, {"vbe", s->vbe, &sv, 1}, {"mbd", s->mbd, &dv, 1}, {"vbd", s->vbd, &dv, 1},
            {"logth", s->p.logth, &sv, 1}, {"mth", s->mth, &sv, 1}, {"vth", s->vth, &sv, 1}};
        for (size_t i = 0; i < sizeof t / sizeof t[0] && !rc; i++)
            if (t[i].p) rc |= ms_h5_read(g, path, t[i].n, H5T_NATIVE_FLOAT, t[i].nd, t[i].shape, t[i].p);
        if (!rc) rc |= ms_h5_read(g, path, "since_fired", H5T_NATIVE_INT64, 1, &sv, s->since_fired);
        int64_t ls[8];
        if (!rc && ms_h5_shape(g, "log", ls) == 2 && ls[1] == LOG_COLS) {
            s->log_rows = 0;
            double *tmp = ms_malloc((size_t)(ls[0] + 1) * LOG_COLS * sizeof(double));
            if (ls[0] > 0) rc |= ms_h5_read(g, path, "log", H5T_NATIVE_DOUBLE, 2, ls, tmp);
            for (int64_t r = 0; r < ls[0] && !rc; r++) log_row(s, tmp + r * LOG_COLS);
            free(tmp);
        }
        rc |= read_attr_d(g, "lambda", &s->lambda);
        rc |= read_attr_d(g, "scale", &s->scale);
        rc |= read_attr_d(g, "bt_thr", &s->bt_thr);
        rc |= read_attr_d(g, "bt_wsum", &s->bt_wsum);
        rc |= read_attr_i(g, "resampled", &s->resampled);
        H5Gclose(g);
    }
    H5Fclose(f);
    if (rc) { if (!strstr(ms_last_error(), path)) ms_error("%s: damaged checkpoint", path); return -1; }
    return 0;
}

// ---- output

static int site_save(site *s, const plan *P, const char *const *files, int n_files, const char *model, int64_t tokens_seen) {
    const ms_train_cfg *c = &P->c;
    const int d = s->d, S = s->S;
    ms_sae *o = ms_sae_new(c->arch, d, S, (c->arch == MS_SAE_TOPK || c->arch == MS_SAE_BATCHTOPK) ? c->k : 0);
    // Fold the normalisation x' = scale·x back: pre = (x − bd/scale)(scale·Wᵀ) + be; x̂ = f (Wd/scale) + bd/scale.
    const float sc = (float)s->scale, inv = (float)(1.0 / s->scale);
    for (int i = 0; i < S; i++)
        for (int j = 0; j < d; j++) {
            o->W_enc[(int64_t)j * S + i] = s->p.Wt[(int64_t)i * d + j] * sc;
            o->W_dec[(int64_t)i * d + j] = s->p.Wd[(int64_t)i * d + j] * inv;
        }
    memcpy(o->b_enc, s->p.be, (size_t)S * sizeof(float));
    for (int j = 0; j < d; j++) o->b_dec[j] = s->p.bd[j] * inv;
    if (c->arch == MS_SAE_JUMPRELU) for (int i = 0; i < S; i++) o->threshold[i] = expf(s->p.logth[i]);
    if (c->arch == MS_SAE_BATCHTOPK) {
        float th = (float)(s->bt_wsum > 0 ? s->bt_thr / s->bt_wsum : 0);
        for (int i = 0; i < S; i++) o->threshold[i] = th;
    }
    size_t fl = 1;
    for (int i = 0; i < n_files; i++) fl += strlen(files[i]) + 1;
    char *fs = ms_malloc(fl);
    fs[0] = 0;
    for (int i = 0; i < n_files; i++) { if (i) strcat(fs, ","); strcat(fs, files[i]); }
    ms_sae_set_attr_str(o, "hook", s->hook);
    ms_sae_set_attr_str(o, "hook_name", s->hook);
    ms_sae_set_attr_str(o, "model", model);
    ms_sae_set_attr_str(o, "activations", fs);
    free(fs);
    ms_sae_set_attr_int(o, "tokens_seen", tokens_seen);
    ms_sae_set_attr_float(o, "norm_scale", s->scale);
    ms_sae_set_attr_str(o, "norm_folded", "yes: W_enc*=norm_scale, W_dec/=norm_scale, b_dec/=norm_scale");
    ms_sae_set_attr_float(o, "expansion", c->expansion);
    ms_sae_set_attr_float(o, "l1_coefficient", c->l1 >= 0 ? c->l1 : s->lambda);
    ms_sae_set_attr_str(o, "sparsity_coefficient_mode", P->controlled ? "adapted to l0_target" : "fixed");
    ms_sae_set_attr_float(o, "sparsity_coefficient_final", s->lambda);
    ms_sae_set_attr_float(o, "l0_target", c->l0_target);
    ms_sae_set_attr_int(o, "train_tokens", c->tokens);
    ms_sae_set_attr_int(o, "batch_size", c->batch);
    ms_sae_set_attr_float(o, "lr", c->lr);
    ms_sae_set_attr_int(o, "seed", (int64_t)c->seed);
    ms_sae_set_attr_int(o, "threads", c->threads);
    ms_sae_set_attr_int(o, "buffer_tokens", c->buffer_tokens);
    ms_sae_set_attr_float(o, "lr_warmup_frac", c->warmup_frac);
    ms_sae_set_attr_float(o, "lr_decay_frac", c->decay_frac);
    ms_sae_set_attr_float(o, "sparsity_warmup_frac", c->sparsity_warmup_frac);
    ms_sae_set_attr_int(o, "dead_window_tokens", c->dead_window);
    ms_sae_set_attr_int(o, "resample_every_tokens", c->resample_every);
    ms_sae_set_attr_int(o, "resampled_latents", s->resampled);
    ms_sae_set_attr_int(o, "k_aux", c->k_aux);
    ms_sae_set_attr_float(o, "aux_coefficient", c->aux_coef);
    ms_sae_set_attr_float(o, "jumprelu_bandwidth", c->bandwidth);
    ms_sae_set_attr_float(o, "jumprelu_topk_warm_frac", P->jr_warm_steps > 0 ? c->jumprelu_warm : 0);
    ms_sae_set_attr_float(o, "batchtopk_threshold_beta", c->threshold_beta);
    ms_sae_set_attr_float(o, "controller_rate", c->controller_rate);
    ms_sae_set_attr_float(o, "grad_clip", c->clip);
    ms_sae_set_attr_float(o, "adam_beta1", c->adam_b1);
    ms_sae_set_attr_float(o, "adam_beta2", c->adam_b2);
    ms_sae_set_attr_float(o, "adam_eps", c->adam_eps);
    ms_sae_set_attr_int(o, "log_every", c->log_every);
    ms_sae_set_attr_int(o, "init_tokens", c->init_tokens);
    ms_sae_set_attr_int(o, "geometric_median_iters", c->gm_iters);
    ms_sae_set_attr_str(o, "encoder_dtype", ms_enc_dtype_name((ms_enc_dtype)c->encoder_dtype));
    ms_sae_set_attr_str(o, "init_from", c->init_from ? c->init_from : "random");
    ms_sae_set_attr_str(o, "decoder_unit_norm", P->unit_norm ? "yes (before folding)" : "no");
    ms_sae_set_attr_str(o, "command", ms_command_line());
    ms_sae_set_attr_str(o, "monoscope_version", MS_VERSION);
    if (s->log_rows > 0) {
        const double *last = s->log + (s->log_rows - 1) * LOG_COLS;
        ms_sae_set_attr_float(o, "final_mse", last[LOG_MSE]);
        ms_sae_set_attr_float(o, "final_l0", last[LOG_L0]);
        ms_sae_set_attr_float(o, "final_explained_variance", last[LOG_EV]);
        ms_sae_set_attr_float(o, "final_dead_frac", last[LOG_DEAD]);
    }
    ms_sae_set_log(o, s->log, (int)s->log_rows, LOG_COLS, log_columns);
    int rc = ms_sae_save(o, s->out);
    ms_sae_free(o);
    return rc;
}

static void print_config(const plan *P, int d_in, int n_hooks, int64_t epoch_tokens, int64_t buffer, const site *s0,
                         const char *enc_desc) {
    const ms_train_cfg *c = &P->c;
    fprintf(stderr, "sae train: %d site(s), d_in %d, %lld tokens per pass over the files\n", n_hooks, d_in, (long long)epoch_tokens);
    fprintf(stderr, "  arch %s  d_sae %d (expansion %.4g)  k %d\n", ms_sae_arch_name(c->arch), c->d_sae, c->expansion, c->k);
    if (c->arch == MS_SAE_RELU || c->arch == MS_SAE_JUMPRELU) {
        if (P->controlled)
            fprintf(stderr, "  sparsity: %s coefficient adapted to l0_target %.4g (start %.4g, rate %.3g/step)\n",
                    c->arch == MS_SAE_RELU ? "L1 (decoder-norm weighted)" : "L0", c->l0_target, s0->lambda, c->controller_rate);
        else
            fprintf(stderr, "  sparsity: %s coefficient %.4g (fixed)\n", c->arch == MS_SAE_RELU ? "L1 (decoder-norm weighted)" : "L0", c->l1);
    }
    fprintf(stderr, "  tokens %lld  batch %d  steps %lld  lr %.3g (warmup %.3g, linear decay to 0 over last %.3g)\n",
            (long long)c->tokens, c->batch, (long long)P->n_steps, c->lr, c->warmup_frac, c->decay_frac);
    fprintf(stderr, "  sparsity warmup %.3g  adam (%.3g, %.3g, %.3g)  grad clip %s%.3g\n", c->sparsity_warmup_frac,
            c->adam_b1, c->adam_b2, c->adam_eps, c->clip > 0 ? "" : "off ", c->clip);
    fprintf(stderr, "  dead window %lld tokens  k_aux %d  aux coef %.4g  jumprelu bandwidth %.3g  batchtopk threshold beta %.3g\n",
            (long long)c->dead_window, c->k_aux, c->aux_coef, c->bandwidth, c->threshold_beta);
    if (c->resample_every > 0)
        fprintf(stderr, "  dead-latent resampling every %lld tokens during the first half of training (to step %lld)\n",
                (long long)c->resample_every, (long long)(P->n_steps / 2));
    else
        fprintf(stderr, "  dead-latent resampling off%s\n", c->arch == MS_SAE_RELU ? "" : " (relu only; AuxK instead)");
    if (c->arch == MS_SAE_JUMPRELU && P->jr_warm_steps > 0)
        fprintf(stderr, "  jumprelu: first %.3g of steps trained as TopK (k = l0_target), then thresholds matched to its firing rates\n", c->jumprelu_warm);
    if (c->arch == MS_SAE_BATCHTOPK && P->jr_warm_steps > 0)
        fprintf(stderr, "  batchtopk: first %.3g of steps trained as TopK (same k)\n", c->jumprelu_warm);
    if (c->init_from) fprintf(stderr, "  init: scale so E|x|^2 = d_in; parameters from %s\n", c->init_from);
    else fprintf(stderr, "  init: scale so E|x|^2 = d_in, b_dec = geometric median (%d Weiszfeld iters) of %lld tokens; decoder %s\n",
            c->gm_iters, (long long)c->init_tokens, P->unit_norm ? "unit-norm rows" : "rows of norm 0.1, unconstrained");
    fprintf(stderr, "  encoder product: %s inputs, fp32 accumulation (%s)\n", ms_enc_dtype_name((ms_enc_dtype)c->encoder_dtype), enc_desc);
    fprintf(stderr, "  seed %llu  threads %d  shuffle buffer %lld tokens  checkpoint every %lld tokens  log every %d steps\n",
            (unsigned long long)c->seed, c->threads, (long long)buffer, (long long)c->checkpoint_every, c->log_every);
}

// End of the JumpReLU warm start: each latent's threshold is set so that, on the last batch, it
// fires as often as TopK selected it (its (fired+1)-th largest pre-activation, between the
// selected and the rejected values), so the switch keeps the learned codes.
static void jumprelu_switch(site *s, const ms_step_ws *w, const int32_t *fired, int B) {
    const int S = s->S;
    const float *pre = ms_step_preacts(w);
    #pragma omp parallel
    {
        float *col = ms_malloc((size_t)B * sizeof(float));
        #pragma omp for schedule(static)
        for (int i = 0; i < S; i++) {
            for (int b = 0; b < B; b++) col[b] = pre[(int64_t)b * S + i];
            qsort(col, (size_t)B, sizeof(float), cmp_float_desc);
            int r = fired[i] < B ? fired[i] : B - 1;
            float hi = r > 0 ? col[r - 1] : col[0], lo = col[r];
            float th = r > 0 ? 0.5f * (hi + lo) : col[0] + 1e-3f; // never selected: just above its largest value
            s->p.logth[i] = logf(th > 1e-3f ? th : 1e-3f);
        }
        free(col);
    }
}

static double product_seconds(ms_step_ws *const *ws, int n) {
    double s = 0;
    for (int h = 0; h < n; h++) s += ms_step_gemm_seconds(ws[h]);
    return s;
}

int ms_sae_train(const ms_train_cfg *cfg, const char *const *files, int n_files, const char *const *hooks,
                 int n_hooks, const char *const *outs, const char *ckpt_path) {
    int rc = -1;
    ms_act_stream *st = NULL, *smp = NULL;
    site *sites = NULL;
    ms_step_ws **ws = NULL;
    float **xb = NULL;
    char *fp = NULL;
    if (cfg->threads > 0) omp_set_num_threads(cfg->threads);
    ms_act_stream_cfg sc = {files, n_files, hooks, n_hooks, cfg->buffer_tokens, cfg->seed};
    st = ms_act_stream_open(&sc);
    if (!st) return -1;
    plan P;
    resolve(&P, cfg, ms_act_stream_d_in(st, 0), ms_act_stream_tokens(st));
    const ms_train_cfg *c = &P.c;
    omp_set_num_threads(c->threads);
    if (c->k_aux <= 0 || c->batch <= 0 || c->d_sae <= 0) { ms_error("bad configuration"); goto done; }
    if (c->init_from && n_hooks > 1) { ms_error("--init-from takes one SAE: train one hook at a time"); goto done; }
    sites = ms_calloc((size_t)n_hooks, sizeof(site));
    ws = ms_calloc((size_t)n_hooks, sizeof *ws);
    xb = ms_calloc((size_t)n_hooks, sizeof *xb);
    for (int h = 0; h < n_hooks; h++) {
        int d = ms_act_stream_d_in(st, h);
        int S = cfg->d_sae > 0 ? cfg->d_sae : (int)lround(c->expansion * d);
        sites[h].hook = hooks[h];
        sites[h].out = outs[h];
        site_alloc(&sites[h], c->arch, d, S, c->k < S ? c->k : S);
        ws[h] = ms_step_ws_new(c->batch, d, S, (ms_enc_dtype)c->encoder_dtype);
        if (!ws[h]) goto done;
        xb[h] = ms_aligned_alloc((size_t)c->batch * d * sizeof(float));
    }
    fp = fingerprint(&P, files, n_files, hooks, n_hooks);
    int64_t step0 = 0;
    int resumed = 0;
    if (c->resume && ms_file_exists(ckpt_path)) {
        int64_t pos = 0;
        if (ckpt_read(ckpt_path, sites, n_hooks, &step0, &pos, fp) < 0) goto done;
        for (int h = 0; h < n_hooks; h++) // the dead mask the next step's AuxK uses
            for (int i = 0; i < sites[h].S; i++) sites[h].dead[i] = sites[h].since_fired[i] >= c->dead_window;
        if (ms_act_stream_seek(st, pos) < 0) goto done;
        resumed = 1;
    } else {
        if (c->resume) fprintf(stderr, "sae train: no checkpoint %s, starting from the beginning\n", ckpt_path);
        // sample for normalisation + geometric median: its own stream, so the training order is
        // the same whether or not we resume
        ms_act_stream_cfg c2 = sc;
        c2.seed = c->seed ^ 0x1D17A11ull;
        c2.buffer_tokens = c->init_tokens;
        smp = ms_act_stream_open(&c2);
        if (!smp) goto done;
        float **sb = ms_calloc((size_t)n_hooks, sizeof *sb);
        for (int h = 0; h < n_hooks; h++) sb[h] = ms_malloc((size_t)c->init_tokens * sites[h].d * sizeof(float));
        int ok = ms_act_stream_next(smp, c->init_tokens, sb) == 0;
        for (int h = 0; h < n_hooks && ok; h++) site_init(&sites[h], &P, h, sb[h], c->init_tokens);
        if (ok && c->init_from && site_init_from(&sites[0], c->init_from) < 0) ok = 0;
        for (int h = 0; h < n_hooks; h++) free(sb[h]);
        free(sb);
        ms_act_stream_close(smp);
        smp = NULL;
        if (!ok) goto done;
    }
    print_config(&P, sites[0].d, n_hooks, ms_act_stream_tokens(st), ms_act_stream_buffer_tokens(st), &sites[0],
                 ms_step_encoder_describe(ws[0]));
    if (resumed) fprintf(stderr, "  resuming from %s at step %lld (%lld tokens)\n", ckpt_path, (long long)step0, (long long)(step0 * c->batch));

    ms_progress pb;
    ms_progress_start(&pb, "sae train", (double)(P.n_steps * c->batch), "tok");
    if (!c->progress) pb.enabled = 0;
    const double t0 = ms_now();
    // the seconds column continues across a resume (from the last row the checkpoint kept)
    const double sec0 = resumed && sites[0].log_rows > 0 ? sites[0].log[(sites[0].log_rows - 1) * LOG_COLS + LOG_SEC] : 0;
    const int64_t B = c->batch;
    const int64_t ck_steps = c->checkpoint_every > 0 ? (c->checkpoint_every + B - 1) / B : 0;
    double t_first = 0, g_first = 0; // wall clock and product seconds at the end of the first step
    for (int64_t t = step0; t < P.n_steps; t++) {
        if (ms_act_stream_next(st, B, xb) < 0) goto done;
        double sum_loss = 0, sum_mse = 0, sum_l0 = 0, sum_dead = 0, sum_ev = 0;
        for (int h = 0; h < n_hooks; h++) {
            site *s = &sites[h];
            const int d = s->d, S = s->S;
            const float scl = (float)s->scale;
            float *x = xb[h];
            #pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < B * d; i++) x[i] *= scl;
            ms_step_opts o = {0};
            const double warm = sparsity_warm(&P, t);
            o.lambda = s->lambda * warm;
            o.eps = c->bandwidth;
            o.k_aux = c->k_aux;
            o.aux_coef = c->aux_coef;
            o.dead = s->dead;
            // rows updated by the step itself as their gradients complete, unless clipping needs
            // the global gradient norm first
            const int sink = c->clip <= 0;
            row_step rk = row_step_at(s, &P, t, 1.0f);
            if (sink) { o.sink = update_row; o.sink_ctx = &rk; }
            o.wt_only_by_sink = s->wt_only_by_sink;
            ms_step_stats stt;
            const int jr_warm = t < P.jr_warm_steps;
            if (jr_warm) { // JumpReLU warm start: train as TopK with k = the L0 target
                ms_sae_params pk = s->p;
                pk.arch = MS_SAE_TOPK;
                pk.k = c->arch == MS_SAE_BATCHTOPK ? s->p.k : (int)lround(c->l0_target) < S ? (int)lround(c->l0_target) : S;
                if (pk.k < 1) pk.k = 1;
                pk.logth = NULL;
                const int jr_switch = t + 1 == P.jr_warm_steps && c->arch == MS_SAE_JUMPRELU;
                o.keep_preacts = jr_switch; // jumprelu_switch reads all pre-activations
                if (ms_sae_step(ws[h], &pk, x, (int)B, &o, &s->g, &stt) < 0) goto done;
                if (s->g.logth) memset(s->g.logth, 0, (size_t)S * sizeof(float));
                if (jr_switch) jumprelu_switch(s, ws[h], stt.fired, (int)B);
            } else
                if (ms_sae_step(ws[h], &s->p, x, (int)B, &o, &s->g, &stt) < 0) goto done;
            if (!isfinite(stt.loss)) {
                ms_error("training diverged at step %lld for %s (loss is not finite); try a lower --lr", (long long)t, s->hook);
                goto done;
            }
            if (sink) update_bd(&rk); // the rows were updated inside the step
            else site_update(s, &P, t);
            s->wt_only_by_sink = sink;
            // dead-latent tracking over a window of tokens
            int64_t nd = 0;
            for (int i = 0; i < S; i++) {
                if (stt.fired[i]) s->since_fired[i] = 0;
                else s->since_fired[i] += B;
                s->dead[i] = s->since_fired[i] >= c->dead_window;
                nd += s->dead[i];
            }
            // relu: dead latents resampled from this batch's badly reconstructed inputs
            if (nd > 0 && ms_resample_due(t, B, c->resample_every, P.n_steps)) {
                ms_resample_site rs = {d, S, s->p.Wt, s->p.Wd, s->p.be, s->p.bd, s->mWt, s->vWt, s->mWd, s->vWd,
                                       s->mbe, s->vbe, s->since_fired, s->dead};
                ms_rng rr = ms_rng_from(c->seed ^ 0x5E5A3B1Eull, (uint64_t)t, (uint64_t)h);
                int64_t nr = ms_resample_dead(&rs, x, ms_step_residual_neg(ws[h]), (int)B, &rr);
                if (nr > 0) s->wt_only_by_sink = 0; // rewrote encoder rows
                s->resampled += nr;
                nd -= nr;
            }
            // BatchTopK inference threshold: EMA of the smallest selected activation
            if (c->arch == MS_SAE_BATCHTOPK && stt.min_selected > 0) {
                s->bt_thr = c->threshold_beta * s->bt_thr + (1 - c->threshold_beta) * stt.min_selected;
                s->bt_wsum = c->threshold_beta * s->bt_wsum + (1 - c->threshold_beta);
            }
            // sparsity coefficient controller (after its warmup): multiplicative, bounded steps
            if (P.controlled && t + 1 >= P.sp_warmup_steps && t >= P.jr_warm_steps) {
                double r = log((stt.l0 + 1.0) / (c->l0_target + 1.0));
                if (r > 1) r = 1;
                if (r < -1) r = -1;
                s->lambda *= exp(c->controller_rate * r);
            }
            double ev = stt.var_sum > 0 ? 1.0 - stt.mse_sum / stt.var_sum : 0;
            s->last = stt;
            s->last_dead = (double)nd / S;
            if ((t + 1) % c->log_every == 0 || t + 1 == P.n_steps) {
                double thr = 0;
                if (c->arch == MS_SAE_BATCHTOPK) thr = s->bt_wsum > 0 ? s->bt_thr / s->bt_wsum : 0;
                if (c->arch == MS_SAE_JUMPRELU) { for (int i = 0; i < S; i++) thr += exp(s->p.logth[i]); thr /= S; }
                double row[LOG_COLS] = {(double)(t + 1), (double)((t + 1) * B), lr_at(&P, t), o.lambda, stt.loss,
                                        stt.mse_sum / ((double)B * d), stt.l0, s->last_dead, ev, stt.aux_loss, thr,
                                        (double)s->resampled, sec0 + ms_now() - t0};
                log_row(s, row);
            }
            sum_loss += stt.loss; sum_mse += stt.mse_sum / ((double)B * d); sum_l0 += stt.l0; sum_dead += s->last_dead; sum_ev += ev;
        }
        char extra[160];
        snprintf(extra, sizeof extra, "loss %.4g mse %.4g L0 %.1f dead %.1f%% EV %.3f", sum_loss / n_hooks,
                 sum_mse / n_hooks, sum_l0 / n_hooks, 100 * sum_dead / n_hooks, sum_ev / n_hooks);
        ms_progress_update(&pb, (double)((t + 1) * B), extra);
        if (t == step0) { t_first = ms_now(); g_first = product_seconds(ws, n_hooks); }
        if (ck_steps > 0 && (t + 1) % ck_steps == 0 && t + 1 < P.n_steps)
            if (ckpt_write(ckpt_path, sites, n_hooks, t + 1, ms_act_stream_pos(st), fp) < 0) goto done;
    }
    ms_progress_finish(&pb);
    double el = ms_now() - t0;
    int64_t done_tokens = (P.n_steps - step0) * B;
    for (int h = 0; h < n_hooks; h++) {
        site *s = &sites[h];
        if (site_save(s, &P, files, n_files, ms_act_stream_model(st), P.n_steps * B) < 0) goto done;
        double ev = s->last.var_sum > 0 ? 1 - s->last.mse_sum / s->last.var_sum : 0;
        fprintf(stderr, "  %s -> %s: mse %.4g  L0 %.2f  dead %.2f%%  explained variance %.4f\n", s->hook, s->out,
                s->last.mse_sum / ((double)B * s->d), s->last.l0, 100 * s->last_dead, ev);
    }
    if (c->resample_every > 0) {
        int64_t tot = 0;
        for (int h = 0; h < n_hooks; h++) tot += sites[h].resampled;
        fprintf(stderr, "sae train: resampled %lld dead latents in total\n", (long long)tot);
    }
    remove(ckpt_path);
    fprintf(stderr, "sae train: %lld tokens in %.1f s (%.0f tokens/s), peak RSS %.1f MiB\n", (long long)done_tokens, el,
            el > 0 ? done_tokens / el : 0, ms_peak_rss() / 1048576.0);
    // the share after the first step (kernel generation, first touches) is the steady state's
    const double tg = product_seconds(ws, n_hooks), el2 = t0 + el - t_first;
    const int64_t steady = P.n_steps - step0 - 1;
    fprintf(stderr, "sae train: encoder product %.1f s = %.1f %% of the training loop (%.1f %% after its first step; "
            "the rest of a step: %.1f ms)\n", tg, el > 0 ? 100 * tg / el : 0, el2 > 0 && steady > 0 ? 100 * (tg - g_first) / el2 : 0,
            steady > 0 ? 1e3 * (el2 - (tg - g_first)) / steady : 0);
    rc = 0;
done:
    if (sites) for (int h = 0; h < n_hooks; h++) { site_free(&sites[h]); ms_step_ws_free(ws[h]); free(xb[h]); }
    free(sites); free(ws); free(xb); free(fp);
    ms_act_stream_close(st);
    ms_act_stream_close(smp);
    return rc;
}
