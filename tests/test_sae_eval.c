// test_sae_eval.c: library-level checks of the activations reader (token order across sequence
// boundaries, complete rows only) and of the SAELens export -> import round trip of every field
// (weights, typed attributes including non-finite floats, training log, batchtopk's k).
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sae/eval.h"
#include "sae/saelens.h"
#include "util/util.h"
#include "harness.h"


static const char *tmpdir(void) { const char *t = getenv("MONOSCOPE_TMP"); return t && *t ? t : "/tmp"; }

// /acts/h [3, 5, 2, 2] with value seq*100 + pos*10 + j, /tokens [3, 5] = seq*5 + pos, n_seq = 2.
static void write_acts(const char *path) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "acts", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[4] = {3, 5, 2, 2}, td[2] = {3, 5};
    float a[60];
    int32_t tok[15];
    for (int s = 0; s < 3; s++)
        for (int p = 0; p < 5; p++) {
            tok[s * 5 + p] = s * 5 + p;
            for (int j = 0; j < 4; j++) a[(s * 5 + p) * 4 + j] = (float)(s * 100 + p * 10 + j);
        }
    hid_t sp = H5Screate_simple(4, dims, NULL);
    // IEEE half precision as h5py/numpy write it (HDF5 1.10 predefines no 16-bit float)
    hid_t f16 = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(f16, 15, 10, 5, 0, 10);
    H5Tset_precision(f16, 16);
    H5Tset_size(f16, 2);
    H5Tset_ebias(f16, 15);
    hid_t ds = H5Dcreate2(g, "blocks.0.attn.hook_z", f16, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Tclose(f16);
    H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a); // stored as float16 (exact: integers < 2048)
    H5Dclose(ds); H5Sclose(sp);
    sp = H5Screate_simple(2, td, NULL);
    ds = H5Dcreate2(f, "tokens", H5T_NATIVE_INT32, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, tok);
    H5Dclose(ds); H5Sclose(sp);
    int64_t n = 2;
    sp = H5Screate(H5S_SCALAR);
    hid_t at = H5Acreate2(f, "n_seq", H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(at, H5T_NATIVE_INT64, &n);
    H5Aclose(at); H5Sclose(sp);
    H5Gclose(g);
    H5Fclose(f);
}

static void test_reader(void) {
    char *path = ms_path_join(tmpdir(), "reader_acts.h5");
    write_acts(path);
    for (int chunk = 1; chunk <= 12; chunk++) {
        ms_acts_reader *r = ms_acts_reader_open(path, NULL, 4);
        CHECK(r, "open: %s", ms_last_error());
        if (!r) break;
        CHECK(ms_acts_reader_n_seq(r) == 2 && ms_acts_reader_ctx(r) == 5 && ms_acts_reader_d(r) == 4, "shape");
        float x[48];
        int32_t ids[12];
        int64_t total = 0, m;
        while ((m = ms_acts_reader_next(r, x, ids, chunk)) > 0) {
            for (int64_t i = 0; i < m; i++) {
                int64_t t = total + i, s = t / 5, p = t % 5;
                CHECK(ids[i] == s * 5 + p, "chunk %d token %lld id %d", chunk, (long long)t, ids[i]);
                for (int j = 0; j < 4; j++) CHECK(x[i * 4 + j] == (float)(s * 100 + p * 10 + j), "chunk %d token %lld value", chunk, (long long)t);
            }
            total += m;
        }
        CHECK(m == 0 && total == 10, "chunk %d: read %lld tokens (want the 10 of the 2 complete rows)", chunk, (long long)total);
        ms_acts_reader_close(r);
    }
    CHECK(!ms_acts_reader_open(path, NULL, 5), "d_in mismatch accepted");
    CHECK(strstr(ms_last_error(), "d_in=5") != NULL, "message: %s", ms_last_error());
    CHECK(!ms_acts_reader_open(path, "blocks.9.hook_z", 4), "missing hook accepted");
    free(path);
}

static void fill(float *a, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) { seed = seed * 1664525u + 1013904223u; a[i] = (float)((int)(seed >> 9) - (1 << 22)) / (float)(1 << 22); }
}

static void test_roundtrip(ms_sae_arch arch, int k) {
    const int d = 5, S = 11;
    ms_sae *s = ms_sae_new(arch, d, S, k);
    fill(s->W_enc, (size_t)d * S, 1); fill(s->W_dec, (size_t)d * S, 2); fill(s->b_enc, S, 3); fill(s->b_dec, d, 4);
    if (s->threshold) { fill(s->threshold, S, 5); for (int i = 0; i < S; i++) s->threshold[i] = fabsf(s->threshold[i]); }
    ms_sae_set_attr_str(s, "hook", "blocks.3.hook_resid_pre");
    ms_sae_set_attr_str(s, "model", "stories \"260K\"/x");
    ms_sae_set_attr_int(s, "tokens_seen", 123456789012LL);
    ms_sae_set_attr_float(s, "lr", 0.1);
    ms_sae_set_attr_float(s, "whole", 2.0);
    ms_sae_set_attr_float(s, "nan_attr", NAN);
    ms_sae_set_attr_float(s, "inf_attr", -INFINITY);
    ms_sae_set_attr_float(s, "tiny", 1e-310);
    double log[6] = {1, 0.5, 2, 0.25, 3, 1.0 / 3};
    const char *cols[2] = {"step", "loss"};
    ms_sae_set_log(s, log, 3, 2, cols);
    char name[64];
    snprintf(name, sizeof name, "rt_%s", ms_sae_arch_name(arch));
    char *dir = ms_path_join(tmpdir(), name);
    CHECK(ms_saelens_export(s, dir) == 0, "export: %s", ms_last_error());
    ms_sae *b = ms_saelens_import(dir, NULL);
    CHECK(b, "import: %s", ms_last_error());
    if (b) {
        CHECK(b->arch == arch && b->d_in == d && b->d_sae == S && b->k == k, "%s: header", name);
        CHECK(!memcmp(b->W_enc, s->W_enc, sizeof(float) * d * S) && !memcmp(b->W_dec, s->W_dec, sizeof(float) * d * S) &&
              !memcmp(b->b_enc, s->b_enc, sizeof(float) * S) && !memcmp(b->b_dec, s->b_dec, sizeof(float) * d), "%s: weights", name);
        if (s->threshold) CHECK(b->threshold && !memcmp(b->threshold, s->threshold, sizeof(float) * S), "%s: threshold", name);
        CHECK(b->n_attrs == s->n_attrs, "%s: %d attributes, want %d", name, b->n_attrs, s->n_attrs);
        for (int i = 0; i < s->n_attrs; i++) {
            const ms_sae_attr *x = &s->attrs[i], *y = ms_sae_attr_get(b, x->name);
            CHECK(y && y->type == x->type, "%s: attribute %s missing or retyped", name, x->name);
            if (!y || y->type != x->type) continue;
            if (x->type == MS_ATTR_INT) CHECK(x->i == y->i, "%s: %s", name, x->name);
            if (x->type == MS_ATTR_STR) CHECK(!strcmp(x->s, y->s), "%s: %s = '%s'", name, x->name, y->s);
            if (x->type == MS_ATTR_FLOAT) CHECK(isnan(x->f) ? isnan(y->f) : !memcmp(&x->f, &y->f, sizeof(double)), "%s: %s = %.17g", name, x->name, y->f);
        }
        CHECK(b->log && b->log_rows == 3 && b->log_cols == 2 && !memcmp(b->log, log, sizeof log) &&
              !strcmp(b->log_columns[1], "loss"), "%s: training log", name);
        ms_sae_free(b);
    }
    ms_sae_free(s);
    free(dir);
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    test_reader();
    test_roundtrip(MS_SAE_RELU, 0);
    test_roundtrip(MS_SAE_TOPK, 3);
    test_roundtrip(MS_SAE_JUMPRELU, 0);
    test_roundtrip(MS_SAE_BATCHTOPK, 4);
    return ms_test_summary("test_sae_eval");
}
