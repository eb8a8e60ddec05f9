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

int cmd_sae_import(int argc, char **argv) {
    static const struct option opts[] = {{"out", required_argument, 0, 'o'}, {"norm-scale", required_argument, 0, 'n'},
                                         {"overwrite", no_argument, 0, 'W'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL;
    ms_saelens_import_opts io = {0};
    int ch, overwrite = 0;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': out = optarg; break;
        case 'n': {
            char *end = NULL;
            io.norm_scale = strtod(optarg, &end);
            if (!*optarg || *end || !(io.norm_scale > 0)) return cli_usage_error("--norm-scale expects a positive number, got '%s'", optarg);
            break;
        }
        case 'W': overwrite = 1; break;
        case 'h': help(stdout); return 0;
        default: return cli_usage_error("sae import: unknown option or missing value '%s' (see monoscope sae import --help)", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) return cli_usage_error("sae import expects exactly one DIR (see monoscope sae import --help)");
    if (!out) return cli_usage_error("sae import needs --out (see monoscope sae import --help)");
    if (cli_refuse_existing(out, overwrite)) return 1;
    ms_sae *s = ms_saelens_import(argv[optind], &io);
    if (!s) return cli_fail();
    int rc = ms_sae_save(s, out);
    if (!rc) {
        const char *hook = ms_sae_attr_str(s, "hook");
        printf("wrote %s (%s, d_in %d, d_sae %d%s%s)\n", out, ms_sae_arch_name(s->arch), s->d_in, s->d_sae,
               hook ? ", hook " : "", hook ? hook : "");
    }
    ms_sae_free(s);
    return rc ? cli_fail() : 0;
}
