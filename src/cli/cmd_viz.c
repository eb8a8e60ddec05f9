// cmd_viz.c: `monoscope viz heatmap|text|dashboard|summary`: figures as PNG.
// The figure code lives in src/viz and src/render; this file resolves inputs (SAE, activations
// file or model + text), parses options and writes the files, each PNG carrying the command and
// its inputs in text chunks.
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli/cli.h"
#include "model/model.h"
#include "render/png_io.h"
#include "sae/sae.h"
#include "tokenizer/tokenizer.h"
#include "util/util.h"
#include "viz/acts_h5.h"
#include "viz/dashboard.h"
#include "viz/figure.h"
#include "viz/heatmap.h"
#include "viz/summary.h"
#include "viz/tokens.h"

static void help_main(FILE *f) {
    fprintf(f,
        "usage: monoscope viz <figure> [options]   (monoscope viz <figure> --help for details)\n\n"
        "figures:\n"
        "  heatmap    feature x token heatmap of one text or captured sequence\n"
        "  text       the text with each token shaded by one feature's activation\n"
        "  dashboard  one page per feature (top contexts, quantile examples, histogram, logit lens) + index\n"
        "  summary    paper figures across dictionaries: density, L0 vs explained variance, dead, training\n");
}

static const char *SOURCE_HELP =
    "  --sae PATH       the dictionary (sae.h5); its 'hook' attribute names the activation site\n"
    "  --acts PATH      activations file (monoscope capture) holding that hook site, with --seq\n"
    "  --seq I          which captured sequence to show (0-based)\n"
    "  --model PATH     instead of --acts: run this model on --text and take the hook's activations\n"
    "  --text S         the text (UTF-8) to run through --model (BOS prepended when the tokenizer has one)\n"
    "  --hook NAME      the activation site when the SAE file does not say\n"
    "  --positions A-B  token positions to show (default: all, at most the first 200)\n"
    "  --dpi N          resolution: 100 = 1 px per point at 100 %% zoom (default 100)\n"
    "  --out FILE       the PNG to write\n";

// ---------------------------------------------------------------------------------------------
// inputs shared by heatmap and text: codes (n, d_sae) for n tokens and their byte strings

typedef struct {
    ms_sae *sae;
    const char *sae_path, *acts_path, *model_path, *text, *hook_opt;
    long seq;
    long pos_a, pos_b;
    char hook[256], model_name[256];
    int n;            // tokens shown
    int32_t *ids;     // (n)
    char **bytes;     // (n) malloc'ed byte strings
    size_t *lens;
    float *codes;     // (n, d_sae)
} source;

static void source_free(source *s) {
    if (s->bytes)
        for (int i = 0; i < s->n; i++) free(s->bytes[i]);
    free(s->bytes); free(s->lens); free(s->ids); free(s->codes);
    ms_sae_free(s->sae);
}

static const char *basename_of(const char *p) {
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

typedef struct { float *x; int T, d; } capture_buf;
static int capture_hook(ms_activation *act, void *user) {
    capture_buf *cb = user;
    int64_t per = 1;
    for (int i = 1; i < act->ndim; i++) per *= act->shape[i];
    if (per != (int64_t)cb->T * cb->d) {
        ms_error("hook %s: %lld values per sequence, expected %d tokens x d_in %d", act->name, (long long)per, cb->T, cb->d);
        return 1;
    }
    memcpy(cb->x, act->data, (size_t)per * sizeof(float));
    return 0;
}

static void keep_range(source *s, int64_t total, float **x, int32_t **ids, int d) {
    long a = s->pos_a < 0 ? 0 : s->pos_a, b = s->pos_b < 0 ? total - 1 : s->pos_b;
    if (s->pos_b < 0 && b - a + 1 > 200) {
        b = a + 199;
        fprintf(stderr, "monoscope: note: showing positions %ld-%ld of %lld (use --positions A-B)\n", a, b, (long long)total);
    }
    if (b > total - 1) b = total - 1;
    s->n = (int)(b - a + 1);
    memmove(*x, *x + (size_t)a * d, (size_t)s->n * d * sizeof(float));
    memmove(*ids, *ids + a, (size_t)s->n * sizeof(int32_t));
}

static int source_load(source *s) {
    s->sae = ms_sae_load(s->sae_path);
    if (!s->sae) return -1;
    const char *h = ms_sae_attr_str(s->sae, "hook");
    snprintf(s->hook, sizeof s->hook, "%s", s->hook_opt ? s->hook_opt : h ? h : "");
    const char *mn = ms_sae_attr_str(s->sae, "model");
    snprintf(s->model_name, sizeof s->model_name, "%s", mn ? mn : "");
    int d = s->sae->d_in;
    float *x = NULL;
    int32_t *ids = NULL;
    if (s->acts_path) {
        ms_acts_file *a = ms_acts_file_open(s->acts_path, s->hook);
        if (!a) return -1;
        if (ms_acts_file_d(a) != d) {
            ms_error("%s: /acts/%s has %d values per token but the SAE's d_in is %d", s->acts_path,
                     ms_acts_file_hook(a), ms_acts_file_d(a), d);
            ms_acts_file_close(a);
            return -1;
        }
        if (s->seq < 0 || s->seq >= ms_acts_file_n_seq(a)) {
            ms_error("--seq %ld: the file has sequences 0..%lld", s->seq, (long long)ms_acts_file_n_seq(a) - 1);
            ms_acts_file_close(a);
            return -1;
        }
        if (!s->hook[0]) snprintf(s->hook, sizeof s->hook, "%s", ms_acts_file_hook(a));
        if (!s->model_name[0]) snprintf(s->model_name, sizeof s->model_name, "%s", ms_acts_file_model(a));
        int T = ms_acts_file_ctx(a);
        x = ms_malloc((size_t)T * d * sizeof *x);
        ids = ms_malloc((size_t)T * sizeof *ids);
        if (ms_acts_file_read(a, s->seq, 1, x, ids) < 0) { free(x); free(ids); ms_acts_file_close(a); return -1; }
        if (s->pos_a >= T) { ms_error("--positions: the sequence has %d tokens", T); free(x); free(ids); ms_acts_file_close(a); return -1; }
        keep_range(s, T, &x, &ids, d);
        size_t *vl = NULL;
        int nv = 0;
        char **voc = ms_acts_file_vocab(a, &vl, &nv);
        s->bytes = ms_calloc((size_t)s->n, sizeof *s->bytes);
        s->lens = ms_calloc((size_t)s->n, sizeof *s->lens);
        for (int i = 0; i < s->n; i++) {
            char tmp[32];
            if (voc && ids[i] >= 0 && ids[i] < nv) { s->bytes[i] = ms_strdup(voc[ids[i]]); s->lens[i] = vl[ids[i]]; }
            else { snprintf(tmp, sizeof tmp, "#%d", ids[i]); s->bytes[i] = ms_strdup(tmp); s->lens[i] = strlen(tmp); }
        }
        ms_vocab_free(voc, vl, nv);
        ms_acts_file_close(a);
    } else {
        if (!s->hook[0]) { ms_error("%s: the SAE names no hook; give --hook", s->sae_path); return -1; }
        ms_model *m = ms_model_load(s->model_path);
        if (!m) return -1;
        if (!m->tok) { ms_error("%s: the checkpoint carries no tokenizer", s->model_path); ms_model_free(m); return -1; }
        size_t nid = 0;
        if (ms_tokenizer_encode(m->tok, s->text, strlen(s->text), 1, &ids, &nid) < 0) { ms_model_free(m); return -1; }
        if (nid == 0) { ms_error("--text encodes to no tokens"); ms_model_free(m); free(ids); return -1; }
        if ((int)nid > m->cfg.n_ctx) { ms_error("--text is %zu tokens; the model's context is %d", nid, m->cfg.n_ctx); ms_model_free(m); free(ids); return -1; }
        int T = (int)nid;
        capture_buf cb = {ms_malloc((size_t)T * d * sizeof(float)), T, d};
        ms_hooks *hk = ms_hooks_new();
        ms_state *st = NULL;
        int rc = ms_hooks_add(hk, s->hook, capture_hook, &cb);
        if (rc < 0) ms_error("hook '%s' is not a known site", s->hook);
        if (!rc) {
            st = ms_state_new(m, 1, T);
            ms_forward_opts o = {hk, 0, -1};
            rc = st ? ms_forward(m, st, ids, 1, T, &o) : -1;
        }
        ms_state_free(st);
        ms_hooks_free(hk);
        x = cb.x;
        if (rc < 0) { free(x); free(ids); ms_model_free(m); return -1; }
        if (!s->model_name[0]) snprintf(s->model_name, sizeof s->model_name, "%s", basename_of(s->model_path));
        keep_range(s, T, &x, &ids, d);
        s->bytes = ms_calloc((size_t)s->n, sizeof *s->bytes);
        s->lens = ms_calloc((size_t)s->n, sizeof *s->lens);
        int bos = ms_tokenizer_bos(m->tok);
        for (int i = 0; i < s->n; i++) {
            size_t len = 0;
            const char *b = ids[i] == bos ? "<bos>" : ms_tokenizer_token_bytes(m->tok, ids[i], &len);
            if (ids[i] == bos) len = 5;
            s->bytes[i] = ms_malloc(len + 1);
            memcpy(s->bytes[i], b, len);
            s->bytes[i][len] = 0;
            s->lens[i] = len;
        }
        ms_model_free(m);
    }
    s->ids = ids;
    s->codes = ms_malloc((size_t)s->n * s->sae->d_sae * sizeof *s->codes);
    int rc = ms_sae_encode(s->sae, x, s->n, s->codes);
    free(x);
    return rc;
}

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

static int write_png(ms_canvas *c, const char *path, const char *inputs, const char *layout) {
    ms_png_text t[2] = {{"Inputs", inputs}, {"Layout", layout}};
    int rc = ms_png_write(c, path, t, layout ? 2 : 1);
    return rc;
}

static void source_inputs(const source *s, char *buf, size_t n) {
    if (s->acts_path)
        snprintf(buf, n, "sae=%s; acts=%s; hook=%s; seq=%ld", s->sae_path, s->acts_path, s->hook, s->seq);
    else
        snprintf(buf, n, "sae=%s; model=%s; hook=%s; text=%s", s->sae_path, s->model_path, s->hook, s->text);
}

static void source_subtitle(const source *s, char *buf, size_t n) {
    char where[64];
    if (s->acts_path) snprintf(where, sizeof where, " \xc2\xb7 sequence %ld", s->seq);
    else where[0] = 0;
    snprintf(buf, n, "model %s \xc2\xb7 hook %s \xc2\xb7 SAE %s (%s, %d features)%s", s->model_name[0] ? s->model_name : "?",
             s->hook, basename_of(s->sae_path), ms_sae_arch_name(s->sae->arch), s->sae->d_sae, where);
}

enum { O_SAE = 1000, O_ACTS, O_SEQ, O_MODEL, O_TEXT, O_HOOK, O_POS, O_DPI, O_OUT, O_FEATURES, O_TOP, O_FEATURE, O_WIDTH,
       O_TOPK, O_CONTEXT, O_MEM, O_MAXTOK, O_SEED, O_PERPAGE };

static int source_opt(source *s, int c, const char *arg, double *dpi, const char **out) {
    switch (c) {
    case O_SAE: s->sae_path = arg; return 0;
    case O_ACTS: s->acts_path = arg; return 0;
    case O_SEQ: if ((s->seq = cli_parse_long("--seq", arg)) < 0) return -2; return 0;
    case O_MODEL: s->model_path = arg; return 0;
    case O_TEXT: s->text = arg; return 0;
    case O_HOOK: s->hook_opt = arg; return 0;
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

static int source_check(const source *s, const char *out) {
    if (!s->sae_path) return cli_usage_error("--sae is required");
    if (!out) return cli_usage_error("--out is required");
    if (!!s->acts_path == !!s->model_path) return cli_usage_error("give either --acts FILE --seq I or --model PATH --text S");
    if (s->acts_path && s->seq < 0) return cli_usage_error("--acts needs --seq I");
    if (s->model_path && !s->text) return cli_usage_error("--model needs --text S");
    return 0;
}

#define SOURCE_LONGOPTS                                                                             \
    {"sae", required_argument, 0, O_SAE}, {"acts", required_argument, 0, O_ACTS},                  \
    {"seq", required_argument, 0, O_SEQ}, {"model", required_argument, 0, O_MODEL},                \
    {"text", required_argument, 0, O_TEXT}, {"hook", required_argument, 0, O_HOOK},                \
    {"positions", required_argument, 0, O_POS}, {"dpi", required_argument, 0, O_DPI},              \
    {"out", required_argument, 0, O_OUT}, {"help", no_argument, 0, 'h'}

// ---------------------------------------------------------------------------------------------
static int viz_heatmap(int argc, char **argv) {
    static const struct option lo[] = {SOURCE_LONGOPTS, {"features", required_argument, 0, O_FEATURES},
                                       {"top", required_argument, 0, O_TOP}, {0, 0, 0, 0}};
    source s = {0};
    s.seq = -1; s.pos_a = s.pos_b = -1;
    double dpi = 100;
    const char *out = NULL, *feat_arg = NULL;
    long top = -1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'h') {
            printf("usage: monoscope viz heatmap --sae SAE (--acts ACTS --seq I | --model PATH --text S)\n"
                   "                             [--features 12,40,7 | --top N] --out heat.png [--dpi N]\n\n"
                   "Rows are features (labelled #index), columns tokens (labelled with their text: '\xc2\xb7' space,\n"
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
    if (source_load(&s) < 0) { free(feat); source_free(&s); return cli_fail(); }
    int D = s.sae->d_sae;
    if (s.n > 1000) { // one column is >= 26 px: keep the image under PNG viewers' comfortable sizes
        free(feat); source_free(&s);
        return cli_usage_error("--positions: %d tokens; a heatmap shows at most 1000 (split the range)", s.n);
    }
    if (feat) {
        for (int i = 0; i < nf; i++)
            if (feat[i] >= D) { free(feat); source_free(&s); return cli_usage_error("--features: %d is out of range (the SAE has %d)", feat[i], D); }
    } else { // the N features with the largest max activation over the shown tokens
        if (top < 0) top = 10;
        if (top > D) top = D;
        float *mx = ms_malloc((size_t)D * sizeof *mx);
        for (int j = 0; j < D; j++) mx[j] = 0;
        for (int t = 0; t < s.n; t++)
            for (int j = 0; j < D; j++) if (s.codes[(size_t)t * D + j] > mx[j]) mx[j] = s.codes[(size_t)t * D + j];
        feat = ms_malloc((size_t)top * sizeof *feat);
        nf = 0;
        for (int k = 0; k < top; k++) { // selection: fine for a few dozen rows
            int best = -1;
            for (int j = 0; j < D; j++)
                if (mx[j] > 0 && (best < 0 || mx[j] > mx[best])) best = j;
            if (best < 0) break;
            feat[nf++] = best;
            mx[best] = -1;
        }
        free(mx);
        if (nf == 0) { free(feat); source_free(&s); ms_error("no feature fires on these tokens"); return cli_fail(); }
    }
    float *a = ms_malloc((size_t)nf * s.n * sizeof *a);
    for (int i = 0; i < nf; i++)
        for (int t = 0; t < s.n; t++) a[(size_t)i * s.n + t] = s.codes[(size_t)t * D + feat[i]];
    ms_token_label *lab = ms_token_labels((const char *const *)s.bytes, s.lens, s.n, 0);
    char sub[1024], inputs[4096], lay[512];
    source_subtitle(&s, sub, sizeof sub);
    source_inputs(&s, inputs, sizeof inputs);
    size_t il = strlen(inputs);
    snprintf(inputs + il, sizeof inputs - il, "; features=");
    for (int i = 0; i < nf && strlen(inputs) < sizeof inputs - 16; i++)
        snprintf(inputs + strlen(inputs), sizeof inputs - strlen(inputs), "%s%d", i ? "," : "", feat[i]);
    ms_heatmap_spec sp = {"SAE feature activations", sub, nf, s.n, feat, a, lab, dpi / 100.0};
    ms_heatmap_layout L;
    ms_canvas *cv = ms_viz_heatmap(&sp, &L);
    rc = 0;
    if (!cv) rc = cli_fail();
    else {
        ms_heatmap_layout_str(&L, lay, sizeof lay);
        if (write_png(cv, out, inputs, lay) < 0) rc = cli_fail();
        else printf("wrote %s (%d x %d px: %d features x %d tokens)\n", out, cv->w, cv->h, nf, s.n);
    }
    ms_canvas_free(cv);
    ms_token_labels_free(lab, s.n);
    free(a); free(feat);
    source_free(&s);
    return rc;
}

// ---------------------------------------------------------------------------------------------
static int viz_text(int argc, char **argv) {
    static const struct option lo[] = {SOURCE_LONGOPTS, {"feature", required_argument, 0, O_FEATURE},
                                       {"width", required_argument, 0, O_WIDTH}, {0, 0, 0, 0}};
    source s = {0};
    s.seq = -1; s.pos_a = s.pos_b = -1;
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
                   "  --feature F      the feature (0-based index)\n"
                   "  --width PX       page width in pixels at 100 dpi (default 900)\n"
                   "  -h, --help       this help\n", SOURCE_HELP);
            return 0;
        }
        int r = source_opt(&s, c, optarg, &dpi, &out);
        if (r == -2) return 2;
        if (r == 0) continue;
        if (c == O_FEATURE) { if ((feature = cli_parse_long("--feature", optarg)) < 0) return 2; }
        else if (c == O_WIDTH) { if ((width = cli_parse_long("--width", optarg)) < 0) return 2;
                                 if (width < 200 || width > 8000) return cli_usage_error("--width must be in 200..8000"); }
        else return cli_usage_error("unknown option (see monoscope viz text --help)");
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    int rc = source_check(&s, out);
    if (rc) return rc;
    if (feature < 0) return cli_usage_error("--feature is required");
    if (s.pos_a < 0 && s.pos_b < 0) s.pos_b = -1;
    if (source_load(&s) < 0) { source_free(&s); return cli_fail(); }
    int D = s.sae->d_sae;
    if (feature >= D) { source_free(&s); return cli_usage_error("--feature %ld is out of range (the SAE has %d)", feature, D); }
    float *a = ms_malloc((size_t)s.n * sizeof *a);
    for (int t = 0; t < s.n; t++) a[t] = s.codes[(size_t)t * D + feature];
    ms_token_label *lab = ms_token_labels((const char *const *)s.bytes, s.lens, s.n, 1);
    char title[64], sub[1024], inputs[4096];
    snprintf(title, sizeof title, "Feature %ld", feature);
    source_subtitle(&s, sub, sizeof sub);
    source_inputs(&s, inputs, sizeof inputs);
    ms_textview_spec sp = {title, sub, s.n, a, lab, 0, (int)width, dpi / 100.0};
    ms_canvas *cv = ms_viz_textview(&sp, NULL, NULL);
    if (!cv) rc = cli_fail();
    else if (write_png(cv, out, inputs, NULL) < 0) rc = cli_fail();
    else printf("wrote %s (%d x %d px, %d tokens)\n", out, cv->w, cv->h, s.n);
    ms_canvas_free(cv);
    ms_token_labels_free(lab, s.n);
    free(a);
    source_free(&s);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// logit lens: for features feat[0..n), the n_top most positive and negative logits of
// W_U · g(W_dec[f]), g = the final norm's linear part (see the README: LayerNorm centres then
// scales by its gain, RMSNorm scales by its gain; the data-dependent 1/rms is a positive factor
// common to every logit, so it does not change the ranking).
typedef struct { int *pos_id, *neg_id; float *pos_v, *neg_v; } logit_tab;

static void logit_lens(const ms_model *m, const ms_sae *sae, const int *feat, int n, int n_top, logit_tab *t) {
    int V = m->cfg.vocab_size, C = m->cfg.d_model, B = 32;
    float *dir = ms_malloc((size_t)B * C * sizeof *dir), *lg = ms_malloc((size_t)B * V * sizeof *lg);
    for (int b0 = 0; b0 < n; b0 += B) {
        int nb = n - b0 < B ? n - b0 : B;
        for (int i = 0; i < nb; i++) {
            const float *w = sae->W_dec + (size_t)feat[b0 + i] * C;
            float *d = dir + (size_t)i * C;
            double mean = 0;
            if (m->cfg.arch == MS_ARCH_GPT2) { for (int j = 0; j < C; j++) mean += w[j]; mean /= C; }
            for (int j = 0; j < C; j++) d[j] = (float)(w[j] - mean) * (m->w.lnf_w ? m->w.lnf_w[j] : 1.0f);
        }
        // lg (nb, V) = dir (nb, C) · W_Uᵀ  with W_U (V, C)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, V, C, 1.0f, dir, C, m->w.unembed, C, 0.0f, lg, V);
        for (int i = 0; i < nb; i++) {
            const float *l = lg + (size_t)i * V;
            int *pi = t->pos_id + (size_t)(b0 + i) * n_top, *ni = t->neg_id + (size_t)(b0 + i) * n_top;
            float *pv = t->pos_v + (size_t)(b0 + i) * n_top, *nv = t->neg_v + (size_t)(b0 + i) * n_top;
            for (int k = 0; k < n_top; k++) { pi[k] = ni[k] = -1; pv[k] = -INFINITY; nv[k] = INFINITY; }
            for (int v = 0; v < V; v++) { // insertion into two small sorted lists
                float x = l[v];
                if (x > pv[n_top - 1]) {
                    int k = n_top - 1;
                    while (k > 0 && pv[k - 1] < x) { pv[k] = pv[k - 1]; pi[k] = pi[k - 1]; k--; }
                    pv[k] = x; pi[k] = v;
                }
                if (x < nv[n_top - 1]) {
                    int k = n_top - 1;
                    while (k > 0 && nv[k - 1] > x) { nv[k] = nv[k - 1]; ni[k] = ni[k - 1]; k--; }
                    nv[k] = x; ni[k] = v;
                }
            }
        }
    }
    free(dir);
    free(lg);
}

static int mkdir_p(const char *dir) {
    if (ms_is_dir(dir)) return 0;
    if (mkdir(dir, 0777) < 0 && !ms_is_dir(dir)) { ms_error("%s: cannot create directory", dir); return -1; }
    return 0;
}

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
    int D = sae->d_sae, rc = 0;
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
    const char *h = hook_opt ? hook_opt : ms_sae_attr_str(sae, "hook");
    ms_acts_file *af = ms_acts_file_open(acts_path, h);
    ms_model *m = NULL;
    char **voc = NULL;
    size_t *vl = NULL;
    int nv = 0;
    logit_tab lt = {0};
    ms_dash_index_row *rows = NULL;
    float *x = NULL, *codes = NULL;
    int32_t *ids = NULL;
    ms_sae_encoder *enc = NULL;
    int fonts_open = 0;
    ms_fig_fonts fonts;
    if (!af) { rc = cli_fail(); goto done; }
    if (ms_acts_file_d(af) != sae->d_in) {
        ms_error("%s: /acts/%s has %d values per token but the SAE's d_in is %d", acts_path, ms_acts_file_hook(af), ms_acts_file_d(af), sae->d_in);
        rc = cli_fail(); goto done;
    }
    if (mkdir_p(out) < 0) { rc = cli_fail(); goto done; }
    voc = ms_acts_file_vocab(af, &vl, &nv);
    if (model_path) {
        if (!(m = ms_model_load(model_path))) { rc = cli_fail(); goto done; }
        if (m->cfg.d_model != sae->d_in) {
            ms_error("--model: d_model %d differs from the SAE's d_in %d: the logit lens needs a residual-stream SAE", m->cfg.d_model, sae->d_in);
            rc = cli_fail(); goto done;
        }
        if (!voc && m->tok) { // decode contexts with the model's tokenizer when the file has no /vocab
            nv = ms_tokenizer_vocab_size(m->tok);
            voc = ms_calloc((size_t)nv, sizeof *voc);
            vl = ms_calloc((size_t)nv, sizeof *vl);
            for (int i = 0; i < nv; i++) {
                size_t len = 0;
                const char *b = ms_tokenizer_token_bytes(m->tok, i, &len);
                voc[i] = ms_malloc(len + 1);
                memcpy(voc[i], b, len);
                voc[i][len] = 0;
                vl[i] = len;
            }
        }
    }
    int ctx = ms_acts_file_ctx(af);
    int64_t n_seq = ms_acts_file_n_seq(af);
    if (n_seq < 1) { ms_error("%s: no complete sequences", acts_path); rc = cli_fail(); goto done; }
    if (max_tokens > 0 && max_tokens / ctx < n_seq) n_seq = max_tokens / ctx > 0 ? max_tokens / ctx : 1;
    // memory: codes for a chunk of whole sequences (about a quarter of the budget) + group statistics
    size_t budget = (size_t)mem_mb << 20;
    int64_t rows_chunk = (int64_t)(budget / 4 / ((size_t)D * 4 + (size_t)sae->d_in * 4 + 4));
    int64_t seq_chunk = rows_chunk / ctx;
    if (seq_chunk < 1) seq_chunk = 1;
    if (seq_chunk > n_seq) seq_chunk = n_seq;
    size_t per_feat = ms_dash_bytes_per_feature((int)topk, (int)context);
    int group = (int)((budget / 2) / per_feat);
    if (group < 1) group = 1;
    if (group > nf) group = nf;
    int n_groups = (nf + group - 1) / group;
    if (n_groups > 1) fprintf(stderr, "monoscope: note: %d features in %d groups of %d (one pass over the file each; raise --mem-mb for fewer)\n", nf, n_groups, group);
    x = ms_malloc((size_t)seq_chunk * ctx * sae->d_in * sizeof *x);
    ids = ms_malloc((size_t)seq_chunk * ctx * sizeof *ids);
    codes = ms_malloc((size_t)seq_chunk * ctx * D * sizeof *codes);
    rows = ms_calloc((size_t)nf, sizeof *rows);
    if (!(enc = ms_sae_encoder_new(sae))) { rc = cli_fail(); goto done; }
    const char *model_name = ms_sae_attr_str(sae, "model");
    if (!model_name || !*model_name) model_name = ms_acts_file_model(af);
    char sub[1024], inputs[4096], title[64], path[4096];
    snprintf(sub, sizeof sub, "model %s \xc2\xb7 hook %s \xc2\xb7 SAE %s (%s, %d features) \xc2\xb7 %s", model_name && *model_name ? model_name : "?",
             ms_acts_file_hook(af), basename_of(sae_path), ms_sae_arch_name(sae->arch), D, basename_of(acts_path));
    snprintf(inputs, sizeof inputs, "sae=%s; acts=%s; hook=%s; model=%s; top_k=%ld; context=%ld", sae_path, acts_path,
             ms_acts_file_hook(af), model_path ? model_path : "", topk, context);
    ms_progress pr;
    ms_progress_start(&pr, "dashboard", (double)n_seq * ctx * n_groups, "tok");
    const char *note = m ? (m->cfg.arch == MS_ARCH_GPT2 ? "W_U \xc2\xb7 (\xce\xb3 \xe2\x8a\x99 centred W_dec[f]): ln_final's gain, no bias"
                                                        : "W_U \xc2\xb7 (\xce\xb3 \xe2\x8a\x99 W_dec[f]): the final RMSNorm's gain") : NULL;
    int n_logit = m ? 10 : 0;
    // one set of fonts for every page: glyphs are rasterised once, not once per page
    if (ms_fig_fonts_open(&fonts, dpi / 100.0) < 0) { rc = cli_fail(); goto done; }
    fonts_open = 1;
    double t_pass = 0, t_render = 0, t0;
    for (int g0 = 0; g0 < nf && !rc; g0 += group) {
        t0 = ms_now();
        int ng = nf - g0 < group ? nf - g0 : group;
        ms_dash_stats *st = ms_dash_new(feat + g0, ng, (int)topk, (int)context, (uint64_t)seed);
        for (int64_t s0 = 0; s0 < n_seq; s0 += seq_chunk) {
            int ns = (int)(n_seq - s0 < seq_chunk ? n_seq - s0 : seq_chunk);
            if (ms_acts_file_read(af, s0, ns, x, ids) < 0 || ms_sae_encoder_dense(enc, x, (int64_t)ns * ctx, codes) < 0) { rc = cli_fail(); break; }
            ms_dash_feed(st, codes, D, ids, s0, ns, ctx);
            ms_progress_update(&pr, pr.done + (double)ns * ctx, NULL);
        }
        t_pass += ms_now() - t0;
        t0 = ms_now();
        if (!rc && m) {
            lt.pos_id = ms_realloc(lt.pos_id, (size_t)ng * n_logit * sizeof(int));
            lt.neg_id = ms_realloc(lt.neg_id, (size_t)ng * n_logit * sizeof(int));
            lt.pos_v = ms_realloc(lt.pos_v, (size_t)ng * n_logit * sizeof(float));
            lt.neg_v = ms_realloc(lt.neg_v, (size_t)ng * n_logit * sizeof(float));
            logit_lens(m, sae, feat + g0, ng, n_logit, &lt);
        }
        for (int g = 0; g < ng && !rc; g++) {
            ms_dash_index_row_from(st, g, &rows[g0 + g]);
            const char *pt[10], *nt[10];
            char pbuf[10][128], nbuf[10][128];
            for (int k = 0; k < n_logit; k++) {
                for (int side = 0; side < 2; side++) {
                    int id = side ? lt.neg_id[g * n_logit + k] : lt.pos_id[g * n_logit + k];
                    char *dst = side ? nbuf[k] : pbuf[k];
                    const char *b = "";
                    size_t len = 0;
                    if (id >= 0 && m->tok) b = ms_tokenizer_token_bytes(m->tok, id, &len); // the model's own vocabulary
                    else if (id >= 0 && voc && id < nv) { b = voc[id]; len = vl[id]; }
                    ms_token_label *tl = ms_token_labels(&b, &len, 1, 0);
                    snprintf(dst, 128, "%s", tl[0].text);
                    ms_token_labels_free(tl, 1);
                }
                pt[k] = pbuf[k];
                nt[k] = nbuf[k];
            }
            snprintf(title, sizeof title, "Feature %d", feat[g0 + g]);
            ms_dash_page pg = {title, sub, (const char *const *)voc, vl, nv, n_logit, pt, m ? lt.pos_v + (size_t)g * n_logit : NULL,
                               nt, m ? lt.neg_v + (size_t)g * n_logit : NULL, note, dpi / 100.0, &fonts};
            ms_canvas *cv = ms_dash_render(st, g, &pg);
            snprintf(path, sizeof path, "%s/feature_%05d.png", out, feat[g0 + g]);
            // the logit-lens table as text too ("+id:value,... -id:value,..."), for scripts and tests
            char lens[1024] = "";
            for (int side = 0; side < 2 && m; side++) {
                size_t o = strlen(lens);
                snprintf(lens + o, sizeof lens - o, "%s%c", side ? " " : "", side ? '-' : '+');
                for (int k = 0; k < n_logit; k++) {
                    o = strlen(lens);
                    snprintf(lens + o, sizeof lens - o, "%s%d:%.6g", k ? "," : "", side ? lt.neg_id[g * n_logit + k] : lt.pos_id[g * n_logit + k],
                             side ? lt.neg_v[g * n_logit + k] : lt.pos_v[g * n_logit + k]);
                }
            }
            ms_png_text ptx[2] = {{"Inputs", inputs}, {"LogitLens", lens}};
            if (!cv || ms_png_write(cv, path, ptx, m ? 2 : 1) < 0) rc = cli_fail();
            ms_canvas_free(cv);
        }
        ms_dash_free(st);
        t_render += ms_now() - t0;
    }
    ms_progress_finish(&pr);
    t0 = ms_now();
    for (int p0 = 0; p0 < nf && !rc; p0 += 100) {
        int n = nf - p0 < 100 ? nf - p0 : 100;
        char t2[128];
        snprintf(t2, sizeof t2, "Feature index: %d\xe2\x80\x93%d (%d of %d features)", rows[p0].feature, rows[p0 + n - 1].feature, n, nf);
        ms_dash_index ix = {t2, sub, (const char *const *)voc, vl, nv, dpi / 100.0, &fonts};
        ms_canvas *cv = ms_dash_render_index(rows + p0, n, &ix);
        snprintf(path, sizeof path, "%s/index_%03d.png", out, p0 / 100);
        if (!cv || write_png(cv, path, inputs, NULL) < 0) rc = cli_fail();
        ms_canvas_free(cv);
    }
    t_render += ms_now() - t0;
    if (!rc)
        printf("wrote %d feature pages and %d index pages to %s (%lld tokens; statistics %.1f s, rendering %.1f s)\n", nf,
               (nf + 99) / 100, out, (long long)n_seq * ctx, t_pass, t_render);
done:
    if (fonts_open) ms_fig_fonts_close(&fonts);
    if (rows) for (int i = 0; i < nf; i++) ms_dash_index_row_free(&rows[i]);
    free(rows); free(x); free(ids); free(codes);
    ms_sae_encoder_free(enc);
    free(lt.pos_id); free(lt.neg_id); free(lt.pos_v); free(lt.neg_v);
    ms_vocab_free(voc, vl, nv);
    ms_model_free(m);
    ms_acts_file_close(af);
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
    if (mkdir_p(out) < 0) rc = cli_fail();
    else {
        char inputs[8192];
        snprintf(inputs, sizeof inputs, "sae=%s; acts=%s", sae_arg, acts ? acts : "");
        ms_summary_opts o = {files, n, acts, max_tokens, out, dpi / 100.0, inputs};
        if (ms_viz_summary(&o) < 0) rc = cli_fail();
    }
    free(dup);
    return rc;
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
    return cli_usage_error("unknown figure '%s' (heatmap, text, dashboard, summary)", argv[1]);
}
