// main.c: `monoscope <command> ...` dispatch.
#include <hdf5.h>
#include <dirent.h>
#include <omp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cli/cli.h"
#include "util/util.h"

static const ms_command commands[] = {
    {"info", cmd_info, "print a checkpoint's architecture, dimensions, dtype and tokenizer"},
    {"tokenize", cmd_tokenize, "text -> token ids, or ids -> text with --decode"},
    {"tokenizer", cmd_tokenizer, "train a byte-level BPE tokenizer (vocab.json + merges.txt) on a JSONL corpus"},
    {"generate", cmd_generate, "greedy generation from a prompt, ids or BOS"},
    {"run", cmd_run, "top predictions and greedy text with/without ablation, steering or patching"},
    {"hooks", cmd_hooks, "list a model's hook sites (TransformerLens names) and their shapes"},
    {"capture", cmd_capture, "run a model over a corpus and write hook-site activations to HDF5"},
    {"random-model", cmd_random_model, "write a small random-weight checkpoint (demos, benchmarks)"},
    {"train-lm", cmd_train_lm, "train a GPT-2-architecture language model from scratch (HF output)"},
    {"sae", cmd_sae, "train, evaluate, export, import and apply sparse autoencoders"},
    {"probe", cmd_probe, "fit linear probes (ridge, logistic) for concepts on a hook site's activations"},
    {"concepts", cmd_concepts, "label tokens with rule-based concepts (PCRE2) in capture's windows"},
    {"pca", cmd_pca, "principal components of a hook site's activations (LAPACKE dsyevr)"},
    {"viz", cmd_viz, "render heatmaps, token highlights, dashboards and summary figures to PNG"},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

int cli_fail(void) {
    fprintf(stderr, "monoscope: error: %s\n", ms_last_error());
    return 1;
}
int cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "monoscope: error: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}
long cli_parse_long(const char *opt, const char *value) {
    char *end = NULL;
    long v = value ? strtol(value, &end, 10) : -1;
    if (!value || !*value || *end || v < 0) {
        cli_usage_error("%s expects a non-negative integer, got '%s'", opt, value ? value : "");
        return -1;
    }
    return v;
}
// A directory counts as existing output only when it has an entry: `sae export` into a fresh
// (or just created, empty) directory is not a replacement.
static int dir_nonempty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *e;
    int any = 0;
    while (!any && (e = readdir(d)) != NULL) any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return any;
}
int cli_refuse_existing(const char *path, int overwrite) {
    struct stat st;
    if (overwrite || stat(path, &st) != 0) return 0;
    if (S_ISDIR(st.st_mode) && !dir_nonempty(path)) return 0;
    fprintf(stderr, "monoscope: error: %s: output exists (use --overwrite to replace it, or another --out)\n", path);
    return 1;
}

static void usage(FILE *f) {
    fprintf(f, "monoscope %s: capture transformer activations, learn sparse dictionaries, render them\n\n"
               "usage: monoscope <command> [options]   (monoscope <command> --help for details)\n\n"
               "commands:\n", MS_VERSION);
    for (int i = 0; i < n_commands; i++) fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
}

// OpenMP threads that spin while they wait (libgomp's default: ~300k spins before sleeping) collapse
// when the cores are shared with other busy processes: a layer-0 capture of 20k tokens took 3x longer
// on a loaded host. PASSIVE (threads sleep at once) costs nothing measurable unloaded. libgomp reads
// OMP_WAIT_POLICY / GOMP_SPINCOUNT once, in its load-time constructor, and has no API to change the
// spin count later, so the only sound way for the application to change the default is to re-exec
// itself once with the variable set. The variable being set is the loop guard; a user's own
// OMP_WAIT_POLICY or GOMP_SPINCOUNT is respected. If the exec fails we just run with spinning threads.
static void reexec_with_passive_wait(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
    execv("/proc/self/exe", argv);
    unsetenv("OMP_WAIT_POLICY");  // exec failed (no /proc): carry on in this process
}

// Ctrl-C or SIGTERM during a resumable command (capture, sae train, train-lm): what it wrote stays
// resumable (capture flushes every batch, training keeps its last atomic checkpoint), so it ends at
// once, printing the command that continues it. The text is prepared before the handler is
// installed: a handler may only write(2) and _exit.
static char *g_resume_hint;
static size_t g_resume_hint_len;

static void on_interrupt(int sig) {
    if (g_resume_hint) {
        ssize_t w = write(STDERR_FILENO, g_resume_hint, g_resume_hint_len);
        (void)w;
    }
    _exit(128 + sig);
}

// arg quoted for a POSIX shell when it holds anything but safe characters ('...', ' as '\'').
static void append_shell_word(char *out, const char *arg) {
    if (*arg && strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+=.,/:@%") == strlen(arg)) {
        strcat(out, arg);
        return;
    }
    char *o = out + strlen(out);
    *o++ = '\'';
    for (const char *c = arg; *c; c++) {
        if (*c == '\'') { memcpy(o, "'\\''", 4); o += 4; }
        else *o++ = *c;
    }
    *o++ = '\'';
    *o = 0;
}

static void arm_resume_hint(int argc, char **argv) {
    const int resumable = argc >= 2 && (!strcmp(argv[1], "capture") || !strcmp(argv[1], "train-lm") ||
                                        (argc >= 3 && !strcmp(argv[1], "sae") && !strcmp(argv[2], "train")));
    if (!resumable) return;
    int has_resume = 0;
    size_t n = 128;
    for (int i = 0; i < argc; i++) {
        n += 4 * strlen(argv[i]) + 3;
        has_resume |= !strcmp(argv[i], "--resume");
    }
    g_resume_hint = ms_malloc(n);
    strcpy(g_resume_hint, "\nmonoscope: interrupted; continue with:\n  ");
    for (int i = 0; i < argc; i++) {
        if (i) strcat(g_resume_hint, " ");
        append_shell_word(g_resume_hint, argv[i]);
    }
    strcat(g_resume_hint, has_resume ? "\n" : " --resume\n");
    g_resume_hint_len = strlen(g_resume_hint);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv) {
    reexec_with_passive_wait(argv);
    ms_set_command_line(argc, argv);
    // Every file the commands open they also close, and report when closing fails. HDF5's own
    // exit-time cleanup would close such a failed file (disk full) a second time and crash inside
    // the library after the error was printed; so it is not registered (must precede any H5 call).
    H5dont_atexit();
    // The process default, set once here (the library sets no OpenMP state): MONOSCOPE_THREADS,
    // else OMP_NUM_THREADS, else all cores, for every OpenMP loop and OpenBLAS call of the command.
    omp_set_num_threads(ms_num_threads());
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) { printf("monoscope %s\n", MS_VERSION); return 0; }
    arm_resume_hint(argc, argv);
    for (int i = 0; i < n_commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "monoscope: error: unknown command '%s' (see monoscope --help)\n", argv[1]);
    return 2;
}
