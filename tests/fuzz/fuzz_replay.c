// fuzz_replay.c: a plain main() for the harnesses, so the normal (gcc, ASan+UBSan) test build
// replays inputs without libFuzzer: `fuzz_replay_<reader> FILE|DIR...` runs the harness on every
// file given and every file in every directory given (the regression corpus
// tests/fuzz/regressions/<reader>/), printing one line per input. A crash or sanitizer report fails
// the test; the harness itself never fails on a rejected input.
#include <dirent.h>
#include <sys/stat.h>
#include "fuzz_common.h"

// Under ASan (the test build), an allocation over 512 MB is a finding, as under libFuzzer's
// -malloc_limit_mb: the inputs are a few KB, so such a request comes from an unchecked size field.
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "max_allocation_size_mb=512:allocator_may_return_null=0"; }

static int run_file(const char *path) {
    size_t n = 0;
    char *data = ms_read_file(path, &n);
    if (!data) { fprintf(stderr, "%s\n", ms_last_error()); return 1; }
    ms_clear_error();
    LLVMFuzzerTestOneInput((const uint8_t *)data, n);
    printf("%s: %zu bytes: %s\n", path, n, ms_last_error());
    free(data);
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Every regular file of dir, in name order (reproducible logs).
static int run_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) { perror(dir); return 1; }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = ms_path_join(dir, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ms_is_dir(names[i])) bad |= run_file(names[i]);
        free(names[i]);
    }
    free(names);
    return bad;
}

int main(int argc, char **argv) {
    int bad = 0;
    for (int i = 1; i < argc; i++) bad |= ms_is_dir(argv[i]) ? run_dir(argv[i]) : run_file(argv[i]);
    return bad;
}
