// cmd_sae_encode.c: `monoscope sae encode --sae sae.h5 --acts acts.h5 --out feats.h5`.
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include "cli/cli.h"
#include "sae/eval.h"
#include "sae/sae.h"
#include "util/util.h"

static void help(FILE *f) {
    fprintf(f,
        "usage: monoscope sae encode --sae sae.h5 --acts acts.h5 --out feats.h5 [--hook NAME]\n"
        "                            [--max-tokens N] [--batch B] [--overwrite]\n\n"
        "Writes the sparse feature activations of every token of an activations file, in CSR form:\n"
        "  /indptr int64 [n_tokens+1], /indices int32 [nnz], /values float32 [nnz], /tokens int32 [n_tokens];\n"
        "token t (= sequence t / ctx, position t %% ctx) has latents indices[indptr[t]:indptr[t+1]]\n"
        "(ascending) with values values[...]. Attributes: n_tokens, n_seq, ctx, d_in, d_sae, nnz, hook,\n"
        "architecture, k, sae, acts. Processed B tokens at a time (memory bounded by B), written atomically.\n\n"
        "  --sae PATH        the SAE file\n"
        "  --acts PATH       activations file from `monoscope capture`\n"
        "  --out PATH        output HDF5 file\n"
        "  --hook NAME       hook site in the activations file (default: the SAE's hook, else the only one)\n"
        "  --max-tokens N    encode only the first N tokens (default: all)\n"
        "  --batch B         tokens per step (default 4096)\n"
        "  --overwrite       replace an existing --out (refused otherwise)\n"
        "  -h, --help        this help\n");
}

static const struct option opts[] = {{"sae", required_argument, 0, 's'}, {"acts", required_argument, 0, 'a'},
                                     {"out", required_argument, 0, 'o'}, {"hook", required_argument, 0, 'k'},
                                     {"max-tokens", required_argument, 0, 'm'}, {"batch", required_argument, 0, 'b'},
                                     {"overwrite", no_argument, 0, 'W'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};

typedef struct {
    const char *sae_path, *acts, *out;
    int overwrite;
    ms_sae_encode_opts eo;
} encode_args;

static int on_option(void *ctx, int opt, const char *arg) {
    encode_args *a = ctx;
    long v = 0;
    switch (opt) {
    case 's': a->sae_path = arg; break;
    case 'a': a->acts = arg; break;
    case 'o': a->out = arg; break;
    case 'k': a->eo.hook = arg; break;
    case 'W': a->overwrite = 1; break;
    case 'm': if ((v = cli_parse_long("--max-tokens", arg)) < 0) return 2; a->eo.max_tokens = v; break;
    case 'b': if ((v = cli_parse_long_in("--batch", arg, 1, LONG_MAX)) < 0) return 2; a->eo.batch = v; break;
    }
    return 0;
}

int cmd_sae_encode(int argc, char **argv) {
    encode_args a = {0};
    const cli_opts p = {"sae encode", opts, help, on_option, 0};
    int rc = cli_parse_opts(argc, argv, &p, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if (!a.sae_path || !a.acts || !a.out) return cli_usage_error("sae encode needs --sae, --acts and --out (see monoscope sae encode --help)");
    if (cli_refuse_existing(a.out, a.overwrite)) return 1;
    ms_sae *s = ms_sae_load(a.sae_path);
    if (!s) return cli_fail();
    a.eo.sae_path = a.sae_path;
    rc = ms_sae_encode_file(s, a.acts, a.out, &a.eo);
    ms_sae_free(s);
    if (rc) return cli_fail();
    printf("wrote %s\n", a.out);
    return 0;
}
