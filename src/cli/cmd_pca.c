// cmd_pca.c: `monoscope pca` (probes/pca.h).
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include "cli/cli.h"
#include "probes/pca.h"
#include "util/util.h"
#include "viz/viz.h"

static void help(FILE *f) {
    fprintf(f,
        "usage: monoscope pca --acts acts.h5 [--hook H] [--k K] [--block B] --out pca.h5\n"
        "                     [--figures DIR [--labels labels.h5 --concept C] [--max-points N]]\n\n"
        "Principal components of one hook site's activations over every real token (padding skipped):\n"
        "the covariance is accumulated in float64 over streamed blocks and its top K eigenpairs come from\n"
        "LAPACKE dsyevr. Writes /components [K, d], /explained_variance [K], /explained_variance_ratio [K],\n"
        "/mean [d] and prints the explained variance per component.\n\n"
        "  --acts PATH    activations file from `monoscope capture`\n"
        "  --hook NAME    hook site (default: the file's only one)\n"
        "  --k K          components to keep (default 10; 0: all)\n"
        "  --block B      tokens per streamed block (default 4096)\n"
        "  --out PATH     pca.h5\n"
        "  --figures DIR  also draw DIR/scree.png (variance share per component, and its running sum) and\n"
        "                 DIR/scatter.png (the tokens on PC1 x PC2)\n"
        "  --labels PATH  labels file of the same windows (`monoscope concepts label`): colour the scatter's\n"
        "  --concept C    tokens by concept C\n"
        "  --max-points N at most N tokens in the scatter, every n-th in sequence order (default 20000)\n"
        "  --overwrite    replace an existing --out (refused otherwise)\n"
        "  -h, --help     this help\n");
}

// DIR/scree.png and DIR/scatter.png. 0, or 1 after the error line.
static int draw_figures(const ms_pca *p, const char *acts, const char *dir, const char *labels, const char *concept,
                        long max_points) {
    if (ms_mkdir(dir) < 0) return cli_fail();
    char inputs[4096];
    snprintf(inputs, sizeof inputs, "acts=%s; hook=%s; labels=%s; concept=%s", acts, p->hook, labels ? labels : "",
             concept ? concept : "");
    double *xy = NULL;
    uint8_t *yes = NULL;
    char *scree = ms_path_join(dir, "scree.png"), *scatter = ms_path_join(dir, "scatter.png");
    int rc = ms_viz_pca_scree_png(p, scree, 1.0, inputs);
    const int64_t n = rc ? -1 : ms_pca_project2(p, acts, labels, concept, max_points, &xy, &yes);
    if (!rc) rc = n < 0 || ms_viz_pca_scatter_png(p, xy, yes, n, concept, scatter, 1.0, inputs);
    if (!rc) printf("wrote %s, %s (%lld tokens)\n", scree, scatter, (long long)n);
    free(xy); free(yes); free(scree); free(scatter);
    return rc ? cli_fail() : 0;
}

int cmd_pca(int argc, char **argv) {
    static const struct option opts[] = {{"acts", required_argument, 0, 'a'}, {"hook", required_argument, 0, 'k'},
                                         {"k", required_argument, 0, 'K'},    {"block", required_argument, 0, 'b'},
                                         {"out", required_argument, 0, 'o'},  {"overwrite", no_argument, 0, 'W'},
                                         {"figures", required_argument, 0, 'F'}, {"labels", required_argument, 0, 'L'},
                                         {"concept", required_argument, 0, 'C'}, {"max-points", required_argument, 0, 'M'},
                                         {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    const char *acts = NULL, *hook = NULL, *out = NULL, *figures = NULL, *labels = NULL, *concept = NULL;
    long k = 10, block = 0, max_points = 20000, v;
    int ch, overwrite = 0;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'a': acts = optarg; break;
        case 'k': hook = optarg; break;
        case 'K': if ((v = cli_parse_long("--k", optarg)) < 0) return 2; k = v; break;
        case 'b': if ((v = cli_parse_long("--block", optarg)) < 0) return 2; block = v; break;
        case 'o': out = optarg; break;
        case 'W': overwrite = 1; break;
        case 'F': figures = optarg; break;
        case 'L': labels = optarg; break;
        case 'C': concept = optarg; break;
        case 'M': if ((v = cli_parse_long("--max-points", optarg)) < 0) return 2; max_points = v; break;
        case 'h': help(stdout); return 0;
        default: return cli_usage_error("pca: unknown option or missing value '%s' (see monoscope pca --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error("pca: unexpected argument '%s'", argv[optind]);
    if (!acts || !out) return cli_usage_error("pca needs --acts and --out (see monoscope pca --help)");
    if (!labels != !concept) return cli_usage_error("pca: --labels and --concept go together (see monoscope pca --help)");
    if (labels && !figures) return cli_usage_error("pca: --labels colours the scatter of --figures DIR");
    if (cli_refuse_existing(out, overwrite)) return 1;
    ms_pca *p = ms_pca_fit(acts, hook, k > 65536 ? 65536 : (int)k, block);
    if (!p || ms_pca_save(out, p, acts)) { ms_pca_free(p); return cli_fail(); }
    printf("PCA of %s: %lld tokens, d %d, total variance %.6g\n%-5s %14s %9s %9s\n", p->hook, (long long)p->n_tokens, p->d,
           p->total_variance, "pc", "variance", "ratio", "cumul");
    double cum = 0;
    for (int c = 0; c < p->k; c++) {
        double r = p->total_variance > 0 ? p->variance[c] / p->total_variance : 0;
        cum += r;
        printf("%-5d %14.6g %9.4f %9.4f\n", c, p->variance[c], r, cum);
    }
    printf("wrote %s\n", out);
    const int rc = figures ? draw_figures(p, acts, figures, labels, concept, max_points) : 0;
    ms_pca_free(p);
    return rc;
}
