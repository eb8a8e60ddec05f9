// cmd_sae_import.c: `monoscope sae import DIR --out sae.h5`.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include "cli/cli.h"
#include "sae/sae.h"
#include "sae/saelens.h"
#include "util/util.h"

static void help(FILE *f) {
    fprintf(f,
        "usage: monoscope sae import DIR --out sae.h5 [--norm-scale S] [--overwrite]\n\n"
        "Reads a SAELens directory (cfg.json + sae_weights.safetensors, as written by SAE.save_model or\n"
        "published on the Hugging Face Hub, e.g. the GPT-2-small residual SAEs) into monoscope's SAE file.\n"
        "Accepts SAELens 6 configs (\"metadata\"), SAELens 3-5 (hook_name, activation_fn_kwargs.k) and the\n"
        "older hook_point keys; architectures standard, topk, jumprelu (threshold or log_threshold) and\n"
        "batchtopk; tensors in F32, F16, BF16 or F64. Conventions monoscope does not use are folded into\n"
        "the weights: apply_b_dec_to_input=false (b_enc += b_dec W_enc), rescale_acts_by_decoder_norm,\n"
        "finetuning scaling_factor, and normalize_activations=expected_average_only_in (needs --norm-scale).\n\n"
        "  DIR              the SAELens directory\n"
        "  --out PATH       the SAE file to write (atomically)\n"
        "  --overwrite      replace an existing --out (refused otherwise)\n"
        "  --norm-scale S   the release's activation scaling factor for normalize_activations=\n"
        "                   expected_average_only_in (folded: W_enc*S, W_dec/S, b_dec/S)\n"
        "  -h, --help       this help\n");
}

static const struct option opts[] = {{"out", required_argument, 0, 'o'}, {"norm-scale", required_argument, 0, 'n'},
                                     {"overwrite", no_argument, 0, 'W'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};

typedef struct {
    const char *out;
    int overwrite;
    ms_saelens_import_opts io;
} import_args;

static int on_option(void *ctx, int opt, const char *arg) {
    import_args *a = ctx;
    switch (opt) {
    case 'o': a->out = arg; break;
    case 'W': a->overwrite = 1; break;
    case 'n': {
        char *end = NULL;
        a->io.norm_scale = strtod(arg, &end);
        if (!*arg || *end || !(a->io.norm_scale > 0)) return cli_usage_error("--norm-scale expects a positive number, got '%s'", arg);
        break;
    }
    }
    return 0;
}

int cmd_sae_import(int argc, char **argv) {
    import_args a = {0};
    const cli_opts p = {"sae import", opts, help, on_option, 1};
    int rc = cli_parse_opts(argc, argv, &p, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if (optind != argc - 1) return cli_usage_error("sae import expects exactly one DIR (see monoscope sae import --help)");
    if (!a.out) return cli_usage_error("sae import needs --out (see monoscope sae import --help)");
    if (cli_refuse_existing(a.out, a.overwrite)) return 1;
    ms_sae *s = ms_saelens_import(argv[optind], &a.io);
    if (!s) return cli_fail();
    rc = ms_sae_save(s, a.out);
    if (!rc) {
        const char *hook = ms_sae_attr_str(s, "hook");
        printf("wrote %s (%s, d_in %d, d_sae %d%s%s)\n", a.out, ms_sae_arch_name(s->arch), s->d_in, s->d_sae,
               hook ? ", hook " : "", hook ? hook : "");
    }
    ms_sae_free(s);
    return rc ? cli_fail() : 0;
}
