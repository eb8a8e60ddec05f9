// cmd_probe.c: `monoscope probe train` (probes/probe.h).
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "probes/probe.h"
#include "probes/sweep.h"
#include "viz/viz.h"
#include "util/util.h"

static void help(FILE *f) {
    fprintf(f,
        "usage: monoscope probe train --acts acts.h5 --hook H --labels labels.h5 [--concept C | --all]\n"
        "                             [--ridge L] [--logistic] [--test-frac F] [--seed S] [--max-iter N]\n"
        "                             [--block B] --out probe.h5 [--json]\n\n"
        "Fits a linear probe per concept on one hook site's activations: ridge regression in closed form\n"
        "(default) or logistic regression by Newton/IRLS, on features standardised with the training\n"
        "split's mean and std (the bias is never penalised). Sequences are split train/test by a seeded\n"
        "shuffle; padding tokens are skipped; labels' /tokens must equal the activations' /tokens.\n"
        "Prints accuracy, AUC and F1 (at 0.5) on the held-out split.\n\n"
        "  --acts PATH      activations file from `monoscope capture`\n"
        "  --hook NAME      hook site (default: the file's only one)\n"
        "  --labels PATH    labels file from `monoscope concepts label`\n"
        "  --concept NAME   the concept to probe (--all, the default: every concept in the file)\n"
        "  --ridge L        L2 penalty on the standardised weights (default 0.01; also used by --logistic)\n"
        "  --logistic       logistic regression instead of ridge\n"
        "  --test-frac F    fraction of sequences held out (default 0.2)\n"
        "  --seed S         split seed (default 0)\n"
        "  --max-iter N     logistic Newton iterations at most (default 50)\n"
        "  --out PATH       probe.h5 (README \"Probes and concepts\")\n"
        "  --overwrite      replace an existing --out (refused otherwise)\n"
        "  --json           print the metrics as JSON\n"
        "  --block B        tokens per streamed block (default 4096; memory is O(d^2 + B d))\n"
        "  -h, --help       this help\n");
}

static void report(const ms_probe_set *p, int json) {
    for (int k = 0; k < p->n_fits; k++) {
        const ms_probe_fit *f = &p->fits[k];
        if (!f->converged)
            fprintf(stderr, "monoscope: note: %s: not converged in %d iterations (separable data? raise --ridge or --max-iter)\n",
                    f->concept, f->iterations);
        if (strcmp(f->solver, "dposv") != 0)
            fprintf(stderr, "monoscope: note: %s: normal equations not positive definite; solved by least squares (dgelsd)\n", f->concept);
    }
    if (json) {
        printf("{\"kind\": \"%s\", \"hook\": \"%s\", \"lambda\": %.17g, \"n_train_tokens\": %lld, \"n_test_tokens\": %lld, \"probes\": [",
               p->logistic ? "logistic" : "ridge", p->hook, p->lambda, (long long)p->n_train, (long long)p->n_test);
        for (int k = 0; k < p->n_fits; k++) {
            const ms_probe_fit *f = &p->fits[k];
            printf("%s{\"concept\": \"%s\", \"accuracy\": %.17g, \"auc\": %.17g, \"f1\": %.17g, \"n_pos_train\": %lld, "
                   "\"n_pos_test\": %lld, \"iterations\": %d, \"converged\": %s, \"solver\": \"%s\"}",
                   k ? ", " : "", f->concept, f->accuracy, f->auc, f->f1, (long long)f->n_pos_train, (long long)f->n_pos_test,
                   f->iterations, f->converged ? "true" : "false", f->solver);
        }
        printf("]}\n");
        return;
    }
    printf("%s probes on %s: %lld train / %lld test tokens, lambda %g\n", p->logistic ? "logistic" : "ridge", p->hook,
           (long long)p->n_train, (long long)p->n_test, p->lambda);
    printf("%-24s %9s %9s %9s %8s\n", "concept", "accuracy", "auc", "f1", "pos_test");
    for (int k = 0; k < p->n_fits; k++) {
        const ms_probe_fit *f = &p->fits[k];
        printf("%-24s %9.4f %9.4f %9.4f %8lld\n", f->concept, f->accuracy, f->auc, f->f1, (long long)f->n_pos_test);
    }
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *v) {
    char *end;
    *v = strtod(s, &end);
    if (end == s || *end || !(*v >= lo && *v <= hi)) {
        cli_usage_error("%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
        return -1;
    }
    return 0;
}

static int probe_train(int argc, char **argv) {
    static const struct option opts[] = {
        {"acts", required_argument, 0, 'a'}, {"hook", required_argument, 0, 'k'}, {"labels", required_argument, 0, 'l'},
        {"concept", required_argument, 0, 'c'}, {"all", no_argument, 0, 'A'}, {"ridge", required_argument, 0, 'r'},
        {"logistic", no_argument, 0, 'L'}, {"test-frac", required_argument, 0, 't'}, {"seed", required_argument, 0, 's'},
        {"max-iter", required_argument, 0, 'm'}, {"out", required_argument, 0, 'o'}, {"json", no_argument, 0, 'j'},
        {"block", required_argument, 0, 'b'}, {"overwrite", no_argument, 0, 'W'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ms_probe_opts o = {.lambda = 1e-2, .test_frac = 0.2, .max_iter = 50};
    const char *out = NULL;
    int json = 0, all = 0, overwrite = 0, ch;
    long v;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'a': o.acts = optarg; break;
        case 'k': o.hook = optarg; break;
        case 'l': o.labels = optarg; break;
        case 'c': o.concept = optarg; break;
        case 'A': all = 1; break;
        case 'r': if (parse_double("--ridge", optarg, 0, 1e12, &o.lambda)) return 2; break;
        case 'L': o.logistic = 1; break;
        case 't': if (parse_double("--test-frac", optarg, 0, 0.99, &o.test_frac)) return 2; break;
        case 's': if ((v = cli_parse_long("--seed", optarg)) < 0) return 2; o.seed = (uint64_t)v; break;
        case 'm':
            if ((v = cli_parse_long("--max-iter", optarg)) < 0) return 2;
            if (v < 1) return cli_usage_error("--max-iter must be at least 1");
            o.max_iter = (int)v;
            break;
        case 'o': out = optarg; break;
        case 'j': json = 1; break;
        case 'W': overwrite = 1; break;
        case 'b': if ((v = cli_parse_long("--block", optarg)) < 0) return 2; o.block = v; break;
        case 'h': help(stdout); return 0;
        default: return cli_usage_error("probe train: unknown option or missing value '%s' (see monoscope probe train --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error("probe train: unexpected argument '%s'", argv[optind]);
    if (!o.acts || !o.labels || !out) return cli_usage_error("probe train needs --acts, --labels and --out (see monoscope probe train --help)");
    if (all && o.concept) return cli_usage_error("probe train: give --concept or --all, not both");
    if (cli_refuse_existing(out, overwrite)) return 1;
    ms_probe_set *p = ms_probe_train(&o);
    if (!p) return cli_fail();
    int rc = ms_probe_save(out, p, &o);
    if (!rc) report(p, json);
    ms_probe_set_free(p);
    if (rc) return cli_fail();
    if (!json) printf("wrote %s\n", out);
    return 0;
}

static void sweep_help(FILE *f) {
    fprintf(f,
        "usage: monoscope probe sweep --acts acts.h5 --hook GLOB --labels labels.h5 [--concept C] [--ridge λ]\n"
        "                             [--logistic] [--test-frac 0.2] [--seed S] [--max-iter 50] [--block B]\n"
        "                             --out DIR [--dpi N] [--overwrite]\n\n"
        "Probes at every site the glob names ('blocks.*.hook_resid_post'): is a concept linearly present,\n"
        "and from which layer on? One `probe train` per site with the same split and settings. Writes\n"
        "DIR/probe_<site>.h5 for each site, DIR/sweep.tsv (site, layer, concept, accuracy, auc, f1,\n"
        "n_pos_test; held out) and DIR/sweep.png (F1 against the layer, one line per concept), and prints\n"
        "the F1 table (sites as rows, concepts as columns).\n\n"
        "  --hook GLOB       the sites to probe\n"
        "  --out DIR         output directory (a non-empty one only with --overwrite)\n"
        "  --dpi N           figure resolution (default 100)\n"
        "  other options as for `monoscope probe train`\n");
}

static int probe_sweep(int argc, char **argv) {
    static const struct option opts[] = {
        {"acts", required_argument, 0, 'a'}, {"hook", required_argument, 0, 'k'}, {"labels", required_argument, 0, 'l'},
        {"concept", required_argument, 0, 'c'}, {"ridge", required_argument, 0, 'r'}, {"logistic", no_argument, 0, 'L'},
        {"test-frac", required_argument, 0, 't'}, {"seed", required_argument, 0, 's'}, {"max-iter", required_argument, 0, 'm'},
        {"out", required_argument, 0, 'o'}, {"block", required_argument, 0, 'b'}, {"dpi", required_argument, 0, 'd'},
        {"overwrite", no_argument, 0, 'W'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ms_probe_opts o = {.lambda = 1e-2, .test_frac = 0.2, .max_iter = 50};
    const char *out = NULL, *glob = NULL;
    int overwrite = 0, ch;
    double dpi = 100;
    long v;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'a': o.acts = optarg; break;
        case 'k': glob = optarg; break;
        case 'l': o.labels = optarg; break;
        case 'c': o.concept = optarg; break;
        case 'r': if (parse_double("--ridge", optarg, 0, 1e12, &o.lambda)) return 2; break;
        case 'L': o.logistic = 1; break;
        case 't': if (parse_double("--test-frac", optarg, 0, 0.99, &o.test_frac)) return 2; break;
        case 's': if ((v = cli_parse_long("--seed", optarg)) < 0) return 2; o.seed = (uint64_t)v; break;
        case 'm': if ((v = cli_parse_long_in("--max-iter", optarg, 1, 100000)) < 0) return 2; o.max_iter = (int)v; break;
        case 'o': out = optarg; break;
        case 'b': if ((v = cli_parse_long("--block", optarg)) < 0) return 2; o.block = v; break;
        case 'd': if (parse_double("--dpi", optarg, 25, 1200, &dpi)) return 2; break;
        case 'W': overwrite = 1; break;
        case 'h': sweep_help(stdout); return 0;
        default: return cli_usage_error("probe sweep: unknown option or missing value '%s' (see monoscope probe sweep --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error("probe sweep: unexpected argument '%s'", argv[optind]);
    if (!o.acts || !o.labels || !glob || !out)
        return cli_usage_error("probe sweep needs --acts, --hook, --labels and --out (see monoscope probe sweep --help)");
    if (cli_refuse_existing(out, overwrite)) return 1;
    ms_probe_sweep r;
    if (ms_probe_sweep_run(&o, glob, out, &r)) return cli_fail();
    char *png = ms_path_join(out, "sweep.png"), inputs[4096];
    snprintf(inputs, sizeof inputs, "acts=%s; labels=%s; hook=%s", o.acts, o.labels, glob);
    int rc = ms_viz_probe_sweep_png(&r, png, dpi / 100.0, inputs);
    if (!rc) {
        printf("%s probes, F1 on held-out sequences\n%-32s", r.logistic ? "logistic" : "ridge", "site");
        for (int k = 0; k < r.n_concepts; k++) printf(" %12.12s", r.concepts[k]);
        printf("\n");
        for (int i = 0; i < r.n_sites; i++) {
            printf("%-32s", r.sites[i]);
            for (int k = 0; k < r.n_concepts; k++) printf(" %12.4f", r.f1[(size_t)i * r.n_concepts + k]);
            printf("\n");
        }
        printf("wrote %s/sweep.tsv, %s and %d probe files\n", out, png, r.n_sites);
    }
    free(png);
    ms_probe_sweep_free(&r);
    return rc ? cli_fail() : 0;
}

int cmd_probe(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        printf("usage: monoscope probe <train|sweep> ...\n"
               "  train   probes of one site (see monoscope probe train --help)\n"
               "  sweep   probes at every site a glob names, with a table and a figure across layers\n");
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "train") == 0) return probe_train(argc - 1, argv + 1);
    if (strcmp(argv[1], "sweep") == 0) return probe_sweep(argc - 1, argv + 1);
    return cli_usage_error("probe: unknown subcommand '%s' (try: train, sweep)", argv[1]);
}
