// ckpt.c: atomic training checkpoints (see ckpt.h).
#include "train/ckpt.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/h5util.h"
#include "util/util.h"

int ms_ckpt_begin(ms_ckpt *c, const char *path, int64_t step, int64_t stream_pos, const char *fingerprint) {
    if (ms_h5_atomic_begin_checksummed(&c->out, path)) return -1;
    c->file = c->out.f;
    int rc = 0;
    rc |= ms_h5_attr_int(c->file, "step", step);
    rc |= ms_h5_attr_int(c->file, "stream_pos", stream_pos);
    rc |= ms_h5_attr_str(c->file, "fingerprint", fingerprint);
    if (rc) { ms_ckpt_end(c, 0); return -1; }
    return 0;
}

int ms_ckpt_end(ms_ckpt *c, int ok) {
    c->file = -1;
    return ms_h5_atomic_end(&c->out, ok);
}

hid_t ms_ckpt_open(const char *path, const char *fingerprint, int64_t *step, int64_t *stream_pos) {
    ms_h5_quiet();
    hid_t f = ms_h5_open(path, H5F_ACC_RDONLY, "damaged checkpoint (not a readable HDF5 file: truncated or corrupt); delete it to start over");
    if (f < 0) return -1;
    char *got = ms_h5_read_attr_str(f, "fingerprint");
    const int same = got && !strcmp(got, fingerprint);
    free(got);
    if (!same) {
        ms_error("%s: checkpoint was written with different settings; rerun with the same options and thread count, or delete it", path);
        H5Fclose(f);
        return -1;
    }
    if (ms_h5_get_attr_i64(f, "step", MS_H5_REQUIRED, step) < 0 ||
        ms_h5_get_attr_i64(f, "stream_pos", MS_H5_REQUIRED, stream_pos) < 0) {
        ms_ckpt_damaged(path);
        H5Fclose(f);
        return -1;
    }
    return f;
}

hid_t ms_ckpt_group(hid_t file, const char *prefix, int index, int create) {
    char name[64];
    snprintf(name, sizeof name, "%s%d", prefix, index);
    return create ? H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : H5Gopen2(file, name, H5P_DEFAULT);
}

int ms_ckpt_damaged(const char *path) {
    char why[256];
    const char *e = ms_last_error();
    const size_t n = strlen(path);
    if (!strncmp(e, path, n) && !strncmp(e + n, ": ", 2)) e += n + 2; // the reader's message without the path
    snprintf(why, sizeof why, "%s", *e ? e : "unreadable");
    ms_error("%s: damaged checkpoint (%s); delete it to start over", path, why);
    return -1;
}

void ms_ckpt_close(hid_t id) {
    if (id < 0) return;
    if (H5Iget_type(id) == H5I_FILE) H5Fclose(id);
    else H5Gclose(id);
}
