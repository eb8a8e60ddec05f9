// dnnl_util.c: oneDNN engine, matmul plans and weight reorders (see dnnl_util.h).
#include "backend/dnnl_util.h"
#ifdef MS_HAVE_DNNL
#include <stdio.h>
#include <string.h>
#include "util/util.h"

int ms_dnnl_ok(dnnl_status_t s, const char *what) {
    if (s == dnnl_success) return 1;
    ms_error("oneDNN: %s failed (status %d)", what, (int)s);
    return 0;
}

int ms_dnnl_open(ms_dnnl *d) {
    memset(d, 0, sizeof *d);
    if (ms_dnnl_ok(dnnl_engine_create(&d->eng, dnnl_cpu, 0), "engine") &&
        ms_dnnl_ok(dnnl_stream_create(&d->stream, d->eng, dnnl_stream_default_flags), "stream"))
        return 0;
    ms_dnnl_close(d);
    return -1;
}

void ms_dnnl_close(ms_dnnl *d) {
    if (d->stream) dnnl_stream_destroy(d->stream);
    if (d->eng) dnnl_engine_destroy(d->eng);
    memset(d, 0, sizeof *d);
}

void ms_dnnl_plan_free(ms_dnnl_plan *p) {
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->src) dnnl_memory_destroy(p->src);
    if (p->dst) dnnl_memory_destroy(p->dst);
    if (p->bias) dnnl_memory_destroy(p->bias);
    memset(p, 0, sizeof *p);
}

// The primitive descriptor of the product, weights in layout wts (format any: the kernel's choice).
// act: an eltwise post-op on the biased product (dnnl_alg_kind_undef: none); sum: then dst's old
// values added (a sum post-op).
static dnnl_primitive_desc_t plan_pd(const ms_dnnl *d, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *wts,
                                     const dnnl_memory_desc_t *bias, const dnnl_memory_desc_t *dst, dnnl_alg_kind_t act,
                                     int sum) {
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if ((act != dnnl_alg_kind_undef || sum) &&
        (dnnl_primitive_attr_create(&attr) != dnnl_success || dnnl_post_ops_create(&po) != dnnl_success ||
         (act != dnnl_alg_kind_undef && dnnl_post_ops_append_eltwise(po, 1.0f, act, 0.0f, 0.0f) != dnnl_success) ||
         (sum && dnnl_post_ops_append_sum(po, 1.0f) != dnnl_success) ||
         dnnl_primitive_attr_set_post_ops(attr, po) != dnnl_success))
        goto out;
    if (dnnl_matmul_desc_init(&md, src, wts, bias, dst) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &md, attr, d->eng, NULL) != dnnl_success)
        pd = NULL;
out:
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return pd;
}

int ms_dnnl_plan_make(const ms_dnnl *d, ms_dnnl_plan *p, int rows, int k, int n, dnnl_data_type_t in_t,
                      int with_bias, dnnl_alg_kind_t act, int sum, const dnnl_memory_desc_t *wts_layout) {
    ms_dnnl_plan_free(p);
    dnnl_memory_desc_t src, wts, bias, dst;
    dnnl_dims_t sd = {rows, k}, ss = {k, 1}, wd = {k, n}, bd = {1, n}, bs = {n, 1}, od = {rows, n}, os = {n, 1};
    if (!ms_dnnl_ok(dnnl_memory_desc_init_by_strides(&src, 2, sd, in_t, ss), "source descriptor") ||
        !ms_dnnl_ok(dnnl_memory_desc_init_by_tag(&wts, 2, wd, in_t, dnnl_format_tag_any), "weights descriptor") ||
        !ms_dnnl_ok(dnnl_memory_desc_init_by_strides(&bias, 2, bd, dnnl_f32, bs), "bias descriptor") ||
        !ms_dnnl_ok(dnnl_memory_desc_init_by_strides(&dst, 2, od, dnnl_f32, os), "output descriptor"))
        return -1;
    const dnnl_memory_desc_t *bp = with_bias ? &bias : NULL;
    dnnl_primitive_desc_t pd = plan_pd(d, &src, &wts, bp, &dst, act, sum);
    if (pd && wts_layout && !dnnl_memory_desc_equal(dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), wts_layout)) {
        dnnl_primitive_desc_destroy(pd); // the weights are laid out already: pin that layout
        pd = plan_pd(d, &src, wts_layout, bp, &dst, act, sum);
    }
    if (!pd) {
        ms_error("oneDNN has no %s matmul kernel for (%d, %d) x (%d, %d) on this CPU", in_t == dnnl_bf16 ? "bf16" : "f32",
                 rows, k, k, n);
        return -1;
    }
    p->wts = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(p->impl, sizeof p->impl, "%s", impl ? impl : "?");
    int rc = -1;
    if (ms_dnnl_ok(dnnl_primitive_create(&p->prim, pd), "matmul") &&
        ms_dnnl_ok(dnnl_memory_create(&p->src, &src, d->eng, DNNL_MEMORY_NONE), "source memory") &&
        ms_dnnl_ok(dnnl_memory_create(&p->dst, &dst, d->eng, DNNL_MEMORY_NONE), "output memory") &&
        (!with_bias || ms_dnnl_ok(dnnl_memory_create(&p->bias, &bias, d->eng, DNNL_MEMORY_NONE), "bias memory"))) {
        p->rows = rows;
        rc = 0;
    }
    dnnl_primitive_desc_destroy(pd);
    if (rc) ms_dnnl_plan_free(p);
    return rc;
}

// Runs p on args and waits: 0, or -2 + ms_error (the outputs are undefined: the kernel may have run
// part way).
static int execute(const ms_dnnl *d, dnnl_primitive_t p, int n_args, const dnnl_exec_arg_t *args, const char *what) {
    return ms_dnnl_ok(dnnl_primitive_execute(p, d->stream, n_args, args), what) &&
                   ms_dnnl_ok(dnnl_stream_wait(d->stream), what)
               ? 0
               : -2;
}

int ms_dnnl_plan_run(const ms_dnnl *d, ms_dnnl_plan *p, const void *src, dnnl_memory_t wts, const float *bias,
                     float *dst) {
    if (!ms_dnnl_ok(dnnl_memory_set_data_handle(p->src, (void *)src), "source handle") ||
        !ms_dnnl_ok(dnnl_memory_set_data_handle(p->dst, dst), "output handle") ||
        (p->bias && !ms_dnnl_ok(dnnl_memory_set_data_handle(p->bias, (void *)bias), "bias handle")))
        return -1;
    dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, p->src}, {DNNL_ARG_WEIGHTS, wts}, {DNNL_ARG_DST, p->dst},
                            {DNNL_ARG_BIAS, p->bias}};
    return execute(d, p->prim, p->bias ? 4 : 3, a, "matmul");
}

int ms_dnnl_act_make(const ms_dnnl *d, ms_dnnl_plan *p, int rows, int cols, dnnl_alg_kind_t act) {
    ms_dnnl_plan_free(p);
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {rows, cols}, strides = {cols, 1};
    dnnl_eltwise_desc_t ed;
    dnnl_primitive_desc_t pd = NULL;
    int ok = ms_dnnl_ok(dnnl_memory_desc_init_by_strides(&md, 2, dims, dnnl_f32, strides), "activation descriptor") &&
             ms_dnnl_ok(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, act, &md, 0.0f, 0.0f), "activation") &&
             ms_dnnl_ok(dnnl_primitive_desc_create(&pd, &ed, NULL, d->eng, NULL), "activation") &&
             ms_dnnl_ok(dnnl_primitive_create(&p->prim, pd), "activation") &&
             ms_dnnl_ok(dnnl_memory_create(&p->src, &md, d->eng, DNNL_MEMORY_NONE), "activation memory");
    if (ok) {
        const char *impl = NULL;
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
        snprintf(p->impl, sizeof p->impl, "%s", impl ? impl : "?");
        p->rows = rows;
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (!ok) ms_dnnl_plan_free(p);
    return ok ? 0 : -1;
}

int ms_dnnl_act_run(const ms_dnnl *d, ms_dnnl_plan *p, float *x) {
    if (!ms_dnnl_ok(dnnl_memory_set_data_handle(p->src, x), "activation handle")) return -1;
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_SRC, p->src}, {DNNL_ARG_DST, p->src}};
    return execute(d, p->prim, 2, a, "activation");
}

int ms_dnnl_reorder_make(const ms_dnnl *d, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                         dnnl_primitive_t *r) {
    dnnl_primitive_desc_t rpd = NULL;
    if (!ms_dnnl_ok(dnnl_reorder_primitive_desc_create(&rpd, from, d->eng, to, d->eng, NULL), "weights reorder"))
        return -1;
    int okr = ms_dnnl_ok(dnnl_primitive_create(r, rpd), "weights reorder");
    dnnl_primitive_desc_destroy(rpd);
    return okr ? 0 : -1;
}

int ms_dnnl_reorder_run(const ms_dnnl *d, dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return execute(d, r, 2, a, "weights reorder") ? -1 : 0;
}

int ms_dnnl_wt_desc(dnnl_memory_desc_t *md, int k, int n) {
    dnnl_dims_t wd = {k, n}, ws = {1, k};
    return ms_dnnl_ok(dnnl_memory_desc_init_by_strides(md, 2, wd, dnnl_f32, ws), "weights descriptor") ? 0 : -1;
}
#endif
