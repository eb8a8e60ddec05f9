// cmd_info.c: `monoscope info PATH` prints what a checkpoint is, one "key: value" per line.
#include <getopt.h>
#include <stdio.h>
#include "cli/cli.h"
#include "model/describe.h"
#include "util/util.h"

static void help(FILE *f) {
    fprintf(f, "usage: monoscope info [--check] PATH\n\n"
               "Prints a checkpoint's architecture, every dimension, parameter count, source format and\n"
               "dtype, and tokenizer kind (\"none\" if it came without one), one \"key: value\" per line.\n"
               "Only the configuration, the tensor index and the tokenizer are read (instant for an 8B\n"
               "checkpoint); --check also reads every tensor as capture would (shapes, dtypes, NaN/inf).\n\n"
               "PATH is a Hugging Face directory (config.json + model.safetensors[.index.json]), a GGUF\n"
               "file, or a llama2.c checkpoint (tokenizer.bin beside it is picked up).\n\n"
               "  --check      load and check every weight (needs the memory of the whole model in float32)\n"
               "  -h, --help   this help\n");
}

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {{"check", no_argument, 0, 'c'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int ch, check = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'h') { help(stdout); return 0; }
        if (ch == 'c') { check = 1; continue; }
        return cli_usage_error("unknown option (see monoscope info --help)");
    }
    if (optind != argc - 1) return cli_usage_error("info expects exactly one PATH (see monoscope info --help)");
    ms_model *m = check ? ms_model_load(argv[optind]) : ms_model_load_header(argv[optind]);
    if (!m) return cli_fail();
    ms_model_describe(stdout, m);
    ms_model_free(m);
    return 0;
}
