// acts.c: see acts.h.
#include "io/acts.h"
#include <stdlib.h>
#include <string.h>
#include "io/h5util.h"
#include "util/util.h"

// ================================================================ reader

typedef struct {
    char *name;
    hid_t ds;
    int ndim;
    int64_t dims[8];  // [rows, ctx, ...]
    int64_t d;        // product of dims[2..]
    int elsize;       // 2, 4, 8
} acts_hook;

struct ms_acts {
    char *path;
    hid_t f, tok;        // tok < 0: no /tokens
    int64_t tok_dims[2];
    acts_hook *hooks;    // sorted by name
    int n_hooks;
    int64_t n_seq;       // complete rows
    char *model;
    void *scratch;       // float16/float64 staging, grown on demand (reused: no allocation per read)
    size_t scratch_bytes;
};

typedef struct { char **names; int n; } name_list;
static herr_t collect_cb(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)g; (void)info;
    name_list *l = op;
    l->names = ms_realloc(l->names, (size_t)(l->n + 1) * sizeof(char *));
    l->names[l->n++] = ms_strdup(name);
    return 0;
}

// Opens and checks /acts/<h->name>: float16/32/64, rank 3..8, non-empty trailing dims.
static int open_hook(ms_acts *a, acts_hook *h) {
    char name[1100];
    snprintf(name, sizeof name, "acts/%s", h->name);
    H5O_info_t oi;
    if (H5Oget_info_by_name(a->f, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET) {
        ms_error("%s: /acts/%s is not a dataset, expected float [n_seq, ctx, ...]", a->path, h->name);
        return -1;
    }
    h->ds = H5Dopen2(a->f, name, H5P_DEFAULT);
    if (h->ds < 0) { ms_error("%s: /acts/%s cannot be opened", a->path, h->name); return -1; }
    hid_t t = H5Dget_type(h->ds), sp = H5Dget_space(h->ds);
    H5T_class_t cls = H5Tget_class(t);
    size_t es = H5Tget_size(t);
    H5Tclose(t);
    h->ndim = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[8];
    if (h->ndim >= 1 && h->ndim <= 8) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    if (cls != H5T_FLOAT || (es != 2 && es != 4 && es != 8)) {
        ms_error("%s: /acts/%s has %zu-byte %s values, expected float16/float32/float64", a->path, h->name, es,
                 cls == H5T_FLOAT ? "float" : "non-float");
        return -1;
    }
    if (h->ndim < 3 || h->ndim > 8) {
        ms_error("%s: /acts/%s has %d dims, expected [n_seq, ctx, ...] (3 to 8 dims)", a->path, h->name, h->ndim);
        return -1;
    }
    h->elsize = (int)es;
    h->d = 1;
    for (int i = 0; i < h->ndim; i++) h->dims[i] = (int64_t)dims[i];
    for (int i = 2; i < h->ndim; i++) h->d *= h->dims[i];
    if (h->dims[1] <= 0 || h->dims[1] > (1 << 24) || h->d <= 0 || h->d > (1 << 26)) {
        ms_error("%s: /acts/%s has an implausible shape (ctx %lld, %lld values per position)", a->path, h->name,
                 (long long)h->dims[1], (long long)h->d);
        return -1;
    }
    return 0;
}

// n_seq: the root attribute (complete rows) capped by the rows present, else the common row count.
static int resolve_rows(ms_acts *a) {
    int64_t attr = -1;
    int got = ms_h5_get_attr_i64(a->f, "n_seq", MS_H5_OPTIONAL, &attr);
    if (got < 0) return -1;
    if (got == 0 && attr < 0) {
        ms_error("%s: root attribute 'n_seq' is %lld, expected >= 0", a->path, (long long)attr);
        return -1;
    }
    int64_t rows = a->hooks[0].dims[0];
    for (int i = 1; i < a->n_hooks; i++) if (a->hooks[i].dims[0] < rows) rows = a->hooks[i].dims[0];
    if (attr >= 0 && attr < rows) rows = attr;
    for (int i = 0; i < a->n_hooks; i++) {
        if (attr < 0 && a->hooks[i].dims[0] != rows) { // no n_seq to say which rows are complete
            ms_error("%s: /acts/%s has %lld rows, /acts/%s %lld (hooks must have the same rows)", a->path,
                     a->hooks[i].name, (long long)a->hooks[i].dims[0], a->hooks[0].name, (long long)a->hooks[0].dims[0]);
            return -1;
        }
    }
    a->n_seq = rows;
    return 0;
}

static int open_tokens(ms_acts *a) {
    if (H5Lexists(a->f, "tokens", H5P_DEFAULT) <= 0) return 0;
    int64_t td[8];
    int nd = ms_h5_shape(a->f, "tokens", td);
    hid_t ds = nd == 2 ? H5Dopen2(a->f, "tokens", H5P_DEFAULT) : -1;
    int is_int = 0;
    if (ds >= 0) {
        hid_t t = H5Dget_type(ds);
        is_int = H5Tget_class(t) == H5T_INTEGER;
        H5Tclose(t);
    }
    if (nd != 2 || !is_int || td[0] < a->n_seq || td[1] <= 0) {
        if (ds >= 0) H5Dclose(ds);
        ms_error("%s: /tokens is not an integer [rows >= %lld, ctx] dataset", a->path, (long long)a->n_seq);
        return -1;
    }
    a->tok = ds;
    a->tok_dims[0] = td[0];
    a->tok_dims[1] = td[1];
    return 0;
}

ms_acts *ms_acts_open(const char *path) {
    ms_h5_quiet();
    if (!ms_file_exists(path)) { ms_error("%s: no such file", path); return NULL; }
    if (H5Fis_hdf5(path) <= 0) { ms_error("%s: not an HDF5 file", path); return NULL; }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) { ms_error("%s: cannot open", path); return NULL; }
    ms_acts *a = ms_calloc(1, sizeof *a);
    a->path = ms_strdup(path);
    a->f = f;
    a->tok = -1;
    H5O_info_t oi;
    if (H5Lexists(f, "acts", H5P_DEFAULT) <= 0 || H5Oget_info_by_name(f, "acts", &oi, H5P_DEFAULT) < 0 ||
        oi.type != H5O_TYPE_GROUP) {
        ms_error("%s: no /acts group (not an activations file from monoscope capture)", path);
        goto fail;
    }
    hid_t g = H5Gopen2(f, "acts", H5P_DEFAULT);
    name_list l = {0};
    hsize_t idx = 0;
    if (g >= 0) { H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_cb, &l); H5Gclose(g); }
    a->n_hooks = l.n;
    a->hooks = ms_calloc((size_t)(l.n ? l.n : 1), sizeof *a->hooks);
    for (int i = 0; i < l.n; i++) { a->hooks[i].name = l.names[i]; a->hooks[i].ds = -1; }
    free(l.names);
    if (a->n_hooks == 0) { ms_error("%s: /acts holds no hook site", path); goto fail; }
    for (int i = 0; i < a->n_hooks; i++) if (open_hook(a, &a->hooks[i])) goto fail;
    if (resolve_rows(a) || open_tokens(a)) goto fail;
    a->model = NULL;
    if (ms_h5_get_attr_str(f, "model", MS_H5_OPTIONAL, &a->model) < 0) goto fail;
    return a;
fail:
    ms_acts_close(a);
    return NULL;
}

void ms_acts_close(ms_acts *a) {
    if (!a) return;
    for (int i = 0; i < a->n_hooks; i++) {
        if (a->hooks[i].ds >= 0) H5Dclose(a->hooks[i].ds);
        free(a->hooks[i].name);
    }
    if (a->tok >= 0) H5Dclose(a->tok);
    if (a->f >= 0) H5Fclose(a->f);
    free(a->hooks); free(a->model); free(a->scratch); free(a->path);
    free(a);
}

const char *ms_acts_path(const ms_acts *a) { return a->path; }
int ms_acts_n_hooks(const ms_acts *a) { return a->n_hooks; }
const char *ms_acts_hook_name(const ms_acts *a, int h) { return a->hooks[h].name; }
int64_t ms_acts_n_seq(const ms_acts *a) { return a->n_seq; }
int ms_acts_ctx(const ms_acts *a, int h) { return (int)a->hooks[h].dims[1]; }
int64_t ms_acts_d(const ms_acts *a, int h) { return a->hooks[h].d; }
int ms_acts_elsize(const ms_acts *a, int h) { return a->hooks[h].elsize; }
int ms_acts_dims(const ms_acts *a, int h, int64_t dims[8]) {
    memcpy(dims, a->hooks[h].dims, sizeof a->hooks[h].dims);
    return a->hooks[h].ndim;
}
const char *ms_acts_model(const ms_acts *a) { return a->model ? a->model : ""; }
int ms_acts_has_tokens(const ms_acts *a) { return a->tok >= 0; }
int ms_acts_tokens_ctx(const ms_acts *a) { return a->tok >= 0 ? (int)a->tok_dims[1] : 0; }

char *ms_acts_hook_list(const ms_acts *a, size_t max) {
    char *s = ms_calloc(max + 8, 1);
    for (int i = 0; i < a->n_hooks; i++) {
        size_t used = strlen(s), need = strlen(a->hooks[i].name) + 2;
        if (used + need > max) { strcat(s, "..."); break; }
        if (i) strcat(s, ", ");
        strcat(s, a->hooks[i].name);
    }
    return s;
}

int ms_acts_find_hook(const ms_acts *a, const char *hook) {
    for (int i = 0; i < a->n_hooks; i++) if (!strcmp(a->hooks[i].name, hook)) return i;
    char *have = ms_acts_hook_list(a, 400);
    ms_error("%s: no /acts/%s (the file has: %s)", a->path, hook, have);
    free(have);
    return -1;
}

int ms_acts_only_hook(const ms_acts *a, const char *hint) {
    if (a->n_hooks == 1) return 0;
    ms_error("%s: holds %d hook sites; %s", a->path, a->n_hooks, hint);
    return -1;
}

// IEEE binary16 -> binary32, exact (subnormals normalised, Inf/NaN kept with their payload).
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { // subnormal: normalise
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | man << 13;
    else bits = sign | (exp + 127 - 15) << 23 | man << 13;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// Selects rows [seq, seq+ns), positions [pos, pos+np) (all trailing dims) of a dataset; returns the
// file space (with the selection) and sets *mem to a flat memory space of as many elements.
static hid_t select_block(hid_t ds, int ndim, const int64_t *dims, int64_t seq, int64_t ns, int64_t pos, int64_t np,
                          hid_t *mem) {
    hsize_t start[8] = {0}, count[8], n = 1;
    start[0] = (hsize_t)seq; start[1] = (hsize_t)pos;
    count[0] = (hsize_t)ns; count[1] = (hsize_t)np;
    for (int i = 2; i < ndim; i++) count[i] = (hsize_t)dims[i];
    for (int i = 0; i < ndim; i++) n *= count[i];
    hid_t fs = H5Dget_space(ds);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    *mem = H5Screate_simple(1, &n, NULL);
    return fs;
}

int ms_acts_read(ms_acts *a, int h, int64_t seq, int64_t ns, int64_t pos, int64_t np, float *x) {
    acts_hook *k = &a->hooks[h];
    if (seq < 0 || ns <= 0 || seq + ns > a->n_seq || pos < 0 || np <= 0 || pos + np > k->dims[1] || (ns > 1 && np != k->dims[1])) {
        ms_error("%s: /acts/%s: rows %lld..%lld positions %lld..%lld out of range ([%lld, %lld])", a->path, k->name,
                 (long long)seq, (long long)(seq + ns - 1), (long long)pos, (long long)(pos + np - 1), (long long)a->n_seq,
                 (long long)k->dims[1]);
        return -1;
    }
    const size_t n = (size_t)(ns * np * k->d);
    if (k->elsize != 4 && n * (size_t)k->elsize > a->scratch_bytes) {
        free(a->scratch);
        a->scratch_bytes = n * (size_t)k->elsize;
        a->scratch = ms_malloc(a->scratch_bytes);
    }
    hid_t msp, fsp = select_block(k->ds, k->ndim, k->dims, seq, ns, pos, np, &msp);
    herr_t rc;
    if (k->elsize == 4) rc = H5Dread(k->ds, H5T_NATIVE_FLOAT, msp, fsp, H5P_DEFAULT, x);
    else if (k->elsize == 8) rc = H5Dread(k->ds, H5T_NATIVE_DOUBLE, msp, fsp, H5P_DEFAULT, a->scratch);
    else { // float16: the raw little-endian halves, converted here (HDF5 1.10 has no native half)
        hid_t ft = H5Dget_type(k->ds);
        rc = H5Dread(k->ds, ft, msp, fsp, H5P_DEFAULT, a->scratch);
        H5Tclose(ft);
    }
    H5Sclose(msp);
    H5Sclose(fsp);
    if (rc < 0) {
        ms_error("%s: /acts/%s: read error in sequences %lld..%lld", a->path, k->name, (long long)seq, (long long)(seq + ns - 1));
        return -1;
    }
    if (k->elsize == 8) { const double *src = a->scratch; for (size_t i = 0; i < n; i++) x[i] = (float)src[i]; }
    else if (k->elsize == 2) { const uint16_t *src = a->scratch; for (size_t i = 0; i < n; i++) x[i] = f16_to_f32(src[i]); }
    return 0;
}

int ms_acts_read_ids(ms_acts *a, int64_t seq, int64_t ns, int64_t pos, int64_t np, int32_t *ids) {
    if (a->tok < 0) { ms_error("%s: no /tokens", a->path); return -1; }
    if (seq < 0 || ns <= 0 || seq + ns > a->n_seq || pos < 0 || np <= 0 || pos + np > a->tok_dims[1]) {
        ms_error("%s: /tokens: rows %lld..%lld positions %lld..%lld out of range ([%lld, %lld])", a->path,
                 (long long)seq, (long long)(seq + ns - 1), (long long)pos, (long long)(pos + np - 1), (long long)a->n_seq,
                 (long long)a->tok_dims[1]);
        return -1;
    }
    hid_t msp, fsp = select_block(a->tok, 2, a->tok_dims, seq, ns, pos, np, &msp);
    herr_t rc = H5Dread(a->tok, H5T_NATIVE_INT32, msp, fsp, H5P_DEFAULT, ids);
    H5Sclose(msp);
    H5Sclose(fsp);
    if (rc < 0) { ms_error("%s: cannot read /tokens", a->path); return -1; }
    return 0;
}

int32_t *ms_acts_token_rows(const char *path, int64_t *n, int *ctx) {
    ms_acts *a = ms_acts_open(path);
    if (!a) return NULL;
    int32_t *out = NULL;
    int64_t rows = a->n_seq < *n ? a->n_seq : *n;
    if (a->tok < 0) ms_error("%s: no /tokens to run the model on (give --input)", path);
    else if (rows <= 0) ms_error("%s: /tokens is empty", path);
    else {
        out = ms_malloc((size_t)rows * (size_t)a->tok_dims[1] * sizeof(int32_t));
        if (ms_acts_read_ids(a, 0, rows, 0, a->tok_dims[1], out)) { free(out); out = NULL; }
        *n = rows;
        *ctx = (int)a->tok_dims[1];
    }
    ms_acts_close(a);
    return out;
}

char **ms_acts_vocab(ms_acts *a, size_t **lens, int *n_vocab) {
    *n_vocab = 0;
    *lens = NULL;
    if (H5Lexists(a->f, "vocab", H5P_DEFAULT) <= 0) return NULL;
    hid_t ds = H5Dopen2(a->f, "vocab", H5P_DEFAULT);
    if (ds < 0) return NULL;
    hid_t sp = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    hid_t ft = H5Dget_type(ds);
    char **out = NULL;
    if (n > 0 && n <= INT32_MAX && H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0) {
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

// ================================================================ sequential view

struct ms_acts_reader {
    ms_acts *a;
    int h;
    int64_t n_seq;
    int ctx, d, has_tok;
    int64_t seq, pos;  // next token to read
};

ms_acts_reader *ms_acts_reader_open(const char *path, const char *hook, int d_in) {
    ms_acts *a = ms_acts_open(path);
    if (!a) return NULL;
    int h = hook ? ms_acts_find_hook(a, hook) : ms_acts_only_hook(a, "choose one with --hook");
    if (h < 0) { ms_acts_close(a); return NULL; }
    if (d_in > 0 && a->hooks[h].d != d_in) {
        ms_error("%s: activations of '%s' have %lld values per token but the SAE has d_in=%d", path, a->hooks[h].name,
                 (long long)a->hooks[h].d, d_in);
        ms_acts_close(a);
        return NULL;
    }
    ms_acts_reader *r = ms_calloc(1, sizeof *r);
    r->a = a;
    r->h = h;
    r->n_seq = a->n_seq;
    r->ctx = (int)a->hooks[h].dims[1];
    r->d = (int)a->hooks[h].d;
    r->has_tok = a->tok >= 0 && a->tok_dims[1] == r->ctx;
    return r;
}

void ms_acts_reader_close(ms_acts_reader *r) {
    if (!r) return;
    ms_acts_close(r->a);
    free(r);
}

const char *ms_acts_reader_hook(const ms_acts_reader *r) { return r->a->hooks[r->h].name; }
int64_t ms_acts_reader_n_seq(const ms_acts_reader *r) { return r->n_seq; }
int ms_acts_reader_ctx(const ms_acts_reader *r) { return r->ctx; }
int ms_acts_reader_d(const ms_acts_reader *r) { return r->d; }
int ms_acts_reader_has_tokens(const ms_acts_reader *r) { return r->has_tok; }

int64_t ms_acts_reader_next(ms_acts_reader *r, float *x, int32_t *ids, int64_t max) {
    int64_t got = 0;
    const int64_t ctx = r->ctx;
    while (got < max && r->seq < r->n_seq) {
        int64_t ns, np;
        if (r->pos == 0 && max - got >= ctx) { // whole rows
            ns = (max - got) / ctx;
            if (ns > r->n_seq - r->seq) ns = r->n_seq - r->seq;
            np = ctx;
        } else {
            ns = 1;
            np = ctx - r->pos;
            if (np > max - got) np = max - got;
        }
        if (ms_acts_read(r->a, r->h, r->seq, ns, r->pos, np, x + got * r->d)) return -1;
        if (ids) {
            if (r->has_tok) {
                if (ms_acts_read_ids(r->a, r->seq, ns, r->pos, np, ids + got)) return -1;
            } else {
                for (int64_t i = 0; i < ns * np; i++) ids[got + i] = -1;
            }
        }
        got += ns * np;
        r->pos += np;
        if (r->pos == ctx) { r->pos = 0; r->seq += ns; }
    }
    return got;
}
