// cmd_sae_eval.c: `monoscope sae eval --sae sae.h5 --acts acts.h5 [--model PATH ...]`.
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "cli/cli.h"
#include "sae/eval_run.h"

static void help(FILE *f) {
    fprintf(f,
        "usage: monoscope sae eval --sae sae.h5 --acts acts.h5 [--hook NAME] [--max-tokens N] [--json]\n"
        "                          [--model PATH [--input FILE] [--input-format text|jsonl|ids] [--ctx N]\n"
        "                           [--max-seqs N] [--prepend-bos] [--compute f32|bf16]] [--no-store]\n\n"
        "Evaluates a dictionary on activations and stores the results in the SAE file (group /eval,\n"
        "written by copy + atomic rename, so the file is never left half-written).\n"
        "Metrics (x: a token's activation, x_hat its reconstruction, over N tokens of d_in values):\n"
        "  mse                 sum |x - x_hat|^2 / (N d_in)\n"
        "  normalized mse      sum |x - x_hat|^2 / sum |x - mean(x)|^2   (fraction of variance unexplained)\n"
        "  explained variance  1 - normalized mse\n"
        "  L0, L1              mean number of active latents per token, mean sum |f| per token\n"
        "  dead / dense        fraction of latents never active / active on > 1%% and > 10%% of tokens\n"
        "  density histogram   log10(fraction of tokens a latent fires on), live latents, 50 bins over [-10, 0]\n"
        "  shrinkage           mean |x_hat| / |x|\n"
        "With --model, the reconstruction is spliced into the forward pass at the hook (a hook callback\n"
        "overwrites the activation) and the next-token loss is compared with the clean and the\n"
        "zero-ablated runs: CE loss recovered = (CE_zero - CE_splice) / (CE_zero - CE_clean), and\n"
        "KL(clean || splice) per token, KL score = (KL_zero - KL_splice) / KL_zero.\n\n"
        "  --sae PATH          the SAE file\n"
        "  --acts PATH         activations file from `monoscope capture`\n"
        "  --hook NAME         hook site (default: the SAE's hook attribute, else the file's only site)\n"
        "  --max-tokens N      evaluate on the first N tokens only (default: all)\n"
        "  --batch B           tokens per step (default 2048)\n"
        "  --json              print the results as JSON on stdout\n"
        "  --no-store          do not write /eval into the SAE file\n"
        "  --model PATH        checkpoint (as for `monoscope capture`) for the downstream metrics\n"
        "  --input FILE        corpus for the downstream metrics, read like `monoscope capture --input`;\n"
        "                      default: the /tokens rows of the activations file\n"
        "  --input-format F    text (default), jsonl or ids (one sequence of ids per line)\n"
        "  --ctx N             tokens per sequence for --input (default: the activations' ctx)\n"
        "  --max-seqs N        at most N sequences for the downstream metrics (default 64)\n"
        "  --prepend-bos       start every --input window with BOS\n"
        "  --model-batch B     sequences per forward pass (default 4)\n"
        "  --compute f32|bf16  precision of the model's weight products (default f32); bf16 holds its\n"
        "                      weight matrices in bfloat16 (half the memory), as capture --compute\n"
        "  -h, --help          this help\n");
}

enum { O_SAE = 1, O_ACTS, O_HOOK, O_MAXT, O_BATCH, O_JSON, O_NOSTORE, O_MODEL, O_INPUT, O_FMT, O_CTX, O_MAXS, O_BOS, O_MB, O_COMPUTE };
static const struct option opts[] = {
    {"sae", required_argument, 0, O_SAE}, {"acts", required_argument, 0, O_ACTS}, {"hook", required_argument, 0, O_HOOK},
    {"max-tokens", required_argument, 0, O_MAXT}, {"batch", required_argument, 0, O_BATCH}, {"json", no_argument, 0, O_JSON},
    {"no-store", no_argument, 0, O_NOSTORE}, {"model", required_argument, 0, O_MODEL}, {"input", required_argument, 0, O_INPUT},
    {"input-format", required_argument, 0, O_FMT}, {"ctx", required_argument, 0, O_CTX}, {"max-seqs", required_argument, 0, O_MAXS},
    {"prepend-bos", no_argument, 0, O_BOS}, {"model-batch", required_argument, 0, O_MB},
    {"compute", required_argument, 0, O_COMPUTE}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};

typedef struct {
    ms_sae_eval_run_opts o;
    int json;
} eval_args;

static int on_option(void *ctx, int opt, const char *arg) {
    eval_args *a = ctx;
    long v = 0;
    switch (opt) {
    case O_SAE: a->o.sae_path = arg; break;
    case O_ACTS: a->o.acts_path = arg; break;
    case O_HOOK: a->o.eval.hook = arg; break;
    case O_MAXT: if ((v = cli_parse_long("--max-tokens", arg)) < 0) return 2; a->o.eval.max_tokens = v; break;
    case O_BATCH: if ((v = cli_parse_long_in("--batch", arg, 1, LONG_MAX)) < 0) return 2; a->o.eval.batch = v; break;
    case O_JSON: a->json = 1; break;
    case O_NOSTORE: a->o.store = 0; break;
    case O_MODEL: a->o.model_path = arg; break;
    case O_INPUT: a->o.input_path = arg; break;
    case O_FMT:
        if (!strcmp(arg, "text")) a->o.input_format = MS_INPUT_TEXT;
        else if (!strcmp(arg, "jsonl")) a->o.input_format = MS_INPUT_JSONL;
        else if (!strcmp(arg, "ids")) a->o.input_format = MS_INPUT_IDS;
        else return cli_usage_error("--input-format must be text, jsonl or ids, got '%s'", arg);
        break;
    case O_CTX: if ((v = cli_parse_long_in("--ctx", arg, 2, 1 << 20)) < 0) return 2; a->o.ctx = (int)v; break;
    case O_MAXS: if ((v = cli_parse_long("--max-seqs", arg)) < 0) return 2; a->o.max_seqs = v; break;
    case O_BOS: a->o.prepend_bos = 1; break;
    case O_MB: if ((v = cli_parse_long_in("--model-batch", arg, 1, 4096)) < 0) return 2; a->o.model_batch = (int)v; break;
    case O_COMPUTE:
        if ((a->o.compute = ms_compute_parse(arg)) < 0) return cli_usage_error("--compute expects f32 or bf16, got '%s'", arg);
        break;
    }
    return 0;
}

int cmd_sae_eval(int argc, char **argv) {
    eval_args a = {.o = {.store = 1, .input_format = MS_INPUT_TEXT, .max_seqs = 64, .model_batch = 4}};
    const cli_opts p = {"sae eval", opts, help, on_option, 0};
    int rc = cli_parse_opts(argc, argv, &p, &a);
    if (rc) return rc < 0 ? 0 : rc;
    const ms_sae_eval_run_opts *o = &a.o;
    if (!o->sae_path || !o->acts_path) return cli_usage_error("sae eval needs --sae and --acts (see monoscope sae eval --help)");
    if (!o->model_path && (o->input_path || o->ctx || o->prepend_bos || o->compute))
        return cli_usage_error("--input, --ctx, --prepend-bos and --compute need --model");

    ms_sae_eval_result r;
    if (ms_sae_eval_run(o, &r)) return cli_fail();
    if (a.json) {
        char *js = ms_sae_eval_json(&r);
        printf("%s\n", js);
        free(js);
    } else {
        ms_sae_eval_print(stdout, &r);
        if (o->store) printf("stored in %s:/eval\n", o->sae_path);
    }
    ms_sae_eval_result_free(&r);
    return 0;
}
