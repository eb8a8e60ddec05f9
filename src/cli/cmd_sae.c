// cmd_sae.c: `monoscope sae <train|eval|export|import|encode> ...` dispatch.
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"

static const ms_command sae_commands[] = {
    {"train", cmd_sae_train, "learn a sparse dictionary from activation files (topk, batchtopk, jumprelu, relu)"},
    {"eval", cmd_sae_eval, "reconstruction, sparsity and (with --model) CE-loss-recovered metrics"},
    {"export", cmd_sae_export, "write an SAE in another tool's layout (SAELens)"},
    {"import", cmd_sae_import, "read an SAE from another tool's layout (SAELens) into sae.h5"},
    {"encode", cmd_sae_encode, "write sparse feature activations (indices + values) for activation files"},
    {"match", cmd_sae_match, "the features that best predict each concept of a labels file, beside a probe"},
};
static const int n_sae_commands = (int)(sizeof sae_commands / sizeof sae_commands[0]);

static void usage(FILE *f) {
    fprintf(f, "usage: monoscope sae <subcommand> [options]   (monoscope sae <subcommand> --help)\n\nsubcommands:\n");
    for (int i = 0; i < n_sae_commands; i++) fprintf(f, "  %-8s %s\n", sae_commands[i].name, sae_commands[i].summary);
}

int cmd_sae(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
    for (int i = 0; i < n_sae_commands; i++)
        if (!strcmp(argv[1], sae_commands[i].name)) return sae_commands[i].run(argc - 1, argv + 1);
    return cli_usage_error("unknown sae subcommand '%s' (train, eval, export, import, encode, match)", argv[1]);
}
