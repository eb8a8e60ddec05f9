// cli.h: the thin command layer. Each command lives in its own cmd_<name>.c, parses its options
// with getopt_long, calls the library, and returns the process exit status.
#ifndef MS_CLI_H
#define MS_CLI_H
#include <stdio.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); // argv[0] is the command name
    const char *summary;
} ms_command;

// Prints "monoscope: error: <ms_last_error()>" as one line on stderr and returns 1.
int cli_fail(void);
// Prints "monoscope: error: <message>" and returns 2 (usage errors).
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// Parses a non-negative integer option value; on error reports it and returns -1.
long cli_parse_long(const char *opt, const char *value);
// cli_parse_long, then lo <= value <= hi ("OPT must be at least LO" / "... between LO and HI").
long cli_parse_long_in(const char *opt, const char *value, long lo, long hi);

// One command's options for cli_parse_opts (cli_opts.c).
struct option;
typedef struct {
    const char *cmd;                    // "sae eval": names the command in messages
    const struct option *table;         // getopt_long's table; 'h' is --help
    void (*help)(FILE *f);
    // One parsed option (its table value, its argument or NULL): 0, or the exit status (2) after
    // reporting a bad value.
    int (*on_option)(void *ctx, int opt, const char *arg);
    int operands;                       // 0: no operand allowed; else the caller checks argv[optind..]
} cli_opts;
// Runs getopt_long over argv: each option goes to on_option; -h/--help prints the help and returns
// -1 (the command then exits 0); an unknown option or missing value, or an operand where none is
// allowed, is reported and returns 2. Returns 0 when the command should go on (optind: first operand).
int cli_parse_opts(int argc, char **argv, const cli_opts *p, void *ctx);
// Every command's --out: an existing file (or non-empty directory) is replaced only with --overwrite.
// Returns 0 to go on, or prints one error line naming path and returns 1.
int cli_refuse_existing(const char *path, int overwrite);

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv); // cmd_tokenizer.c: `tokenizer train`
int cmd_generate(int argc, char **argv);
int cmd_capture(int argc, char **argv);
int cmd_run(int argc, char **argv);   // cmd_run.c
int cmd_hooks(int argc, char **argv); // cmd_hooks.c
int cmd_random_model(int argc, char **argv);
int cmd_train_lm(int argc, char **argv); // cmd_train_lm.c
int cmd_sae(int argc, char **argv);
int cmd_viz(int argc, char **argv);
int cmd_probe(int argc, char **argv);    // cmd_probe.c: `probe train`
int cmd_concepts(int argc, char **argv); // cmd_concepts.c: `concepts label`
int cmd_pca(int argc, char **argv);      // cmd_pca.c

// `monoscope sae <sub>`: cmd_sae.c dispatches to one function per subcommand (argv[0] = subcommand).
int cmd_sae_train(int argc, char **argv);  // cmd_sae_train.c
int cmd_sae_eval(int argc, char **argv);   // cmd_sae_eval.c
int cmd_sae_export(int argc, char **argv); // cmd_sae_export.c
int cmd_sae_import(int argc, char **argv); // cmd_sae_import.c
int cmd_sae_encode(int argc, char **argv); // cmd_sae_encode.c
int cmd_sae_match(int argc, char **argv);  // cmd_sae_match.c

#endif
