// acts.c: see acts.h.
#include "io/acts.h"
#include <stdlib.h>
#include <string.h>
#include "io/h5util.h"
#include "io/safetensors.h" // ms_f32_to_f16
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
    int64_t prepend_bos; // root attribute "prepend_bos"; -1 when the file does not say
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
    double d = 1; // in double: the trailing dims of a corrupt file may multiply past 2^63
    for (int i = 0; i < h->ndim; i++) h->dims[i] = (int64_t)dims[i];
    for (int i = 2; i < h->ndim; i++) d *= (double)h->dims[i];
    if (h->dims[1] <= 0 || h->dims[1] > (1 << 24) || !(d >= 1 && d <= (1 << 26))) {
        ms_error("%s: /acts/%s has an implausible shape (ctx %lld, %.0f values per position)", a->path, h->name,
                 (long long)h->dims[1], d);
        return -1;
    }
    h->d = (int64_t)d;
    return ms_h5_check_storage(a->f, a->path, name); // rows with no bytes behind them, chunks that do not fit
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
        if (attr < 0 && a->hooks[i].dims[0] != a->hooks[0].dims[0]) { // no n_seq to say which rows are complete
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
    if (nd != 2 || !is_int || td[0] < a->n_seq || td[1] <= 0 || td[1] > INT32_MAX) {
        if (ds >= 0) H5Dclose(ds);
        ms_error("%s: /tokens is not an integer [rows >= %lld, ctx] dataset", a->path, (long long)a->n_seq);
        return -1;
    }
    a->tok = ds;
    a->tok_dims[0] = td[0];
    a->tok_dims[1] = td[1];
    return 0;
}

// ms_h5_open's rehearsal in its child: the open and what readers take from every file (vocabulary,
// hook list).
static void rehearse_open(const char *path) {
    ms_acts *a = ms_acts_open(path);
    if (!a) return;
    size_t *lens = NULL;
    int n = 0;
    char **v = ms_acts_vocab(a, &lens, &n);
    ms_vocab_free(v, lens, n);
    free(ms_acts_hook_list(a, 200));
    ms_acts_close(a);
}

void ms_vocab_free(char **v, size_t *lens, int n) {
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
    free(lens);
}

ms_acts *ms_acts_open(const char *path) {
    ms_h5_quiet();
    if (!ms_file_exists(path)) { ms_error("%s: no such file", path); return NULL; }
    if (H5Fis_hdf5(path) <= 0) { ms_error("%s: not an HDF5 file", path); return NULL; }
    hid_t f = ms_h5_open_rehearsed(path, H5F_ACC_RDONLY, "cannot open", rehearse_open);
    if (f < 0) return NULL;
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
    a->prepend_bos = -1;
    if (ms_h5_get_attr_i64(f, "prepend_bos", MS_H5_OPTIONAL, &a->prepend_bos) < 0) goto fail;
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
int ms_acts_prepend_bos(const ms_acts *a) { return a->prepend_bos < 0 ? -1 : a->prepend_bos != 0; }
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
    // a sequence longer than any model's context, or rows beyond 1 GiB, is a corrupt or hostile shape
    // (a compressed dataset can honestly hold 1032x its stored bytes): refused before allocating
    const int64_t max_ctx = (int64_t)1 << 20, max_bytes = (int64_t)1 << 30;
    if (a->tok < 0) ms_error("%s: no /tokens to run the model on (give --input)", path);
    else if (rows <= 0) ms_error("%s: /tokens is empty", path);
    else if (a->tok_dims[1] > max_ctx || rows * a->tok_dims[1] > max_bytes / (int64_t)sizeof(int32_t))
        ms_error("%s: /tokens rows of %lld positions (%lld rows asked): more than %lld positions per row or 1 GiB in all",
                 path, (long long)a->tok_dims[1], (long long)rows, (long long)max_ctx);
    else if (ms_h5_check_storage(a->f, path, "tokens") == 0) { // dims not backed by the file: refused, not allocated
        out = ms_malloc((size_t)rows * (size_t)a->tok_dims[1] * sizeof(int32_t));
        if (ms_acts_read_ids(a, 0, rows, 0, a->tok_dims[1], out)) { free(out); out = NULL; }
        *n = rows;
        *ctx = (int)a->tok_dims[1];
    }
    ms_acts_close(a);
    return out;
}

#define MS_ACTS_MAX_VOCAB (1 << 21)

char **ms_acts_vocab(ms_acts *a, size_t **lens, int *n_vocab) {
    *n_vocab = 0;
    *lens = NULL;
    if (H5Lexists(a->f, "vocab", H5P_DEFAULT) <= 0) return NULL;
    hid_t ds = H5Dopen2(a->f, "vocab", H5P_DEFAULT);
    if (ds < 0) return NULL;
    hid_t sp = H5Dget_space(ds);
    int64_t n = ms_h5_npoints(sp);
    hid_t ft = H5Dget_type(ds);
    char **out = NULL;
    // the pointer table is allocated from the dims: they must be backed by the file (else: absent),
    // and a compressed dataset can back 10^8 copies of one string in a few KB, so the count is capped
    // too (else: absent) at 8x the largest vocabulary of the supported models (Gemma's 262,144)
    int stored = ms_h5_check_storage(a->f, a->path, "vocab") == 0;
    if (!stored) ms_clear_error();
    if (stored && n > 0 && n <= MS_ACTS_MAX_VOCAB && H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0) {
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
    int64_t seq, pos;  // next position to read
    int real_only;     // skip padding positions (token < 0)
    int32_t *ids_buf;  // (ids_cap) the ids of one read when the caller passes none
    int64_t ids_cap;
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
    free(r->ids_buf);
    free(r);
}

void ms_acts_reader_skip_padding(ms_acts_reader *r) { r->real_only = r->has_tok; }

const char *ms_acts_reader_hook(const ms_acts_reader *r) { return r->a->hooks[r->h].name; }
int64_t ms_acts_reader_n_seq(const ms_acts_reader *r) { return r->n_seq; }
int ms_acts_reader_ctx(const ms_acts_reader *r) { return r->ctx; }
int ms_acts_reader_d(const ms_acts_reader *r) { return r->d; }
int ms_acts_reader_has_tokens(const ms_acts_reader *r) { return r->has_tok; }

// Reads the next up to max positions (whole rows where they fit) into x + got and their ids.
static int64_t reader_read_positions(ms_acts_reader *r, float *x, int32_t *ids, int64_t max) {
    const int64_t ctx = r->ctx;
    int64_t ns, np;
    if (r->pos == 0 && max >= ctx) { // whole rows
        ns = max / ctx;
        if (ns > r->n_seq - r->seq) ns = r->n_seq - r->seq;
        np = ctx;
    } else {
        ns = 1;
        np = ctx - r->pos;
        if (np > max) np = max;
    }
    if (ms_acts_read(r->a, r->h, r->seq, ns, r->pos, np, x)) return -1;
    if (ids) {
        if (r->has_tok) {
            if (ms_acts_read_ids(r->a, r->seq, ns, r->pos, np, ids)) return -1;
        } else {
            for (int64_t i = 0; i < ns * np; i++) ids[i] = -1;
        }
    }
    r->pos += np;
    if (r->pos == ctx) { r->pos = 0; r->seq += ns; }
    return ns * np;
}

int64_t ms_acts_reader_next(ms_acts_reader *r, float *x, int32_t *ids, int64_t max) {
    if (r->real_only && !ids && r->ids_cap < max) { // one buffer, grown to the largest request
        free(r->ids_buf);
        r->ids_buf = ms_malloc((size_t)max * sizeof(int32_t));
        r->ids_cap = max;
    }
    int32_t *id = ids ? ids : r->real_only ? r->ids_buf : NULL;
    int64_t got = 0;
    while (got < max && r->seq < r->n_seq) {
        const int64_t n = reader_read_positions(r, x + got * r->d, id ? id + got : NULL, max - got);
        if (n < 0) return -1;
        if (!r->real_only) { got += n; continue; }
        for (int64_t i = got, end = got + n; i < end; i++) // compact: padding positions are not data
            if (id[i] >= 0) {
                if (i != got) {
                    memmove(x + got * r->d, x + i * r->d, (size_t)r->d * sizeof(float));
                    id[got] = id[i];
                }
                got++;
            }
    }
    return got;
}

// ================================================================ writer

struct ms_acts_writer {
    char *path;
    hid_t f, tok;
    hid_t f16t;          // file type of float16 sites; -1 when the sites are float32
    int n_sites, ctx, batch;
    hid_t *ds;           // (n_sites)
    size_t *row;         // (n_sites) floats per row
    int64_t n_seq;
    uint16_t *half;      // (batch, max row) float16 staging
    hsize_t *chunk_rows; // (n_sites) rows per chunk where whole chunks go straight to the file, else 0
    uint8_t *stage;      // float16 writers: one chunk of the largest such site + its checksum (direct_setup)
};


// Little-endian int64 scalar: created when `create`, else overwritten in place (n_seq after every batch).
static int attr_i64(hid_t obj, const char *name, long long v, int create) {
    hid_t a;
    if (create) {
        hid_t sp = H5Screate(H5S_SCALAR);
        a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Sclose(sp);
    } else {
        a = H5Aopen(obj, name, H5P_DEFAULT);
    }
    if (a < 0) return -1;
    herr_t rc = H5Awrite(a, H5T_NATIVE_LLONG, &v);
    H5Aclose(a);
    return rc < 0 ? -1 : 0;
}

// IEEE binary16, little-endian, as h5py's float16 (built from the float32 type: HDF5 1.10 has no
// predefined half type).
static hid_t f16_type(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
}

static void to_f16(uint16_t *dst, const float *src, size_t n) {
#ifdef __FLT16_MAX__
    _Float16 *d = (_Float16 *)dst; // GCC on x86-64: IEEE binary16, round to nearest even
    for (size_t i = 0; i < n; i++) d[i] = (_Float16)src[i];
#else // compilers without _Float16 on this target (clang 14, the fuzz build): the same rounding
    for (size_t i = 0; i < n; i++) dst[i] = ms_f32_to_f16(src[i]);
#endif
}

// An extendible (0, row_dims...) dataset chunked by whole rows.
static hid_t create_rows(hid_t f, const char *path, hid_t type, int ndim, const hsize_t *row_dims,
                         size_t row_bytes, int batch, int compress) {
    hsize_t dims[6] = {0}, maxd[6] = {H5S_UNLIMITED}, chunk[6];
    // a chunk holds a few whole rows (~1 MiB), so readers stream rows and writers write whole chunks
    hsize_t rows = row_bytes ? (hsize_t)((1u << 20) / row_bytes) : 1;
    if (rows < 1) rows = 1;
    if (rows > (hsize_t)batch) rows = (hsize_t)batch;
    chunk[0] = rows;
    for (int i = 0; i < ndim; i++) dims[i + 1] = maxd[i + 1] = chunk[i + 1] = row_dims[i];
    hid_t sp = H5Screate_simple(ndim + 1, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, ndim + 1, chunk);
    if (compress > 0) {
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, (unsigned)compress);
    }
    H5Pset_fletcher32(dcpl); // last in the pipeline: the stored bytes are checksummed (resume verifies them)
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t ds = H5Dcreate2(f, path, type, sp, lcpl, dcpl, H5P_DEFAULT);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return ds;
}

// Writes rows [row0, row0 + n) of a (rows, ...) dataset, growing it to row0 + n rows.
static int write_rows(hid_t ds, hid_t mtype, hsize_t row0, hsize_t n, const void *data) {
    hid_t sp = H5Dget_space(ds);
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[8], start[8] = {0}, count[8];
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    dims[0] = row0 + n;
    if (H5Dset_extent(ds, dims) < 0) return -1;
    sp = H5Dget_space(ds);
    start[0] = row0;
    count[0] = n;
    for (int i = 1; i < nd; i++) count[i] = dims[i];
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(nd, count, NULL);
    herr_t rc = H5Dwrite(ds, mtype, ms, sp, H5P_DEFAULT, data);
    H5Sclose(ms);
    H5Sclose(sp);
    return rc < 0 ? -1 : 0;
}

static int set_rows(hid_t ds, hsize_t n);

// Sites whose chunks can be written whole by ms_h5_write_chunk_checksummed: chunked by whole rows,
// Fletcher-32 the only filter (no --compress), stored as little-endian floats of the size written
// (f32, or f16 from to_f16) on a little-endian machine. Sets w->chunk_rows and sizes w->stage, where
// float16 chunks are converted (float32 chunks are written from the caller's rows).
static void direct_setup(ms_acts_writer *w) {
    size_t stage = 0;
    w->chunk_rows = ms_calloc((size_t)(w->n_sites ? w->n_sites : 1), sizeof *w->chunk_rows);
    for (int i = 0; i < w->n_sites; i++) {
        hid_t dcpl = H5Dget_create_plist(w->ds[i]), t = H5Dget_type(w->ds[i]), sp = H5Dget_space(w->ds[i]);
        const int nd = H5Sget_simple_extent_ndims(sp);
        hsize_t chunk[8], dims[8];
        unsigned flags, cd[4];
        size_t ncd = 4;
        const size_t elem = w->f16t >= 0 ? 2 : 4;
        int ok = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && nd >= 1 && nd <= 8 && H5Pget_layout(dcpl) == H5D_CHUNKED &&
                 H5Pget_chunk(dcpl, nd, chunk) == nd && H5Sget_simple_extent_dims(sp, dims, NULL) == nd &&
                 H5Pget_nfilters(dcpl) == 1 && H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, 0, NULL, NULL) == H5Z_FILTER_FLETCHER32 &&
                 H5Tequal(t, w->f16t >= 0 ? w->f16t : H5T_IEEE_F32LE) > 0; // the bytes written, exactly
        size_t row = 1;
        for (int j = 1; ok && j < nd; j++) {
            ok = chunk[j] == dims[j];
            row *= dims[j];
        }
        ok = ok && row == w->row[i];
        if (ok) {
            w->chunk_rows[i] = chunk[0];
            if (chunk[0] * row * elem > stage) stage = chunk[0] * row * elem;
        }
        H5Sclose(sp);
        H5Tclose(t);
        H5Pclose(dcpl);
    }
    w->stage = stage && w->f16t >= 0 ? ms_aligned_alloc(stage + 64) : NULL;
}

// Rows [row0, row0 + n) of site i as whole chunks, straight to the file: HDF5's own path copies each
// chunk through its chunk cache and filter and checksums it at ~2 GB/s, which was ~9 % of a bf16
// capture of 12 hooks at 4 x 256 tokens; this path ~5 % (README "Performance"). -1 when the rows do
// not cover whole chunks (the caller writes them through H5Dwrite); -2 when growing the dataset or a
// write failed (HDF5's error stack says why).
static int write_rows_direct(ms_acts_writer *w, int i, hsize_t row0, hsize_t n, float *rows) {
    const hsize_t cr = w->chunk_rows[i];
    if (!cr || row0 % cr || n % cr) return -1;
    if (set_rows(w->ds[i], row0 + n)) return -2;
    const size_t per_chunk = cr * w->row[i], bytes = per_chunk * (w->f16t >= 0 ? 2 : 4);
    for (hsize_t r = 0; r < n; r += cr) {
        hsize_t offset[8] = {row0 + r};
        float *src = rows + r * w->row[i]; // followed by the next chunk or the MS_ACTS_ROWS_SLACK bytes
        if (w->f16t >= 0) to_f16((uint16_t *)w->stage, src, per_chunk);
        if (ms_h5_write_chunk_checksummed(w->ds[i], offset, w->f16t >= 0 ? w->stage : (uint8_t *)src, bytes)) return -2;
    }
    return 0;
}

static int set_rows(hid_t ds, hsize_t n) {
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[8];
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    dims[0] = n;
    return H5Dset_extent(ds, dims) < 0 ? -1 : 0;
}

static int write_vocab(hid_t f, const char *const *strs, int n) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_ASCII);
    hsize_t d = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t ds = H5Dcreate2(f, "vocab", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = ds < 0 ? -1 : H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, strs);
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    H5Tclose(t);
    return rc < 0 ? -1 : 0;
}

static ms_acts_writer *writer_new(const char *path, int ctx, int f16, int batch, const ms_acts_site *sites, int n_sites) {
    ms_acts_writer *w = ms_calloc(1, sizeof *w);
    w->path = ms_strdup(path);
    w->f = w->tok = w->f16t = -1;
    w->n_sites = n_sites;
    w->ctx = ctx;
    w->batch = batch;
    w->ds = ms_malloc((size_t)(n_sites ? n_sites : 1) * sizeof(hid_t));
    w->row = ms_malloc((size_t)(n_sites ? n_sites : 1) * sizeof(size_t));
    size_t max_row = 0;
    for (int i = 0; i < n_sites; i++) {
        w->ds[i] = -1;
        w->row[i] = 1;
        for (int j = 0; j < sites[i].ndim; j++) w->row[i] *= (size_t)sites[i].shape[j];
        if (w->row[i] > max_row) max_row = w->row[i];
    }
    if (f16) {
        w->half = ms_malloc((size_t)batch * max_row * sizeof(uint16_t));
        w->f16t = f16_type();
    }
    return w;
}

static int write_header(hid_t f, const ms_acts_header *hd) {
    int bad = 0;
    bad |= ms_h5_attr_str(f, "model", hd->model);
    bad |= ms_h5_attr_str(f, "architecture", hd->architecture);
    bad |= ms_h5_attr_str(f, "source_format", hd->source_format);
    bad |= ms_h5_attr_str(f, "source_dtype", hd->source_dtype);
    bad |= attr_i64(f, "n_layer", hd->n_layer, 1);
    bad |= attr_i64(f, "d_model", hd->d_model, 1);
    bad |= attr_i64(f, "n_head", hd->n_head, 1);
    bad |= attr_i64(f, "n_kv_head", hd->n_kv_head, 1);
    bad |= attr_i64(f, "d_head", hd->d_head, 1);
    bad |= attr_i64(f, "d_mlp", hd->d_mlp, 1);
    bad |= attr_i64(f, "vocab_size", hd->vocab_size, 1);
    bad |= attr_i64(f, "n_ctx", hd->n_ctx, 1);
    bad |= attr_i64(f, "n_params", hd->n_params, 1);
    bad |= ms_h5_attr_str(f, "hooks", hd->hooks);
    bad |= attr_i64(f, "ctx", hd->ctx, 1);
    bad |= ms_h5_attr_str(f, "dtype", hd->f16 ? "f16" : "f32");
    bad |= attr_i64(f, "n_seq", 0, 1);
    bad |= attr_i64(f, "n_tokens", 0, 1);
    bad |= ms_h5_attr_str(f, "input", hd->input);
    bad |= ms_h5_attr_str(f, "input_format", hd->input_format);
    bad |= attr_i64(f, "prepend_bos", hd->prepend_bos, 1);
    bad |= attr_i64(f, "batch", hd->batch, 1);
    bad |= attr_i64(f, "compress", hd->compress, 1);
    bad |= attr_i64(f, "max_tokens", hd->max_tokens, 1);
    bad |= ms_h5_attr_str(f, "padding", hd->padding);
    if (hd->packing) {
        bad |= ms_h5_attr_str(f, "packing", hd->packing);
        bad |= attr_i64(f, "separator_id", hd->separator_id, 1);
    }
    bad |= ms_h5_attr_str(f, "monoscope_version", MS_VERSION);
    bad |= ms_h5_attr_str(f, "command", ms_command_line());
    bad |= ms_h5_attr_str(f, "resume_key", hd->resume_key);
    if (hd->vocab) bad |= write_vocab(f, hd->vocab, hd->n_vocab);
    else bad |= ms_h5_attr_str(f, "vocab_note", hd->vocab_note ? hd->vocab_note : "");
    return bad;
}

ms_acts_writer *ms_acts_writer_create(const char *path, const ms_acts_header *hd, const ms_acts_site *sites, int n_sites) {
    ms_h5_quiet();
    const int batch = (int)hd->batch, compress = (int)hd->compress;
    // HDF5's v1.8 format: the superblock and object headers (with the attributes in them) carry
    // checksums, so a damaged partial file is refused by --resume rather than continued. Not v1.10's:
    // its superblock marks the file open for writing, and a killed capture could not be resumed.
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) { ms_error("%s: cannot create HDF5 file", path); return NULL; }
    ms_acts_writer *w = writer_new(path, hd->ctx, hd->f16, batch, sites, n_sites);
    w->f = f;
    int bad = write_header(f, hd);
    hsize_t ctxd = (hsize_t)hd->ctx;
    // /tokens rows are small, so its chunks are ~1 MiB like the hooks' but never more rows than the
    // budget can fill (every row holds at least one token): a 64-token capture's readers would
    // otherwise inflate a 1 MiB chunk of padding for each read of its few rows. A --resume with a
    // larger budget keeps these chunks (smaller, still whole rows).
    int64_t token_rows_cap = hd->max_tokens > 0 && hd->max_tokens < (1 << 16) ? hd->max_tokens : (1 << 16);
    if (token_rows_cap < batch) token_rows_cap = batch;
    w->tok = create_rows(f, "tokens", H5T_STD_I32LE, 1, &ctxd, (size_t)hd->ctx * 4, (int)token_rows_cap, compress);
    bad |= w->tok < 0;
    hid_t ft = hd->f16 ? f16_type() : H5Tcopy(H5T_IEEE_F32LE);
    for (int i = 0; i < n_sites && !bad; i++) {
        char name[1100];
        hsize_t d[6];
        for (int j = 0; j < sites[i].ndim; j++) d[j] = (hsize_t)sites[i].shape[j];
        snprintf(name, sizeof name, "acts/%s", sites[i].name);
        w->ds[i] = create_rows(f, name, ft, sites[i].ndim, d, w->row[i] * (hd->f16 ? 2 : 4), batch, compress);
        bad |= w->ds[i] < 0;
    }
    H5Tclose(ft);
    if (bad || H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) {
        ms_error("%s: cannot write HDF5 metadata", path);
        ms_acts_writer_abort(w);
        return NULL;
    }
    direct_setup(w);
    return w;
}

// Names the first key=value that differs between two resume keys ("k=v;k=v;...").
// "max_tokens=N;" left out of a key (older files had the budget in it; it is an attribute now).
static void strip_budget(char *key, int64_t *max_tokens) {
    char *p = strstr(key, "max_tokens=");
    if (!p || (p != key && p[-1] != ';')) return;
    char *end = strchr(p, ';');
    if (max_tokens) *max_tokens = strtoll(p + 11, NULL, 10);
    memmove(p, end ? end + 1 : p + strlen(p), strlen(end ? end + 1 : p + strlen(p)) + 1);
}

// The resume attributes of the open file f (see ms_acts_capture_extent); f stays open.
static int capture_extent_read(hid_t f, const char *path, char **key, int64_t *n_tokens, int64_t *max_tokens) {
    *key = NULL;
    *n_tokens = *max_tokens = 0;
    int64_t budget = -1;
    if (ms_h5_get_attr_str(f, "resume_key", MS_H5_REQUIRED, key) != 0 ||
        ms_h5_get_attr_i64(f, "n_tokens", MS_H5_REQUIRED, n_tokens) != 0 ||
        ms_h5_get_attr_i64(f, "max_tokens", MS_H5_OPTIONAL, &budget) < 0) {
        ms_error("%s: not a monoscope capture file (no resume_key / n_tokens)", path);
        free(*key);
        *key = NULL;
        return -1;
    }
    strip_budget(*key, max_tokens);
    if (budget >= 0) *max_tokens = budget;
    return 0;
}

// ms_h5_open's rehearsal in its child (--resume on a damaged .partial): the same attribute reads, on
// a fresh library, where a corrupt global heap under resume_key may crash the child, not capture.
static void rehearse_capture_extent(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    char *key = NULL;
    int64_t n = 0, m = 0;
    capture_extent_read(f, path, &key, &n, &m);
    free(key);
    H5Fclose(f);
}

int ms_acts_capture_extent(const char *path, char **key, int64_t *n_tokens, int64_t *max_tokens) {
    ms_h5_quiet();
    *key = NULL;
    *n_tokens = *max_tokens = 0;
    hid_t f = ms_h5_open_rehearsed(path, H5F_ACC_RDONLY, "cannot open as HDF5", rehearse_capture_extent);
    if (f < 0) return -1;
    const int rc = capture_extent_read(f, path, key, n_tokens, max_tokens);
    H5Fclose(f);
    return rc;
}

static void key_mismatch(const char *path, const char *have, const char *want) {
    const char *a = have, *b = want;
    while (*a && *b) {
        const char *ea = strchr(a, ';'), *eb = strchr(b, ';');
        if (!ea || !eb) break;
        if (ea - a != eb - b || memcmp(a, b, (size_t)(ea - a))) {
            ms_error("%s: --resume: this run differs from the partial file: file has %.*s, this run %.*s", path,
                     (int)(ea - a), a, (int)(eb - b), b);
            return;
        }
        a = ea + 1;
        b = eb + 1;
    }
    ms_error("%s: --resume: this run's settings differ from the partial file's", path);
}

int ms_acts_check_key(const char *have, const char *want, const char *out_path) {
    char *h = ms_strdup(have);
    strip_budget(h, NULL);
    int rc = strcmp(h, want) ? -1 : 0;
    if (rc) key_mismatch(out_path, h, want);
    free(h);
    return rc;
}

// Reads back rows [0, n) of a row dataset chunk by chunk, so that every stored byte a resumed file
// keeps passes its checksum (Fletcher-32, create_rows) before the run continues it. 0 / -1 + ms_error.
static int verify_rows(hid_t ds, int64_t n, const char *path, const char *name) {
    hid_t sp = H5Dget_space(ds), dcpl = H5Dget_create_plist(ds), t = H5Dget_type(ds);
    hsize_t dims[8], chunk[8];
    const int nd = H5Sget_simple_extent_ndims(sp);
    int bad = nd < 1 || nd > 8 || H5Pget_layout(dcpl) != H5D_CHUNKED;
    if (!bad) {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        H5Pget_chunk(dcpl, nd, chunk);
        bad = (hsize_t)n > dims[0];
    }
    size_t row = H5Tget_size(t);
    for (int i = 1; i < nd && !bad; i++) row *= dims[i];
    char *buf = bad ? NULL : ms_malloc(row * chunk[0]);
    for (hsize_t r = 0; !bad && r < (hsize_t)n; r += chunk[0]) {
        hsize_t start[8] = {r}, count[8] = {(hsize_t)n - r < chunk[0] ? (hsize_t)n - r : chunk[0]};
        for (int i = 1; i < nd; i++) count[i] = dims[i];
        hid_t ms = H5Screate_simple(nd, count, NULL);
        H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
        bad = H5Dread(ds, t, ms, sp, H5P_DEFAULT, buf) < 0;
        H5Sclose(ms);
        if (bad) ms_error("%s: --resume: damaged partial file (/%s%s rows %llu..%llu fail their checksum); delete it to start over",
                          path, strcmp(name, "tokens") ? "acts/" : "", name, (unsigned long long)r,
                          (unsigned long long)(r + count[0] - 1));
    }
    if (bad && !buf) ms_error("%s: --resume: damaged partial file (/%s has the wrong shape); delete it to start over", path, name);
    free(buf);
    H5Tclose(t);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return bad ? -1 : 0;
}

ms_acts_writer *ms_acts_writer_resume(const char *path, const char *out_path, const char *key, int ctx, int f16,
                                      int batch, const ms_acts_site *sites, int n_sites, int64_t *n_seq, int64_t *n_tok) {
    ms_h5_quiet();
    hid_t f = ms_h5_open(path, H5F_ACC_RDWR, "--resume: cannot open the partial file (corrupt? delete it to start over)");
    if (f < 0) {
        return NULL;
    }
    char *have = NULL;
    if (ms_h5_get_attr_str(f, "resume_key", MS_H5_OPTIONAL, &have) != 0 ||
        ms_h5_get_attr_i64(f, "n_seq", MS_H5_OPTIONAL, n_seq) != 0 || ms_h5_get_attr_i64(f, "n_tokens", MS_H5_OPTIONAL, n_tok) != 0) {
        ms_error("%s: --resume: not a monoscope capture file", path);
        free(have);
        H5Fclose(f);
        return NULL;
    }
    if (ms_acts_check_key(have, key, out_path)) {
        free(have);
        H5Fclose(f);
        return NULL;
    }
    free(have);
    ms_acts_writer *w = writer_new(path, ctx, f16, batch, sites, n_sites);
    w->f = f;
    w->n_seq = *n_seq;
    w->tok = H5Dopen2(f, "tokens", H5P_DEFAULT);
    int bad = w->tok < 0;
    for (int i = 0; i < n_sites && !bad; i++) {
        char name[1100];
        snprintf(name, sizeof name, "acts/%s", sites[i].name);
        w->ds[i] = H5Dopen2(f, name, H5P_DEFAULT);
        bad |= w->ds[i] < 0;
    }
    if (bad) {
        ms_error("%s: --resume: datasets missing from the partial file", path);
        ms_acts_writer_abort(w);
        return NULL;
    }
    bad = verify_rows(w->tok, *n_seq, path, "tokens");
    for (int i = 0; i < n_sites && !bad; i++) bad = verify_rows(w->ds[i], *n_seq, path, sites[i].name);
    if (bad) {
        ms_acts_writer_abort(w);
        return NULL;
    }
    direct_setup(w);
    return w;
}

int ms_acts_partial_batch(const char *path) {
    ms_h5_quiet();
    hid_t f = ms_h5_open(path, H5F_ACC_RDONLY, NULL);
    if (f < 0) return 0;
    int64_t b = 0;
    if (ms_h5_get_attr_i64(f, "batch", MS_H5_OPTIONAL, &b) != 0 || b <= 0 || b >= (1 << 20)) b = 0;
    H5Fclose(f);
    return (int)b;
}

int ms_acts_writer_token_row(ms_acts_writer *w, int64_t r, int32_t *row) {
    hid_t sp = H5Dget_space(w->tok);
    hsize_t start[2] = {(hsize_t)r, 0}, count[2] = {1, (hsize_t)w->ctx};
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(2, count, NULL);
    herr_t e = H5Dread(w->tok, H5T_NATIVE_INT32, ms, sp, H5P_DEFAULT, row);
    H5Sclose(ms);
    H5Sclose(sp);
    if (e < 0) { ms_error("%s: --resume: cannot read /tokens row %lld", w->path, (long long)r); return -1; }
    return 0;
}

int ms_acts_writer_append(ms_acts_writer *w, int B, const int32_t *tok, float *const *rows, int64_t n_tokens) {
    int bad = write_rows(w->tok, H5T_NATIVE_INT32, (hsize_t)w->n_seq, (hsize_t)B, tok);
    for (int i = 0; i < w->n_sites && !bad; i++) {
        const int direct = write_rows_direct(w, i, (hsize_t)w->n_seq, (hsize_t)B, rows[i]);
        if (direct == 0) continue;
        if (direct == -2) { bad = 1; break; }
        if (w->f16t >= 0) {
            to_f16(w->half, rows[i], (size_t)B * w->row[i]);
            bad |= write_rows(w->ds[i], w->f16t, (hsize_t)w->n_seq, (hsize_t)B, w->half);
        } else {
            bad |= write_rows(w->ds[i], H5T_NATIVE_FLOAT, (hsize_t)w->n_seq, (hsize_t)B, rows[i]);
        }
    }
    // Two flushes: the rows (data and the datasets' metadata) reach the file before the row count
    // that vouches for them. One flush would write both in an order HDF5 does not promise, so a
    // kill during it could leave an n_seq that counts rows never written (found by a SIGKILL test).
    bad |= H5Fflush(w->f, H5F_SCOPE_GLOBAL) < 0;
    if (!bad) {
        bad |= attr_i64(w->f, "n_seq", w->n_seq + B, 0);
        bad |= attr_i64(w->f, "n_tokens", n_tokens, 0);
        bad |= H5Fflush(w->f, H5F_SCOPE_GLOBAL) < 0;
    }
    if (bad) { ms_error("%s: writing batch at row %lld failed (disk full?)", w->path, (long long)w->n_seq); return -1; }
    w->n_seq += B;
    return 0;
}

int64_t ms_acts_writer_rows(const ms_acts_writer *w) { return w->n_seq; }

int ms_acts_writer_rewind(ms_acts_writer *w, int64_t n_seq, int64_t max_tokens) {
    if (n_seq < 0 || n_seq > w->n_seq) { ms_error("%s: cannot keep %lld of %lld rows", w->path, (long long)n_seq, (long long)w->n_seq); return -1; }
    w->n_seq = n_seq; // the next append overwrites from here, then sets n_seq and n_tokens
    if (attr_i64(w->f, "max_tokens", max_tokens, H5Aexists(w->f, "max_tokens") <= 0)) {
        ms_error("%s: cannot record the token budget", w->path);
        return -1;
    }
    return 0;
}

static void writer_free(ms_acts_writer *w) {
    if (w->f16t >= 0) H5Tclose(w->f16t);
    free(w->ds); free(w->row); free(w->half); free(w->path); free(w->chunk_rows); free(w->stage);
    free(w);
}

int ms_acts_writer_finish(ms_acts_writer *w) {
    for (int i = 0; i < w->n_sites; i++) set_rows(w->ds[i], (hsize_t)w->n_seq);
    set_rows(w->tok, (hsize_t)w->n_seq);
    for (int i = 0; i < w->n_sites; i++) H5Dclose(w->ds[i]);
    H5Dclose(w->tok);
    int rc = H5Fclose(w->f) < 0 ? -1 : 0;
    if (rc) ms_error("%s: closing the HDF5 file failed", w->path);
    writer_free(w);
    return rc;
}

void ms_acts_writer_abort(ms_acts_writer *w) {
    if (!w) return;
    if (w->tok >= 0) H5Dclose(w->tok);
    for (int i = 0; i < w->n_sites; i++) if (w->ds[i] >= 0) H5Dclose(w->ds[i]);
    if (w->f >= 0) H5Fclose(w->f);
    writer_free(w);
}
