// acts_h5.c: see acts_h5.h.
#include "viz/acts_h5.h"
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "io/h5util.h"
#include "util/util.h"

struct ms_acts_file {
    char *path;
    hid_t f, ds, tok;
    int64_t n_seq;
    int ctx, d, ndim, elsize;
    char hook[256];
    char model[256];
};

static int list_hooks(hid_t f, char names[][256], int max) {
    if (H5Lexists(f, "acts", H5P_DEFAULT) <= 0) return -1;
    hid_t g = H5Gopen2(f, "acts", H5P_DEFAULT);
    if (g < 0) return -1;
    H5G_info_t info;
    H5Gget_info(g, &info);
    int n = 0;
    for (hsize_t i = 0; i < info.nlinks && n < max; i++) {
        if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, names[n], 256, H5P_DEFAULT) > 0) n++;
    }
    H5Gclose(g);
    return n;
}

static void read_str_attr(hid_t f, const char *name, char *out, size_t outsz) {
    char *v = ms_h5_read_attr_str(f, name);
    snprintf(out, outsz, "%s", v ? v : "");
    free(v);
}

ms_acts_file *ms_acts_file_open(const char *path, const char *hook) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) { ms_error("%s: cannot open as HDF5", path); return NULL; }
    ms_acts_file *a = ms_calloc(1, sizeof *a);
    a->path = ms_strdup(path);
    a->f = f;
    a->ds = a->tok = -1;
    static char names[64][256];
    int n = list_hooks(f, names, 64);
    if (n <= 0) { ms_error("%s: no /acts datasets (not an activations file)", path); goto fail; }
    if (hook && *hook) {
        int found = 0;
        for (int i = 0; i < n; i++) found |= !strcmp(names[i], hook);
        if (!found) {
            char list[1024] = "";
            for (int i = 0; i < n && strlen(list) < 900; i++) { strcat(list, i ? ", " : ""); strncat(list, names[i], 100); }
            ms_error("%s: no /acts/%s (the file has: %s)", path, hook, list);
            goto fail;
        }
        snprintf(a->hook, sizeof a->hook, "%s", hook);
    } else if (n == 1) {
        snprintf(a->hook, sizeof a->hook, "%s", names[0]);
    } else {
        ms_error("%s: holds %d hook sites; name one (the SAE's 'hook' attribute is missing)", path, n);
        goto fail;
    }
    char dpath[300];
    snprintf(dpath, sizeof dpath, "acts/%s", a->hook);
    a->ds = H5Dopen2(f, dpath, H5P_DEFAULT);
    if (a->ds < 0) { ms_error("%s: cannot open /%s", path, dpath); goto fail; }
    hid_t sp = H5Dget_space(a->ds);
    hsize_t dims[8];
    a->ndim = H5Sget_simple_extent_ndims(sp);
    if (a->ndim < 2 || a->ndim > 8) { H5Sclose(sp); ms_error("%s: /%s is not [n_seq, ctx, ...]", path, dpath); goto fail; }
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    a->n_seq = (int64_t)dims[0];
    a->ctx = (int)dims[1];
    a->d = 1;
    for (int i = 2; i < a->ndim; i++) a->d *= (int)dims[i];
    hid_t t = H5Dget_type(a->ds);
    a->elsize = (int)H5Tget_size(t);
    int fl = H5Tget_class(t) == H5T_FLOAT;
    H5Tclose(t);
    if (!fl || (a->elsize != 2 && a->elsize != 4 && a->elsize != 8)) { ms_error("%s: /%s is not float16/32/64", path, dpath); goto fail; }
    if (H5Aexists(f, "n_seq") > 0) { // complete rows of a resumable capture
        hid_t at = H5Aopen(f, "n_seq", H5P_DEFAULT);
        int64_t v = 0;
        if (H5Aread(at, H5T_NATIVE_INT64, &v) >= 0 && v >= 0 && v < a->n_seq) a->n_seq = v;
        H5Aclose(at);
    }
    read_str_attr(f, "model", a->model, sizeof a->model);
    if (H5Lexists(f, "tokens", H5P_DEFAULT) > 0) a->tok = H5Dopen2(f, "tokens", H5P_DEFAULT);
    return a;
fail:
    ms_acts_file_close(a);
    return NULL;
}

void ms_acts_file_close(ms_acts_file *a) {
    if (!a) return;
    if (a->tok >= 0) H5Dclose(a->tok);
    if (a->ds >= 0) H5Dclose(a->ds);
    H5Fclose(a->f);
    free(a->path);
    free(a);
}

int64_t ms_acts_file_n_seq(const ms_acts_file *a) { return a->n_seq; }
int ms_acts_file_ctx(const ms_acts_file *a) { return a->ctx; }
int ms_acts_file_d(const ms_acts_file *a) { return a->d; }
const char *ms_acts_file_hook(const ms_acts_file *a) { return a->hook; }
const char *ms_acts_file_model(const ms_acts_file *a) { return a->model; }
int ms_acts_file_has_tokens(const ms_acts_file *a) { return a->tok >= 0; }

static float half_to_float(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v;
    if (e == 0) v = ldexpf((float)m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = ldexpf((float)(m | 1024), e - 25);
    return s ? -v : v;
}

int ms_acts_file_read(ms_acts_file *a, int64_t s0, int64_t n, float *x, int32_t *ids) {
    if (s0 < 0 || n <= 0 || s0 + n > a->n_seq) { ms_error("%s: sequences %lld..%lld out of range (0..%lld)", a->path,
                                                          (long long)s0, (long long)(s0 + n - 1), (long long)a->n_seq - 1); return -1; }
    hsize_t start[8] = {0}, count[8];
    hid_t sp = H5Dget_space(a->ds);
    H5Sget_simple_extent_dims(sp, count, NULL);
    start[0] = (hsize_t)s0;
    count[0] = (hsize_t)n;
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(a->ndim, count, NULL);
    size_t total = (size_t)n * a->ctx * a->d;
    herr_t rc;
    if (a->elsize == 2) { // HDF5 1.10 has no native half: read the raw values and convert
        uint16_t *h = ms_malloc(total * sizeof *h);
        hid_t ft = H5Dget_type(a->ds);
        rc = H5Dread(a->ds, ft, ms, sp, H5P_DEFAULT, h);
        H5Tclose(ft);
        for (size_t i = 0; i < total; i++) x[i] = half_to_float(h[i]);
        free(h);
    } else {
        rc = H5Dread(a->ds, H5T_NATIVE_FLOAT, ms, sp, H5P_DEFAULT, x);
    }
    H5Sclose(ms);
    H5Sclose(sp);
    if (rc < 0) { ms_error("%s: cannot read /acts/%s", a->path, a->hook); return -1; }
    if (ids) {
        if (a->tok < 0) { memset(ids, 0, (size_t)n * a->ctx * sizeof *ids); return 0; }
        hid_t tsp = H5Dget_space(a->tok);
        hsize_t td[2], ts[2] = {(hsize_t)s0, 0}, tc[2];
        if (H5Sget_simple_extent_ndims(tsp) != 2) { H5Sclose(tsp); ms_error("%s: /tokens is not [n_seq, ctx]", a->path); return -1; }
        H5Sget_simple_extent_dims(tsp, td, NULL);
        if (td[1] != (hsize_t)a->ctx || td[0] < (hsize_t)(s0 + n)) { H5Sclose(tsp); ms_error("%s: /tokens shape does not match /acts", a->path); return -1; }
        tc[0] = (hsize_t)n; tc[1] = td[1];
        H5Sselect_hyperslab(tsp, H5S_SELECT_SET, ts, NULL, tc, NULL);
        hid_t tms = H5Screate_simple(2, tc, NULL);
        rc = H5Dread(a->tok, H5T_NATIVE_INT32, tms, tsp, H5P_DEFAULT, ids);
        H5Sclose(tms);
        H5Sclose(tsp);
        if (rc < 0) { ms_error("%s: cannot read /tokens", a->path); return -1; }
    }
    return 0;
}

char **ms_acts_file_vocab(ms_acts_file *a, size_t **lens, int *n_vocab) {
    *n_vocab = 0;
    *lens = NULL;
    if (H5Lexists(a->f, "vocab", H5P_DEFAULT) <= 0) return NULL;
    hid_t ds = H5Dopen2(a->f, "vocab", H5P_DEFAULT);
    hid_t sp = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    hid_t ft = H5Dget_type(ds);
    char **out = NULL;
    if (n > 0 && H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0) {
        char **raw = ms_calloc((size_t)n, sizeof *raw);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft)); // raw bytes: keep the file's character set, no conversion
        if (H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0) {
            out = ms_malloc((size_t)n * sizeof *out);
            *lens = ms_malloc((size_t)n * sizeof **lens);
            for (hssize_t i = 0; i < n; i++) {
                out[i] = ms_strdup(raw[i] ? raw[i] : "");
                (*lens)[i] = strlen(out[i]);
            }
            *n_vocab = (int)n;
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
        }
        H5Tclose(mt);
        free(raw);
    }
    H5Tclose(ft);
    H5Sclose(sp);
    H5Dclose(ds);
    return out;
}

void ms_vocab_free(char **v, size_t *lens, int n) {
    if (v)
        for (int i = 0; i < n; i++) free(v[i]);
    free(v);
    free(lens);
}
