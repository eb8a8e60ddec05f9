// cmd_info.c: `monoscope info PATH` prints what a checkpoint is, one "key: value" per line.
#include <getopt.h>
#include <stdio.h>
#include "cli/cli.h"
#include "model/model.h"
#include "util/util.h"

static void help(FILE *f) {
    fprintf(f, "usage: monoscope info PATH\n\n"
               "Prints a checkpoint's architecture, every dimension, parameter count, source format and\n"
               "dtype, and tokenizer kind (\"none\" if it came without one), one \"key: value\" per line.\n\n"
               "PATH is a Hugging Face directory (config.json + model.safetensors[.index.json]), a GGUF\n"
               "file, or a llama2.c checkpoint (tokenizer.bin beside it is picked up).\n\n"
               "  -h, --help   this help\n");
}

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'h') { help(stdout); return 0; }
        return cli_usage_error("unknown option (see monoscope info --help)");
    }
    if (optind != argc - 1) return cli_usage_error("info expects exactly one PATH (see monoscope info --help)");
    ms_model *m = ms_model_load(argv[optind]);
    if (!m) return cli_fail();
    const ms_config *c = &m->cfg;
    printf("path: %s\n", m->path);
    printf("architecture: %s\n", ms_arch_name(c->arch));
    printf("format: %s\n", c->source_format);
    printf("dtype: %s\n", c->source_dtype);
    printf("n_layer: %d\n", c->n_layer);
    printf("d_model: %d\n", c->d_model);
    printf("n_head: %d\n", c->n_head);
    printf("n_kv_head: %d\n", c->n_kv_head);
    printf("d_head: %d\n", c->d_head);
    printf("d_mlp: %d\n", c->d_mlp);
    printf("vocab_size: %d\n", c->vocab_size);
    printf("n_ctx: %d\n", c->n_ctx);
    printf("norm: %s eps %g\n", c->arch == MS_ARCH_GPT2 ? "layernorm" : "rmsnorm", (double)c->norm_eps);
    if (c->rope_style != MS_ROPE_NONE)
        printf("rope: %s theta %g\n", c->rope_style == MS_ROPE_HALF ? "half (rotate_half)" : "interleaved",
               (double)c->rope_theta);
    else
        printf("rope: none\n");
    printf("tied_embeddings: %s\n", c->tied_embeddings ? "yes" : "no");
    printf("parameters: %zu\n", m->n_params);
    printf("bos_id: %d\n", c->bos_id);
    printf("eos_id: %d\n", c->eos_id);
    printf("tokenizer: %s\n", m->tok ? ms_tokenizer_kind_name(m->tok) : "none");
    ms_model_free(m);
    return 0;
}
