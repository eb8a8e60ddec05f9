// fuzz_common.h: what the harnesses of tests/fuzz share. Each fuzz_<reader>.c defines
// LLVMFuzzerTestOneInput, which hands the fuzzer's bytes to the library's own entry point for that
// format; most readers take a path, so the bytes are written to a file in a private scratch
// directory first (on /dev/shm when it exists: no disk traffic at thousands of runs per second).
// The same harness sources build two ways: linked with libFuzzer (MONOSCOPE_FUZZ=ON, clang), and
// with fuzz_replay.c's plain main() so the normal test build replays tests/fuzz/regressions/.
// An input may only make the reader fail with one ms_error line; a crash, a sanitizer report, a
// hang, an exit() (ms_malloc's out-of-memory) or an allocation over the fuzzer's -malloc_limit_mb is
// a finding.
#ifndef MS_FUZZ_COMMON_H
#define MS_FUZZ_COMMON_H
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io/h5util.h"
#include "tokenizer/tokenizer.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_scratch[256];

static inline int fuzz_unlink_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}
static inline void fuzz_remove_scratch(void) {
    if (getenv("FUZZ_KEEP_SCRATCH")) { fprintf(stderr, "scratch kept: %s\n", fuzz_scratch); return; } // to inspect the last input's files
    nftw(fuzz_scratch, fuzz_unlink_cb, 16, FTW_DEPTH | FTW_PHYS);
}

// The scratch directory of this process, created on first use and removed at exit (the files in it
// are rewritten by every input, so it never grows).
static inline const char *fuzz_dir(void) {
    char *dir = fuzz_scratch;
    if (!dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        snprintf(dir, sizeof fuzz_scratch, "%s/ms_fuzz.XXXXXX", base);
        if (!mkdtemp(dir)) { perror("mkdtemp"); abort(); }
        atexit(fuzz_remove_scratch);
        ms_h5_quiet(); // the readers report one line; HDF5's own error stack would flood the log
        // HDF5's default free lists drop blocks over 64 KB (every H5Fopen's metadata cache, every
        // 1 MB type-conversion buffer), so each input paid fresh mmaps, page faults and ASan
        // quarantine for them: 4x slower. Keeping up to 64 MB per list reuses them across inputs
        // (HDF5's own blocks are then not quarantined; monoscope's allocations still are).
        H5set_free_list_limits(64 << 20, 64 << 20, 64 << 20, 64 << 20, 64 << 20, 64 << 20);
    }
    return dir;
}

// Writes bytes to <scratch>/<name> (name "dir/file": dir created inside the scratch directory) (replacing it) and returns the path (static storage per name
// slot: valid until the next call with the same slot).
static inline const char *fuzz_put(int slot, const char *name, const void *data, size_t size) {
    static char paths[4][512];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", fuzz_dir(), name);
    char *slash = strrchr(paths[slot], '/');
    *slash = 0;
    mkdir(paths[slot], 0700); // "<harness>/<file>": each harness its own directory (EEXIST is fine)
    *slash = '/';
    int fd = open(paths[slot], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror(paths[slot]); abort(); }
    const uint8_t *p = data;
    while (size > 0) {
        ssize_t w = write(fd, p, size);
        if (w <= 0) { perror(paths[slot]); abort(); }
        p += w;
        size -= (size_t)w;
    }
    close(fd);
    return paths[slot];
}

// A reader that refuses an input must say why in one ms_error line naming the file (every input
// lives in the scratch directory, so the message must hold its path). A refusal without that is a
// finding like a crash: abort() with the message. Call ms_clear_error() before the reader.
static inline void fuzz_check_refusal(const char *reader) {
    const char *e = ms_last_error();
    if (!strstr(e, fuzz_dir()) || strchr(e, '\n')) {
        fprintf(stderr, "%s refused an input without one line naming the file: \"%s\"\n", reader, e);
        abort();
    }
}

// <scratch>/<name> as a malloc'ed path.
static inline char *fuzz_path(const char *name) { return ms_path_join(fuzz_dir(), name); }

// Splits the input at the first occurrence of sep: the part before into *a, the rest into *b (empty
// when sep is absent). For formats that come as two files (vocab.json + merges.txt).
static inline void fuzz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **a, size_t *na,
                              const uint8_t **b, size_t *nb) {
    size_t ls = strlen(sep);
    *a = data; *na = size; *b = data + size; *nb = 0;
    for (size_t i = 0; i + ls <= size; i++)
        if (!memcmp(data + i, sep, ls)) { *na = i; *b = data + i + ls; *nb = size - i - ls; return; }
}

// Encodes and decodes a fixed text with a tokenizer a loader accepted: its tables must be safe to use.
static inline void fuzz_use_tokenizer(const ms_tokenizer *t) {
    static const char text[] = "Hello world, 123 \xc3\xa9t\xc3\xa9 \xe2\x96\x81x <0x0A>\n\xff";
    int32_t *ids = NULL;
    size_t n = 0;
    if (ms_tokenizer_encode(t, text, sizeof text - 1, 1, &ids, &n) == 0) free(ms_tokenizer_decode(t, ids, n));
    free(ids);
    int V = ms_tokenizer_vocab_size(t);
    int32_t some[3] = {0, V > 0 ? V - 1 : 0, ms_tokenizer_eos(t) >= 0 ? ms_tokenizer_eos(t) : 0};
    if (V > 0) free(ms_tokenizer_decode(t, some, 3));
}

#endif
