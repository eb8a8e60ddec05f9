// h5util.h: the few HDF5 helpers shared by the SAE files, checkpoints, activation readers and
// figures (errors via ms_error).
#ifndef MS_IO_H5UTIL_H
#define MS_IO_H5UTIL_H
#include <hdf5.h>
#include <stdint.h>

void ms_h5_quiet(void); // stop HDF5 printing its own error stacks; we report one line instead

// Opens an existing HDF5 file (H5F_ACC_RDONLY or H5F_ACC_RDWR) that may be corrupt or hostile. The
// HDF5 library trusts some of what it reads -- variable-length data in global heaps (no checksums),
// attribute tables, metadata-cache entry sizes -- and can crash on a flipped byte before any call of
// ours could check (tests/fuzz/contained-libhdf5/). So a child process first walks the file's metadata
// the way the readers will (every object, every attribute value, every variable-length dataset, the
// first and last element of each other dataset and its whole chunk index); only if it returns does the caller open the file. A child killed
// by the library becomes one error line, "<path>: corrupt HDF5 file: ...", and -1. Where fork fails,
// or MONOSCOPE_H5_WALK=0 (fuzzing campaigns, where a fork per open would cost most of the
// throughput: tests/fuzz/run_fuzzer.sh), the file is opened without the walk. Returns the file id, or -1 + ms_error naming path: the
// crash, or "<path>: <what>" when HDF5 cannot open it (what NULL: no message for that case).
hid_t ms_h5_open(const char *path, unsigned flags, const char *what);
// The same, and the child then rehearses the reader itself: rehearse(path) makes the caller's own
// calls in the caller's order (e.g. the whole ms_sae_load), so a crash the generic walk misses (a
// corrupt global heap read lands differently) happens in the child too. Inside the child, nested
// ms_h5_open calls open directly.
hid_t ms_h5_open_rehearsed(const char *path, unsigned flags, const char *what, void (*rehearse)(const char *path));

// A new HDF5 file written atomically: created as a temporary beside path (ms_atomic_tmp_path);
// ms_h5_atomic_end closes it and, when ok and the close succeeded (a full disk often shows only
// there), moves it onto path (ms_atomic_commit: fsync + rename); otherwise removes it, so a
// failed write never leaves a file that looks complete. Both: 0 / -1 + ms_error naming path.
typedef struct {
    hid_t f;
    char *tmp;
    const char *path;
} ms_h5_atomic;
int ms_h5_atomic_begin(ms_h5_atomic *a, const char *path);
// The same, for files a run resumes from (checkpoints): HDF5's v1.10 format, whose metadata (object
// headers and the attributes in them, B-trees, the superblock) carries checksums, and ms_h5_write
// gives every dataset in it a Fletcher-32 checksum per chunk. A flipped byte then fails the read
// (one error line) instead of resuming into silently different numbers.
int ms_h5_atomic_begin_checksummed(ms_h5_atomic *a, const char *path);
int ms_h5_atomic_end(ms_h5_atomic *a, int ok);
// Writes a dataset of `type` (H5T_NATIVE_FLOAT, H5T_NATIVE_DOUBLE, H5T_NATIVE_INT64 ...) with the
// given shape (checksummed in a file from ms_h5_atomic_begin_checksummed). Returns 0 / -1.
int ms_h5_write(hid_t loc, const char *name, hid_t type, int ndim, const int64_t *shape, const void *data);
// Reads a whole dataset into data (n elements expected, converted to `type`); shape checked
// against `shape` when non-NULL. Returns 0 / -1 with "<file>: <name>: <problem>".
int ms_h5_read(hid_t loc, const char *file, const char *name, hid_t type, int ndim, const int64_t *shape, void *data);
// Shape of a dataset: returns ndim (-1 if missing), fills dims (up to 8).
int ms_h5_shape(hid_t loc, const char *name, int64_t *dims);
// Refuses a dataset whose dims claim more values than the file holds, before a reader allocates
// for them: unwritten chunks read as the fill value, so a 4 KB file can declare a terabyte dataset.
// A dataset without filters must have all its bytes stored; a compressed one at least 1/1032 of
// them (deflate's best ratio). Chunks longer than a fixed dimension (never written by HDF5; its
// reader would copy past its buffers) are refused too.
// 0 / -1 + "<file>: dataset '<name>' holds N bytes, but its shape needs M" or "... chunks ...".
int ms_h5_check_storage(hid_t loc, const char *file, const char *name);
// The number of elements of a simple dataspace, or -1 (an error, a null space or a count over
// INT64_MAX). Use it instead of H5Sget_simple_extent_npoints, whose hssize_t product wraps: dims like
// 2^32+1 x 2^32-1 read as a single element, and a buffer sized by it overflows.
int64_t ms_h5_npoints(hid_t space);
// The Fletcher-32 checksum HDF5's filter (H5Pset_fletcher32) appends to a stored chunk, in the same
// arithmetic (16-bit big-endian words, two sums folded to 16 bits every 360 words, a last odd byte as
// the high half of a word), with each 360-word block summed in independent lanes so that it
// vectorises: libhdf5's own loop is one dependent add per 2 bytes (~2 GB/s, half of a capture's HDF5
// time). tests/test_h5_direct.c checks it against libhdf5's H5_checksum_fletcher32.
uint32_t ms_h5_fletcher32(const void *data, size_t len);
// Writes chunk `index` (its first element's offsets: row index * chunk rows, 0, ...) of a dataset whose
// only filter is Fletcher-32, straight to the file (H5Dwrite_chunk): bytes (the whole chunk, n) are
// written with their checksum appended, as the filter would store it. The 4 bytes after the chunk
// must be writable: the checksum is put there for the write and they are restored after, so a chunk
// is written from where it lies (the next chunk of the same buffer, or spare room) without a copy.
// Skips HDF5's chunk cache and filter pipeline, which copy every chunk twice. 0 / -1 (HDF5's error
// stack holds why).
int ms_h5_write_chunk_checksummed(hid_t ds, const hsize_t *offset, uint8_t *bytes, size_t n);
// The names of group g's links in name order, when each is a hard link to an object no other name
// links to: a soft or external link could point anywhere (another file), and many names for one
// object would let a few bytes of file stand for many objects a reader allocates for. Returns 0, 1
// (a soft or external link), 2 (two names for one object) or -1 (not listable); *names (malloc'ed,
// *n of them, each malloc'ed) holds what was listed before any refusal, for the caller to free.
int ms_h5_list_distinct(hid_t g, char ***names, int *n);
int ms_h5_attr_int(hid_t loc, const char *name, int64_t v);
int ms_h5_attr_float(hid_t loc, const char *name, double v);
int ms_h5_attr_str(hid_t loc, const char *name, const char *v);
// Reads a scalar string attribute (fixed- or variable-length, ASCII or UTF-8) into a malloc'ed
// string; NULL if absent or not a string (no error).
char *ms_h5_read_attr_str(hid_t loc, const char *name);

// Typed, checked attribute readers. An attribute must hold exactly one value (scalar or 1-element
// dataspace) of the right class: integer for int64; float or integer for double; string (fixed or
// variable length, ASCII or UTF-8) for str. A missing attribute returns 1 and leaves *v alone when
// optional (MS_H5_OPTIONAL), and is an error when MS_H5_REQUIRED. Returns 0 read, 1 absent,
// -1 + one ms_error line "<file>: <object>: attribute '<name>' is <found>, expected <wanted>".
enum { MS_H5_OPTIONAL = 0, MS_H5_REQUIRED = 1 };
int ms_h5_get_attr_i64(hid_t loc, const char *name, int required, int64_t *v);
int ms_h5_get_attr_f64(hid_t loc, const char *name, int required, double *v);
int ms_h5_get_attr_str(hid_t loc, const char *name, int required, char **v); // *v malloc'ed
int ms_h5_attr_strs(hid_t loc, const char *name, const char *const *v, int n); // 1-D vlen strings
// Reads back a 1-D array of exactly n variable-length strings: *v gets n malloc'ed strings (free
// each, then the array). 0 read, 1 absent, -1 + ms_error (another type or count).
int ms_h5_get_attr_strs(hid_t loc, const char *name, int n, char ***v);

#endif
