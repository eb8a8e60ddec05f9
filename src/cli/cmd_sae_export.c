// cmd_sae_export.c: `monoscope sae export --sae sae.h5 --format saelens --out DIR`.
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "sae/sae.h"
#include "sae/saelens.h"
#include "util/util.h"

static void help(FILE *f) {
    fprintf(f,
        "usage: monoscope sae export --sae sae.h5 --out DIR [--format saelens] [--overwrite]\n\n"
        "Writes a dictionary in another tool's layout. saelens: DIR/cfg.json + DIR/sae_weights.safetensors\n"
        "(float32 W_enc [d_in,d_sae], W_dec [d_sae,d_in], b_enc, b_dec, threshold), loadable with\n"
        "sae_lens.SAE.load_from_disk(DIR). Architectures: relu -> \"standard\", topk -> \"topk\" (k),\n"
        "jumprelu -> \"jumprelu\", batchtopk -> \"jumprelu\" with its global threshold on every latent (how\n"
        "SAELens saves BatchTopK SAEs for inference). The activation normalisation is already folded in\n"
        "(normalize_activations \"none\"). Every sae.h5 attribute and the training log are kept too, so\n"
        "`monoscope sae import DIR` gives back the same file. Files are written atomically.\n\n"
        "  --sae PATH      the SAE file (from `monoscope sae train` or `sae import`)\n"
        "  --out DIR       output directory (created if missing; a non-empty one only with --overwrite)\n"
        "  --overwrite     replace the files of an existing non-empty --out\n"
        "  --format NAME   saelens (the only format for now; default)\n"
        "  -h, --help      this help\n");
}

static const struct option opts[] = {{"sae", required_argument, 0, 's'}, {"out", required_argument, 0, 'o'},
                                     {"format", required_argument, 0, 'f'}, {"overwrite", no_argument, 0, 'W'},
                                     {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};

typedef struct {
    const char *sae_path, *out, *format;
    int overwrite;
} export_args;

static int on_option(void *ctx, int opt, const char *arg) {
    export_args *a = ctx;
    switch (opt) {
    case 's': a->sae_path = arg; break;
    case 'o': a->out = arg; break;
    case 'f': a->format = arg; break;
    case 'W': a->overwrite = 1; break;
    }
    return 0;
}

int cmd_sae_export(int argc, char **argv) {
    export_args a = {.format = "saelens"};
    const cli_opts p = {"sae export", opts, help, on_option, 0};
    int rc = cli_parse_opts(argc, argv, &p, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if (!a.sae_path || !a.out) return cli_usage_error("sae export needs --sae and --out (see monoscope sae export --help)");
    if (strcmp(a.format, "saelens")) return cli_usage_error("sae export: unknown --format '%s' (supported: saelens)", a.format);
    if (cli_refuse_existing(a.out, a.overwrite)) return 1;
    ms_sae *s = ms_sae_load(a.sae_path);
    if (!s) return cli_fail();
    rc = ms_saelens_export(s, a.out);
    if (!rc)
        printf("wrote %s/cfg.json and %s/sae_weights.safetensors (%s, d_in %d, d_sae %d)\n", a.out, a.out,
               s->arch == MS_SAE_RELU ? "standard" : s->arch == MS_SAE_TOPK ? "topk" : "jumprelu", s->d_in, s->d_sae);
    ms_sae_free(s);
    return rc ? cli_fail() : 0;
}
