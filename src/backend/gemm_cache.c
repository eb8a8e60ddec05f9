// gemm_cache.c: the weight products Y(N, out) = X(N, in) · W(out, in)ᵀ (+ b) of backend.h on oneDNN's
// matmul, with what makes them cheap to call again and again cached in an ms_gemm_cache:
//   - per weight shape (in, out), the weights layout the kernel reads, chosen once for a fixed row
//     count (so it does not depend on which batch size came first);
//   - per weight matrix (keyed by its pointer and shape), a copy in that layout, reordered once;
//   - per (N, in, out, threads, bias, activation, accumulate) a compiled product with its argument
//     memories, and per (rows, cols, threads, activation) a compiled activation (ms_gemm_act); at most
//     MAX_PLANS (a generator that grows T by one token per call would otherwise keep one per length),
//     the oldest replaced first.
// After the first call for a shape and weight, a product allocates nothing and compiles nothing.
// In bf16 the copies are bfloat16 (the reorder converts) and each product first rounds its inputs
// into a bf16 buffer the cache keeps (grown to the largest product seen).
// Without oneDNN there is no cache (NULL) and ms_op_linear runs OpenBLAS sgemm.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "backend/dnnl_util.h"
#include "backend/threads.h"
#include "util/util.h"

const char *ms_compute_name(ms_compute c) { return c == MS_COMPUTE_BF16 ? "bf16" : "f32"; }

int ms_compute_parse(const char *s) {
    if (!strcmp(s, "f32") || !strcmp(s, "fp32") || !strcmp(s, "float32")) return MS_COMPUTE_F32;
    if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16")) return MS_COMPUTE_BF16;
    return -1;
}

#ifdef MS_HAVE_DNNL

#define MAX_PLANS 64
#define LAYOUT_ROWS 512 // the row count the weights layout is chosen for

typedef struct {
    int in, out;
    dnnl_memory_desc_t md;
} layout_entry;

typedef struct {
    const float *W;
    int in, out;
    void *buf;          // the weights in the layout of their shape
    dnnl_memory_t mem;  // over buf
    dnnl_memory_t from; // over W (out, in)
    dnnl_primitive_t reorder; // from -> mem
    int stale;          // W changed in place since the copy (ms_gemm_cache_refresh): reorder again
} weight_entry;

// A compiled product (in > 0), or an activation alone (in = 0: rows × out in place).
typedef struct {
    int rows, in, out, n_threads, bias, accumulate;
    ms_act act;
    int failed; // oneDNN could not compile it, or compiled it on a kernel whose post-ops would change
                // the product's bits (see fused_ok): the caller takes the unfused path, every time
    ms_dnnl_plan plan;
} plan_entry;

struct ms_gemm_cache {
    ms_dnnl dnnl;
    ms_compute compute;
    int weights_bf16;          // weights given as bf16 (out, in): read in place, never copied
    dnnl_data_type_t in_t;     // of the weights' copies and the products' inputs
    uint16_t *src_bf16;        // (N, in) inputs rounded to bf16, for the largest N · in seen
    size_t src_cap;
    layout_entry *layouts;
    int n_layouts;
    weight_entry *weights;
    int n_weights;
    plan_entry plans[MAX_PLANS];
    int n_plans;
    unsigned evict_next;
    char desc[160];
};

ms_gemm_cache *ms_gemm_cache_new(ms_compute compute) {
    ms_gemm_cache *c = ms_calloc(1, sizeof *c);
    c->compute = compute;
    c->in_t = compute == MS_COMPUTE_BF16 ? dnnl_bf16 : dnnl_f32;
    if (ms_dnnl_open(&c->dnnl) < 0) {
        free(c);
        return NULL;
    }
    ms_dnnl_plan probe = {0}; // refuse a precision this CPU has no kernel for now, not at the first product
    if (ms_dnnl_plan_make(&c->dnnl, &probe, 16, 64, 64, c->in_t, 0, dnnl_alg_kind_undef, 0, NULL) < 0) {
        ms_dnnl_close(&c->dnnl);
        free(c);
        ms_error("--compute %s: oneDNN has no %s matmul kernel for this CPU", ms_compute_name(compute), ms_compute_name(compute));
        return NULL;
    }
    ms_dnnl_plan_free(&probe);
    const dnnl_version_t *v = dnnl_version();
    snprintf(c->desc, sizeof c->desc, "oneDNN %d.%d.%d %s", v->major, v->minor, v->patch, ms_compute_name(compute));
    return c;
}

ms_gemm_cache *ms_gemm_cache_new_bf16_weights(void) {
    ms_gemm_cache *c = ms_gemm_cache_new(MS_COMPUTE_BF16);
    if (!c) return NULL;
    c->weights_bf16 = 1;
    snprintf(c->desc + strlen(c->desc), sizeof c->desc - strlen(c->desc), ", weights held in bf16");
    return c;
}

static void weight_free(weight_entry *w) {
    if (w->reorder) dnnl_primitive_destroy(w->reorder);
    if (w->from) dnnl_memory_destroy(w->from);
    if (w->mem) dnnl_memory_destroy(w->mem);
    free(w->buf);
}

void ms_gemm_cache_free(ms_gemm_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->n_plans; i++) ms_dnnl_plan_free(&c->plans[i].plan);
    for (int i = 0; i < c->n_weights; i++) weight_free(&c->weights[i]);
    free(c->weights);
    free(c->layouts);
    free(c->src_bf16);
    ms_dnnl_close(&c->dnnl);
    free(c);
}

void ms_gemm_cache_forget(ms_gemm_cache *c, const float *W) {
    if (!c) return;
    for (int i = 0; i < c->n_weights; i++)
        if (!W || c->weights[i].W == W) {
            weight_free(&c->weights[i]);
            c->weights[i--] = c->weights[--c->n_weights];
        }
}

void ms_gemm_cache_refresh(ms_gemm_cache *c) {
    if (c && c->weights_bf16) return; // weights read in place: never stale
    for (int i = 0; c && i < c->n_weights; i++) c->weights[i].stale = 1;
}

const char *ms_gemm_cache_describe(const ms_gemm_cache *c) { return c ? c->desc : "OpenBLAS sgemm f32"; }

// The weights layout of shape (in, out): the one the kernel picks for LAYOUT_ROWS rows.
// Weights held in bf16: their own (out, in) row-major layout.
static const dnnl_memory_desc_t *layout_of(ms_gemm_cache *c, int in, int out) {
    for (int i = 0; i < c->n_layouts; i++)
        if (c->layouts[i].in == in && c->layouts[i].out == out) return &c->layouts[i].md;
    dnnl_memory_desc_t md;
    if (c->weights_bf16) {
        dnnl_dims_t wd = {in, out}, ws = {1, in};
        if (!ms_dnnl_ok(dnnl_memory_desc_init_by_strides(&md, 2, wd, dnnl_bf16, ws), "weights descriptor")) return NULL;
    } else {
        ms_dnnl_plan probe = {0};
        if (ms_dnnl_plan_make(&c->dnnl, &probe, LAYOUT_ROWS, in, out, c->in_t, 0, dnnl_alg_kind_undef, 0, NULL) < 0)
            return NULL;
        md = probe.wts;
        ms_dnnl_plan_free(&probe);
    }
    c->layouts = ms_realloc(c->layouts, (size_t)(c->n_layouts + 1) * sizeof *c->layouts);
    layout_entry *e = &c->layouts[c->n_layouts++];
    e->in = in, e->out = out, e->md = md;
    return &e->md;
}

// W's copy in layout lay, reordered from W (out, in) on first sight and again when stale (the
// buffer, memories and reorder are kept, so a refresh allocates nothing).
static weight_entry *weight_of(ms_gemm_cache *c, const float *W, int in, int out, const dnnl_memory_desc_t *lay) {
    for (int i = 0; i < c->n_weights; i++) {
        weight_entry *e = &c->weights[i];
        if (e->W != W || e->in != in || e->out != out) continue;
        if (e->stale && ms_dnnl_reorder_run(&c->dnnl, e->reorder, e->from, e->mem) < 0) return NULL;
        e->stale = 0;
        return e;
    }
    weight_entry w = {.W = W, .in = in, .out = out};
    if (c->weights_bf16) { // read in place: a memory over W, nothing to reorder or refresh
        if (!ms_dnnl_ok(dnnl_memory_create(&w.mem, lay, c->dnnl.eng, (void *)W), "weights memory")) return NULL;
        c->weights = ms_realloc(c->weights, (size_t)(c->n_weights + 1) * sizeof *c->weights);
        c->weights[c->n_weights] = w;
        return &c->weights[c->n_weights++];
    }
    const size_t bytes = dnnl_memory_desc_get_size(lay);
    w.buf = ms_aligned_alloc(bytes ? bytes : 64);
    dnnl_memory_desc_t plain;
    int rc = ms_dnnl_wt_desc(&plain, in, out) == 0 &&
             ms_dnnl_ok(dnnl_memory_create(&w.mem, lay, c->dnnl.eng, w.buf), "weights memory") &&
             ms_dnnl_ok(dnnl_memory_create(&w.from, &plain, c->dnnl.eng, (void *)W), "weights memory") &&
             ms_dnnl_reorder_make(&c->dnnl, &plain, lay, &w.reorder) == 0 &&
             ms_dnnl_reorder_run(&c->dnnl, w.reorder, w.from, w.mem) == 0;
    if (!rc) {
        weight_free(&w);
        return NULL;
    }
    c->weights = ms_realloc(c->weights, (size_t)(c->n_weights + 1) * sizeof *c->weights);
    c->weights[c->n_weights] = w;
    return &c->weights[c->n_weights++];
}

// oneDNN's name of an activation.
static dnnl_alg_kind_t act_alg(ms_act act) { return act == MS_ACT_GELU_TANH ? dnnl_eltwise_gelu_tanh : dnnl_alg_kind_undef; }

// Post-ops (an activation, a sum into dst) keep the product's bits only where oneDNN runs them on its
// brgemm kernels, which apply them to the finished, biased tiles in registers. Its gemm-based kernels
// (chosen e.g. on CPUs without AVX-512) run a sum post-op as sgemm's beta = 1, adding dst into the
// first block of the K sum, and refuse bias with a sum: there the pass takes the unfused path. The
// unfused product (plain_impl: without the post-ops; without bias for a sum, which ms_op_add_bias
// then adds) must run on the same kernel.
static int fused_ok(const plan_entry *p, const char *plain_impl) {
    return !strncmp(p->plan.impl, "brg", 3) && !strcmp(p->plan.impl, plain_impl);
}

// The compiled product for this shape, thread count, bias, activation and accumulation, reading
// weights in layout lay; or (in = 0) the activation of rows × out values. NULL when there is none
// (remembered: not compiled again).
static plan_entry *plan_of(ms_gemm_cache *c, int rows, int in, int out, int n_threads, int bias, ms_act act,
                           int accumulate, const dnnl_memory_desc_t *lay) {
    for (int i = 0; i < c->n_plans; i++) {
        plan_entry *p = &c->plans[i];
        if (p->rows == rows && p->in == in && p->out == out && p->n_threads == n_threads && p->bias == bias &&
            p->act == act && p->accumulate == accumulate)
            return p->failed ? NULL : p;
    }
    char plain_impl[sizeof c->plans[0].plan.impl] = "";
    if (in > 0 && (act != MS_ACT_NONE || accumulate)) { // the kernel of the unfused path, before a slot is taken
        const plan_entry *plain = plan_of(c, rows, in, out, n_threads, accumulate ? 0 : bias, MS_ACT_NONE, 0, lay);
        if (plain) snprintf(plain_impl, sizeof plain_impl, "%s", plain->plan.impl);
    }
    plan_entry *p = c->n_plans < MAX_PLANS ? &c->plans[c->n_plans++] : &c->plans[c->evict_next++ % MAX_PLANS];
    ms_dnnl_plan_free(&p->plan);
    *p = (plan_entry){.rows = rows, .in = in, .out = out, .n_threads = n_threads, .bias = bias, .act = act,
                      .accumulate = accumulate};
    const int rc = in == 0 ? ms_dnnl_act_make(&c->dnnl, &p->plan, rows, out, act_alg(act))
                           : ms_dnnl_plan_make(&c->dnnl, &p->plan, rows, in, out, c->in_t, bias, act_alg(act), accumulate, lay);
    p->failed = rc < 0 || (in > 0 && (act != MS_ACT_NONE || accumulate) && !fused_ok(p, plain_impl));
    if (p->failed) {
        ms_dnnl_plan_free(&p->plan);
        return NULL;
    }
    if (in > 0) {
        const dnnl_version_t *v = dnnl_version();
        snprintf(c->desc, sizeof c->desc, "oneDNN %d.%d.%d %s (%s)", v->major, v->minor, v->patch,
                 ms_compute_name(c->compute), p->plan.impl);
    }
    return p;
}

// X (N, in) rounded to bf16 in the cache's buffer, on the threads of the calling task.
static const uint16_t *src_to_bf16(ms_gemm_cache *c, const float *X, size_t n) {
    if (n > c->src_cap) {
        free(c->src_bf16);
        c->src_bf16 = ms_aligned_alloc(n * sizeof(uint16_t));
        c->src_cap = n;
    }
    uint16_t *d = c->src_bf16;
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (size_t i = 0; i < n; i++) d[i] = ms_to_bf16(X[i]);
    return d;
}

typedef struct {
    ms_gemm_cache *c;
    float *Y;
    const float *X, *W, *b;
    int N, in, out, accumulate;
    ms_act act;
} linear_job;

static int linear_run(void *arg, int n_threads) {
    const linear_job *j = arg;
    ms_gemm_cache *c = j->c;
    const dnnl_memory_desc_t *lay = layout_of(c, j->in, j->out);
    weight_entry *w = lay ? weight_of(c, j->W, j->in, j->out, lay) : NULL;
    plan_entry *p = w ? plan_of(c, j->N, j->in, j->out, n_threads, j->b != NULL, j->act, j->accumulate, lay) : NULL;
    if (!p) return -1;
    const void *src = c->compute == MS_COMPUTE_BF16 ? (const void *)src_to_bf16(c, j->X, (size_t)j->N * j->in) : (const void *)j->X;
    return ms_dnnl_plan_run(&c->dnnl, &p->plan, src, w->mem, j->b, j->Y);
}

typedef struct {
    ms_gemm_cache *c;
    float *x;
    int rows, cols;
    ms_act act;
} act_job;

static int act_run(void *arg, int n_threads) {
    const act_job *j = arg;
    plan_entry *p = plan_of(j->c, j->rows, 0, j->cols, n_threads, 0, j->act, 0, NULL);
    return p ? ms_dnnl_act_run(&j->c->dnnl, &p->plan, j->x) : -1;
}

int ms_gemm_linear(ms_gemm_cache *c, int n_threads, float *Y, const float *X, const float *W, const float *b, int N,
                   int in, int out, ms_act act, int accumulate) {
    if (N <= 0) return 0;
    if (in <= 0 || out <= 0) return -1; // (in = 0 keys the activations' entries)
    linear_job j = {.c = c, .Y = Y, .X = X, .W = W, .b = b, .N = N, .in = in, .out = out, .act = act,
                    .accumulate = accumulate};
    return ms_on_threads(n_threads, linear_run, &j); // oneDNN compiles and runs for n_threads
}

int ms_gemm_act(ms_gemm_cache *c, int n_threads, float *x, int rows, int cols, ms_act act) {
    if (rows <= 0 || act == MS_ACT_NONE) return 0;
    act_job j = {.c = c, .x = x, .rows = rows, .cols = cols, .act = act};
    return ms_on_threads(n_threads, act_run, &j);
}

#else // OpenBLAS only: no cache

ms_gemm_cache *ms_gemm_cache_new(ms_compute compute) {
    if (compute == MS_COMPUTE_BF16) ms_error("--compute bf16 needs monoscope built with oneDNN (libdnnl-dev)");
    return NULL;
}
ms_gemm_cache *ms_gemm_cache_new_bf16_weights(void) { return ms_gemm_cache_new(MS_COMPUTE_BF16); }
void ms_gemm_cache_free(ms_gemm_cache *c) { (void)c; }
void ms_gemm_cache_forget(ms_gemm_cache *c, const float *W) { (void)c; (void)W; }
void ms_gemm_cache_refresh(ms_gemm_cache *c) { (void)c; }
const char *ms_gemm_cache_describe(const ms_gemm_cache *c) { (void)c; return "OpenBLAS sgemm f32"; }
int ms_gemm_linear(ms_gemm_cache *c, int n_threads, float *Y, const float *X, const float *W, const float *b, int N,
                   int in, int out, ms_act act, int accumulate) {
    (void)c, (void)n_threads, (void)Y, (void)X, (void)W, (void)b, (void)N, (void)in, (void)out, (void)act, (void)accumulate;
    ms_error("monoscope was built without oneDNN");
    return -1;
}
int ms_gemm_act(ms_gemm_cache *c, int n_threads, float *x, int rows, int cols, ms_act act) {
    (void)c, (void)n_threads, (void)x, (void)rows, (void)cols, (void)act;
    ms_error("monoscope was built without oneDNN");
    return -1;
}

#endif
