// h5util.c: see h5util.h.
#include "io/h5util.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "util/util.h"

// ---- opening untrusted files (ms_h5_open)

// The child's exit codes; anything else is a crash. UNOPENABLE: H5Fopen itself failed, so the parent
// does not repeat it (a corrupt superblock or cache entry can make it attempt a wild allocation).
enum { WALK_CLEAN = 0, WALK_REFUSED = 3, WALK_UNOPENABLE = 4 };
#define WALK_MAX_BYTES ((hsize_t)64 << 20) // values read per object; larger ones are left to the readers

// Reads every value of an attribute or dataset as its native type (variable-length memory
// reclaimed). A fixed-size dataset is sampled instead: its first and last elements (the chunk index's
// first and last lookups, each chunk's filters run) and, when chunked, a count of its stored chunks,
// which visits every node of the chunk index; the readers then read only data whose index the child
// already walked.
static int walk_values(hid_t obj, int is_attr) {
    hid_t ft = is_attr ? H5Aget_type(obj) : H5Dget_type(obj), sp = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    hid_t mt = ft >= 0 ? H5Tget_native_type(ft, H5T_DIR_DEFAULT) : -1;
    int rc = ft < 0 || sp < 0 || mt < 0 ? -1 : 0;
    const int64_t n = rc ? 0 : ms_h5_npoints(sp);
    const int vlen = !rc && (H5Tdetect_class(ft, H5T_VLEN) > 0 || (H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0));
    const size_t esize = mt >= 0 ? H5Tget_size(mt) : 0;
    if (n < 0) rc = -1;
    if (!rc && n > 0 && esize > 0 && (is_attr || vlen) && (hsize_t)n * esize <= WALK_MAX_BYTES) {
        void *buf = calloc((size_t)n, esize);
        if (buf) {
            rc = (is_attr ? H5Aread(obj, mt, buf) : H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf)) < 0 ? -1 : 0;
            if (!rc && vlen) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, buf);
            free(buf);
        }
    } else if (!rc && !vlen && !is_attr && n > 0 && esize > 0 && esize <= WALK_MAX_BYTES) {
        hsize_t dims[32], start[32], one[32], count = 1;
        const int nd = H5Sget_simple_extent_ndims(sp);
        if (nd < 0 || nd > 32 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0) rc = -1;
        void *buf = rc ? NULL : calloc(1, esize);
        hid_t msp = H5Screate_simple(1, &count, NULL), fsp = H5Scopy(sp);
        for (int corner = 0; corner < 2 && buf && !rc; corner++) {
            for (int i = 0; i < nd; i++) start[i] = corner ? dims[i] - 1 : 0, one[i] = 1;
            if (msp < 0 || fsp < 0 || H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, one, NULL) < 0 ||
                H5Dread(obj, mt, msp, fsp, H5P_DEFAULT, buf) < 0)
                rc = -1;
        }
        free(buf);
        if (msp >= 0) H5Sclose(msp);
        if (fsp >= 0) H5Sclose(fsp);
        // H5S_ALL is mishandled by this call (its header says so): the dataset's own space counts all
        hid_t dcpl = rc ? -1 : H5Dget_create_plist(obj);
        hsize_t stored = 0;
        if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED && H5Dget_num_chunks(obj, sp, &stored) < 0) rc = -1;
        if (dcpl >= 0) H5Pclose(dcpl);
    }
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

static herr_t walk_attr(hid_t loc, const char *name, const H5A_info_t *info, void *bad) {
    (void)info;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0 || walk_values(a, 1) < 0) *(int *)bad = 1;
    if (a >= 0) H5Aclose(a);
    return 0;
}

static herr_t walk_object(hid_t loc, const char *name, const H5O_info_t *info, void *bad) {
    hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
    if (o < 0) { *(int *)bad = 1; return 0; }
    if (H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, walk_attr, bad) < 0) *(int *)bad = 1;
    if (info->type == H5O_TYPE_DATASET && walk_values(o, 0) < 0) *(int *)bad = 1;
    H5Oclose(o);
    return 0;
}

// Sanitizer builds (tests, fuzzing): a crash in the child must not run the parent's death callback
// (libFuzzer's would save the input as a finding of the parent); weak, so other builds need nothing.
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

// Set only in a walking child (after fork, never in the process that called ms_h5_open): nested
// opens by a rehearsal go straight to H5Fopen.
static int in_walk_child;

// The child's whole life: never returns (no atexit handlers, no stdio flush of the parent's buffers).
// Its stderr goes nowhere: the library's or a sanitizer's report on a crash is the parent's to word.
static void walk_and_exit(const char *path, void (*rehearse)(const char *path)) {
    in_walk_child = 1;
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(NULL);
    alarm(60); // a walk the library never ends (metadata loops) is a crash too: SIGALRM
    const int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 2);
    // The reader's own reads first, as the parent will make them, on a fresh library: a corrupt
    // global heap is undefined behaviour inside libhdf5, and whether a read of it faults depends on
    // what was read before (after the generic walk's reads, a Release `viz summary` whose /eval
    // read segfaulted ran clean in the child: contained-libhdf5/sae_h5/eval_attr_gcol_segv).
    if (rehearse) rehearse(path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int bad = f < 0;
    if (f >= 0 && H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, walk_object, &bad, H5O_INFO_BASIC) < 0) bad = 1;
    if (f >= 0 && H5Fclose(f) < 0) bad = 1;
    _exit(f < 0 ? WALK_UNOPENABLE : bad ? WALK_REFUSED : WALK_CLEAN);
}

hid_t ms_h5_open(const char *path, unsigned flags, const char *what) {
    return ms_h5_open_rehearsed(path, flags, what, NULL);
}

hid_t ms_h5_open_rehearsed(const char *path, unsigned flags, const char *what, void (*rehearse)(const char *path)) {
    ms_h5_quiet();
    const char *walk = getenv("MONOSCOPE_H5_WALK");
    const int skip = in_walk_child || (walk && !strcmp(walk, "0"));
    if (!skip) fflush(NULL); // nothing of ours is duplicated into the child's exit
    const pid_t pid = skip ? -1 : fork();
    if (pid == 0) walk_and_exit(path, rehearse);
    if (pid > 0) {
        int st = 0;
        pid_t w;
        while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {}
        const int code = w == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (code == WALK_UNOPENABLE) {
            if (what) ms_error("%s: %s", path, what);
            return -1;
        }
        if (w == pid && code != WALK_CLEAN && code != WALK_REFUSED) {
            if (WIFSIGNALED(st))
                ms_error("%s: corrupt HDF5 file: the HDF5 library crashed reading its metadata (signal %d, %s)", path,
                         WTERMSIG(st), strsignal(WTERMSIG(st)));
            else
                ms_error("%s: corrupt HDF5 file: the HDF5 library crashed reading its metadata (exit status %d)", path,
                         WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            return -1;
        }
    }
    hid_t f = H5Fopen(path, flags, H5P_DEFAULT);
    if (f < 0 && what) ms_error("%s: %s", path, what);
    return f;
}

static int atomic_create(ms_h5_atomic *a, const char *path, hid_t fapl) {
    ms_h5_quiet();
    a->path = path;
    a->tmp = ms_atomic_tmp_path(path);
    a->f = H5Fcreate(a->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (a->f >= 0) return 0;
    ms_error("%s: cannot create", path);
    free(a->tmp);
    a->tmp = NULL;
    return -1;
}

int ms_h5_atomic_begin(ms_h5_atomic *a, const char *path) { return atomic_create(a, path, H5P_DEFAULT); }

int ms_h5_atomic_begin_checksummed(ms_h5_atomic *a, const char *path) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST);
    int rc = atomic_create(a, path, fapl);
    H5Pclose(fapl);
    return rc;
}

// Whether loc's file was created by ms_h5_atomic_begin_checksummed (its format's lower bound is v1.10).
static int file_checksummed(hid_t loc) {
    hid_t f = H5Iget_file_id(loc);
    if (f < 0) return 0;
    hid_t fapl = H5Fget_access_plist(f);
    H5F_libver_t low = H5F_LIBVER_EARLIEST, high = H5F_LIBVER_LATEST;
    if (fapl >= 0) { H5Pget_libver_bounds(fapl, &low, &high); H5Pclose(fapl); }
    H5Fclose(f);
    return low >= H5F_LIBVER_V110;
}

// A dataset creation list with a Fletcher-32 checksum: chunked (the filter needs chunks), each chunk
// under 256 MiB (HDF5's limit is 4 GiB) along the first dimension.
static hid_t checksummed_dcpl(hid_t type, int ndim, const hsize_t *dims) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[8];
    double row = (double)H5Tget_size(type);
    for (int i = 0; i < ndim; i++) {
        if (dims[i] == 0) { H5Pclose(dcpl); return H5P_DEFAULT; } // nothing to checksum; chunks cannot exceed 0
        chunk[i] = dims[i];
    }
    for (int i = 1; i < ndim; i++) row *= (double)chunk[i];
    const double cap = 256.0 * 1024 * 1024;
    if (ndim > 0 && row * (double)chunk[0] > cap) chunk[0] = row >= cap ? 1 : (hsize_t)(cap / row);
    if (ndim == 0 || H5Pset_chunk(dcpl, ndim, chunk) < 0 || H5Pset_fletcher32(dcpl) < 0) {
        H5Pclose(dcpl);
        return H5P_DEFAULT;
    }
    return dcpl;
}

int ms_h5_atomic_end(ms_h5_atomic *a, int ok) {
    if (H5Fclose(a->f) < 0) ok = 0;
    a->f = -1;
    int rc = -1;
    if (!ok) {
        ms_error("%s: write failed (disk full?)", a->path);
        remove(a->tmp);
    } else if ((rc = ms_atomic_commit(a->tmp, a->path)) != 0) {
        remove(a->tmp);
    }
    free(a->tmp);
    a->tmp = NULL;
    return rc;
}

void ms_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

int ms_h5_write(hid_t loc, const char *name, hid_t type, int ndim, const int64_t *shape, const void *data) {
    hsize_t dims[8];
    for (int i = 0; i < ndim; i++) dims[i] = (hsize_t)shape[i];
    hid_t sp = H5Screate_simple(ndim, dims, NULL);
    hid_t dcpl = file_checksummed(loc) ? checksummed_dcpl(type, ndim, dims) : H5P_DEFAULT;
    hid_t ds = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = ds >= 0 && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0 ? 0 : -1;
    if (ds >= 0) H5Dclose(ds);
    if (dcpl != H5P_DEFAULT) H5Pclose(dcpl);
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

int64_t ms_h5_npoints(hid_t space) {
    hsize_t dims[32];
    const int nd = H5Sget_simple_extent_ndims(space);
    if (nd < 0 || nd > 32 || H5Sget_simple_extent_dims(space, dims, NULL) != nd) return -1;
    uint64_t n = 1;
    for (int i = 0; i < nd; i++) {
        if (dims[i] != 0 && n > (uint64_t)INT64_MAX / dims[i]) return -1;
        n *= dims[i];
    }
    return (int64_t)n;
}

int ms_h5_check_storage(hid_t loc, const char *file, const char *name) {
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) { ms_error("%s: missing dataset '%s'", file, name); return -1; }
    hid_t sp = H5Dget_space(ds), t = H5Dget_type(ds), dcpl = H5Dget_create_plist(ds);
    // The element count as the product of the dims in double: HDF5's own count is an hssize_t that
    // wraps for dims like 5e18 x 80 x 8 (a 41 KB file whose "need" wrapped small passed this check,
    // and a row read then overflowed libhdf5's buffers).
    hsize_t dims0[32];
    const int nd0 = H5Sget_simple_extent_ndims(sp);
    double n = nd0 >= 0 && nd0 <= 32 && H5Sget_simple_extent_dims(sp, dims0, NULL) == nd0 ? 1 : -1;
    for (int i = 0; n > 0 && i < nd0; i++) n *= (double)dims0[i];
    double need = (n > 0 ? n : 0) * (double)H5Tget_size(t), have = (double)H5Dget_storage_size(ds);
    int filtered = H5Pget_nfilters(dcpl) > 0;
    // HDF5 never writes a chunk longer than a fixed dimension, and its reader trusts the chunk dims
    // it reads back: a corrupt one made H5Dread copy past its buffer (a segfault in sae train).
    int bad_chunk = 0;
    if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
        int nd = H5Sget_simple_extent_ndims(sp);
        hsize_t dims[32], maxd[32], chunk[32];
        if (nd < 1 || nd > 32 || H5Pget_chunk(dcpl, nd, chunk) != nd || H5Sget_simple_extent_dims(sp, dims, maxd) != nd)
            bad_chunk = 1;
        double chunk_bytes = (double)H5Tget_size(t);
        for (int i = 0; !bad_chunk && i < nd; i++) {
            if (chunk[i] == 0 || (maxd[i] != H5S_UNLIMITED && chunk[i] > maxd[i])) bad_chunk = 1;
            chunk_bytes *= (double)chunk[i];
        }
        // Nor a chunk far larger than the data (an extendible dimension's chunk may exceed its rows):
        // HDF5 1.10 copies a whole chunk's worth out of a filter's shorter output (a heap overflow).
        if (n > 0 && chunk_bytes > (need > (double)(16 << 20) ? need : (double)(16 << 20))) bad_chunk = 1;
    }
    H5Pclose(dcpl);
    if (bad_chunk) {
        H5Tclose(t);
        H5Sclose(sp);
        H5Dclose(ds);
        ms_error("%s: dataset '%s' has chunks that do not fit its dimensions: corrupt", file, name);
        return -1;
    }
    H5Tclose(t);
    H5Sclose(sp);
    // Nor more stored bytes than the file has: a corrupt chunk index claimed a 4 GB chunk in a 41 KB
    // file, and H5Dread allocated it whole before reading.
    hid_t fid = H5Iget_file_id(ds);
    hsize_t file_bytes = 0; // the larger of the end of file and of allocated space, so a file being written counts what it holds
    const int oversized = fid >= 0 && H5Fget_filesize(fid, &file_bytes) >= 0 && have > (double)file_bytes;
    if (fid >= 0) H5Fclose(fid);
    H5Dclose(ds);
    if (oversized) {
        ms_error("%s: dataset '%s' claims %.0f bytes of storage in a file of %llu bytes: corrupt", file, name,
                 have, (unsigned long long)file_bytes);
        return -1;
    }
    if (have >= (filtered ? need / 1032 : need)) return 0;
    ms_error("%s: dataset '%s' holds %.0f bytes in the file, but its shape needs %.0f%s: truncated or corrupt",
             file, name, have, need, filtered ? " (compressed: at least 1/1032 of that)" : "");
    return -1;
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

// "<file>: <object path>" of loc, for error messages.
static void where(hid_t loc, char *buf, size_t n) {
    char file[1024], obj[512];
    if (H5Fget_name(loc, file, sizeof file) < 0) snprintf(file, sizeof file, "?");
    if (H5Iget_name(loc, obj, sizeof obj) <= 0) snprintf(obj, sizeof obj, "/");
    snprintf(buf, n, "%s: %s", file, obj);
}

// Describes an attribute's type and extent: "a float of 8 bytes", "an integer of 4 bytes with 3 values".
static void describe(hid_t t, hssize_t npoints, char *buf, size_t n) {
    const char *cls;
    switch (H5Tget_class(t)) {
    case H5T_INTEGER: cls = "an integer"; break;
    case H5T_FLOAT: cls = "a float"; break;
    case H5T_STRING: cls = "a string"; break;
    case H5T_COMPOUND: cls = "a compound"; break;
    case H5T_ARRAY: cls = "an array type"; break;
    case H5T_ENUM: cls = "an enum"; break;
    default: cls = "a value of another class"; break;
    }
    int k = snprintf(buf, n, "%s of %zu bytes", cls, H5Tget_size(t));
    if (npoints != 1 && k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, " with %lld values", (long long)npoints);
}

enum { WANT_INT = 1, WANT_FLOAT = 2, WANT_STR = 4 };
#define MS_H5_MAX_STR (16u << 20) // longest fixed-length string attribute read (the command line is the longest we write)

// Opens attribute `name` of loc after checking that it holds exactly one value of an accepted
// class. Returns the attribute id (its type in *type, to close), -2 when absent and optional, -1 + ms_error.
static hid_t open_checked(hid_t loc, const char *name, int required, int want, const char *expected, hid_t *type) {
    char at[1600];
    htri_t ex = H5Aexists(loc, name);
    if (ex <= 0) {
        if (ex == 0 && !required) return -2;
        where(loc, at, sizeof at);
        ms_error("%s: attribute '%s' is missing, expected %s", at, name, expected);
        return -1;
    }
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) { where(loc, at, sizeof at); ms_error("%s: attribute '%s' cannot be opened", at, name); return -1; }
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    int64_t np = ms_h5_npoints(sp);
    H5Sclose(sp);
    H5T_class_t c = H5Tget_class(t);
    int ok = np == 1 && ((c == H5T_INTEGER && (want & WANT_INT)) || (c == H5T_FLOAT && (want & WANT_FLOAT)) ||
                         (c == H5T_STRING && (want & WANT_STR)));
    if (!ok) {
        char found[128];
        describe(t, np, found, sizeof found);
        where(loc, at, sizeof at);
        ms_error("%s: attribute '%s' is %s, expected %s", at, name, found, expected);
        H5Tclose(t);
        H5Aclose(a);
        return -1;
    }
    *type = t;
    return a;
}

static int read_number(hid_t loc, const char *name, int required, int want, const char *expected, hid_t mem, void *v) {
    hid_t t;
    hid_t a = open_checked(loc, name, required, want, expected, &t);
    if (a < 0) return a == -2 ? 1 : -1;
    int rc = H5Aread(a, mem, v) >= 0 ? 0 : -1; // HDF5 converts any integer/float size to `mem`
    H5Tclose(t);
    H5Aclose(a);
    if (rc) {
        char at[1600];
        where(loc, at, sizeof at);
        ms_error("%s: attribute '%s' cannot be read as %s", at, name, expected);
    }
    return rc;
}

int ms_h5_get_attr_i64(hid_t loc, const char *name, int required, int64_t *v) {
    return read_number(loc, name, required, WANT_INT, "one integer", H5T_NATIVE_INT64, v);
}

int ms_h5_get_attr_f64(hid_t loc, const char *name, int required, double *v) {
    return read_number(loc, name, required, WANT_INT | WANT_FLOAT, "one number", H5T_NATIVE_DOUBLE, v);
}

int ms_h5_get_attr_strs(hid_t loc, const char *name, int n, char ***v) {
    if (H5Aexists(loc, name) <= 0) return 1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t sp = H5Aget_space(a), t = H5Aget_type(a);
    int ok = H5Sget_simple_extent_ndims(sp) == 1 && ms_h5_npoints(sp) == n && H5Tis_variable_str(t) > 0;
    char **raw = ms_calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    if (ok) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        ok = H5Aread(a, mt, raw) >= 0;
        H5Tclose(mt);
    }
    H5Tclose(t);
    H5Sclose(sp);
    H5Aclose(a);
    if (!ok) {
        free(raw);
        char at[1600];
        where(loc, at, sizeof at);
        ms_error("%s: attribute '%s' is not %d variable-length strings", at, name, n);
        return -1;
    }
    *v = ms_malloc((size_t)(n > 0 ? n : 1) * sizeof(char *));
    for (int i = 0; i < n; i++) {
        (*v)[i] = ms_strdup(raw[i] ? raw[i] : "");
        if (raw[i]) H5free_memory(raw[i]);
    }
    free(raw);
    return 0;
}

int ms_h5_get_attr_str(hid_t loc, const char *name, int required, char **v) {
    hid_t t;
    hid_t a = open_checked(loc, name, required, WANT_STR, "one string", &t);
    if (a < 0) return a == -2 ? 1 : -1;
    char *out = NULL;
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(t)); // HDF5 will not convert between ASCII and UTF-8
    if (H5Tis_variable_str(t) > 0) {
        char *s = NULL;
        H5Tset_size(mt, H5T_VARIABLE);
        if (H5Aread(a, mt, &s) >= 0) {
            out = ms_strdup(s ? s : "");
            if (s) H5free_memory(s);
        }
    } else {
        size_t n = H5Tget_size(t); // the memory type gets one more byte, so the copy is always terminated
        if (n <= MS_H5_MAX_STR) {  // a corrupt size field would otherwise allocate up to 4 GB
            out = ms_calloc(n + 1, 1);
            H5Tset_size(mt, n + 1);
            if (H5Aread(a, mt, out) < 0) { free(out); out = NULL; }
        }
    }
    H5Tclose(mt);
    H5Tclose(t);
    H5Aclose(a);
    if (!out) {
        char at[1600];
        where(loc, at, sizeof at);
        ms_error("%s: attribute '%s' cannot be read as a string", at, name);
        return -1;
    }
    *v = out;
    return 0;
}

char *ms_h5_read_attr_str(hid_t loc, const char *name) {
    if (H5Aexists(loc, name) <= 0) return NULL;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), t = H5Aget_type(a);
    int is_str = H5Tget_class(t) == H5T_STRING;
    H5Tclose(t);
    H5Aclose(a);
    char *v = NULL;
    if (!is_str) return NULL; // lenient by contract: a non-string is "absent" here
    return ms_h5_get_attr_str(loc, name, MS_H5_OPTIONAL, &v) == 0 ? v : NULL;
}

uint32_t ms_h5_fletcher32(const void *data, size_t len) {
    const uint8_t *p = data;
    size_t words = len / 2;
    uint32_t s1 = 0, s2 = 0;
    while (words > 0) {
        const uint32_t n = words > 360 ? 360 : (uint32_t)words;
        // After word j of the block (j = 0..n-1): s1 += w_j, s2 += s1. So at the block's end
        // s1 += Σ w_j and s2 += n·s1 + Σ (n - j)·w_j; uint32 arithmetic wraps the same in any
        // order, so these equal libhdf5's word-by-word sums bit for bit, overflow included.
        uint32_t a = 0, b = 0;
        for (uint32_t j = 0; j < n; j++) {
            const uint32_t w = (uint32_t)p[2 * j] << 8 | p[2 * j + 1];
            a += w;
            b += (n - j) * w;
        }
        s2 += n * s1 + b;
        s1 += a;
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
        p += 2 * (size_t)n;
        words -= n;
    }
    if (len % 2) {
        s1 += (uint32_t)*p << 8;
        s2 += s1;
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
    }
    s1 = (s1 & 0xffff) + (s1 >> 16);
    s2 = (s2 & 0xffff) + (s2 >> 16);
    return s2 << 16 | s1;
}

int ms_h5_write_chunk_checksummed(hid_t ds, const hsize_t *offset, uint8_t *bytes, size_t n) {
    uint8_t kept[4];
    const uint32_t sum = ms_h5_fletcher32(bytes, n);
    memcpy(kept, bytes + n, sizeof kept);
    memcpy(bytes + n, &sum, sizeof sum); // the filter's byte order: the machine's (libhdf5 reads either)
    const herr_t e = H5Dwrite_chunk(ds, H5P_DEFAULT, 0, offset, n + sizeof sum, bytes);
    memcpy(bytes + n, kept, sizeof kept);
    return e < 0 ? -1 : 0;
}

typedef struct {
    char ***names;
    int *n;
    haddr_t *seen;
    int bad;
} distinct_list;

static herr_t list_distinct_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    distinct_list *d = data;
    if (info->type != H5L_TYPE_HARD) { d->bad = 1; return 1; }
    for (int i = 0; i < *d->n; i++)
        if (d->seen[i] == info->u.address) { d->bad = 2; return 1; }
    *d->names = ms_realloc(*d->names, (size_t)(*d->n + 1) * sizeof **d->names);
    d->seen = ms_realloc(d->seen, (size_t)(*d->n + 1) * sizeof *d->seen);
    d->seen[*d->n] = info->u.address;
    (*d->names)[(*d->n)++] = ms_strdup(name);
    return 0;
}

int ms_h5_list_distinct(hid_t g, char ***names, int *n) {
    *names = NULL;
    *n = 0;
    hsize_t idx = 0;
    distinct_list d = {names, n, NULL, 0};
    const herr_t rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, list_distinct_cb, &d);
    free(d.seen);
    return d.bad ? d.bad : rc < 0 ? -1 : 0;
}
