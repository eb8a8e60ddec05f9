// encode.c: sparse feature activations of every token of an activations file, CSR layout written
// in batches into extendible HDF5 datasets (see eval.h for the layout).
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hdf5.h>
#include "sae/eval.h"
#include "io/h5util.h"
#include "util/util.h"

// A 1-D dataset that grows as batches are appended.
typedef struct {
    hid_t ds, type;
    int64_t n;
} growable;

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

int ms_sae_encode_file(const ms_sae *s, const char *acts_path, const char *out_path, const ms_sae_encode_opts *o) {
    ms_h5_quiet();
    ms_acts_reader *rd = ms_acts_reader_open_for(s, acts_path, o ? o->hook : NULL);
    if (!rd) return -1;
    const int d = s->d_in;
    const int64_t B = o && o->batch > 0 ? o->batch : 4096;
    const int64_t maxt = o && o->max_tokens > 0 ? o->max_tokens : INT64_MAX;
    char *tmp = ms_atomic_tmp_path(out_path);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) { ms_error("%s: cannot create", out_path); ms_acts_reader_close(rd); free(tmp); return -1; }
    growable gp, gi, gv, gt;
    int have_tok = ms_acts_reader_has_tokens(rd);
    int rc = 0;
    rc |= grow_create(f, "indptr", H5T_NATIVE_INT64, 16384, &gp);
    rc |= grow_create(f, "indices", H5T_NATIVE_INT32, 1 << 16, &gi);
    rc |= grow_create(f, "values", H5T_NATIVE_FLOAT, 1 << 16, &gv);
    if (have_tok) rc |= grow_create(f, "tokens", H5T_NATIVE_INT32, 16384, &gt);
    float *x = ms_aligned_alloc((size_t)B * d * sizeof(float));
    int32_t *ids = ms_malloc((size_t)B * sizeof(int32_t));
    int64_t *ptr = ms_malloc((size_t)(B + 1) * sizeof(int64_t));
    ms_sae_codes c;
    memset(&c, 0, sizeof c);
    ms_sae_encoder *enc = rc ? NULL : ms_sae_encoder_new(s);
    if (!enc) rc = -1;
    int64_t n = 0, nnz = 0;
    ptr[0] = 0;
    if (!rc) rc = grow_append(&gp, ptr, 1);
    while (!rc && n < maxt) {
        int64_t m = ms_acts_reader_next(rd, x, ids, maxt - n < B ? maxt - n : B);
        if (m < 0) { rc = -1; break; }
        if (m == 0) break;
        if (ms_sae_encoder_sparse(enc, x, m, &c) < 0) { rc = -1; break; }
        for (int64_t t = 0; t < m; t++) ptr[t] = nnz + c.row[t + 1]; // global offsets
        if (grow_append(&gp, ptr, m) || grow_append(&gi, c.idx, c.nnz) || grow_append(&gv, c.val, c.nnz) ||
            (have_tok && grow_append(&gt, ids, m))) {
            ms_error("%s: write failed", out_path);
            rc = -1;
            break;
        }
        nnz += c.nnz;
        n += m;
    }
    if (!rc) {
        rc |= ms_h5_attr_str(f, "format", "csr");
        rc |= ms_h5_attr_int(f, "n_tokens", n);
        rc |= ms_h5_attr_int(f, "n_seq", (n + ms_acts_reader_ctx(rd) - 1) / ms_acts_reader_ctx(rd));
        rc |= ms_h5_attr_int(f, "ctx", ms_acts_reader_ctx(rd));
        rc |= ms_h5_attr_int(f, "d_in", s->d_in);
        rc |= ms_h5_attr_int(f, "d_sae", s->d_sae);
        rc |= ms_h5_attr_int(f, "nnz", nnz);
        rc |= ms_h5_attr_int(f, "k", s->k);
        rc |= ms_h5_attr_str(f, "architecture", ms_sae_arch_name(s->arch));
        rc |= ms_h5_attr_str(f, "hook", ms_acts_reader_hook(rd));
        rc |= ms_h5_attr_str(f, "acts", acts_path);
        if (o && o->sae_path) rc |= ms_h5_attr_str(f, "sae", o->sae_path);
        rc |= ms_h5_attr_str(f, "monoscope_version", MS_VERSION);
        rc |= ms_h5_attr_str(f, "command", ms_command_line());
        if (rc) ms_error("%s: cannot write attributes", out_path);
    }
    H5Dclose(gp.ds); H5Dclose(gi.ds); H5Dclose(gv.ds);
    if (have_tok) H5Dclose(gt.ds);
    if (H5Fclose(f) < 0 && !rc) { ms_error("%s: cannot close", out_path); rc = -1; }
    if (!rc) rc = ms_atomic_commit(tmp, out_path);
    if (rc) unlink(tmp);
    ms_sae_codes_free(&c);
    ms_sae_encoder_free(enc);
    free(x); free(ids); free(ptr); free(tmp);
    ms_acts_reader_close(rd);
    return rc;
}
