// cli.h: the thin command layer. Each command lives in its own cmd_<name>.c, parses its options
// with getopt_long, calls the library, and returns the process exit status.
#ifndef MS_CLI_H
#define MS_CLI_H

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
int cmd_sae(int argc, char **argv);
int cmd_viz(int argc, char **argv);

// `monoscope sae <sub>`: cmd_sae.c dispatches to one function per subcommand (argv[0] = subcommand).
int cmd_sae_train(int argc, char **argv);  // cmd_sae_train.c
int cmd_sae_eval(int argc, char **argv);   // cmd_sae_eval.c
int cmd_sae_export(int argc, char **argv); // cmd_sae_export.c
int cmd_sae_import(int argc, char **argv); // cmd_sae_import.c
int cmd_sae_encode(int argc, char **argv); // cmd_sae_encode.c

#endif
