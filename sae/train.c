// train.c: the SAE training loop, initialisation, the per-row optimizer step, checkpoints and
// output (see train.h), on the training substrate of src/train (flat parameters, Adam, schedules,
// atomic checkpoints, the training log).
#include "sae/train.h"
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sae/act_stream.h"
#include "io/h5util.h"
#include "sae/resample.h"
#include "sae/train_step.h"
#include "train/adam.h"
#include "train/ckpt.h"
#include "train/params.h"
#include "train/rng.h"
#include "train/schedule.h"
#include "train/train_log.h"
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

// The trainable tensors of one dictionary, in training layout (train_step.h), in this order.
enum { P_WT, P_WD, P_BE, P_BD, P_LOGTH, P_COUNT };

// One dictionary being trained: parameters, gradients and Adam moments (flat, train/params.h),
// trackers, log.
typedef struct {
    const char *hook, *out;
    int d, S;
    int threads;            // OpenMP threads of this site's loops (the run's --threads)
    ms_params P;            // Wt (S,d), Wd (S,d), be (S), bd (d), logth (S, jumprelu only)
    ms_sae_params p;        // views of P.p
    ms_sae_grads g;         // views of P.g, and which rows it holds
    int64_t *since_fired;   // (S) tokens since each latent last fired
    uint8_t *dead;          // (S)
    double lambda;          // sparsity coefficient before warmup (adapted when controlled)
    double scale;           // normalisation: x_train = scale · x
    double bt_thr, bt_wsum; // batchtopk threshold EMA (bias-corrected: bt_thr / bt_wsum)
    ms_train_log log;
    ms_step_stats last;
    double last_dead;
    int64_t resampled;      // dead latents resampled so far (relu, sae/resample.h)
    int wt_only_by_sink;    // since the last step, Wt changed only through its sink (ms_step_opts)
    double *norm_rows;      // (S) per-latent squared gradient norms (clipping), allocated once
} site;

static void site_alloc(site *s, ms_sae_arch arch, int d, int S, int k, int threads) {
    s->d = d; s->S = S; s->threads = threads;
    const ms_param_spec spec[P_COUNT] = {
        {"Wt", 2, {S, d}}, {"Wd", 2, {S, d}}, {"be", 1, {S}}, {"bd", 1, {d}}, {"logth", 1, {S}}};
    ms_params_init(&s->P, spec, arch == MS_SAE_JUMPRELU ? P_COUNT : P_LOGTH, 1);
    ms_params *P = &s->P;
    ms_sae_params p = {arch, d, S, k, ms_param_at(P, P->p, P_WT), ms_param_at(P, P->p, P_WD), ms_param_at(P, P->p, P_BE),
                       ms_param_at(P, P->p, P_BD), P->n > P_LOGTH ? ms_param_at(P, P->p, P_LOGTH) : NULL};
    ms_sae_grads g = {ms_param_at(P, P->g, P_WT), ms_param_at(P, P->g, P_WD), ms_param_at(P, P->g, P_BE),
                      ms_param_at(P, P->g, P_BD), P->n > P_LOGTH ? ms_param_at(P, P->g, P_LOGTH) : NULL,
                      ms_calloc((size_t)S, 1)};
    s->p = p;
    s->g = g;
    s->since_fired = ms_calloc((size_t)S, sizeof(int64_t));
    s->dead = ms_calloc((size_t)S, 1);
    s->norm_rows = ms_calloc((size_t)S, sizeof(double));
    ms_train_log_init(&s->log, LOG_COLS, log_columns);
}

static void site_free(site *s) {
    ms_params_free(&s->P);
    free(s->g.row_active); free(s->since_fired); free(s->dead); free(s->norm_rows);
    ms_train_log_free(&s->log);
}

// ---- resolved configuration

typedef struct {
    ms_train_cfg c;
    int64_t n_steps, sp_warmup_steps, jr_warm_steps;
    ms_lr_schedule lr;
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
    // default: one pass, in whole batches, so no token is seen twice (at least one batch)
    if (c->tokens <= 0) c->tokens = epoch_tokens >= c->batch ? epoch_tokens - epoch_tokens % c->batch : c->batch;
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
    P->lr = ms_lr_schedule_make(c->lr, P->n_steps, c->warmup_frac, c->decay_frac);
    P->sp_warmup_steps = (int64_t)ceil(c->sparsity_warmup_frac * P->n_steps);
    // (a TopK warm start for batchtopk/jumprelu, unless continuing from a saved SAE)
    P->jr_warm_steps = (c->arch == MS_SAE_JUMPRELU || c->arch == MS_SAE_BATCHTOPK) && !c->init_from
                           ? (int64_t)floor(c->jumprelu_warm * P->n_steps) : 0;
    P->unit_norm = c->arch != MS_SAE_RELU;
    P->controlled = (c->arch == MS_SAE_RELU || c->arch == MS_SAE_JUMPRELU) && c->l1 < 0;
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
    #pragma omp parallel for schedule(static) num_threads(s->threads)
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
        #pragma omp parallel num_threads(s->threads)
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

// ---- optimizer: Adam (train/adam.h) row by row, latent i's encoder and decoder rows, b_enc[i]
// and logθ[i] together, so the step's gradient sink can update a row while it is in cache.

// The optimizer step's constants, shared by every row of one update.
typedef struct {
    site *s;
    ms_adam_step k;
    float gscale;               // gradient clipping factor (1: none)
    int unit;                   // unit-norm decoder rows: the decoder gradient is projected off
                                // each row and the rows renormalised after the step
} row_step;

static row_step row_step_at(site *s, const plan *P, int64_t t, float gscale) {
    const ms_train_cfg *c = &P->c;
    row_step k = {s, ms_adam_at(ms_lr_at(&P->lr, t), c->adam_b1, c->adam_b2, c->adam_eps, t), gscale, P->unit_norm};
    return k;
}

// Latent i's parameters: encoder and decoder rows, b_enc[i], logθ[i]. gd/gt NULL: zero gradient
// (the moments still decay). gd is modified (projected off the unit-norm row). An ms_row_sink
// (ctx: the row_step), so the step can call it as soon as the row's gradient is complete.
static void update_row(void *ctx, int i, float *gd, float *gt, float gbe, float gth) {
    const row_step *k = ctx;
    site *s = k->s;
    const ms_params *P = &s->P;
    const int d = s->d;
    const int64_t o = (int64_t)i * d;
    float *wt = s->p.Wt + o, *wd = s->p.Wd + o;
    if (gd && k->unit) { // remove the component along the (unit) row: keeps the step tangent to the sphere
        const float dot = ms_dot(gd, wd, d);
        for (int j = 0; j < d; j++) gd[j] -= dot * wd[j];
    }
    const size_t ot = P->off[P_WT] + o, od = P->off[P_WD] + o, ob = P->off[P_BE] + i;
    ms_adam_row(wt, P->m + ot, P->v + ot, gt, k->gscale, d, &k->k);
    ms_adam_row(wd, P->m + od, P->v + od, gd, k->gscale, d, &k->k);
    if (k->unit) {
        const float n2 = (float)ms_sumsq(wd, d);
        if (n2 > 0) { float f = 1.0f / sqrtf(n2); for (int j = 0; j < d; j++) wd[j] *= f; }
    }
    ms_adam1(s->p.be + i, P->m + ob, P->v + ob, gbe * k->gscale, &k->k);
    if (s->p.logth) {
        const size_t oth = P->off[P_LOGTH] + i;
        ms_adam1(s->p.logth + i, P->m + oth, P->v + oth, gth * k->gscale, &k->k);
    }
}

static void update_bd(const row_step *k) {
    site *s = k->s;
    const ms_params *P = &s->P;
    const size_t o = P->off[P_BD];
    for (int j = 0; j < s->d; j++) ms_adam1(s->p.bd + j, P->m + o + j, P->v + o + j, s->g.bd[j] * k->gscale, &k->k);
}

// Global gradient norm, summed in a fixed order (per latent, then b_dec). rs: (S) scratch.
static double grad_norm(const site *s) {
    const int d = s->d, S = s->S;
    double *rs = s->norm_rows;
    #pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int i = 0; i < S; i++) {
        double q = (double)s->g.be[i] * s->g.be[i];
        if (s->g.logth) q += (double)s->g.logth[i] * s->g.logth[i];
        if (s->g.row_active[i]) q += ms_sumsq(s->g.Wt + (int64_t)i * d, d) + ms_sumsq(s->g.Wd + (int64_t)i * d, d);
        rs[i] = q;
    }
    double tot = 0;
    for (int i = 0; i < S; i++) tot += rs[i];
    for (int j = 0; j < d; j++) tot += (double)s->g.bd[j] * s->g.bd[j];
    return sqrt(tot);
}

// Adam over every parameter from the stored gradients (when the rows were not already updated
// through the step's sink): the global gradient norm for clipping needs all of them first.
static void site_update(site *s, const plan *P, int64_t t) {
    const int d = s->d, S = s->S;
    const ms_train_cfg *c = &P->c;
    float gscale = 1.0f;
    if (c->clip > 0) {
        const double nrm = grad_norm(s);
        if (nrm > c->clip) gscale = (float)(c->clip / nrm);
    }
    row_step k = row_step_at(s, P, t, gscale);
    #pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int i = 0; i < S; i++) {
        const int on = s->g.row_active[i];
        update_row(&k, i, on ? s->g.Wd + (int64_t)i * d : NULL, on ? s->g.Wt + (int64_t)i * d : NULL, s->g.be[i],
                   s->g.logth ? s->g.logth[i] : 0.0f);
    }
    update_bd(&k);
}

// ---- checkpoints (train/ckpt.h): per site, its tensors and moments (one loop over the table),
// the dead-latent counters, the log and the scalars; everything needed to continue bit-exactly

static int site_write(hid_t f, int h, const site *s) {
    hid_t g = ms_ckpt_group(f, "site", h, 1);
    if (g < 0) return -1;
    const int64_t sv = s->S;
    int rc = ms_params_write(g, &s->P);
    rc |= ms_h5_write(g, "since_fired", H5T_NATIVE_INT64, 1, &sv, s->since_fired);
    rc |= ms_train_log_write(g, "log", &s->log);
    rc |= ms_h5_attr_float(g, "lambda", s->lambda);
    rc |= ms_h5_attr_float(g, "scale", s->scale);
    rc |= ms_h5_attr_float(g, "bt_thr", s->bt_thr);
    rc |= ms_h5_attr_float(g, "bt_wsum", s->bt_wsum);
    rc |= ms_h5_attr_int(g, "resampled", s->resampled);
    ms_ckpt_close(g);
    return rc;
}

static int site_read(hid_t f, const char *path, int h, site *s) {
    hid_t g = ms_ckpt_group(f, "site", h, 0);
    if (g < 0) return -1;
    const int64_t sv = s->S;
    int rc = ms_params_read(g, path, &s->P);
    if (!rc) rc |= ms_h5_read(g, path, "since_fired", H5T_NATIVE_INT64, 1, &sv, s->since_fired);
    if (!rc) rc |= ms_train_log_read(g, path, "log", &s->log);
    rc |= ms_h5_get_attr_f64(g, "lambda", MS_H5_REQUIRED, &s->lambda);
    rc |= ms_h5_get_attr_f64(g, "scale", MS_H5_REQUIRED, &s->scale);
    rc |= ms_h5_get_attr_f64(g, "bt_thr", MS_H5_REQUIRED, &s->bt_thr);
    rc |= ms_h5_get_attr_f64(g, "bt_wsum", MS_H5_REQUIRED, &s->bt_wsum);
    rc |= ms_h5_get_attr_i64(g, "resampled", MS_H5_REQUIRED, &s->resampled);
    ms_ckpt_close(g);
    return rc;
}

static int ckpt_write(const char *path, site *sites, int n, int64_t step, int64_t pos, const char *fp) {
    ms_ckpt ck;
    if (ms_ckpt_begin(&ck, path, step, pos, fp) < 0) return -1;
    int rc = 0;
    for (int h = 0; h < n && !rc; h++) rc |= site_write(ck.file, h, &sites[h]);
    return ms_ckpt_end(&ck, rc == 0);
}

static int ckpt_read(const char *path, site *sites, int n, int64_t *step, int64_t *pos, const char *fp) {
    hid_t f = ms_ckpt_open(path, fp, step, pos);
    if (f < 0) return -1;
    int rc = 0;
    for (int h = 0; h < n && !rc; h++) rc |= site_read(f, path, h, &sites[h]);
    ms_ckpt_close(f);
    if (rc) return ms_ckpt_damaged(path);
    return 0;
}

// ---- output

static int site_save(site *s, const plan *P, const char *const *files, int n_files, const ms_act_stream *st, int64_t tokens_seen) {
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
    ms_sae_set_attr_str(o, "model", ms_act_stream_model(st));
    // how the activations were windowed: what SAELens calls context_size and prepend_bos
    if (ms_act_stream_context_size(st) > 0) ms_sae_set_attr_int(o, "context_size", ms_act_stream_context_size(st));
    if (ms_act_stream_prepend_bos(st) >= 0) ms_sae_set_attr_int(o, "prepend_bos", ms_act_stream_prepend_bos(st));
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
    const double *last = ms_train_log_last(&s->log);
    if (last) {
        ms_sae_set_attr_float(o, "final_mse", last[LOG_MSE]);
        ms_sae_set_attr_float(o, "final_l0", last[LOG_L0]);
        ms_sae_set_attr_float(o, "final_explained_variance", last[LOG_EV]);
        ms_sae_set_attr_float(o, "final_dead_frac", last[LOG_DEAD]);
    }
    ms_sae_set_log(o, s->log.rows, (int)s->log.n, LOG_COLS, log_columns);
    int rc = ms_sae_save(o, s->out);
    ms_sae_free(o);
    return rc;
}

// With several sites (a --hook glob), each one's sizes: they differ across site kinds (resid_post
// d_model, mlp.hook_post d_mlp, attn.hook_z n_head·d_head), and the summary line names only the first.
static void print_sites(const site *sites, int n) {
    if (n < 2) return;
    for (int h = 0; h < n; h++)
        fprintf(stderr, "  site %s: d_in %d, d_sae %d -> %s\n", sites[h].hook, sites[h].d, sites[h].S, sites[h].out);
}

static void print_config(const plan *P, int d_in, int n_hooks, int64_t epoch_tokens, int64_t buffer, const site *s0,
                         const char *enc_desc) {
    const ms_train_cfg *c = &P->c;
    fprintf(stderr, "sae train: %d site(s), d_in %d%s, %lld tokens per pass over the files\n", n_hooks, d_in,
            n_hooks > 1 ? " (first site; each below)" : "", (long long)epoch_tokens);
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
    #pragma omp parallel num_threads(s->threads)
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

// ---- the training run

typedef struct {
    plan P;
    const char *const *files;
    int n_files, n_hooks;
    const char *ckpt_path;
    ms_act_stream *st;
    site *sites;
    ms_step_ws **ws;
    float **xb;              // (n_hooks) one batch per site, (B, d)
    char *fp;                // resume fingerprint
    int64_t step0;           // first step of this run (> 0 when resumed)
    int resumed;
} run;

static void run_free(run *R) {
    for (int h = 0; R->sites && h < R->n_hooks; h++) { site_free(&R->sites[h]); ms_step_ws_free(R->ws[h]); free(R->xb[h]); }
    free(R->sites); free(R->ws); free(R->xb); free(R->fp);
    ms_act_stream_close(R->st);
}

// Sizes the user asked for that the dictionary cannot give are errors, not silent clamps (only the
// defaults are fitted to a small dictionary). in: as given; c: resolved.
static int check_sizes(const ms_train_cfg *in, const ms_train_cfg *c) {
    int uses_k = c->arch == MS_SAE_TOPK || c->arch == MS_SAE_BATCHTOPK;
    if (uses_k && in->k > c->d_sae) { ms_error("--k %d exceeds the dictionary size d_sae %d", in->k, c->d_sae); return -1; }
    if (uses_k && in->k_aux > c->d_sae) { ms_error("--k-aux %d exceeds the dictionary size d_sae %d", in->k_aux, c->d_sae); return -1; }
    if (!uses_k && in->l0_target > c->d_sae) {
        ms_error("--l0-target %g exceeds the dictionary size d_sae %d", in->l0_target, c->d_sae);
        return -1;
    }
    return 0;
}

// Opens the stream, resolves the configuration, allocates every site and its step workspace.
static int run_open(run *R, const ms_train_cfg *cfg, const ms_act_stream_cfg *sc, const char *const *hooks,
                    const char *const *outs) {
    R->st = ms_act_stream_open(sc);
    if (!R->st) return -1;
    resolve(&R->P, cfg, ms_act_stream_d_in(R->st, 0), ms_act_stream_tokens(R->st));
    const ms_train_cfg *c = &R->P.c;
    if (check_sizes(cfg, c) < 0) return -1;
    if (c->k_aux <= 0 || c->batch <= 0 || c->d_sae <= 0) { ms_error("bad configuration"); return -1; }
    if (c->init_from && R->n_hooks > 1) { ms_error("--init-from takes one SAE: train one hook at a time"); return -1; }
    R->sites = ms_calloc((size_t)R->n_hooks, sizeof(site));
    R->ws = ms_calloc((size_t)R->n_hooks, sizeof *R->ws);
    R->xb = ms_calloc((size_t)R->n_hooks, sizeof *R->xb);
    for (int h = 0; h < R->n_hooks; h++) {
        int d = ms_act_stream_d_in(R->st, h);
        int S = cfg->d_sae > 0 ? cfg->d_sae : (int)lround(c->expansion * d);
        R->sites[h].hook = hooks[h];
        R->sites[h].out = outs[h];
        site_alloc(&R->sites[h], c->arch, d, S, c->k < S ? c->k : S, c->threads);
        R->ws[h] = ms_step_ws_new(c->batch, d, S, (ms_enc_dtype)c->encoder_dtype);
        if (!R->ws[h]) return -1;
        R->xb[h] = ms_aligned_alloc((size_t)c->batch * d * sizeof(float));
    }
    R->fp = fingerprint(&R->P, R->files, R->n_files, hooks, R->n_hooks);
    R->fp = ms_params_describe(&R->sites[0].P, R->fp);
    return 0;
}

// Fresh start: normalisation scale, b_dec and the weights from a sample read by its own stream,
// so the training order is the same whether or not we resume.
static int run_init(run *R, const ms_act_stream_cfg *sc) {
    const ms_train_cfg *c = &R->P.c;
    ms_act_stream_cfg c2 = *sc;
    c2.seed = c->seed ^ 0x1D17A11ull;
    c2.buffer_tokens = c->init_tokens;
    ms_act_stream *smp = ms_act_stream_open(&c2);
    if (!smp) return -1;
    float **sb = ms_calloc((size_t)R->n_hooks, sizeof *sb);
    for (int h = 0; h < R->n_hooks; h++) sb[h] = ms_malloc((size_t)c->init_tokens * R->sites[h].d * sizeof(float));
    int ok = ms_act_stream_next(smp, c->init_tokens, sb) == 0;
    for (int h = 0; h < R->n_hooks && ok; h++) site_init(&R->sites[h], &R->P, h, sb[h], c->init_tokens);
    if (ok && c->init_from && site_init_from(&R->sites[0], c->init_from) < 0) ok = 0;
    for (int h = 0; h < R->n_hooks; h++) free(sb[h]);
    free(sb);
    ms_act_stream_close(smp);
    return ok ? 0 : -1;
}

// Resume from the checkpoint when asked and present, else the fresh start.
static int run_start(run *R, const ms_act_stream_cfg *sc) {
    const ms_train_cfg *c = &R->P.c;
    if (c->resume && ms_file_exists(R->ckpt_path)) {
        int64_t pos = 0;
        if (ckpt_read(R->ckpt_path, R->sites, R->n_hooks, &R->step0, &pos, R->fp) < 0) return -1;
        for (int h = 0; h < R->n_hooks; h++) { // the dead mask the next step's AuxK uses
            site *s = &R->sites[h];
            for (int i = 0; i < s->S; i++) s->dead[i] = s->since_fired[i] >= c->dead_window;
        }
        if (ms_act_stream_seek(R->st, pos) < 0) return -1;
        R->resumed = 1;
        return 0;
    }
    if (c->resume) fprintf(stderr, "sae train: no checkpoint %s, starting from the beginning\n", R->ckpt_path);
    return run_init(R, sc);
}

// Forward + backward + optimizer step of site s on its batch x (normalised in place). The rows
// are updated by the step itself as their gradients complete (its sink), unless clipping needs
// the global gradient norm first.
static int site_step(site *s, ms_step_ws *w, const plan *P, int64_t t, float *x, ms_step_stats *stt, double *lambda) {
    const ms_train_cfg *c = &P->c;
    const int64_t B = c->batch;
    const float scl = (float)s->scale;
    #pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int64_t i = 0; i < B * s->d; i++) x[i] *= scl;
    ms_step_opts o = {0};
    o.lambda = s->lambda * ms_warmup_factor(t, P->sp_warmup_steps);
    o.eps = c->bandwidth;
    o.k_aux = c->k_aux;
    o.aux_coef = c->aux_coef;
    o.dead = s->dead;
    o.threads = s->threads;
    const int sink = c->clip <= 0;
    row_step rk = row_step_at(s, P, t, 1.0f);
    if (sink) { o.sink = update_row; o.sink_ctx = &rk; }
    o.wt_only_by_sink = s->wt_only_by_sink;
    *lambda = o.lambda;
    ms_sae_params p = s->p;
    const int warm = t < P->jr_warm_steps; // JumpReLU/BatchTopK warm start: train as TopK
    const int jr_switch = warm && t + 1 == P->jr_warm_steps && c->arch == MS_SAE_JUMPRELU;
    if (warm) {
        const int kt = (int)lround(c->l0_target);
        p.arch = MS_SAE_TOPK;
        p.k = c->arch == MS_SAE_BATCHTOPK ? s->p.k : kt < s->S ? kt : s->S; // jumprelu: k = the L0 target
        if (p.k < 1) p.k = 1;
        p.logth = NULL;
        o.keep_preacts = jr_switch; // jumprelu_switch reads all pre-activations
    }
    if (ms_sae_step(w, &p, x, (int)B, &o, &s->g, stt) < 0) return -1;
    if (warm && s->g.logth) memset(s->g.logth, 0, (size_t)s->S * sizeof(float));
    if (jr_switch) jumprelu_switch(s, w, stt->fired, (int)B);
    if (!isfinite(stt->loss)) {
        ms_error("training diverged at step %lld for %s (loss is not finite); try a lower --lr", (long long)t, s->hook);
        return -1;
    }
    if (sink) update_bd(&rk); // the rows were updated inside the step
    else site_update(s, P, t);
    s->wt_only_by_sink = sink;
    return 0;
}

// After a step: dead-latent tracking over a window of tokens, ReLU resampling, the BatchTopK
// threshold EMA, the sparsity controller. Returns the number of dead latents.
static int64_t site_track(site *s, const plan *P, int64_t t, int h, const float *x, const ms_step_ws *w,
                          const ms_step_stats *stt) {
    const ms_train_cfg *c = &P->c;
    const int64_t B = c->batch;
    int64_t nd = 0;
    for (int i = 0; i < s->S; i++) {
        if (stt->fired[i]) s->since_fired[i] = 0;
        else s->since_fired[i] += B;
        s->dead[i] = s->since_fired[i] >= c->dead_window;
        nd += s->dead[i];
    }
    // relu: dead latents resampled from this batch's badly reconstructed inputs
    if (nd > 0 && ms_resample_due(t, B, c->resample_every, P->n_steps)) {
        const ms_params *Q = &s->P;
        ms_resample_site rs = {s->d, s->S, s->p.Wt, s->p.Wd, s->p.be, s->p.bd,
                               ms_param_at(Q, Q->m, P_WT), ms_param_at(Q, Q->v, P_WT), ms_param_at(Q, Q->m, P_WD),
                               ms_param_at(Q, Q->v, P_WD), ms_param_at(Q, Q->m, P_BE), ms_param_at(Q, Q->v, P_BE),
                               s->since_fired, s->dead};
        ms_rng rr = ms_rng_from(c->seed ^ 0x5E5A3B1Eull, (uint64_t)t, (uint64_t)h);
        int64_t nr = ms_resample_dead(&rs, x, ms_step_residual_neg(w), (int)B, &rr);
        if (nr > 0) s->wt_only_by_sink = 0; // rewrote encoder rows
        s->resampled += nr;
        nd -= nr;
    }
    // BatchTopK inference threshold: EMA of the smallest selected activation
    if (c->arch == MS_SAE_BATCHTOPK && stt->min_selected > 0) {
        s->bt_thr = c->threshold_beta * s->bt_thr + (1 - c->threshold_beta) * stt->min_selected;
        s->bt_wsum = c->threshold_beta * s->bt_wsum + (1 - c->threshold_beta);
    }
    // sparsity coefficient controller (after its warmup): multiplicative, bounded steps
    if (P->controlled && t + 1 >= P->sp_warmup_steps && t >= P->jr_warm_steps) {
        double r = log((stt->l0 + 1.0) / (c->l0_target + 1.0));
        if (r > 1) r = 1;
        if (r < -1) r = -1;
        s->lambda *= exp(c->controller_rate * r);
    }
    return nd;
}

// The training-log row of step t.
static void site_log(site *s, const plan *P, int64_t t, const ms_step_stats *stt, double lambda, double ev, double sec) {
    const ms_train_cfg *c = &P->c;
    const int64_t B = c->batch;
    double thr = 0;
    if (c->arch == MS_SAE_BATCHTOPK) thr = s->bt_wsum > 0 ? s->bt_thr / s->bt_wsum : 0;
    if (c->arch == MS_SAE_JUMPRELU) { for (int i = 0; i < s->S; i++) thr += exp(s->p.logth[i]); thr /= s->S; }
    double row[LOG_COLS] = {(double)(t + 1), (double)((t + 1) * B), ms_lr_at(&P->lr, t), lambda, stt->loss,
                            stt->mse_sum / ((double)B * s->d), stt->l0, s->last_dead, ev, stt->aux_loss, thr,
                            (double)s->resampled, sec};
    ms_train_log_append(&s->log, row);
}

// Every step from step0 to the end, checkpointing on the way. *t_first, *g_first: wall clock and
// product seconds at the end of the first step.
static int run_loop(run *R, double t0, double *t_first, double *g_first) {
    const plan *P = &R->P;
    const ms_train_cfg *c = &P->c;
    const int64_t B = c->batch, nh = R->n_hooks;
    const int64_t ck_steps = c->checkpoint_every > 0 ? (c->checkpoint_every + B - 1) / B : 0;
    // the seconds column continues across a resume (from the last row the checkpoint kept)
    const double *last0 = ms_train_log_last(&R->sites[0].log);
    const double sec0 = R->resumed && last0 ? last0[LOG_SEC] : 0;
    ms_progress pb;
    ms_progress_start(&pb, "sae train", (double)(P->n_steps * B), "tok");
    if (!c->progress) pb.enabled = 0;
    for (int64_t t = R->step0; t < P->n_steps; t++) {
        if (ms_act_stream_next(R->st, B, R->xb) < 0) return -1;
        double sum_loss = 0, sum_mse = 0, sum_l0 = 0, sum_dead = 0, sum_ev = 0;
        for (int h = 0; h < nh; h++) {
            site *s = &R->sites[h];
            ms_step_stats stt;
            double lambda;
            if (site_step(s, R->ws[h], P, t, R->xb[h], &stt, &lambda) < 0) return -1;
            const int64_t nd = site_track(s, P, t, h, R->xb[h], R->ws[h], &stt);
            const double ev = stt.var_sum > 0 ? 1.0 - stt.mse_sum / stt.var_sum : 0;
            s->last = stt;
            s->last_dead = (double)nd / s->S;
            if ((t + 1) % c->log_every == 0 || t + 1 == P->n_steps) site_log(s, P, t, &stt, lambda, ev, sec0 + ms_now() - t0);
            sum_loss += stt.loss; sum_mse += stt.mse_sum / ((double)B * s->d); sum_l0 += stt.l0; sum_dead += s->last_dead; sum_ev += ev;
        }
        char extra[160];
        snprintf(extra, sizeof extra, "loss %.4g mse %.4g L0 %.1f dead %.1f%% EV %.3f", sum_loss / nh, sum_mse / nh,
                 sum_l0 / nh, 100 * sum_dead / nh, sum_ev / nh);
        ms_progress_update(&pb, (double)((t + 1) * B), extra);
        if (t == R->step0) { *t_first = ms_now(); *g_first = product_seconds(R->ws, (int)nh); }
        if (ck_steps > 0 && (t + 1) % ck_steps == 0 && t + 1 < P->n_steps)
            if (ckpt_write(R->ckpt_path, R->sites, (int)nh, t + 1, ms_act_stream_pos(R->st), R->fp) < 0) return -1;
    }
    ms_progress_finish(&pb);
    return 0;
}

// Saves every SAE, removes the checkpoint, prints the summary.
static int run_finish(run *R, double t0, double t_first, double g_first) {
    const plan *P = &R->P;
    const int64_t B = P->c.batch;
    const double el = ms_now() - t0;
    const int64_t done_tokens = (P->n_steps - R->step0) * B;
    for (int h = 0; h < R->n_hooks; h++) {
        site *s = &R->sites[h];
        if (site_save(s, P, R->files, R->n_files, R->st, P->n_steps * B) < 0) return -1;
        double ev = s->last.var_sum > 0 ? 1 - s->last.mse_sum / s->last.var_sum : 0;
        fprintf(stderr, "  %s -> %s: mse %.4g  L0 %.2f  dead %.2f%%  explained variance %.4f\n", s->hook, s->out,
                s->last.mse_sum / ((double)B * s->d), s->last.l0, 100 * s->last_dead, ev);
    }
    if (P->c.resample_every > 0) {
        int64_t tot = 0;
        for (int h = 0; h < R->n_hooks; h++) tot += R->sites[h].resampled;
        fprintf(stderr, "sae train: resampled %lld dead latents in total\n", (long long)tot);
    }
    remove(R->ckpt_path);
    fprintf(stderr, "sae train: %lld tokens in %.1f s (%.0f tokens/s), peak RSS %.1f MiB\n", (long long)done_tokens, el,
            el > 0 ? done_tokens / el : 0, ms_peak_rss() / 1048576.0);
    // the share after the first step (kernel generation, first touches) is the steady state's
    const double tg = product_seconds(R->ws, R->n_hooks), el2 = t0 + el - t_first;
    const int64_t steady = P->n_steps - R->step0 - 1;
    fprintf(stderr, "sae train: encoder product %.1f s = %.1f %% of the training loop (%.1f %% after its first step; "
            "the rest of a step: %.1f ms)\n", tg, el > 0 ? 100 * tg / el : 0, el2 > 0 && steady > 0 ? 100 * (tg - g_first) / el2 : 0,
            steady > 0 ? 1e3 * (el2 - (tg - g_first)) / steady : 0);
    return 0;
}

int ms_sae_train(const ms_train_cfg *cfg, const char *const *files, int n_files, const char *const *hooks,
                 int n_hooks, const char *const *outs, const char *ckpt_path) {
    run R = {0};
    R.files = files; R.n_files = n_files; R.n_hooks = n_hooks; R.ckpt_path = ckpt_path;
    ms_act_stream_cfg sc = {files, n_files, hooks, n_hooks, cfg->buffer_tokens, cfg->seed};
    int rc = -1;
    if (run_open(&R, cfg, &sc, hooks, outs) < 0 || run_start(&R, &sc) < 0) goto done;
    const ms_train_cfg *c = &R.P.c;
    print_config(&R.P, R.sites[0].d, n_hooks, ms_act_stream_tokens(R.st), ms_act_stream_buffer_tokens(R.st), &R.sites[0],
                 ms_step_encoder_describe(R.ws[0]));
    print_sites(R.sites, n_hooks);
    if (R.resumed) fprintf(stderr, "  resuming from %s at step %lld (%lld tokens)\n", ckpt_path, (long long)R.step0, (long long)(R.step0 * c->batch));
    const double t0 = ms_now();
    double t_first = 0, g_first = 0;
    if (run_loop(&R, t0, &t_first, &g_first) < 0 || run_finish(&R, t0, t_first, g_first) < 0) goto done;
    rc = 0;
done:
    run_free(&R);
    return rc;
}
