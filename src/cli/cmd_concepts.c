// cmd_concepts.c: `monoscope concepts label` (probes/concepts.h).
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "model/model.h"
#include "probes/concepts.h"
#include "util/util.h"

static void help(FILE *f) {
    int n;
    const ms_concept_rule *r = ms_concept_default_rules(&n);
    fprintf(f,
        "usage: monoscope concepts label --model M --input CORPUS [--input-format text|jsonl] --ctx N\n"
        "                                [--prepend-bos] [--pack] [--rules rules.json] --out labels.h5\n\n"
        "Labels every token of the corpus with rule-based concepts: a rule is a PCRE2 pattern (UTF, UCP)\n"
        "matched on each document's text (group 1's span when the pattern has a group); a token is\n"
        "labelled when its bytes overlap a span. Windows and their order are `monoscope capture`'s for the\n"
        "same --input, --input-format, --ctx, --prepend-bos and --pack, so /concepts/<name> uint8 [n_seq, ctx]\n"
        "lines up with the capture row by row (/tokens int32 [n_seq, ctx] is stored to check it).\n\n"
        "  --model PATH          the model (its tokenizer, BOS and vocabulary size)\n"
        "  --input PATH          corpus\n"
        "  -f, --input-format F  text (default: the file is one document) or jsonl (\"text\" per line)\n"
        "  --ctx N               tokens per row\n"
        "  --prepend-bos         start every row with BOS (never labelled)\n"
        "  --pack                capture --pack's rows: documents joined by the model's EOS (BOS without one;\n"
        "                        never labelled) into full windows, the partial last one dropped\n"
        "  --rules PATH          JSON object {\"name\": \"pattern\", ...} replacing the built-in rules\n"
        "  --out PATH            labels.h5\n"
        "  --overwrite           replace an existing --out (refused otherwise)\n"
        "  -h, --help            this help\n\nbuilt-in rules:\n");
    for (int i = 0; i < n; i++) fprintf(f, "  %-12s %s\n", r[i].name, r[i].pattern);
}

static int concepts_label(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"input", required_argument, 0, 'i'}, {"input-format", required_argument, 0, 'f'},
        {"ctx", required_argument, 0, 'c'},   {"prepend-bos", no_argument, 0, 'B'},  {"rules", required_argument, 0, 'r'},
        {"out", required_argument, 0, 'o'},   {"overwrite", no_argument, 0, 'W'},   {"help", no_argument, 0, 'h'},
        {"pack", no_argument, 0, 'P'},        {0, 0, 0, 0}};
    const char *model = NULL, *rules_path = NULL, *out = NULL;
    int overwrite = 0;
    ms_concept_opts o = {.format = MS_INPUT_TEXT};
    long v;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "hf:", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': model = optarg; break;
        case 'i': o.input = optarg; break;
        case 'f':
            if (!strcmp(optarg, "text")) o.format = MS_INPUT_TEXT;
            else if (!strcmp(optarg, "jsonl")) o.format = MS_INPUT_JSONL;
            else return cli_usage_error("--input-format expects text or jsonl, got '%s'", optarg);
            break;
        case 'c':
            if ((v = cli_parse_long("--ctx", optarg)) < 0) return 2;
            if (v < 1 || v > 1 << 20) return cli_usage_error("--ctx must be in 1..1048576");
            o.ctx = (int)v;
            break;
        case 'B': o.prepend_bos = 1; break;
        case 'P': o.pack = 1; break;
        case 'r': rules_path = optarg; break;
        case 'W': overwrite = 1; break;
        case 'o': out = optarg; break;
        case 'h': help(stdout); return 0;
        default: return cli_usage_error("concepts label: unknown option or missing value '%s' (see monoscope concepts label --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error("concepts label: unexpected argument '%s'", argv[optind]);
    if (!model || !o.input || !o.ctx || !out) return cli_usage_error("concepts label needs --model, --input, --ctx and --out (see --help)");
    if (cli_refuse_existing(out, overwrite)) return 1;
    ms_concept_rule *loaded = NULL;
    if (rules_path && !(loaded = ms_concept_rules_load(rules_path, &o.n_rules))) return cli_fail();
    o.rules = loaded ? loaded : ms_concept_default_rules(&o.n_rules);
    ms_model *m = ms_model_load(model);
    if (!m) { ms_concept_rules_free(loaded, o.n_rules); return cli_fail(); }
    o.tok = m->tok;
    o.bos = m->cfg.bos_id;
    o.sep = m->cfg.eos_id >= 0 ? m->cfg.eos_id : m->cfg.bos_id; // capture --pack's separator
    o.vocab_size = m->cfg.vocab_size;
    ms_labels *l = ms_concepts_label(&o);
    int rc = l ? 0 : -1;
    if (l && l->n_seq == 0) { ms_error("%s: no tokens", o.input); rc = -1; }
    ms_labels_meta meta = {model, o.input, o.format == MS_INPUT_JSONL ? "jsonl" : "text", rules_path ? rules_path : "built-in",
                           o.prepend_bos};
    if (!rc) rc = ms_labels_save(out, l, &meta);
    if (!rc) printf("labelled %lld rows x %d tokens with %d concepts; wrote %s\n", (long long)l->n_seq, l->ctx, l->n_concepts, out);
    ms_labels_free(l);
    ms_model_free(m);
    ms_concept_rules_free(loaded, o.n_rules);
    return rc ? cli_fail() : 0;
}

int cmd_concepts(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        printf("usage: monoscope concepts label ... (see monoscope concepts label --help)\n");
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "label") == 0) return concepts_label(argc - 1, argv + 1);
    return cli_usage_error("concepts: unknown subcommand '%s' (try: label)", argv[1]);
}
