// codes.c: see codes.h.
#include "io/codes.h"
#include <stdlib.h>
#include "io/h5util.h"
#include "util/util.h"

// A 1-D dataset that grows as batches are appended.
typedef struct {
    hid_t ds, type;
    int64_t n;
} growable;

struct ms_codes_writer {
    char *path;
    hid_t f;
    int with_tokens;
    growable ptr, idx, val, tok;
};

static int grow_create(hid_t f, const char *name, hid_t type, hsize_t chunk, growable *g) {
    hsize_t zero = 0, unl = H5S_UNLIMITED;
    hid_t sp = H5Screate_simple(1, &zero, &unl);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, 1, &chunk);
    g->ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    g->type = type;
    g->n = 0;
    H5Pclose(pl);
    H5Sclose(sp);
    return g->ds < 0 ? -1 : 0;
}

static int grow_append(growable *g, const void *data, int64_t n) {
    if (n <= 0) return 0;
    hsize_t size = (hsize_t)(g->n + n), start = (hsize_t)g->n, cnt = (hsize_t)n;
    if (H5Dset_extent(g->ds, &size) < 0) return -1;
    hid_t fs = H5Dget_space(g->ds), ms = H5Screate_simple(1, &cnt, NULL);
    int rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &cnt, NULL) >= 0 &&
             H5Dwrite(g->ds, g->type, ms, fs, H5P_DEFAULT, data) >= 0 ? 0 : -1;
    H5Sclose(ms);
    H5Sclose(fs);
    if (!rc) g->n += n;
    return rc;
}

static void close_datasets(ms_codes_writer *w) {
    if (w->ptr.ds >= 0) H5Dclose(w->ptr.ds);
    if (w->idx.ds >= 0) H5Dclose(w->idx.ds);
    if (w->val.ds >= 0) H5Dclose(w->val.ds);
    if (w->with_tokens && w->tok.ds >= 0) H5Dclose(w->tok.ds);
}

ms_codes_writer *ms_codes_writer_create(const char *path, int with_tokens) {
    ms_h5_quiet();
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) { ms_error("%s: cannot create", path); return NULL; }
    ms_codes_writer *w = ms_calloc(1, sizeof *w);
    w->path = ms_strdup(path);
    w->f = f;
    w->with_tokens = with_tokens;
    w->ptr.ds = w->idx.ds = w->val.ds = w->tok.ds = -1;
    int rc = 0;
    rc |= grow_create(f, "indptr", H5T_NATIVE_INT64, 16384, &w->ptr);
    rc |= grow_create(f, "indices", H5T_NATIVE_INT32, 1 << 16, &w->idx);
    rc |= grow_create(f, "values", H5T_NATIVE_FLOAT, 1 << 16, &w->val);
    if (with_tokens) rc |= grow_create(f, "tokens", H5T_NATIVE_INT32, 16384, &w->tok);
    const int64_t zero = 0;
    if (!rc) rc = grow_append(&w->ptr, &zero, 1);
    if (rc) {
        ms_error("%s: cannot create the CSR datasets", path);
        ms_codes_writer_close(w, NULL);
        return NULL;
    }
    return w;
}

int ms_codes_writer_append(ms_codes_writer *w, const int64_t *indptr, int64_t m, const int32_t *idx, const float *val,
                           int64_t nnz, const int32_t *ids) {
    if (grow_append(&w->ptr, indptr, m) || grow_append(&w->idx, idx, nnz) || grow_append(&w->val, val, nnz) ||
        (w->with_tokens && grow_append(&w->tok, ids, m))) {
        ms_error("%s: write failed", w->path);
        return -1;
    }
    return 0;
}

static int write_meta(hid_t f, const ms_codes_meta *m) {
    int rc = 0;
    rc |= ms_h5_attr_str(f, "format", "csr");
    rc |= ms_h5_attr_int(f, "n_tokens", m->n_tokens);
    rc |= ms_h5_attr_int(f, "n_seq", m->n_seq);
    rc |= ms_h5_attr_int(f, "ctx", m->ctx);
    rc |= ms_h5_attr_int(f, "d_in", m->d_in);
    rc |= ms_h5_attr_int(f, "d_sae", m->d_sae);
    rc |= ms_h5_attr_int(f, "nnz", m->nnz);
    rc |= ms_h5_attr_int(f, "k", m->k);
    rc |= ms_h5_attr_str(f, "architecture", m->architecture);
    rc |= ms_h5_attr_str(f, "hook", m->hook);
    rc |= ms_h5_attr_str(f, "acts", m->acts);
    if (m->sae) rc |= ms_h5_attr_str(f, "sae", m->sae);
    rc |= ms_h5_attr_str(f, "monoscope_version", MS_VERSION);
    rc |= ms_h5_attr_str(f, "command", ms_command_line());
    return rc;
}

int ms_codes_writer_close(ms_codes_writer *w, const ms_codes_meta *meta) {
    int rc = 0;
    if (meta && write_meta(w->f, meta)) { ms_error("%s: cannot write attributes", w->path); rc = -1; }
    close_datasets(w);
    if (H5Fclose(w->f) < 0 && !rc && meta) { ms_error("%s: cannot close", w->path); rc = -1; }
    free(w->path);
    free(w);
    return rc;
}
