// sae_io.c: the SAE HDF5 file (README "On-disk formats"): datasets, root attributes, /training_log,
// and the /eval group (written by `sae eval`, read by the summary figures).
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io/h5util.h"
#include "sae/eval.h"
#include "sae/match.h"
#include "sae/sae.h"
#include "util/util.h"

static int write_attrs(hid_t loc, const ms_sae_attr *v, int n, int skip_core) {
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const ms_sae_attr *a = &v[i];
        if (skip_core && (!strcmp(a->name, "architecture") || !strcmp(a->name, "d_in") || !strcmp(a->name, "d_sae") ||
                          !strcmp(a->name, "k")))
            continue;
        if (a->type == MS_ATTR_INT) rc |= ms_h5_attr_int(loc, a->name, a->i);
        else if (a->type == MS_ATTR_FLOAT) rc |= ms_h5_attr_float(loc, a->name, a->f);
        else rc |= ms_h5_attr_str(loc, a->name, a->s);
    }
    return rc;
}

// /eval/density_hist: its bin edges, in log10(density), as attributes.
static int write_hist(hid_t g, const int64_t *hist, int64_t n) {
    int rc = ms_h5_write(g, "density_hist", H5T_NATIVE_INT64, 1, &n, hist);
    hid_t ds = H5Dopen2(g, "density_hist", H5P_DEFAULT);
    if (ds < 0) return -1;
    rc |= ms_h5_attr_float(ds, "log10_lo", MS_EVAL_HIST_LO);
    rc |= ms_h5_attr_float(ds, "log10_hi", 0.0);
    H5Dclose(ds);
    return rc;
}

// The carried /eval group (ms_sae.eval), as it was read.
static int write_eval_group(hid_t f, const ms_sae *s) {
    const ms_sae_eval_group *e = s->eval;
    hid_t g = H5Gcreate2(f, "eval", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    int rc = write_attrs(g, e->attrs, e->n_attrs, 0);
    int64_t S = s->d_sae;
    if (e->density) rc |= ms_h5_write(g, "feature_density", H5T_NATIVE_DOUBLE, 1, &S, e->density);
    if (e->hist) rc |= write_hist(g, e->hist, e->n_hist);
    H5Gclose(g);
    return rc;
}

int ms_sae_save(const ms_sae *s, const char *path) {
    ms_h5_atomic out;
    if (ms_h5_atomic_begin(&out, path)) return -1;
    const hid_t f = out.f;
    const int64_t d = s->d_in, S = s->d_sae;
    int64_t enc_shape[2] = {d, S}, dec_shape[2] = {S, d};
    int rc = 0;
    rc |= ms_h5_write(f, "W_enc", H5T_NATIVE_FLOAT, 2, enc_shape, s->W_enc);
    rc |= ms_h5_write(f, "W_dec", H5T_NATIVE_FLOAT, 2, dec_shape, s->W_dec);
    rc |= ms_h5_write(f, "b_enc", H5T_NATIVE_FLOAT, 1, &S, s->b_enc);
    rc |= ms_h5_write(f, "b_dec", H5T_NATIVE_FLOAT, 1, &d, s->b_dec);
    if (ms_sae_arch_has_threshold(s->arch) && s->threshold)
        rc |= ms_h5_write(f, "threshold", H5T_NATIVE_FLOAT, 1, &S, s->threshold);
    rc |= ms_h5_attr_str(f, "architecture", ms_sae_arch_name(s->arch));
    rc |= ms_h5_attr_int(f, "d_in", s->d_in);
    rc |= ms_h5_attr_int(f, "d_sae", s->d_sae);
    rc |= ms_h5_attr_int(f, "k", s->k);
    if (!ms_sae_attr_get(s, "monoscope_version")) rc |= ms_h5_attr_str(f, "monoscope_version", MS_VERSION);
    rc |= write_attrs(f, s->attrs, s->n_attrs, 1);
    if (s->log && s->log_cols > 0) {
        int64_t shape[2] = {s->log_rows, s->log_cols};
        rc |= ms_h5_write(f, "training_log", H5T_NATIVE_DOUBLE, 2, shape, s->log);
        hid_t ds = H5Dopen2(f, "training_log", H5P_DEFAULT);
        if (ds >= 0) {
            rc |= ms_h5_attr_strs(ds, "columns", (const char *const *)s->log_columns, s->log_cols);
            H5Dclose(ds);
        } else rc = -1;
    }
    if (s->eval) rc |= write_eval_group(f, s);
    return ms_h5_atomic_end(&out, !rc);
}

typedef struct { ms_sae_attr **v; int *n; int skip_core; } attr_list;

// Attribute -> an entry of the list (scalar integers, floats and strings; others are skipped).
static herr_t read_attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *op) {
    (void)info;
    const attr_list *l = op;
    if (l->skip_core && (!strcmp(name, "architecture") || !strcmp(name, "d_in") || !strcmp(name, "d_sae") || !strcmp(name, "k")))
        return 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return 0;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    H5T_class_t cls = H5Tget_class(t);
    int64_t np = ms_h5_npoints(sp);
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    if (np != 1) return 0; // arrays are not ms_sae attributes: skipped, not an error
    if (cls == H5T_INTEGER) {
        int64_t v;
        if (ms_h5_get_attr_i64(loc, name, MS_H5_REQUIRED, &v) == 0) ms_sae_attr_set_int(ms_sae_attr_slot(l->v, l->n, name), v);
    } else if (cls == H5T_FLOAT) {
        double v;
        if (ms_h5_get_attr_f64(loc, name, MS_H5_REQUIRED, &v) == 0) ms_sae_attr_set_float(ms_sae_attr_slot(l->v, l->n, name), v);
    } else if (cls == H5T_STRING) {
        char *v = NULL;
        if (ms_h5_get_attr_str(loc, name, MS_H5_REQUIRED, &v) == 0) ms_sae_attr_set_str(ms_sae_attr_slot(l->v, l->n, name), v);
        free(v);
    }
    ms_clear_error(); // an unreadable attribute is skipped, as before
    return 0;
}

// /eval, whole, into s->eval (absent or unreadable parts are left out: the metrics reader,
// ms_sae_eval_read, is the one that judges them).
static void read_eval_group(hid_t f, ms_sae *s) {
    if (H5Lexists(f, "eval", H5P_DEFAULT) <= 0) return;
    hid_t g = H5Gopen2(f, "eval", H5P_DEFAULT);
    if (g < 0) return;
    ms_sae_eval_group *e = ms_calloc(1, sizeof *e);
    attr_list l = {&e->attrs, &e->n_attrs, 0};
    hsize_t idx = 0;
    H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, read_attr_cb, &l);
    int64_t dims[8];
    if (ms_h5_shape(g, "feature_density", dims) == 1 && dims[0] == s->d_sae) {
        e->density = ms_malloc((size_t)s->d_sae * sizeof(double));
        if (ms_h5_read(g, "", "feature_density", H5T_NATIVE_DOUBLE, 1, dims, e->density) < 0) { free(e->density); e->density = NULL; }
    }
    if (ms_h5_shape(g, "density_hist", dims) == 1 && dims[0] > 0 && dims[0] <= 4096) {
        e->hist = ms_malloc((size_t)dims[0] * sizeof(int64_t));
        e->n_hist = (int)dims[0];
        if (ms_h5_read(g, "", "density_hist", H5T_NATIVE_INT64, 1, dims, e->hist) < 0) { free(e->hist); e->hist = NULL; e->n_hist = 0; }
    }
    ms_clear_error();
    H5Gclose(g);
    ms_sae_set_eval(s, e);
}

// A log has a few named columns (step, losses, L0, ...); the cap keeps an empty log that declares
// 2^30 columns from allocating their names (storage checks pass at 0 rows).
#define MS_SAE_LOG_MAX_COLS 4096

static void read_log(hid_t f, ms_sae *s) {
    int64_t dims[8];
    if (ms_h5_shape(f, "training_log", dims) != 2 || dims[1] <= 0 || dims[0] < 0 || dims[0] > INT32_MAX ||
        dims[1] > MS_SAE_LOG_MAX_COLS || ms_h5_check_storage(f, "", "training_log")) {
        ms_clear_error(); // an unreadable log is left out, as before
        return;
    }
    int rows = (int)dims[0], cols = (int)dims[1];
    double *log = ms_malloc((size_t)rows * cols * sizeof(double) + 8);
    if (ms_h5_read(f, "", "training_log", H5T_NATIVE_DOUBLE, 2, dims, log) < 0) { free(log); ms_clear_error(); return; }
    char **names = ms_calloc((size_t)cols, sizeof(char *));
    hid_t ds = H5Dopen2(f, "training_log", H5P_DEFAULT);
    char **v = NULL;
    if (ms_h5_get_attr_strs(ds, "columns", cols, &v) == 0) {
        for (int i = 0; i < cols; i++) names[i] = v[i];
        free(v);
    }
    ms_clear_error(); // unnamed columns get col<i> below
    H5Dclose(ds);
    char buf[32];
    for (int i = 0; i < cols; i++)
        if (!names[i]) { snprintf(buf, sizeof buf, "col%d", i); names[i] = ms_strdup(buf); }
    ms_sae_set_log(s, log, rows, cols, (const char *const *)names);
    for (int i = 0; i < cols; i++) free(names[i]);
    free(names);
    free(log);
}

// What a load reads after the weights: the file's attributes, the training log and /eval.
static void read_metadata(hid_t f, ms_sae *s) {
    hsize_t idx = 0;
    attr_list l = {&s->attrs, &s->n_attrs, 1};
    H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_INC, &idx, read_attr_cb, &l);
    read_log(f, s);
    read_eval_group(f, s);
}

// ms_h5_open's rehearsal in its child: the load's metadata reads, in the load's order, into a 1 x 1
// dictionary (the weights are plain float datasets the walk already sampled; reading them twice
// would double a large dictionary's memory for nothing).
static void rehearse_load(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    ms_sae *s = ms_sae_new(MS_SAE_RELU, 1, 1, 0);
    free(ms_h5_read_attr_str(f, "architecture"));
    read_metadata(f, s);
    ms_sae_free(s);
    H5Fclose(f);
}

ms_sae *ms_sae_load(const char *path) {
    ms_h5_quiet();
    if (!ms_file_exists(path)) { ms_error("%s: no such file", path); return NULL; }
    hid_t f = ms_h5_open_rehearsed(path, H5F_ACC_RDONLY, "not an HDF5 file", rehearse_load);
    if (f < 0) return NULL;
    int64_t de[8], dd[8];
    int ne = ms_h5_shape(f, "W_enc", de), nd = ms_h5_shape(f, "W_dec", dd);
    if (ne != 2 || nd != 2) { ms_error("%s: not an SAE file (W_enc/W_dec missing or not 2-D)", path); H5Fclose(f); return NULL; }
    if (de[0] != dd[1] || de[1] != dd[0] || de[0] <= 0 || de[1] <= 0) {
        ms_error("%s: W_enc [%lld,%lld] and W_dec [%lld,%lld] do not match", path, (long long)de[0],
                 (long long)de[1], (long long)dd[0], (long long)dd[1]);
        H5Fclose(f); return NULL;
    }
    if (de[0] > INT32_MAX || de[1] > INT32_MAX) {
        ms_error("%s: W_enc [%lld,%lld]: d_in and d_sae must be below 2^31", path, (long long)de[0], (long long)de[1]);
        H5Fclose(f); return NULL;
    }
    // the weights are allocated from these dims: they must be backed by the file
    if (ms_h5_check_storage(f, path, "W_enc") || ms_h5_check_storage(f, path, "W_dec")) { H5Fclose(f); return NULL; }
    char *arch_s = ms_h5_read_attr_str(f, "architecture");
    ms_sae_arch arch;
    if (!arch_s) { ms_error("%s: missing 'architecture' attribute", path); H5Fclose(f); return NULL; }
    if (ms_sae_arch_parse(arch_s, &arch) < 0) {
        ms_error("%s: unknown architecture '%s'", path, arch_s);
        free(arch_s); H5Fclose(f); return NULL;
    }
    free(arch_s);
    int64_t k = 0;
    if (ms_h5_get_attr_i64(f, "k", MS_H5_OPTIONAL, &k) < 0) { H5Fclose(f); return NULL; }
    if ((arch == MS_SAE_TOPK || arch == MS_SAE_BATCHTOPK) && (k <= 0 || k > de[1])) {
        ms_error("%s: architecture %s needs 1 <= k <= d_sae, got k=%lld", path, ms_sae_arch_name(arch), (long long)k);
        H5Fclose(f); return NULL;
    }
    ms_sae *s = ms_sae_new(arch, (int)de[0], (int)de[1], (int)k);
    int64_t S = s->d_sae, d = s->d_in;
    if (ms_h5_read(f, path, "W_enc", H5T_NATIVE_FLOAT, 2, de, s->W_enc) < 0 ||
        ms_h5_read(f, path, "W_dec", H5T_NATIVE_FLOAT, 2, dd, s->W_dec) < 0 ||
        ms_h5_read(f, path, "b_enc", H5T_NATIVE_FLOAT, 1, &S, s->b_enc) < 0 ||
        ms_h5_read(f, path, "b_dec", H5T_NATIVE_FLOAT, 1, &d, s->b_dec) < 0 ||
        (s->threshold && ms_h5_read(f, path, "threshold", H5T_NATIVE_FLOAT, 1, &S, s->threshold) < 0)) {
        ms_sae_free(s); H5Fclose(f); return NULL;
    }
    read_metadata(f, s);
    H5Fclose(f);
    return s;
}

// ---- /eval

static int copy_file(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb");
    if (!in) { ms_error("%s: cannot read: %s", src, strerror(errno)); return -1; }
    FILE *out = fopen(dst, "wb");
    if (!out) { ms_error("%s: cannot write: %s", dst, strerror(errno)); fclose(in); return -1; }
    char *buf = ms_malloc(1 << 20);
    size_t k;
    int ok = 1;
    while (ok && (k = fread(buf, 1, 1 << 20, in)) > 0) ok = fwrite(buf, 1, k, out) == k;
    if (ferror(in)) ok = 0;
    free(buf);
    fclose(in);
    if (fclose(out) != 0) ok = 0;
    if (!ok) ms_error("%s: copy failed: %s", dst, strerror(errno));
    return ok ? 0 : -1;
}

// Replaces group `name` of the SAE file (created by fill) without touching the rest: the file is
// copied, the copy changed and renamed over the original, so a crash leaves the old or the new file.
static int replace_group(const char *sae_path, const char *name, int (*fill)(hid_t g, const void *ctx), const void *ctx) {
    ms_h5_quiet();
    char *tmp = ms_atomic_tmp_path(sae_path);
    if (copy_file(sae_path, tmp)) { unlink(tmp); free(tmp); return -1; }
    hid_t f = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) { ms_error("%s: cannot open for writing", sae_path); unlink(tmp); free(tmp); return -1; }
    if (H5Lexists(f, name, H5P_DEFAULT) > 0) H5Ldelete(f, name, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = g < 0 ? -1 : fill(g, ctx);
    if (g >= 0) H5Gclose(g);
    if (H5Fclose(f) < 0) rc = -1;
    if (rc) { ms_error("%s: cannot write /%s", sae_path, name); unlink(tmp); free(tmp); return -1; }
    rc = ms_atomic_commit(tmp, sae_path);
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

static int fill_eval(hid_t g, const void *ctx) {
    const ms_sae_eval_result *r = ctx;
    int rc = 0;
    rc |= ms_h5_attr_str(g, "acts", r->acts);
    rc |= ms_h5_attr_str(g, "hook", r->hook);
    rc |= ms_h5_attr_int(g, "n_tokens", r->n_tokens);
    rc |= ms_h5_attr_float(g, "mse", r->mse);
    rc |= ms_h5_attr_float(g, "nmse", r->nmse);
    rc |= ms_h5_attr_float(g, "explained_variance", r->explained_variance);
    rc |= ms_h5_attr_float(g, "l0", r->l0);
    rc |= ms_h5_attr_float(g, "l1", r->l1);
    rc |= ms_h5_attr_float(g, "dead_frac", r->dead_frac);
    rc |= ms_h5_attr_float(g, "dense_frac_1pct", r->dense_frac_1pct);
    rc |= ms_h5_attr_float(g, "dense_frac_10pct", r->dense_frac_10pct);
    rc |= ms_h5_attr_float(g, "shrinkage", r->shrinkage);
    rc |= ms_h5_attr_str(g, "definitions",
                         "mse = sum|x-x_hat|^2/(N*d_in); nmse = sum|x-x_hat|^2/sum|x-mean(x)|^2; explained_variance = 1-nmse; "
                         "l0/l1 = mean per token; density = fraction of tokens a latent is non-zero; shrinkage = mean |x_hat|/|x|; "
                         "ce_recovered = (CE_zero-CE_splice)/(CE_zero-CE_clean); kl = mean per token KL(clean||other); "
                         "kl_score = (kl_zero-kl_splice)/kl_zero; ce_delta = CE_zero-CE_clean; "
                         "ce_recovered_valid = ce_delta >= ce_min_delta; kl_score_valid = kl_zero >= ce_min_delta");
    rc |= ms_h5_attr_str(g, "monoscope_version", MS_VERSION);
    rc |= ms_h5_attr_str(g, "command", ms_command_line());
    if (r->have_model) {
        rc |= ms_h5_attr_str(g, "model", r->model);
        rc |= ms_h5_attr_int(g, "ce_tokens", r->ce_tokens);
        rc |= ms_h5_attr_float(g, "ce_clean", r->ce_clean);
        rc |= ms_h5_attr_float(g, "ce_splice", r->ce_splice);
        rc |= ms_h5_attr_float(g, "ce_zero_ablate", r->ce_zero);
        rc |= ms_h5_attr_float(g, "ce_recovered", r->ce_recovered);
        rc |= ms_h5_attr_float(g, "kl_splice", r->kl_splice);
        rc |= ms_h5_attr_float(g, "kl_zero_ablate", r->kl_zero);
        rc |= ms_h5_attr_float(g, "kl_score", r->kl_score);
        rc |= ms_h5_attr_float(g, "ce_delta", r->ce_delta);
        rc |= ms_h5_attr_float(g, "ce_min_delta", MS_EVAL_CE_MIN_DELTA);
        rc |= ms_h5_attr_int(g, "ce_recovered_valid", r->ce_recovered_valid);
        rc |= ms_h5_attr_int(g, "kl_score_valid", r->kl_score_valid);
    }
    int64_t S = r->d_sae;
    rc |= ms_h5_write(g, "feature_density", H5T_NATIVE_DOUBLE, 1, &S, r->density);
    rc |= write_hist(g, r->hist, MS_EVAL_HIST_BINS);
    return rc;
}

int ms_sae_eval_store(const char *sae_path, const ms_sae_eval_result *r) { return replace_group(sae_path, "eval", fill_eval, r); }

// ---- /match (sae/match.h)

static char *eval_str(hid_t g, const char *name, char *out, size_t n, int *rc);

static int fill_match(hid_t g, const void *ctx) {
    const ms_sae_match_result *r = ctx;
    const int C = r->n_concepts, K = r->top;
    int rc = 0;
    const char **names = ms_malloc((size_t)(C > 0 ? C : 1) * sizeof(char *));
    for (int k = 0; k < C; k++) names[k] = r->c[k].concept;
    rc |= ms_h5_attr_strs(g, "concepts", names, C);
    free(names);
    rc |= ms_h5_attr_str(g, "acts", r->acts);
    rc |= ms_h5_attr_str(g, "labels", r->labels);
    rc |= ms_h5_attr_str(g, "hook", r->hook);
    rc |= ms_h5_attr_str(g, "probe", r->probe);
    rc |= ms_h5_attr_str(g, "split", r->split);
    rc |= ms_h5_attr_int(g, "n_train_tokens", r->n_train);
    rc |= ms_h5_attr_int(g, "n_test_tokens", r->n_test);
    rc |= ms_h5_attr_int(g, "top", K);
    rc |= ms_h5_attr_str(g, "command", ms_command_line());
    const size_t CK = (size_t)C * K;
    int32_t *feat = ms_malloc((CK ? CK : 1) * sizeof(int32_t));
    double *v = ms_malloc((CK ? CK : 1) * 6 * sizeof(double)), *pf = ms_malloc((size_t)(C ? C : 1) * sizeof(double));
    int64_t *npos = ms_malloc((size_t)(C ? C : 1) * sizeof(int64_t));
    for (int k = 0; k < C; k++) {
        pf[k] = r->c[k].probe_f1;
        npos[k] = r->c[k].n_pos;
        for (int j = 0; j < K; j++) {
            const ms_match_feature *m = &r->c[k].best[j];
            size_t i = (size_t)k * K + j;
            feat[i] = m->feature;
            v[i] = m->f1; v[CK + i] = m->precision; v[2 * CK + i] = m->recall; v[3 * CK + i] = m->auc;
            v[4 * CK + i] = m->threshold; v[5 * CK + i] = m->train_f1;
        }
    }
    int64_t shape[2] = {C, K}, c1 = C;
    static const char *fields[6] = {"f1", "precision", "recall", "auc", "threshold", "train_f1"};
    rc |= ms_h5_write(g, "feature", H5T_NATIVE_INT32, 2, shape, feat);
    for (int q = 0; q < 6; q++) rc |= ms_h5_write(g, fields[q], H5T_NATIVE_DOUBLE, 2, shape, v + q * CK);
    rc |= ms_h5_write(g, "n_pos", H5T_NATIVE_INT64, 1, &c1, npos);
    rc |= ms_h5_write(g, "probe_f1", H5T_NATIVE_DOUBLE, 1, &c1, pf);
    free(feat); free(v); free(pf); free(npos);
    return rc;
}

int ms_sae_match_store(const char *sae_path, const ms_sae_match_result *r) {
    return replace_group(sae_path, "match", fill_match, r);
}

// /match of the open file f into r (see ms_sae_match_read); f stays open.
static int match_read_file(hid_t f, const char *sae_path, ms_sae_match_result *r) {
    memset(r, 0, sizeof *r);
    if (H5Lexists(f, "match", H5P_DEFAULT) <= 0) return 0;
    hid_t g = H5Gopen2(f, "match", H5P_DEFAULT);
    int64_t dims[8], C = 0, K = 0;
    int rc = g < 0 || ms_h5_shape(g, "feature", dims) != 2 ? -1 : 0;
    if (!rc) { C = dims[0]; K = dims[1]; }
    if (!rc && (C < 0 || C > 100000 || K < 1 || K > 4096)) rc = -1;
    char **names = NULL;
    if (!rc && ms_h5_get_attr_strs(g, "concepts", (int)C, &names) != 0) rc = -1;
    if (!rc) {
        const size_t CK = (size_t)C * K;
        int32_t *feat = ms_malloc(CK * sizeof(int32_t) + 1);
        double *v = ms_malloc(CK * 6 * sizeof(double) + 1), *pf = ms_malloc((size_t)C * sizeof(double) + 1);
        int64_t *npos = ms_malloc((size_t)C * sizeof(int64_t) + 1), shape[2] = {C, K};
        static const char *fields[6] = {"f1", "precision", "recall", "auc", "threshold", "train_f1"};
        rc |= ms_h5_read(g, sae_path, "feature", H5T_NATIVE_INT32, 2, shape, feat) < 0;
        for (int q = 0; q < 6 && !rc; q++) rc |= ms_h5_read(g, sae_path, fields[q], H5T_NATIVE_DOUBLE, 2, shape, v + q * CK) < 0;
        if (!rc) rc |= ms_h5_read(g, sae_path, "n_pos", H5T_NATIVE_INT64, 1, &C, npos) < 0;
        if (!rc) rc |= ms_h5_read(g, sae_path, "probe_f1", H5T_NATIVE_DOUBLE, 1, &C, pf) < 0;
        if (!rc) {
            r->n_concepts = (int)C;
            r->top = (int)K;
            r->c = ms_calloc((size_t)(C ? C : 1), sizeof *r->c);
            for (int k = 0; k < C; k++) {
                ms_match_concept *mc = &r->c[k];
                mc->concept = names[k];
                names[k] = NULL;
                mc->n_pos = npos[k];
                mc->probe_f1 = pf[k];
                mc->best = ms_calloc((size_t)K, sizeof *mc->best);
                for (int j = 0; j < K; j++) {
                    size_t i = (size_t)k * K + j;
                    mc->best[j] = (ms_match_feature){feat[i], v[i], v[CK + i], v[2 * CK + i], v[3 * CK + i], v[4 * CK + i], v[5 * CK + i]};
                }
            }
            ms_h5_get_attr_i64(g, "n_train_tokens", MS_H5_OPTIONAL, &r->n_train);
            ms_h5_get_attr_i64(g, "n_test_tokens", MS_H5_OPTIONAL, &r->n_test);
            eval_str(g, "hook", r->hook, sizeof r->hook, &rc);
            eval_str(g, "acts", r->acts, sizeof r->acts, &rc);
            eval_str(g, "labels", r->labels, sizeof r->labels, &rc);
            eval_str(g, "probe", r->probe, sizeof r->probe, &rc);
            eval_str(g, "split", r->split, sizeof r->split, &rc);
        }
        free(feat); free(v); free(pf); free(npos);
    }
    for (int k = 0; names && k < C; k++) free(names[k]);
    free(names);
    if (g >= 0) H5Gclose(g);
    if (rc) {
        if (!strstr(ms_last_error(), sae_path)) ms_error("%s: /match is damaged", sae_path);
        ms_sae_match_result_free(r);
        return -1;
    }
    return 1;
}

// ms_h5_open's rehearsal in its child: these reads in this order, as for /eval (rehearse_eval_read).
static void rehearse_match_read(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    ms_sae_match_result r;
    if (match_read_file(f, path, &r) > 0) ms_sae_match_result_free(&r);
    H5Fclose(f);
}

int ms_sae_match_read(const char *sae_path, ms_sae_match_result *r) {
    ms_h5_quiet();
    memset(r, 0, sizeof *r);
    hid_t f = ms_h5_open_rehearsed(sae_path, H5F_ACC_RDONLY, "cannot open as HDF5", rehearse_match_read);
    if (f < 0) return -1;
    const int rc = match_read_file(f, sae_path, r);
    H5Fclose(f);
    return rc;
}

// Reads a double attribute of /eval that may be absent (left as is); -1 only when present but not one number.
static int eval_num(hid_t g, const char *name, double *v, int *present) {
    int rc = ms_h5_get_attr_f64(g, name, MS_H5_OPTIONAL, v);
    if (present) *present = rc == 0;
    return rc < 0 ? -1 : 0;
}

static char *eval_str(hid_t g, const char *name, char *out, size_t n, int *rc) {
    char *v = NULL;
    int got = ms_h5_get_attr_str(g, name, MS_H5_OPTIONAL, &v);
    if (got < 0) *rc = -1;
    if (got == 0) snprintf(out, n, "%s", v);
    free(v);
    return out;
}

// /eval of the open file f into r (see ms_sae_eval_read); f stays open.
static int eval_read_file(hid_t f, const char *sae_path, int d_sae, ms_sae_eval_result *r) {
    memset(r, 0, sizeof *r);
    r->d_sae = d_sae;
    if (H5Lexists(f, "eval", H5P_DEFAULT) <= 0) return 0;
    hid_t g = H5Gopen2(f, "eval", H5P_DEFAULT);
    if (g < 0) { ms_error("%s: /eval is not a group", sae_path); return -1; }
    int rc = 0, have_l0 = 0, have_ev = 0;
    rc |= eval_num(g, "l0", &r->l0, &have_l0);
    rc |= eval_num(g, "explained_variance", &r->explained_variance, &have_ev);
    struct { const char *name; double *v; } opt[] = {
        {"mse", &r->mse}, {"nmse", &r->nmse}, {"l1", &r->l1}, {"dead_frac", &r->dead_frac},
        {"dense_frac_1pct", &r->dense_frac_1pct}, {"dense_frac_10pct", &r->dense_frac_10pct}, {"shrinkage", &r->shrinkage},
        {"ce_splice", &r->ce_splice}, {"kl_splice", &r->kl_splice}, {"kl_score", &r->kl_score}};
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++) rc |= eval_num(g, opt[i].name, opt[i].v, NULL);
    int have_clean = 0, have_zero = 0, have_kl_zero = 0; // the denominators, for files written before the flags
    rc |= eval_num(g, "ce_clean", &r->ce_clean, &have_clean);
    rc |= eval_num(g, "ce_zero_ablate", &r->ce_zero, &have_zero);
    rc |= eval_num(g, "kl_zero_ablate", &r->kl_zero, &have_kl_zero);
    rc |= eval_num(g, "ce_recovered", &r->ce_recovered, &r->have_model);
    if (ms_h5_get_attr_i64(g, "n_tokens", MS_H5_OPTIONAL, &r->n_tokens) < 0) rc = -1;
    if (ms_h5_get_attr_i64(g, "ce_tokens", MS_H5_OPTIONAL, &r->ce_tokens) < 0) rc = -1;
    // Files written before the rule lack the flags: judge by the stored losses, or, without them,
    // keep the score (nothing to judge it by, as before the rule).
    if (r->have_model) ms_sae_eval_check_downstream(r);
    if (r->have_model && !(have_clean && have_zero)) r->ce_recovered_valid = 1;
    if (r->have_model && !have_kl_zero) r->kl_score_valid = 1;
    int64_t ce_valid, kl_valid;
    int got_ce = ms_h5_get_attr_i64(g, "ce_recovered_valid", MS_H5_OPTIONAL, &ce_valid);
    int got_kl = ms_h5_get_attr_i64(g, "kl_score_valid", MS_H5_OPTIONAL, &kl_valid);
    if (got_ce < 0 || got_kl < 0) rc = -1;
    if (got_ce == 0) r->ce_recovered_valid = ce_valid != 0; // as judged when written
    if (got_kl == 0) r->kl_score_valid = kl_valid != 0;
    eval_str(g, "hook", r->hook, sizeof r->hook, &rc);
    eval_str(g, "acts", r->acts, sizeof r->acts, &rc);
    eval_str(g, "model", r->model, sizeof r->model, &rc);
    int64_t dims[8];
    if (!rc && ms_h5_shape(g, "feature_density", dims) == 1 && dims[0] == d_sae && d_sae > 0) {
        r->density = ms_malloc((size_t)d_sae * sizeof *r->density);
        if (ms_h5_read(g, sae_path, "feature_density", H5T_NATIVE_DOUBLE, 1, dims, r->density) < 0) rc = -1;
    }
    int64_t nb = MS_EVAL_HIST_BINS;
    if (!rc && ms_h5_shape(g, "density_hist", dims) == 1 && dims[0] == nb)
        rc |= ms_h5_read(g, sae_path, "density_hist", H5T_NATIVE_INT64, 1, &nb, r->hist);
    H5Gclose(g);
    if (rc) { ms_sae_eval_result_free(r); return -1; }
    return have_l0 && have_ev ? 1 : 0;
}

// ms_h5_open's rehearsal in its child: these reads, in this order (a corrupt global heap under a
// string attribute of /eval crashed libhdf5 here after the generic walk had read the same attributes
// without harm: sae_h5's crash-46eccad3 and ten more of 2026-12-06). d_sae 0: the feature density,
// a plain dataset the walk sampled, is left out.
static void rehearse_eval_read(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    ms_sae_eval_result r;
    eval_read_file(f, path, 0, &r);
    ms_sae_eval_result_free(&r);
    H5Fclose(f);
}

int ms_sae_eval_read(const char *sae_path, int d_sae, ms_sae_eval_result *r) {
    ms_h5_quiet();
    memset(r, 0, sizeof *r);
    hid_t f = ms_h5_open_rehearsed(sae_path, H5F_ACC_RDONLY, "cannot open as HDF5", rehearse_eval_read);
    if (f < 0) return -1;
    const int rc = eval_read_file(f, sae_path, d_sae, r);
    H5Fclose(f);
    return rc;
}
