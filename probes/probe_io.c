// probe_io.c: probe.h5, written and read side by side (format in probe.h).
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include "io/h5util.h"
#include "probes/probe.h"
#include "util/util.h"

static int save_fit(hid_t root, const ms_probe_fit *f, int d) {
    hid_t g = H5Gcreate2(root, f->concept, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    int64_t shape[1] = {d};
    int rc = ms_h5_write(g, "weight", H5T_NATIVE_DOUBLE, 1, shape, f->weight);
    rc |= ms_h5_write(g, "weight_std", H5T_NATIVE_DOUBLE, 1, shape, f->weight_std);
    rc |= ms_h5_attr_float(g, "bias", f->bias) | ms_h5_attr_float(g, "bias_std", f->bias_std);
    rc |= ms_h5_attr_float(g, "accuracy", f->accuracy) | ms_h5_attr_float(g, "auc", f->auc);
    rc |= ms_h5_attr_float(g, "f1", f->f1);
    rc |= ms_h5_attr_int(g, "n_pos_train", f->n_pos_train) | ms_h5_attr_int(g, "n_pos_test", f->n_pos_test);
    rc |= ms_h5_attr_int(g, "iterations", f->iterations) | ms_h5_attr_int(g, "converged", f->converged);
    rc |= ms_h5_attr_str(g, "solver", f->solver ? f->solver : "");
    H5Gclose(g);
    return rc;
}

int ms_probe_save(const char *path, const ms_probe_set *p, const ms_probe_opts *o) {
    ms_h5_atomic out;
    if (ms_h5_atomic_begin(&out, path)) return -1;
    const hid_t f = out.f;
    int64_t dshape[1] = {p->d}, sshape[1] = {p->n_seq};
    int rc = ms_h5_write(f, "mean", H5T_NATIVE_DOUBLE, 1, dshape, p->mean);
    rc |= ms_h5_write(f, "std", H5T_NATIVE_DOUBLE, 1, dshape, p->std);
    rc |= ms_h5_write(f, "split", H5T_NATIVE_UINT8, 1, sshape, p->split);
    hid_t g = H5Gcreate2(f, "probes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int k = 0; k < p->n_fits && !rc; k++) rc = save_fit(g, &p->fits[k], p->d);
    H5Gclose(g);
    rc |= ms_h5_attr_str(f, "kind", p->logistic ? "logistic" : "ridge") | ms_h5_attr_str(f, "hook", p->hook);
    rc |= ms_h5_attr_str(f, "acts", o && o->acts ? o->acts : "") | ms_h5_attr_str(f, "labels", o && o->labels ? o->labels : "");
    rc |= ms_h5_attr_float(f, "lambda", p->lambda) | ms_h5_attr_float(f, "test_frac", p->test_frac);
    rc |= ms_h5_attr_int(f, "seed", (int64_t)p->seed) | ms_h5_attr_int(f, "d", p->d) | ms_h5_attr_int(f, "n_seq", p->n_seq);
    rc |= ms_h5_attr_int(f, "n_train_tokens", p->n_train) | ms_h5_attr_int(f, "n_test_tokens", p->n_test);
    rc |= ms_h5_attr_str(f, "command", ms_command_line());
    return ms_h5_atomic_end(&out, !rc);
}

// Fit k of p->fits from /probes/<concept>. seen (2 per fit): the addresses of the weight datasets of
// fits 0..k-1; a dataset shared with an earlier fit is refused, as names aliasing one group are.
static int load_fit(hid_t root, const char *path, ms_probe_fit *f, int d, haddr_t *seen, int k) {
    hid_t g = H5Gopen2(root, f->concept, H5P_DEFAULT);
    if (g < 0) { ms_error("%s: /probes/%s is not a group", path, f->concept); return -1; }
    int64_t shape[1] = {d}, it = 0;
    char *solver = NULL;
    if (ms_h5_check_storage(g, path, "weight") || ms_h5_check_storage(g, path, "weight_std")) { H5Gclose(g); return -1; }
    for (int w = 0; w < 2; w++) {
        H5O_info_t oi;
        if (H5Oget_info_by_name(g, w ? "weight_std" : "weight", &oi, H5P_DEFAULT) < 0) { H5Gclose(g); return -1; }
        for (int j = 0; j < 2 * k + w; j++)
            if (seen[j] == oi.addr) {
                ms_error("%s: /probes/%s/%s links to another probe's dataset", path, f->concept, w ? "weight_std" : "weight");
                H5Gclose(g);
                return -1;
            }
        seen[2 * k + w] = oi.addr;
    }
    f->weight = ms_malloc((size_t)d * sizeof(double));
    f->weight_std = ms_malloc((size_t)d * sizeof(double));
    int rc = ms_h5_read(g, path, "weight", H5T_NATIVE_DOUBLE, 1, shape, f->weight);
    rc = rc ? rc : ms_h5_read(g, path, "weight_std", H5T_NATIVE_DOUBLE, 1, shape, f->weight_std);
    rc = rc ? rc : ms_h5_get_attr_f64(g, "bias", MS_H5_REQUIRED, &f->bias) < 0;
    rc = rc ? rc : ms_h5_get_attr_f64(g, "bias_std", MS_H5_REQUIRED, &f->bias_std) < 0;
    rc = rc ? rc : ms_h5_get_attr_f64(g, "accuracy", MS_H5_OPTIONAL, &f->accuracy) < 0;
    rc = rc ? rc : ms_h5_get_attr_f64(g, "auc", MS_H5_OPTIONAL, &f->auc) < 0;
    rc = rc ? rc : ms_h5_get_attr_f64(g, "f1", MS_H5_OPTIONAL, &f->f1) < 0;
    rc = rc ? rc : ms_h5_get_attr_i64(g, "n_pos_train", MS_H5_OPTIONAL, &f->n_pos_train) < 0;
    rc = rc ? rc : ms_h5_get_attr_i64(g, "n_pos_test", MS_H5_OPTIONAL, &f->n_pos_test) < 0;
    rc = rc ? rc : ms_h5_get_attr_i64(g, "iterations", MS_H5_OPTIONAL, &it) < 0;
    if (!rc && ms_h5_get_attr_str(g, "solver", MS_H5_OPTIONAL, &solver) == 0)
        f->solver = strcmp(solver, "dgelsd") == 0 ? "dgelsd" : "dposv";
    free(solver);
    f->iterations = (int)it;
    int64_t conv = 1;
    if (!rc) rc = ms_h5_get_attr_i64(g, "converged", MS_H5_OPTIONAL, &conv) < 0;
    f->converged = (int)conv;
    H5Gclose(g);
    return rc ? -1 : 0;
}

// The probe set of the open file f (see ms_probe_load); f stays open.
static ms_probe_set *probe_read_file(hid_t f, const char *path) {
    ms_probe_set *p = ms_calloc(1, sizeof *p);
    int64_t d = 0, n_seq = 0, seed = 0, sdims[8];
    char *kind = NULL;
    int rc = ms_h5_get_attr_i64(f, "d", MS_H5_REQUIRED, &d) < 0 || ms_h5_get_attr_i64(f, "n_seq", MS_H5_REQUIRED, &n_seq) < 0 ||
             ms_h5_get_attr_str(f, "kind", MS_H5_REQUIRED, &kind) < 0 || ms_h5_get_attr_str(f, "hook", MS_H5_REQUIRED, &p->hook) < 0;
    if (!rc && (d < 1 || d > 65536 || n_seq < 0)) { ms_error("%s: bad d or n_seq", path); rc = 1; }
    if (!rc && (strcmp(kind, "logistic") && strcmp(kind, "ridge"))) {
        ms_error("%s: kind is \"%s\", expected \"ridge\" or \"logistic\"", path, kind);
        rc = 1;
    }
    // The datasets' shapes and stored bytes before allocating for them: n_seq is an attribute, and
    // a dataset's dims may claim far more than the file holds.
    if (!rc && (ms_h5_shape(f, "split", sdims) != 1 || sdims[0] != n_seq)) {
        ms_error("%s: /split is not uint8 [n_seq = %lld]", path, (long long)n_seq);
        rc = 1;
    }
    if (!rc) rc = ms_h5_check_storage(f, path, "mean") || ms_h5_check_storage(f, path, "std") || ms_h5_check_storage(f, path, "split");
    if (!rc) {
        p->d = (int)d;
        p->n_seq = n_seq;
        p->logistic = strcmp(kind, "logistic") == 0;
        rc = ms_h5_get_attr_f64(f, "lambda", MS_H5_OPTIONAL, &p->lambda) < 0 ||
             ms_h5_get_attr_f64(f, "test_frac", MS_H5_OPTIONAL, &p->test_frac) < 0 ||
             ms_h5_get_attr_i64(f, "seed", MS_H5_OPTIONAL, &seed) < 0 ||
             ms_h5_get_attr_i64(f, "n_train_tokens", MS_H5_OPTIONAL, &p->n_train) < 0 ||
             ms_h5_get_attr_i64(f, "n_test_tokens", MS_H5_OPTIONAL, &p->n_test) < 0;
        p->seed = (uint64_t)seed;
    }
    if (!rc) {
        int64_t dshape[1] = {d}, sshape[1] = {n_seq};
        p->mean = ms_malloc((size_t)d * sizeof *p->mean);
        p->std = ms_malloc((size_t)d * sizeof *p->std);
        p->split = ms_malloc((size_t)n_seq + 1);
        rc = ms_h5_read(f, path, "mean", H5T_NATIVE_DOUBLE, 1, dshape, p->mean) ||
             ms_h5_read(f, path, "std", H5T_NATIVE_DOUBLE, 1, dshape, p->std) ||
             ms_h5_read(f, path, "split", H5T_NATIVE_UINT8, 1, sshape, p->split);
    }
    hid_t g = rc ? -1 : H5Gopen2(f, "probes", H5P_DEFAULT);
    if (!rc && g < 0) { ms_error("%s: no /probes group", path); rc = 1; }
    if (g >= 0) {
        char **names = NULL;
        int n = 0;
        const int listed = ms_h5_list_distinct(g, &names, &n); // only hard links, each its own group
        p->fits = ms_calloc((size_t)n + 1, sizeof *p->fits);
        for (int k = 0; k < n; k++) p->fits[k].concept = names[k];
        p->n_fits = n;
        free(names);
        if (listed) {
            ms_error("%s: /probes: %s", path,
                     listed == 1 ? "holds a soft or external link (a probe is a group of its own)"
                     : listed == 2 ? "two probe names link to the same group"
                                   : "cannot list the probes");
            rc = 1;
        }
        haddr_t *seen = ms_malloc((size_t)(2 * p->n_fits + 1) * sizeof *seen);
        for (int k = 0; k < p->n_fits && !rc; k++) rc = load_fit(g, path, &p->fits[k], p->d, seen, k);
        free(seen);
        H5Gclose(g);
    }
    free(kind);
    if (rc) {
        if (!strstr(ms_last_error(), path)) ms_error("%s: not a probe file from `monoscope probe train`", path);
        ms_probe_set_free(p);
        return NULL;
    }
    return p;
}

// ms_h5_open's rehearsal in its child: the load's reads in the load's order, on a fresh library
// (a corrupt global heap under a string attribute is undefined behaviour inside libhdf5; the child
// may crash where the caller must not).
static void rehearse_probe_load(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    ms_probe_set_free(probe_read_file(f, path));
    H5Fclose(f);
}

ms_probe_set *ms_probe_load(const char *path) {
    ms_h5_quiet();
    if (!ms_file_exists(path)) { ms_error("%s: no such file", path); return NULL; }
    hid_t f = ms_h5_open_rehearsed(path, H5F_ACC_RDONLY, "cannot open as HDF5", rehearse_probe_load);
    if (f < 0) return NULL;
    ms_probe_set *p = probe_read_file(f, path);
    H5Fclose(f);
    return p;
}
