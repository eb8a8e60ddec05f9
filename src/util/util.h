// util.h: errors, allocation, files, timing and progress shared by every component.
#ifndef MS_UTIL_H
#define MS_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// ---- errors
// Library functions return 0 on success and -1 on failure after recording one message with
// ms_error(); the CLI prints it as a single line "monoscope: error: <message>" and exits non-zero.
// Messages name the file and the problem: "model.safetensors: truncated: tensor 'wte' ends past EOF".
void ms_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *ms_last_error(void);
void ms_clear_error(void);

// ---- allocation: out of memory is not recoverable for this tool; print one line and exit(1).
void *ms_malloc(size_t n);
void *ms_calloc(size_t n, size_t size);
void *ms_realloc(void *p, size_t n);
char *ms_strdup(const char *s);
// 64-byte aligned, zeroed; free with free().
void *ms_aligned_alloc(size_t n);
// A read-only file mapping [map, map + map_len) is done with bytes [p, p + n) for now: the pages
// holding them leave this process (still in the page cache, read again from the file if touched),
// so a loader's resident set holds what it converted, not the file (safetensors, GGUF).
void ms_mapping_release(const void *map, size_t map_len, const void *p, size_t n);

// ---- files
// Reads a whole file; *len gets its size; adds a terminating NUL (not counted). NULL + ms_error on failure.
char *ms_read_file(const char *path, size_t *len);
int ms_is_dir(const char *path);
// Creates directory path (one level) unless it exists as a directory. Returns 0, or -1 + ms_error.
int ms_mkdir(const char *path);
int ms_file_exists(const char *path);
// path_join("a/b", "c.json") -> newly allocated "a/b/c.json"
char *ms_path_join(const char *dir, const char *name);

// Atomic writes: write to "<path>.tmp.<pid>", then ms_atomic_commit() fsyncs and renames over path,
// so readers see either the old file or the complete new one, never a torn write. Temps of the same
// path left by a killed run (their pid no longer exists) are removed when a new one is named.
char *ms_atomic_tmp_path(const char *path);
int ms_atomic_commit(const char *tmp_path, const char *path);

// ---- time
double ms_now(void); // monotonic seconds

// ---- progress on stderr, with rate and ETA in `unit`/s: a bar redrawn in place when stderr is a
// terminal; otherwise (nohup, SLURM, a pipe) one plain line every MONOSCOPE_PROGRESS_SECONDS
// (default 30; 0: none) and a last one at the end of a job that printed any. MONOSCOPE_NO_PROGRESS
// turns both off.
typedef struct {
    const char *label;
    const char *unit;
    double total, done;
    double t_start, t_last_draw;
    int enabled;        // 0 off, 1 terminal bar, 2 log lines
    double interval;    // seconds between log lines
    int lines;          // log lines printed
} ms_progress;
void ms_progress_start(ms_progress *p, const char *label, double total, const char *unit);
// extra: optional live metrics appended to the line, e.g. "loss 0.123 L0 31.9"
void ms_progress_update(ms_progress *p, double done, const char *extra);
void ms_progress_finish(ms_progress *p);

// ---- misc
// fnmatch-style glob where '*' also matches '.', used for hook names ("blocks.*.hook_resid_post").
int ms_glob_match(const char *pattern, const char *name);
// Peak resident set size of this process in bytes (from getrusage).
size_t ms_peak_rss(void);
// Number of threads used by OpenMP regions and BLAS (MONOSCOPE_THREADS, else OMP_NUM_THREADS, else all cores).
int ms_num_threads(void);
// The full command line, for provenance attributes in every output file (set once by main).
void ms_set_command_line(int argc, char **argv);
const char *ms_command_line(void);

#endif
