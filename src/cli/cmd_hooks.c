// cmd_hooks.c: `monoscope hooks`: every hook site of a model, in execution order, with its shape.
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "model/model.h"
#include "util/util.h"

static void help(FILE *f) {
    fprintf(f,
        "usage: monoscope hooks --model PATH [--ctx T]\n\n"
        "Lists every hook site of the model, one per line in execution order: its TransformerLens name\n"
        "and its shape for one sequence (pos = the sequence length, or T with --ctx). These are exactly\n"
        "the names capture --hooks, run --ablate/--steer/--patch and the C hook API accept.\n\n"
        "  -m, --model PATH   checkpoint: Hugging Face dir, GGUF file, or llama2.c .bin\n"
        "      --ctx T        print shapes for T tokens instead of the symbolic pos\n"
        "  -h, --help         this help\n");
}

static void print_site(const ms_config *c, ms_site site, int layer, int T) {
    int64_t sh[4];
    const int nd = ms_site_shape(c, site, T, sh); // T = 0: dims equal to 0 are the sequence length
    if (nd < 0) return;                          // not produced by this architecture
    char name[96];
    ms_site_name(site, layer, name, sizeof name);
    printf("%-32s [", name);
    for (int i = 0; i < nd; i++) {
        if (sh[i] == 0) printf("%spos", i ? ", " : "");
        else printf("%s%lld", i ? ", " : "", (long long)sh[i]);
    }
    printf("]\n");
}

int cmd_hooks(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"ctx", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *model_path = NULL;
    long T = 0;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': model_path = optarg; break;
        case 'c': if ((T = cli_parse_long("--ctx", optarg)) < 0) return 2; break;
        case 'h': help(stdout); return 0;
        default: return cli_usage_error("unknown option (see monoscope hooks --help)");
        }
    }
    if (optind != argc) return cli_usage_error("unexpected argument '%s' (see monoscope hooks --help)", argv[optind]);
    if (!model_path) return cli_usage_error("--model is required (see monoscope hooks --help)");
    ms_model *m = ms_model_load(model_path);
    if (!m) return cli_fail();
    const ms_config *c = &m->cfg;
    if (T > c->n_ctx) {
        ms_error("--ctx %ld exceeds the model's context of %d", T, c->n_ctx);
        ms_model_free(m);
        return cli_fail();
    }
    // ms_site is declared in execution order: global sites before the blocks, then each block's
    // sites, then the final norm and the logits
    for (int s = 0; s < MS_SITE_COUNT; s++)
        if (!ms_site_is_block((ms_site)s) && s < MS_SITE_RESID_PRE) print_site(c, (ms_site)s, -1, (int)T);
    for (int l = 0; l < c->n_layer; l++)
        for (int s = 0; s < MS_SITE_COUNT; s++)
            if (ms_site_is_block((ms_site)s)) print_site(c, (ms_site)s, l, (int)T);
    for (int s = MS_SITE_RESID_POST + 1; s < MS_SITE_COUNT; s++) print_site(c, (ms_site)s, -1, (int)T);
    ms_model_free(m);
    return 0;
}
