// util.c: see util.h.
#include "util/util.h"
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <fnmatch.h>
#include <signal.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char g_error[1024];

void ms_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
    // one line, whatever a corrupt file put in the names a message quotes: control bytes become '?'
    for (char *c = g_error; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
}
const char *ms_last_error(void) { return g_error[0] ? g_error : "unknown error"; }
void ms_clear_error(void) { g_error[0] = 0; }

static void oom(size_t n) {
    fprintf(stderr, "monoscope: error: out of memory allocating %zu bytes\n", n);
    exit(1);
}
void *ms_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}
void *ms_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}
void *ms_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}
char *ms_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = ms_malloc(n);
    memcpy(d, s, n);
    return d;
}
void *ms_aligned_alloc(size_t n) {
    // Large buffers (weights, their kernel-layout copies, activations) on 2 MiB boundaries with
    // transparent huge pages requested: first touch then faults once per 2 MiB instead of per
    // 4 KiB (page faults were a quarter of a GPT-2-small capture's first batch on this VM).
    const size_t huge = (size_t)2 << 20;
    const size_t align = n >= 2 * huge ? huge : 64;
    size_t rounded = (n + align - 1) / align * align;
    void *p = aligned_alloc(align, rounded ? rounded : 64);
    if (!p) oom(n);
#ifdef MADV_HUGEPAGE
    if (align == huge) madvise(p, rounded, MADV_HUGEPAGE); // advice only: ignored where THP is off
#endif
    memset(p, 0, rounded);
    return p;
}

void ms_mapping_release(const void *map, size_t map_len, const void *p, size_t n) {
    if (!map || !n) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), base = (uintptr_t)map;
    const uintptr_t lo = (uintptr_t)p & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + n + page - 1) & ~(page - 1);
    if (hi > base + map_len) hi = base + map_len; // a neighbour sharing an end page is read again if needed
    if (lo >= base && hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

// Whole file into memory, NUL-terminated. The size comes from fstat, not from seeking: a directory
// opens fine on Linux and "seeks" to an end near 2^63, which would become a wild allocation.
// Pipes and other non-regular files are read to their end in growing chunks.
char *ms_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { ms_error("%s: cannot open: %s", path, strerror(errno)); return NULL; }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) {
        ms_error("%s: %s", path, S_ISDIR(st.st_mode) ? "is a directory, expected a file" : "cannot stat");
        fclose(f);
        return NULL;
    }
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, n = 0;
    char *buf = ms_malloc(cap);
    for (;;) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1 || S_ISREG(st.st_mode)) break;
        buf = ms_realloc(buf, cap *= 2);
    }
    const int failed = ferror(f) || (S_ISREG(st.st_mode) && n != (size_t)st.st_size);
    fclose(f);
    if (failed) { ms_error("%s: read error", path); free(buf); return NULL; }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}
int ms_is_dir(const char *path) { struct stat st; return stat(path, &st) == 0 && S_ISDIR(st.st_mode); }

int ms_mkdir(const char *path) {
    if (ms_is_dir(path)) return 0;
    if (mkdir(path, 0777) < 0 && !ms_is_dir(path)) {
        if (errno == EEXIST) ms_error("%s: exists and is not a directory", path);
        else ms_error("%s: cannot create directory: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
int ms_file_exists(const char *path) { struct stat st; return stat(path, &st) == 0; }
char *ms_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = ms_malloc(a + b + 2);
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

// Removes "<path>.tmp.<pid>" files whose process is gone (SIGKILL, a crash, a power cut): a temp of a
// live process, this one's or another run's, is left alone.
static void remove_stale_temps(const char *path) {
    const char *slash = strrchr(path, '/');
    const size_t nd = slash ? (size_t)(slash - path) + 1 : 0;
    char *dir = ms_malloc(nd + 2);
    memcpy(dir, nd ? path : ".", nd ? nd : 1);
    dir[nd ? nd : 1] = 0;
    const char *base = slash ? slash + 1 : path;
    const size_t nb = strlen(base);
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strncmp(e->d_name, base, nb) || strncmp(e->d_name + nb, ".tmp.", 5)) continue;
        char *end;
        const long pid = strtol(e->d_name + nb + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *stale = ms_path_join(dir, e->d_name);
        remove(stale);
        free(stale);
    }
    if (d) closedir(d);
    free(dir);
}

char *ms_atomic_tmp_path(const char *path) {
    remove_stale_temps(path);
    size_t n = strlen(path) + 32;
    char *t = ms_malloc(n);
    snprintf(t, n, "%s.tmp.%d", path, (int)getpid());
    return t;
}
int ms_atomic_commit(const char *tmp_path, const char *path) {
    int fd = open(tmp_path, O_RDONLY);
    if (fd < 0) { ms_error("%s: cannot reopen for sync: %s", tmp_path, strerror(errno)); return -1; }
    if (fsync(fd) != 0) {
        ms_error("%s: fsync failed: %s", tmp_path, strerror(errno));
        close(fd); return -1;
    }
    close(fd);
    if (rename(tmp_path, path) != 0) {
        ms_error("%s: cannot rename into place: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

double ms_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void format_duration(double s, char *buf, size_t n) {
    if (s < 0 || s > 1e7) { snprintf(buf, n, "--:--"); return; }
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, n, "%02d:%02d", t / 60, t % 60);
}

void ms_progress_start(ms_progress *p, const char *label, double total, const char *unit) {
    memset(p, 0, sizeof *p);
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->t_start = p->t_last_draw = ms_now();
    if (getenv("MONOSCOPE_NO_PROGRESS")) return;
    if (isatty(STDERR_FILENO)) { p->enabled = 1; return; }
    const char *e = getenv("MONOSCOPE_PROGRESS_SECONDS");
    p->interval = e && *e ? atof(e) : 30.0;
    p->enabled = p->interval > 0 ? 2 : 0;
}
static void progress_draw(ms_progress *p, const char *extra) {
    double el = ms_now() - p->t_start;
    double rate = el > 0 ? p->done / el : 0;
    char eta[32], elapsed[32];
    format_duration(rate > 0 && p->total > 0 ? (p->total - p->done) / rate : -1, eta, sizeof eta);
    format_duration(el, elapsed, sizeof elapsed);
    const int width = 24;
    double frac = p->total > 0 ? p->done / p->total : 0;
    if (frac > 1) frac = 1;
    int fill = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    if (p->enabled == 2) // a log: one complete line each time, no bar, no cursor control
        fprintf(stderr, "%s: %.1f%% %.0f/%.0f %s, %.1f %s/s, elapsed %s, eta %s%s%s\n", p->label, 100.0 * frac, p->done,
                p->total, p->unit, rate, p->unit, elapsed, eta, extra ? ", " : "", extra ? extra : "");
    else
        fprintf(stderr, "\r\033[K%s [%s] %5.1f%% %.0f/%.0f %s, %.1f %s/s, %s<%s%s%s", p->label, bar, 100.0 * frac,
                p->done, p->total, p->unit, rate, p->unit, elapsed, eta, extra ? "  " : "", extra ? extra : "");
    fflush(stderr);
}
void ms_progress_update(ms_progress *p, double done, const char *extra) {
    p->done = done;
    if (!p->enabled) return;
    double t = ms_now();
    if (p->enabled == 2) {
        if (t - p->t_last_draw < p->interval) return;
        p->lines++;
    } else if (t - p->t_last_draw < 0.1 && done < p->total) {
        return;
    }
    p->t_last_draw = t;
    progress_draw(p, extra);
}
void ms_progress_finish(ms_progress *p) {
    if (!p->enabled || (p->enabled == 2 && !p->lines)) return; // a short job's log needs no progress
    progress_draw(p, NULL);
    if (p->enabled == 1) fputc('\n', stderr);
}

int ms_glob_match(const char *pattern, const char *name) { return fnmatch(pattern, name, 0) == 0; }

// VmHWM of /proc/self/status: getrusage's ru_maxrss carries a parent's peak across exec, so a
// large parent (a test harness) would inflate our own figure.
size_t ms_peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        size_t kb = 0;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %zu kB", &kb) == 1) break;
        fclose(f);
        if (kb) return kb * 1024;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024;
}

int ms_num_threads(void) {
    const char *e = getenv("MONOSCOPE_THREADS");
    if (e && atoi(e) > 0) return atoi(e);
    return omp_get_max_threads();
}

static char *g_cmdline;
void ms_set_command_line(int argc, char **argv) {
    size_t n = 1;
    for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 3;
    free(g_cmdline);
    g_cmdline = ms_malloc(n);
    g_cmdline[0] = 0;
    for (int i = 0; i < argc; i++) {
        if (i) strcat(g_cmdline, " ");
        int quote = strpbrk(argv[i], " \t\"'") != NULL;
        if (quote) strcat(g_cmdline, "'");
        strcat(g_cmdline, argv[i]);
        if (quote) strcat(g_cmdline, "'");
    }
}
const char *ms_command_line(void) { return g_cmdline ? g_cmdline : ""; }
