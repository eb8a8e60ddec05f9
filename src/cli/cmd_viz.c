// cmd_viz.c: `monoscope viz heatmap|text|dashboard|summary`: parses the options and calls the
// figure's library entry point (src/viz/viz.h, src/viz/summary.h), which resolves the inputs
// (SAE, activations file or model + text) and writes the PNGs.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli/cli.h"
#include "sae/sae.h"
#include "util/util.h"
#include "viz/summary.h"
#include "viz/viz.h"

static void help_main(FILE *f) {
    fprintf(f,
        "usage: monoscope viz <figure> [options]   (monoscope viz <figure> --help for details)\n\n"
        "figures:\n"
        "  heatmap    feature x token heatmap of one text or captured sequence\n"
        "  text       the text with each token shaded by one feature's activation\n"
        "  dashboard  one page per feature (top contexts, quantile examples, histogram, logit lens) + index\n"
        "  summary    paper figures across dictionaries: density, L0 vs explained variance, dead, training\n"
        "  match      concepts against their best features and a linear probe (from `sae match`)\n");
}

static const char *SOURCE_HELP =
    "  --sae PATH       the dictionary (sae.h5); its 'hook' attribute names the activation site\n"
    "  --acts PATH      activations file (monoscope capture) holding that hook site, with --seq\n"
    "  --seq I          which captured sequence to show (0-based)\n"
    "  --model PATH     instead of --acts: run this model on --text and take the hook's activations\n"
    "  --text S         the text (UTF-8) to run through --model\n"
    "  --prepend-bos    prepend the tokenizer's BOS token to --text (as capture --prepend-bos)\n"
    "  --hook NAME      the activation site when the SAE file does not say\n"
    "  --positions A-B  token positions to show (default: all, at most the first 200)\n"
    "  --dpi N          resolution: 100 = 1 px per point at 100 % zoom (default 100)\n"
    "  --out FILE       the PNG to write\n";

static int parse_range(const char *v, long *a, long *b) {
    char *e;
    *a = strtol(v, &e, 10);
    if (e == v || *a < 0) return -1;
    if (*e == 0) { *b = *a; return 0; }
    if (*e != '-' && *e != ':') return -1;
    const char *r = e + 1;
    *b = strtol(r, &e, 10);
    return (e == r || *e || *b < *a) ? -1 : 0;
}

// "12,40,7" or "0-99" or mixtures. Returns the count, -1 on a syntax error. *out malloc'ed.
static int parse_features(const char *v, int **out) {
    int n = 0, cap = 16;
    int *f = ms_malloc((size_t)cap * sizeof *f);
    char *dup = ms_strdup(v), *save = NULL;
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long a, b;
        if (parse_range(tok, &a, &b) < 0 || b - a > 10000000) { free(dup); free(f); return -1; }
        for (long i = a; i <= b; i++) {
            if (n == cap) { cap *= 2; f = ms_realloc(f, (size_t)cap * sizeof *f); }
            f[n++] = (int)i;
        }
    }
    free(dup);
    *out = f;
    return n;
}

static double parse_dpi(const char *v) {
    char *e;
    double d = strtod(v, &e);
    if (e == v || *e || !(d >= 25 && d <= 1200)) return -1;
    return d;
}

enum { O_SAE = 1000, O_ACTS, O_SEQ, O_MODEL, O_TEXT, O_HOOK, O_POS, O_DPI, O_OUT, O_FEATURES, O_TOP, O_FEATURE, O_WIDTH,
       O_TOPK, O_CONTEXT, O_MEM, O_MAXTOK, O_SEED, O_PERPAGE, O_BOS };

static int source_opt(ms_viz_source_opts *s, int c, const char *arg, double *dpi, const char **out) {
    switch (c) {
    case O_SAE: s->sae_path = arg; return 0;
    case O_ACTS: s->acts_path = arg; return 0;
    case O_SEQ: if ((s->seq = cli_parse_long("--seq", arg)) < 0) return -2; return 0;
    case O_MODEL: s->model_path = arg; return 0;
    case O_TEXT: s->text = arg; return 0;
    case O_BOS: s->prepend_bos = 1; return 0;
    case O_HOOK: s->hook = arg; return 0;
    case O_POS:
        if (parse_range(arg, &s->pos_a, &s->pos_b) < 0) { cli_usage_error("--positions expects A-B, got '%s'", arg); return -2; }
        return 0;
    case O_DPI:
        if ((*dpi = parse_dpi(arg)) < 0) { cli_usage_error("--dpi expects a number in 25..1200, got '%s'", arg); return -2; }
        return 0;
    case O_OUT: *out = arg; return 0;
    }
    return -1;
}

static int source_check(const ms_viz_source_opts *s, const char *out) {
    if (!s->sae_path) return cli_usage_error("--sae is required");
    if (!out) return cli_usage_error("--out is required");
    if (!!s->acts_path == !!s->model_path) return cli_usage_error("give either --acts FILE --seq I or --model PATH --text S");
    if (s->acts_path && s->seq < 0) return cli_usage_error("--acts needs --seq I");
    if (s->model_path && !s->text) return cli_usage_error("--model needs --text S");
    return 0;
}

// A request the data cannot satisfy is a usage error (exit 2), like a bad option.
static int viz_fail(int rc) {
    int usage = rc == MS_VIZ_BAD_REQUEST;
    cli_fail();
    return usage ? 2 : 1;
}

#define SOURCE_LONGOPTS                                                                             \
    {"sae", required_argument, 0, O_SAE}, {"acts", required_argument, 0, O_ACTS},                  \
    {"seq", required_argument, 0, O_SEQ}, {"model", required_argument, 0, O_MODEL},                \
    {"text", required_argument, 0, O_TEXT}, {"hook", required_argument, 0, O_HOOK},                \
    {"prepend-bos", no_argument, 0, O_BOS},                                                         \
    {"positions", required_argument, 0, O_POS}, {"dpi", required_argument, 0, O_DPI},              \
    {"out", required_argument, 0, O_OUT}, {"help", no_argument, 0, 'h'}

// ---------------------------------------------------------------------------------------------
static int viz_heatmap(int argc, char **argv) {
    static const struct option lo[] = {SOURCE_LONGOPTS, {"features", required_argument, 0, O_FEATURES},
                                       {"top", required_argument, 0, O_TOP}, {0, 0, 0, 0}};
    ms_viz_source_opts s = {.seq = -1, .pos_a = -1, .pos_b = -1};
    double dpi = 100;
    const char *out = NULL, *feat_arg = NULL;
    long top = -1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'h') {
            printf("usage: monoscope viz heatmap --sae SAE (--acts ACTS --seq I | --model PATH --text S)\n"
                   "                             [--features 12,40,7 | --top N] --out heat.png [--dpi N]\n\n"
                   "Rows are features (labelled #index), columns tokens (labelled with their text: '\xe2\x90\xa3' space,\n"
                   "'\xe2\x86\xb5' newline, '\xe2\x86\x92' tab, <0xNN> control or invalid bytes; a character split over tokens shows on\n"
                   "its last token, '\xe2\x8b\xaf' on the earlier ones). Cells: viridis from min(0, min) to the max activation.\n\n"
                   "options:\n%s"
                   "  --features L     features to show, in this order: '12,40,7', '0-9', or both mixed\n"
                   "  --top N          instead: the N features with the largest activation on these tokens (default 10)\n"
                   "  -h, --help       this help\n", SOURCE_HELP);
            return 0;
        }
        int r = source_opt(&s, c, optarg, &dpi, &out);
        if (r == -2) return 2;
        if (r == 0) continue;
        if (c == O_FEATURES) feat_arg = optarg;
        else if (c == O_TOP) { if ((top = cli_parse_long("--top", optarg)) <= 0) return top == 0 ? cli_usage_error("--top must be > 0") : 2; }
        else return cli_usage_error("unknown option (see monoscope viz heatmap --help)");
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    int rc = source_check(&s, out);
    if (rc) return rc;
    if (feat_arg && top > 0) return cli_usage_error("give --features or --top, not both");
    int *feat = NULL, nf = 0;
    if (feat_arg) {
        if ((nf = parse_features(feat_arg, &feat)) <= 0) return cli_usage_error("--features: cannot parse '%s'", feat_arg);
        if (nf > 2000) { free(feat); return cli_usage_error("--features: %d features; at most 2000 rows", nf); }
    }
    ms_viz_heatmap_opts o = {s, feat, nf, (int)top, dpi / 100.0, out};
    ms_viz_written w;
    rc = ms_viz_heatmap_png(&o, &w);
    free(feat);
    if (rc) return viz_fail(rc);
    printf("wrote %s (%d x %d px: %d features x %d tokens)\n", out, w.width, w.height, w.n_rows, w.n_tokens);
    return 0;
}

// ---------------------------------------------------------------------------------------------
static int viz_text(int argc, char **argv) {
    static const struct option lo[] = {SOURCE_LONGOPTS, {"feature", required_argument, 0, O_FEATURE},
                                       {"width", required_argument, 0, O_WIDTH}, {0, 0, 0, 0}};
    ms_viz_source_opts s = {.seq = -1, .pos_a = -1, .pos_b = -1};
    double dpi = 100;
    const char *out = NULL;
    long feature = -1, width = 900;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'h') {
            printf("usage: monoscope viz text --sae SAE --feature F (--acts ACTS --seq I | --model PATH --text S)\n"
                   "                          --out t.png [--width PX] [--dpi N]\n\n"
                   "The tokens as running text, each on a background from white (0) to orange (the largest\n"
                   "activation of F on these tokens), wrapped to the page; the maximum is boxed; a scale bar below.\n\n"
                   "options:\n%s"
                   "  --feature F      the feature (0-based index), or 'top': the one with the largest activation\n"
                   "                   on these tokens\n"
                   "  --width PX       page width in pixels at 100 dpi (default 900)\n"
                   "  -h, --help       this help\n", SOURCE_HELP);
            return 0;
        }
        int r = source_opt(&s, c, optarg, &dpi, &out);
        if (r == -2) return 2;
        if (r == 0) continue;
        if (c == O_FEATURE && !strcmp(optarg, "top")) feature = -2; // resolved on the tokens shown
        else if (c == O_FEATURE) { if ((feature = cli_parse_long("--feature", optarg)) < 0) return 2; }
        else if (c == O_WIDTH) { if ((width = cli_parse_long("--width", optarg)) < 0) return 2;
                                 if (width < 200 || width > 8000) return cli_usage_error("--width must be in 200..8000"); }
        else return cli_usage_error("unknown option (see monoscope viz text --help)");
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    int rc = source_check(&s, out);
    if (rc) return rc;
    if (feature == -1) return cli_usage_error("--feature is required");
    ms_viz_text_opts o = {s, feature < 0 ? -1 : (int)(feature > 1 << 30 ? 1 << 30 : feature), (int)width, dpi / 100.0, out};
    ms_viz_written w;
    if ((rc = ms_viz_text_png(&o, &w))) return viz_fail(rc);
    printf("wrote %s (%d x %d px, %d tokens)\n", out, w.width, w.height, w.n_tokens);
    return 0;
}

// ---------------------------------------------------------------------------------------------
static int viz_dashboard(int argc, char **argv) {
    static const struct option lo[] = {{"sae", required_argument, 0, O_SAE}, {"acts", required_argument, 0, O_ACTS},
                                       {"model", required_argument, 0, O_MODEL}, {"hook", required_argument, 0, O_HOOK},
                                       {"features", required_argument, 0, O_FEATURES}, {"top-k", required_argument, 0, O_TOPK},
                                       {"context", required_argument, 0, O_CONTEXT}, {"mem-mb", required_argument, 0, O_MEM},
                                       {"max-tokens", required_argument, 0, O_MAXTOK}, {"seed", required_argument, 0, O_SEED},
                                       {"dpi", required_argument, 0, O_DPI}, {"out", required_argument, 0, O_OUT},
                                       {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *sae_path = NULL, *acts_path = NULL, *model_path = NULL, *hook_opt = NULL, *feat_arg = NULL, *out = NULL;
    long topk = 10, context = 8, mem_mb = 512, max_tokens = 0, seed = 0;
    double dpi = 100;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("usage: monoscope viz dashboard --sae SAE --acts ACTS --out DIR [--features 0-99] [--model PATH]\n"
                   "                               [--top-k 10] [--context 8] [--mem-mb 512] [--max-tokens N] [--dpi N]\n\n"
                   "One PNG per feature (DIR/feature_<index>.png) and index pages of 100 features each\n"
                   "(DIR/index_<page>.png), from one streaming pass over the activations per group of features:\n"
                   "per-feature top-k heaps, log-binned histograms (the quantile sketch) and reservoir-sampled\n"
                   "examples; memory is bounded by --mem-mb whatever the corpus size or number of features.\n\n"
                   "options:\n"
                   "  --sae PATH       the dictionary; its 'hook' attribute names the activation site\n"
                   "  --acts PATH      activations file holding that site (monoscope capture)\n"
                   "  --hook NAME      the site when the SAE file does not say\n"
                   "  --features L     features: '0-99' (default), '5,9,200', mixed, or 'all'\n"
                   "  --model PATH     also show the logit lens: top +/- logits of each decoder direction\n"
                   "                   through the final norm's gain and the unembedding (needs d_in = d_model)\n"
                   "  --top-k K        top activating contexts per feature (default 10, at most 100)\n"
                   "  --context N      tokens either side of the activating token (default 8, at most 64)\n"
                   "  --mem-mb M       memory budget for statistics and codes; more features than fit are\n"
                   "                   processed in groups, one pass each (default 512)\n"
                   "  --max-tokens N   read only the first N tokens' worth of whole sequences (default all)\n"
                   "  --seed S         seed of the reservoir sampling (default 0)\n"
                   "  --dpi N          resolution (default 100)\n"
                   "  --out DIR        output directory (created)\n"
                   "  -h, --help       this help\n");
            return 0;
        case O_SAE: sae_path = optarg; break;
        case O_ACTS: acts_path = optarg; break;
        case O_MODEL: model_path = optarg; break;
        case O_HOOK: hook_opt = optarg; break;
        case O_FEATURES: feat_arg = optarg; break;
        case O_OUT: out = optarg; break;
        case O_TOPK:
            if ((topk = cli_parse_long("--top-k", optarg)) < 0) return 2;
            if (topk < 1 || topk > 100) return cli_usage_error("--top-k must be in 1..100");
            break;
        case O_CONTEXT:
            if ((context = cli_parse_long("--context", optarg)) < 0) return 2;
            if (context > 64) return cli_usage_error("--context must be at most 64");
            break;
        case O_MEM:
            if ((mem_mb = cli_parse_long("--mem-mb", optarg)) < 0) return 2;
            if (mem_mb < 16) return cli_usage_error("--mem-mb must be at least 16");
            break;
        case O_MAXTOK: if ((max_tokens = cli_parse_long("--max-tokens", optarg)) < 0) return 2; break;
        case O_SEED: if ((seed = cli_parse_long("--seed", optarg)) < 0) return 2; break;
        case O_DPI: if ((dpi = parse_dpi(optarg)) < 0) return cli_usage_error("--dpi expects a number in 25..1200, got '%s'", optarg); break;
        default: return cli_usage_error("unknown option (see monoscope viz dashboard --help)");
        }
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!sae_path || !acts_path || !out) return cli_usage_error("--sae, --acts and --out are required");
    ms_sae *sae = ms_sae_load(sae_path);
    if (!sae) return cli_fail();
    int D = sae->d_sae;
    int *feat = NULL, nf = 0;
    if (!feat_arg || strcmp(feat_arg, "all")) {
        if ((nf = parse_features(feat_arg ? feat_arg : "0-99", &feat)) <= 0) { ms_sae_free(sae); return cli_usage_error("--features: cannot parse '%s'", feat_arg); }
        if (!feat_arg && nf > D) nf = D;
        for (int i = 0; i < nf; i++)
            if (feat[i] >= D) { int bad = feat[i]; free(feat); ms_sae_free(sae); return cli_usage_error("--features: %d is out of range (the SAE has %d)", bad, D); }
    } else {
        nf = D;
        feat = ms_malloc((size_t)D * sizeof *feat);
        for (int i = 0; i < D; i++) feat[i] = i;
    }
    ms_viz_dashboard_opts o = {sae_path, acts_path, sae, model_path, hook_opt, feat, nf, (int)topk, (int)context, mem_mb,
                               max_tokens, (uint64_t)seed, dpi / 100.0, out};
    ms_viz_dashboard_report r;
    int rc = ms_viz_dashboard(&o, &r);
    if (rc) rc = cli_fail();
    else
        printf("wrote %d feature pages and %d index pages to %s (%lld tokens; statistics %.1f s, rendering %.1f s)\n",
               r.n_pages, r.n_index_pages, out, (long long)r.n_tokens, r.t_stats, r.t_render);
    free(feat);
    ms_sae_free(sae);
    return rc;
}

// ---------------------------------------------------------------------------------------------
static int viz_summary(int argc, char **argv) {
    static const struct option lo[] = {{"sae", required_argument, 0, O_SAE}, {"acts", required_argument, 0, O_ACTS},
                                       {"dpi", required_argument, 0, O_DPI}, {"out", required_argument, 0, O_OUT},
                                       {"max-tokens", required_argument, 0, O_MAXTOK}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *sae_arg = NULL, *acts = NULL, *out = NULL;
    double dpi = 100;
    long max_tokens = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("usage: monoscope viz summary --sae a.h5,b.h5,... --out DIR [--acts ACTS] [--dpi N]\n\n"
                   "Paper figures across dictionaries (one PNG each, in DIR):\n"
                   "  density.png    histogram of log10 feature density (fraction of tokens a feature fires on),\n"
                   "                 one line per dictionary; dead features counted in the legend\n"
                   "  l0_ev.png      L0 against explained variance (and CE loss recovered, when stored)\n"
                   "  dead.png       fraction of dead features per dictionary (by layer when the hooks name one)\n"
                   "  training.png   training curves from each /training_log (loss, L0, explained variance)\n"
                   "Metrics come from each file's /eval group (monoscope sae eval); with --acts they are computed\n"
                   "here for dictionaries without one.\n\n"
                   "options:\n"
                   "  --sae LIST       comma-separated SAE files\n"
                   "  --acts PATH      activations file to evaluate dictionaries that have no /eval\n"
                   "  --max-tokens N   tokens of --acts to use (default all)\n"
                   "  --dpi N          resolution (default 100; 300 for print)\n"
                   "  --out DIR        output directory (created)\n"
                   "  -h, --help       this help\n");
            return 0;
        case O_SAE: sae_arg = optarg; break;
        case O_ACTS: acts = optarg; break;
        case O_OUT: out = optarg; break;
        case O_MAXTOK: if ((max_tokens = cli_parse_long("--max-tokens", optarg)) < 0) return 2; break;
        case O_DPI: if ((dpi = parse_dpi(optarg)) < 0) return cli_usage_error("--dpi expects a number in 25..1200, got '%s'", optarg); break;
        default: return cli_usage_error("unknown option (see monoscope viz summary --help)");
        }
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!sae_arg || !out) return cli_usage_error("--sae and --out are required");
    char *dup = ms_strdup(sae_arg), *save = NULL;
    const char *files[256];
    int n = 0;
    for (char *t = strtok_r(dup, ",", &save); t && n < 256; t = strtok_r(NULL, ",", &save)) files[n++] = t;
    if (n == 0) { free(dup); return cli_usage_error("--sae: no files"); }
    int rc = 0;
    if (ms_mkdir(out) < 0) rc = cli_fail();
    else {
        char inputs[8192];
        snprintf(inputs, sizeof inputs, "sae=%s; acts=%s", sae_arg, acts ? acts : "");
        ms_summary_opts o = {files, n, acts, max_tokens, out, dpi / 100.0, inputs};
        if (ms_viz_summary(&o) < 0) rc = cli_fail();
    }
    free(dup);
    return rc;
}

// ---------------------------------------------------------------------------------------------
static int viz_match(int argc, char **argv) {
    static const struct option lo[] = {{"sae", required_argument, 0, O_SAE}, {"dpi", required_argument, 0, O_DPI},
                                       {"out", required_argument, 0, O_OUT}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *sae = NULL, *out = NULL;
    double dpi = 100;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("usage: monoscope viz match --sae sae.h5 --out match.png [--dpi N]\n\n"
                   "The SAE file's /match (monoscope sae match) as one figure: a row per concept, a bar to the\n"
                   "held-out F1 of its best feature (labelled with the feature, its F1 and AUC), the next features'\n"
                   "F1 as grey marks, and the linear probe's held-out F1 as a black tick (when sae match had --probe).\n\n"
                   "options:\n"
                   "  --sae PATH   the SAE file\n"
                   "  --out FILE   the PNG to write\n"
                   "  --dpi N      resolution (default 100; 300 for print)\n"
                   "  -h, --help   this help\n");
            return 0;
        case O_SAE: sae = optarg; break;
        case O_OUT: out = optarg; break;
        case O_DPI: if ((dpi = parse_dpi(optarg)) < 0) return cli_usage_error("--dpi expects a number in 25..1200, got '%s'", optarg); break;
        default: return cli_usage_error("unknown option (see monoscope viz match --help)");
        }
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!sae || !out) return cli_usage_error("--sae and --out are required");
    ms_viz_written w;
    if (ms_viz_match_png(sae, out, dpi / 100.0, sae, &w)) return cli_fail();
    printf("wrote %s (%d x %d px: %d concepts)\n", out, w.width, w.height, w.n_rows);
    return 0;
}

int cmd_viz(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help_main(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "heatmap")) return viz_heatmap(argc - 1, argv + 1);
    if (!strcmp(argv[1], "text")) return viz_text(argc - 1, argv + 1);
    if (!strcmp(argv[1], "dashboard")) return viz_dashboard(argc - 1, argv + 1);
    if (!strcmp(argv[1], "summary")) return viz_summary(argc - 1, argv + 1);
    if (!strcmp(argv[1], "match")) return viz_match(argc - 1, argv + 1);
    return cli_usage_error("unknown figure '%s' (heatmap, text, dashboard, summary, match)", argv[1]);
}

