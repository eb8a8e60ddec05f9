// cmd_sae_match.c: `monoscope sae match --sae sae.h5 --acts acts.h5 --labels labels.h5 ...`.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include "cli/cli.h"
#include "sae/match.h"

static void help(FILE *f) {
    fprintf(f,
        "usage: monoscope sae match --sae sae.h5 --acts acts.h5 --labels labels.h5 [--probe probe.h5]\n"
        "                           [--hook NAME] [--concept C] [--top K] [--max-tokens N] [--json] [--no-store]\n\n"
        "Which features isolate which concept: for every concept of a labels file (`monoscope concepts\n"
        "label`, same corpus and ctx as the capture), the K features whose activation best predicts its\n"
        "tokens. A feature predicts the concept where its activation is at least a threshold; feature and\n"
        "threshold are chosen by F1 on the training sequences, then scored on the held-out ones (F1,\n"
        "precision, recall, and the AUC of the raw activation), so the best of thousands of features is not\n"
        "scored on the tokens it was picked on. The split is the probe's (--probe) or every fifth sequence.\n"
        "Beside each concept: the linear probe's held-out F1 (--probe), the ceiling a dictionary is measured\n"
        "against; a thresholded feature is not linear and can beat it (said so). Padding is never data.\n"
        "The result is stored as /match in the SAE file (`monoscope viz match` draws it; dashboards of\n"
        "matched features say so).\n\n"
        "  --sae PATH         the dictionary\n"
        "  --acts PATH        activations of its site (monoscope capture)\n"
        "  --labels PATH      concept labels of the same corpus (monoscope concepts label)\n"
        "  --probe PATH       probes of the same site and labels (monoscope probe train): its split, its F1\n"
        "  --hook NAME        the site when the SAE file does not say\n"
        "  --concept C        only this concept (default: every one in the labels file)\n"
        "  --top K            features kept per concept (default 3)\n"
        "  --max-tokens N     use the first N real tokens (default: all; memory ~12 bytes per non-zero code)\n"
        "  --json             print the result as JSON instead of a table\n"
        "  --no-store         do not write /match into the SAE file\n"
        "  -h, --help         this help\n");
}

static const struct option opts[] = {
    {"sae", required_argument, 0, 's'},     {"acts", required_argument, 0, 'a'},  {"labels", required_argument, 0, 'l'},
    {"probe", required_argument, 0, 'p'},   {"hook", required_argument, 0, 'k'},  {"concept", required_argument, 0, 'c'},
    {"top", required_argument, 0, 't'},     {"max-tokens", required_argument, 0, 'm'}, {"json", no_argument, 0, 'j'},
    {"no-store", no_argument, 0, 'N'},      {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};

typedef struct {
    const char *sae;
    ms_sae_match_opts o;
    int json, no_store;
} match_args;

static int on_option(void *ctx, int opt, const char *arg) {
    match_args *a = ctx;
    long v;
    switch (opt) {
    case 's': a->sae = arg; break;
    case 'a': a->o.acts = arg; break;
    case 'l': a->o.labels = arg; break;
    case 'p': a->o.probe = arg; break;
    case 'k': a->o.hook = arg; break;
    case 'c': a->o.concept = arg; break;
    case 't': if ((v = cli_parse_long_in("--top", arg, 1, 1000)) < 0) return 2; a->o.top = (int)v; break;
    case 'm': if ((v = cli_parse_long("--max-tokens", arg)) < 0) return 2; a->o.max_tokens = v; break;
    case 'j': a->json = 1; break;
    case 'N': a->no_store = 1; break;
    }
    return 0;
}

int cmd_sae_match(int argc, char **argv) {
    match_args a = {0};
    const cli_opts p = {"sae match", opts, help, on_option, 0};
    int rc = cli_parse_opts(argc, argv, &p, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if (!a.sae || !a.o.acts || !a.o.labels)
        return cli_usage_error("sae match needs --sae, --acts and --labels (see monoscope sae match --help)");
    ms_sae_match_result r;
    if (ms_sae_match_file(a.sae, &a.o, !a.no_store, &r)) return cli_fail();
    if (a.json) {
        char *s = ms_sae_match_json(&r);
        printf("%s\n", s);
        free(s);
    } else {
        ms_sae_match_print(stdout, &r);
    }
    ms_sae_match_result_free(&r);
    return 0;
}
