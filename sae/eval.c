// eval.c: reconstruction/sparsity metrics, /eval storage (see eval.h).
#include "sae/eval.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "util/util.h"

// ---------------------------------------------------------------- metrics

// An SAE applied to another model's activations gives numbers that look fine and mean nothing:
// warn (not fail: a fine-tuned or renamed checkpoint is legitimate) with both names.
static void warn_model_mismatch(const ms_sae *s, const char *acts_path) {
    const char *sm = ms_sae_attr_str(s, "model");
    if (!sm || !*sm) return;
    ms_acts *a = ms_acts_open(acts_path);
    if (!a) return; // the reader reports the error
    const char *am = ms_acts_model(a);
    if (*am && strcmp(am, sm))
        fprintf(stderr, "monoscope: warning: the SAE was trained on activations of model '%s'; %s is from model '%s'\n",
                sm, acts_path, am);
    ms_acts_close(a);
}

ms_acts_reader *ms_acts_reader_open_for(const ms_sae *s, const char *acts_path, const char *hook) {
    warn_model_mismatch(s, acts_path);
    if (hook) return ms_acts_reader_open(acts_path, hook, s->d_in);
    const char *sh = ms_sae_attr_str(s, "hook");
    if (!sh) return ms_acts_reader_open(acts_path, NULL, s->d_in); // the file's only site
    // the SAE's own site; never silently another one: a dictionary of one site says nothing about the next
    ms_acts_reader *r = ms_acts_reader_open(acts_path, sh, s->d_in);
    if (!r && strstr(ms_last_error(), ": no /acts/")) {
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", ms_last_error());
        ms_error("%s (the SAE's hook; choose another site with --hook)", saved);
    }
    return r;
}

int ms_sae_eval_acts(const ms_sae *s, const char *acts_path, const ms_sae_eval_opts *o, ms_sae_eval_result *r) {
    memset(r, 0, sizeof *r);
    const char *hook = o && o->hook ? o->hook : NULL;
    ms_acts_reader *rd = ms_acts_reader_open_for(s, acts_path, hook);
    if (!rd) return -1;
    ms_acts_reader_skip_padding(rd); // metrics, densities and counts are over real tokens only
    const int d = s->d_in, S = s->d_sae;
    const int64_t B = o && o->batch > 0 ? o->batch : 2048;
    const int64_t maxt = o && o->max_tokens > 0 ? o->max_tokens : INT64_MAX;
    float *x = ms_aligned_alloc((size_t)B * d * sizeof(float));
    float *xhat = ms_aligned_alloc((size_t)B * d * sizeof(float));
    int64_t *count = ms_calloc((size_t)S, sizeof(int64_t));
    double *shift = ms_calloc((size_t)d, sizeof(double)); // the first token: shifted sums keep the variance exact
    double *sum1 = ms_calloc((size_t)d, sizeof(double)), *sum2 = ms_calloc((size_t)d, sizeof(double));
    double sse = 0, l1 = 0, shrink = 0;
    int64_t nnz = 0, n = 0, n_shrink = 0;
    ms_sae_codes c;
    memset(&c, 0, sizeof c);
    ms_sae_encoder *enc = ms_sae_encoder_new(s);
    int rc = enc ? 0 : -1;
    while (!rc && n < maxt) {
        int64_t want = maxt - n < B ? maxt - n : B;
        int64_t m = ms_acts_reader_next(rd, x, NULL, want);
        if (m < 0) { rc = -1; break; }
        if (m == 0) break;
        for (int64_t t = 0; t < m * d; t++)
            if (!isfinite(x[t])) { ms_error("%s: non-finite activation at token %lld", acts_path, (long long)(n + t / d)); rc = -1; break; }
        if (rc) break;
        if (n == 0) for (int q = 0; q < d; q++) shift[q] = x[q];
        if (ms_sae_encoder_sparse(enc, x, m, &c) < 0) { rc = -1; break; }
        ms_sae_decode_sparse(s, &c, xhat);
        for (int64_t j = 0; j < c.nnz; j++) { count[c.idx[j]]++; l1 += fabs((double)c.val[j]); }
        nnz += c.nnz;
        double bsse = 0, bshr = 0;
        int64_t bns = 0;
        #pragma omp parallel for reduction(+:bsse,bshr,bns) schedule(static)
        for (int64_t t = 0; t < m; t++) {
            const float *xt = x + t * d, *ht = xhat + t * d;
            double e = 0, nx = 0, nh = 0;
            for (int q = 0; q < d; q++) {
                double dx = (double)xt[q] - ht[q];
                e += dx * dx;
                nx += (double)xt[q] * xt[q];
                nh += (double)ht[q] * ht[q];
            }
            bsse += e;
            if (nx > 0) { bshr += sqrt(nh / nx); bns++; }
        }
        sse += bsse; shrink += bshr; n_shrink += bns;
        #pragma omp parallel for schedule(static)
        for (int q = 0; q < d; q++) {
            double a = 0, b = 0;
            for (int64_t t = 0; t < m; t++) { double v = (double)x[t * d + q] - shift[q]; a += v; b += v * v; }
            sum1[q] += a; sum2[q] += b;
        }
        n += m;
    }
    if (!rc && n == 0) { ms_error("%s: no tokens to evaluate on", acts_path); rc = -1; }
    if (!rc) {
        double var = 0;
        for (int q = 0; q < d; q++) var += sum2[q] - sum1[q] * sum1[q] / (double)n;
        r->n_tokens = n;
        r->d_in = d;
        r->d_sae = S;
        r->mse = sse / ((double)n * d);
        r->nmse = var > 0 ? sse / var : (sse > 0 ? INFINITY : 0);
        r->explained_variance = 1 - r->nmse;
        r->l0 = (double)nnz / n;
        r->l1 = l1 / n;
        r->shrinkage = n_shrink ? shrink / n_shrink : 0;
        r->density = ms_malloc((size_t)S * sizeof(double));
        int64_t dead = 0, d1 = 0, d10 = 0;
        for (int i = 0; i < S; i++) {
            double den = (double)count[i] / n;
            r->density[i] = den;
            if (count[i] == 0) { dead++; continue; }
            if (den > 0.01) d1++;
            if (den > 0.1) d10++;
            int b = (int)floor((log10(den) - MS_EVAL_HIST_LO) / (-MS_EVAL_HIST_LO) * MS_EVAL_HIST_BINS);
            if (b < 0) b = 0;
            if (b >= MS_EVAL_HIST_BINS) b = MS_EVAL_HIST_BINS - 1; // density 1 falls in the last bin
            r->hist[b]++;
        }
        r->dead_frac = (double)dead / S;
        r->dense_frac_1pct = (double)d1 / S;
        r->dense_frac_10pct = (double)d10 / S;
        snprintf(r->hook, sizeof r->hook, "%s", ms_acts_reader_hook(rd));
        snprintf(r->acts, sizeof r->acts, "%s", acts_path);
    }
    ms_sae_codes_free(&c);
    ms_sae_encoder_free(enc);
    free(x); free(xhat); free(count); free(shift); free(sum1); free(sum2);
    ms_acts_reader_close(rd);
    return rc;
}

void ms_sae_eval_result_free(ms_sae_eval_result *r) {
    free(r->density);
    r->density = NULL;
}

// ---------------------------------------------------------------- output

void ms_sae_eval_print(FILE *f, const ms_sae_eval_result *r) {
    fprintf(f, "eval of %s on %lld tokens (%s)\n", r->hook, (long long)r->n_tokens, r->acts);
    fprintf(f, "  mse                 %.6g   (per element)\n", r->mse);
    fprintf(f, "  normalized mse      %.6g   (sum |x - x_hat|^2 / sum |x - mean x|^2)\n", r->nmse);
    fprintf(f, "  explained variance  %.6f\n", r->explained_variance);
    fprintf(f, "  L0                  %.3f\n", r->l0);
    fprintf(f, "  L1                  %.6g\n", r->l1);
    fprintf(f, "  dead latents        %.4f   (never active on these tokens)\n", r->dead_frac);
    fprintf(f, "  dense latents       %.4f > 1%%, %.4f > 10%% of tokens\n", r->dense_frac_1pct, r->dense_frac_10pct);
    fprintf(f, "  shrinkage |x_hat|/|x| %.6f\n", r->shrinkage);
    fprintf(f, "  log10 feature density (live latents), %d bins over [%g, 0]:\n   ", MS_EVAL_HIST_BINS, MS_EVAL_HIST_LO);
    int first = MS_EVAL_HIST_BINS, last = -1;
    for (int b = 0; b < MS_EVAL_HIST_BINS; b++) if (r->hist[b]) { if (b < first) first = b; last = b; }
    int64_t mx = 1;
    for (int b = 0; b < MS_EVAL_HIST_BINS; b++) if (r->hist[b] > mx) mx = r->hist[b];
    for (int b = first; b <= last; b++) {
        double lo = MS_EVAL_HIST_LO + b * (-MS_EVAL_HIST_LO) / MS_EVAL_HIST_BINS;
        int w = (int)(40.0 * r->hist[b] / mx + 0.5);
        fprintf(f, "%s%6.2f %8lld ", b == first ? "" : "   ", lo, (long long)r->hist[b]);
        for (int i = 0; i < w; i++) fputc('#', f);
        fputc('\n', f);
    }
    if (last < 0) fputc('\n', f);
    if (r->have_model) {
        fprintf(f, "  downstream on %lld predicted tokens (%s):\n", (long long)r->ce_tokens, r->model);
        fprintf(f, "    CE clean %.6f, with SAE %.6f, zero-ablated %.6f (zero-ablated - clean = %.6g)\n", r->ce_clean,
                r->ce_splice, r->ce_zero, r->ce_delta);
        fprintf(f, "    CE loss recovered   %.6f", r->ce_recovered);
        if (r->ce_recovered_valid) fputc('\n', f);
        else if (r->ce_delta < 0)
            fprintf(f, "  UNRELIABLE: zero-ablating the site lowers the loss (by %.6g nats/token), so the ratio has no meaning\n",
                    -r->ce_delta);
        else
            fprintf(f, "  UNRELIABLE: zero-ablating the site changes the loss by only %.6g nats/token (< %g): the ratio divides by noise\n",
                    r->ce_delta, MS_EVAL_CE_MIN_DELTA);
        fprintf(f, "    KL(clean||SAE)      %.6g per token (zero-ablated %.6g), KL score %.6f", r->kl_splice, r->kl_zero, r->kl_score);
        if (r->kl_score_valid) fputc('\n', f);
        else fprintf(f, "  UNRELIABLE: KL(clean||zero-ablated) %.6g per token is below %g\n", r->kl_zero, MS_EVAL_CE_MIN_DELTA);
    }
}

static json_object *jnum(double v) {
    if (!isfinite(v)) return NULL; // JSON has no NaN/inf: null
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    return json_object_new_double_s(v, buf);
}

char *ms_sae_eval_json(const ms_sae_eval_result *r) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "acts", json_object_new_string(r->acts));
    json_object_object_add(o, "hook", json_object_new_string(r->hook));
    json_object_object_add(o, "n_tokens", json_object_new_int64(r->n_tokens));
    json_object_object_add(o, "d_in", json_object_new_int(r->d_in));
    json_object_object_add(o, "d_sae", json_object_new_int(r->d_sae));
    json_object_object_add(o, "mse", jnum(r->mse));
    json_object_object_add(o, "nmse", jnum(r->nmse));
    json_object_object_add(o, "explained_variance", jnum(r->explained_variance));
    json_object_object_add(o, "l0", jnum(r->l0));
    json_object_object_add(o, "l1", jnum(r->l1));
    json_object_object_add(o, "dead_frac", jnum(r->dead_frac));
    json_object_object_add(o, "dense_frac_1pct", jnum(r->dense_frac_1pct));
    json_object_object_add(o, "dense_frac_10pct", jnum(r->dense_frac_10pct));
    json_object_object_add(o, "shrinkage", jnum(r->shrinkage));
    json_object *h = json_object_new_object(), *cnt = json_object_new_array();
    json_object_object_add(h, "log10_lo", jnum(MS_EVAL_HIST_LO));
    json_object_object_add(h, "log10_hi", jnum(0));
    for (int b = 0; b < MS_EVAL_HIST_BINS; b++) json_object_array_add(cnt, json_object_new_int64(r->hist[b]));
    json_object_object_add(h, "counts", cnt);
    json_object_object_add(o, "density_hist", h);
    if (r->have_model) {
        json_object *m = json_object_new_object();
        json_object_object_add(m, "model", json_object_new_string(r->model));
        json_object_object_add(m, "tokens", json_object_new_int64(r->ce_tokens));
        json_object_object_add(m, "ce_clean", jnum(r->ce_clean));
        json_object_object_add(m, "ce_splice", jnum(r->ce_splice));
        json_object_object_add(m, "ce_zero_ablate", jnum(r->ce_zero));
        json_object_object_add(m, "ce_recovered", jnum(r->ce_recovered));
        json_object_object_add(m, "kl_splice", jnum(r->kl_splice));
        json_object_object_add(m, "kl_zero_ablate", jnum(r->kl_zero));
        json_object_object_add(m, "kl_score", jnum(r->kl_score));
        json_object_object_add(m, "ce_delta", jnum(r->ce_delta));
        json_object_object_add(m, "ce_min_delta", jnum(MS_EVAL_CE_MIN_DELTA));
        json_object_object_add(m, "ce_recovered_valid", json_object_new_boolean(r->ce_recovered_valid));
        json_object_object_add(m, "kl_score_valid", json_object_new_boolean(r->kl_score_valid));
        json_object_object_add(o, "downstream", m);
    }
    char *out = ms_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return out;
}
