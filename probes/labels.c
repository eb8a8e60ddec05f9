// labels.c: the concept labels file (labels.h).
#include "probes/labels.h"
#include <hdf5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "io/h5util.h"
#include "util/util.h"

void ms_labels_free(ms_labels *l) {
    if (!l) return;
    for (int i = 0; i < l->n_concepts; i++) {
        free(l->names[i]);
        if (l->labels) free(l->labels[i]);
    }
    free(l->names);
    free(l->labels);
    free(l->tokens);
    free(l);
}

// Fills l->names with every /concepts/<name> (H5Literate by name: sorted).
static int list_concepts(hid_t f, const char *path, ms_labels *l) {
    if (H5Lexists(f, "concepts", H5P_DEFAULT) <= 0) {
        ms_error("%s: no /concepts group (not a labels file from `monoscope concepts label`)", path);
        return -1;
    }
    hid_t g = H5Gopen2(f, "concepts", H5P_DEFAULT);
    if (g < 0) { ms_error("%s: /concepts is not a group", path); return -1; }
    const int rc = ms_h5_list_distinct(g, &l->names, &l->n_concepts); // only hard links, each its own dataset
    H5Gclose(g);
    if (rc == 1) { ms_error("%s: /concepts holds a soft or external link (each concept is a dataset of its own)", path); return -1; }
    if (rc == 2) { ms_error("%s: two names in /concepts link to the same dataset", path); return -1; }
    if (rc < 0) { ms_error("%s: cannot list /concepts", path); return -1; }
    return 0;
}

static int pick_concept(const char *path, const char *name, ms_labels *l) {
    for (int i = 0; i < l->n_concepts; i++)
        if (strcmp(l->names[i], name) == 0) {
            char *keep = l->names[i];
            l->names[i] = NULL;
            for (int j = 0; j < l->n_concepts; j++) free(l->names[j]);
            l->names[0] = keep;
            l->n_concepts = 1;
            return 0;
        }
    size_t cap = 64;
    for (int i = 0; i < l->n_concepts; i++) cap += strlen(l->names[i]) + 2;
    char *list = ms_calloc(cap, 1);
    for (int i = 0; i < l->n_concepts; i++) {
        if (i) strcat(list, ", ");
        strcat(list, l->names[i]);
    }
    ms_error("%s: no /concepts/%s (the file has: %s)", path, name, l->n_concepts ? list : "none");
    free(list);
    return -1;
}

// The labels of the open file f (see ms_labels_load); f stays open. read_data 0: everything but the
// arrays' values (their shapes and stored bytes still checked), for the rehearsal.
static ms_labels *labels_read_file(hid_t f, const char *path, const char *name, int read_data) {
    ms_labels *l = ms_calloc(1, sizeof *l);
    int64_t dims[8];
    if (ms_h5_shape(f, "tokens", dims) != 2 || dims[0] < 0 || dims[1] < 1 || dims[1] > INT32_MAX ||
        (dims[0] > 0 && dims[1] > INT64_MAX / 4 / dims[0])) {
        ms_error("%s: no /tokens int32 [n_seq, ctx] (not a labels file)", path);
        goto fail;
    }
    // dims are what the file claims; the bytes behind them are checked before allocating
    if (ms_h5_check_storage(f, path, "tokens")) goto fail;
    l->n_seq = dims[0];
    l->ctx = (int)dims[1];
    if (read_data) {
        l->tokens = ms_malloc((size_t)(l->n_seq * l->ctx) * sizeof *l->tokens + 1);
        if (ms_h5_read(f, path, "tokens", H5T_NATIVE_INT32, 2, dims, l->tokens)) goto fail;
    }
    if (list_concepts(f, path, l)) goto fail;
    if (name && pick_concept(path, name, l)) goto fail;
    l->labels = ms_calloc((size_t)l->n_concepts + 1, sizeof *l->labels);
    for (int i = 0; i < l->n_concepts; i++) {
        char ds[1024];
        snprintf(ds, sizeof ds, "concepts/%s", l->names[i]);
        int64_t cd[8];
        if (ms_h5_shape(f, ds, cd) != 2 || cd[0] != dims[0] || cd[1] != dims[1]) {
            ms_error("%s: /%s is not uint8 [%lld, %lld] like /tokens", path, ds, (long long)dims[0], (long long)dims[1]);
            goto fail;
        }
        if (ms_h5_check_storage(f, path, ds)) goto fail;
        if (!read_data) continue;
        l->labels[i] = ms_malloc((size_t)(l->n_seq * l->ctx) + 1);
        if (ms_h5_read(f, path, ds, H5T_NATIVE_UINT8, 2, dims, l->labels[i])) goto fail;
    }
    return l;
fail:
    ms_labels_free(l);
    return NULL;
}

// ms_h5_open's rehearsal in its child: the load's metadata reads in the load's order (attributes,
// the concept listing, every concept's shape and storage), on a fresh library; not the arrays, plain
// datasets the walk samples (reading them twice would double a large file's memory and time, and
// could outlast the walk's alarm).
static void rehearse_labels_load(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    ms_labels_free(labels_read_file(f, path, NULL, 0));
    H5Fclose(f);
}

ms_labels *ms_labels_load(const char *path, const char *name) {
    ms_h5_quiet();
    if (!ms_file_exists(path)) { ms_error("%s: no such file", path); return NULL; }
    hid_t f = ms_h5_open_rehearsed(path, H5F_ACC_RDONLY, "cannot open as HDF5", rehearse_labels_load);
    if (f < 0) return NULL;
    ms_labels *l = labels_read_file(f, path, name, 1);
    H5Fclose(f);
    return l;
}

int ms_labels_save(const char *path, const ms_labels *l, const ms_labels_meta *meta) {
    ms_h5_atomic out;
    if (ms_h5_atomic_begin(&out, path)) return -1;
    const hid_t f = out.f;
    int64_t shape[2] = {l->n_seq, l->ctx};
    int rc = ms_h5_write(f, "tokens", H5T_NATIVE_INT32, 2, shape, l->tokens);
    hid_t g = H5Gcreate2(f, "concepts", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int i = 0; i < l->n_concepts && !rc; i++) rc = ms_h5_write(g, l->names[i], H5T_NATIVE_UINT8, 2, shape, l->labels[i]);
    H5Gclose(g);
    rc |= ms_h5_attr_int(f, "n_seq", l->n_seq) | ms_h5_attr_int(f, "ctx", l->ctx);
    if (meta) {
        rc |= ms_h5_attr_str(f, "model", meta->model ? meta->model : "");
        rc |= ms_h5_attr_str(f, "input", meta->input ? meta->input : "");
        rc |= ms_h5_attr_str(f, "input_format", meta->input_format ? meta->input_format : "");
        rc |= ms_h5_attr_str(f, "rules", meta->rules ? meta->rules : "");
        rc |= ms_h5_attr_int(f, "prepend_bos", meta->prepend_bos);
    }
    rc |= ms_h5_attr_str(f, "command", ms_command_line());
    return ms_h5_atomic_end(&out, !rc);
}
