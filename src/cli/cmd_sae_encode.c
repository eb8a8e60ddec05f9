// cmd_sae_encode.c: `monoscope sae encode --sae sae.h5 --acts acts.h5 --out feats.h5`.
#include <getopt.h>
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

int cmd_sae_encode(int argc, char **argv) {
    static const struct option opts[] = {{"sae", required_argument, 0, 's'}, {"acts", required_argument, 0, 'a'},
                                         {"out", required_argument, 0, 'o'}, {"hook", required_argument, 0, 'k'},
                                         {"max-tokens", required_argument, 0, 'm'}, {"batch", required_argument, 0, 'b'}, {"overwrite", no_argument, 0, 'W'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *sae_path = NULL, *acts = NULL, *out = NULL;
    ms_sae_encode_opts eo = {0};
    long v;
    int ch, overwrite = 0;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 's': sae_path = optarg; break;
        case 'a': acts = optarg; break;
        case 'o': out = optarg; break;
        case 'k': eo.hook = optarg; break;
        case 'm': if ((v = cli_parse_long("--max-tokens", optarg)) < 0) return 2; eo.max_tokens = v; break;
        case 'b':
            if ((v = cli_parse_long("--batch", optarg)) < 0) return 2;
            if (v < 1) return cli_usage_error("--batch must be at least 1");
            eo.batch = v;
            break;
        case 'W': overwrite = 1; break;
        case 'h': help(stdout); return 0;
        default: return cli_usage_error("sae encode: unknown option or missing value '%s' (see monoscope sae encode --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error("sae encode: unexpected argument '%s'", argv[optind]);
    if (!sae_path || !acts || !out) return cli_usage_error("sae encode needs --sae, --acts and --out (see monoscope sae encode --help)");
    if (cli_refuse_existing(out, overwrite)) return 1;
    ms_sae *s = ms_sae_load(sae_path);
    if (!s) return cli_fail();
    eo.sae_path = sae_path;
    int rc = ms_sae_encode_file(s, acts, out, &eo);
    ms_sae_free(s);
    if (rc) return cli_fail();
    printf("wrote %s\n", out);
    return 0;
}
