// h5util.c: see h5util.h.
#include "io/h5util.h"
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

void ms_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

int ms_h5_write(hid_t loc, const char *name, hid_t type, int ndim, const int64_t *shape, const void *data) {
    hsize_t dims[8];
    for (int i = 0; i < ndim; i++) dims[i] = (hsize_t)shape[i];
    hid_t sp = H5Screate_simple(ndim, dims, NULL);
    hid_t ds = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = ds >= 0 && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0 ? 0 : -1;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    if (rc) ms_error("cannot write dataset '%s'", name);
    return rc;
}

int ms_h5_shape(hid_t loc, const char *name, int64_t *dims) {
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return -1;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    hsize_t d[8];
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd > 8) nd = -1;
    else H5Sget_simple_extent_dims(sp, d, NULL);
    for (int i = 0; i < nd; i++) dims[i] = (int64_t)d[i];
    H5Sclose(sp);
    H5Dclose(ds);
    return nd;
}

int ms_h5_read(hid_t loc, const char *file, const char *name, hid_t type, int ndim, const int64_t *shape, void *data) {
    int64_t dims[8];
    int nd = ms_h5_shape(loc, name, dims);
    if (nd < 0) { ms_error("%s: missing dataset '%s'", file, name); return -1; }
    if (shape) {
        int ok = nd == ndim;
        for (int i = 0; ok && i < nd; i++) ok = dims[i] == shape[i];
        if (!ok) {
            char got[128] = "", want[128] = "";
            for (int i = 0; i < nd; i++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "", (long long)dims[i]);
            for (int i = 0; i < ndim; i++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? "," : "", (long long)shape[i]);
            ms_error("%s: dataset '%s' has shape [%s], expected [%s]", file, name, got, want);
            return -1;
        }
    }
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    int rc = ds >= 0 && H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0 ? 0 : -1;
    if (ds >= 0) H5Dclose(ds);
    if (rc) ms_error("%s: cannot read dataset '%s'", file, name);
    return rc;
}

static int write_attr(hid_t loc, const char *name, hid_t type, hid_t space, const void *v) {
    if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
    hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, type, v) >= 0 ? 0 : -1;
    if (a >= 0) H5Aclose(a);
    if (rc) ms_error("cannot write attribute '%s'", name);
    return rc;
}
int ms_h5_attr_int(hid_t loc, const char *name, int64_t v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    int rc = write_attr(loc, name, H5T_NATIVE_INT64, sp, &v);
    H5Sclose(sp);
    return rc;
}
int ms_h5_attr_float(hid_t loc, const char *name, double v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    int rc = write_attr(loc, name, H5T_NATIVE_DOUBLE, sp, &v);
    H5Sclose(sp);
    return rc;
}
static hid_t vlen_str_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}
int ms_h5_attr_str(hid_t loc, const char *name, const char *v) {
    hid_t sp = H5Screate(H5S_SCALAR), t = vlen_str_type();
    const char *p = v ? v : "";
    int rc = write_attr(loc, name, t, sp, &p);
    H5Tclose(t);
    H5Sclose(sp);
    return rc;
}
int ms_h5_attr_strs(hid_t loc, const char *name, const char *const *v, int n) {
    hsize_t dim = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &dim, NULL), t = vlen_str_type();
    int rc = write_attr(loc, name, t, sp, v);
    H5Tclose(t);
    H5Sclose(sp);
    return rc;
}

char *ms_h5_read_attr_str(hid_t loc, const char *name) {
    if (H5Aexists(loc, name) <= 0) return NULL;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), t = H5Aget_type(a);
    char *out = NULL;
    if (H5Tget_class(t) == H5T_STRING) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_cset(mt, H5Tget_cset(t)); // HDF5 will not convert between ASCII and UTF-8
        if (H5Tis_variable_str(t) > 0) {
            char *v = NULL;
            H5Tset_size(mt, H5T_VARIABLE);
            if (H5Aread(a, mt, &v) >= 0 && v) {
                out = ms_strdup(v);
                H5free_memory(v);
            }
        } else {
            size_t n = H5Tget_size(t);
            out = ms_calloc(n + 1, 1);
            H5Tset_size(mt, n + 1);
            if (H5Aread(a, mt, out) < 0) { free(out); out = NULL; }
        }
        H5Tclose(mt);
    }
    H5Tclose(t);
    H5Aclose(a);
    return out;
}
