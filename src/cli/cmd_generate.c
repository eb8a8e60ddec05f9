// cmd_generate.c: `monoscope generate`: greedy or sampled decoding (src/model/generate.c) from a
// prompt, ids, or BOS alone, each token printed as it is chosen.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "capture/input.h"
#include "backend/backend.h"
#include "cli/cli.h"
#include "model/generate.h"
#include "util/util.h"

static void help(FILE *f) {
    fprintf(f,
        "usage: monoscope generate --model PATH [--prompt S | --ids \"1 2 3\"] [-n N] [--print-ids]\n"
        "                          [--temperature T [--top-k K] [--seed S]] [--no-kv-cache]\n"
        "                          [--compute f32|bf16]\n\n"
        "Greedy (argmax) generation by default, or sampling with --temperature. Prints the continuation\n"
        "only (the prompt is not repeated).\n\n"
        "  -m, --model PATH   checkpoint: Hugging Face dir, GGUF file, or llama2.c .bin\n"
        "  -p, --prompt S     text prompt, tokenized with the model's tokenizer (BOS prepended when\n"
        "                     the tokenizer has one)\n"
        "  -i, --ids LIST     prompt as whitespace-separated token ids, used as given (no BOS added)\n"
        "                     with neither --prompt nor --ids generation starts from BOS alone\n"
        "  -n N               number of tokens to generate (default 32); generation also stops after\n"
        "                     EOS or when the model's context is full\n"
        "      --temperature T  sample from softmax(logits / T) instead of taking the argmax (T > 0;\n"
        "                     0 = greedy, the default)\n"
        "      --top-k K      with --temperature: sample among the K most likely tokens only (0: all)\n"
        "      --seed S       with --temperature: the sampler's seed (default 0); the same seed, model\n"
        "                     and prompt give the same tokens\n"
        "      --print-ids    print the generated ids space-separated on one line instead of text\n"
        "                     (also the output when the model has no tokenizer)\n"
        "      --no-kv-cache  rerun the whole prefix for every token instead of the new token against\n"
        "                     cached keys and values (same tokens, slower; for comparisons)\n"
        "      --compute f32|bf16  precision of the weight products (default f32); bf16 holds the\n"
        "                     weight matrices in bfloat16 (half the memory), as capture --compute\n"
        "  -h, --help         this help\n");
}

typedef struct {
    const ms_tokenizer *tok; // print text; NULL: ids
    int first;
} printer;

static int print_token(int32_t id, void *user) {
    printer *p = user;
    if (p->tok) {
        size_t len;
        const char *b = ms_tokenizer_token_bytes(p->tok, id, &len);
        fwrite(b, 1, len, stdout);
    } else {
        printf(p->first ? "%d" : " %d", (int)id);
    }
    fflush(stdout);
    p->first = 0;
    return 0;
}

int cmd_generate(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"prompt", required_argument, 0, 'p'},
        {"ids", required_argument, 0, 'i'},   {"print-ids", no_argument, 0, 'I'},
        {"temperature", required_argument, 0, 'T'}, {"top-k", required_argument, 0, 'K'},
        {"seed", required_argument, 0, 'S'}, {"no-kv-cache", no_argument, 0, 'C'},
        {"compute", required_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *model_path = NULL, *prompt = NULL, *ids_str = NULL;
    long n_gen = 32;
    int print_ids = 0, ch, compute = MS_COMPUTE_F32;
    ms_sampling smp = {0};
    char *end;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:p:i:n:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': model_path = optarg; break;
        case 'p': prompt = optarg; break;
        case 'i': ids_str = optarg; break;
        case 'n': if ((n_gen = cli_parse_long("-n", optarg)) < 0) return 2; break;
        case 'I': print_ids = 1; break;
        case 'C': smp.no_kv_cache = 1; break;
        case 'P':
            if ((compute = ms_compute_parse(optarg)) < 0) return cli_usage_error("--compute expects f32 or bf16, got '%s'", optarg);
            break;
        case 'T':
            smp.temperature = strtod(optarg, &end);
            if (end == optarg || *end || !(smp.temperature >= 0) || !isfinite(smp.temperature))
                return cli_usage_error("--temperature expects a number >= 0, got '%s'", optarg);
            break;
        case 'K': { long k = cli_parse_long("--top-k", optarg); if (k < 0) return 2; smp.top_k = k > 1 << 30 ? 1 << 30 : (int)k; break; }
        case 'S': { long sd = cli_parse_long("--seed", optarg); if (sd < 0) return 2; smp.seed = (uint64_t)sd; break; }
        case 'h': help(stdout); return 0;
        default: return cli_usage_error("unknown option (see monoscope generate --help)");
        }
    }
    if (optind != argc) return cli_usage_error("unexpected argument '%s' (see monoscope generate --help)", argv[optind]);
    if (!model_path) return cli_usage_error("--model is required (see monoscope generate --help)");
    if (prompt && ids_str) return cli_usage_error("give either --prompt or --ids, not both");

    // bf16: the weight matrices held in bf16 from the load on; every state of the model then runs
    // bf16 products (forward.c)
    ms_model *m = ms_model_load_opts(model_path, &(ms_load_opts){.hold_bf16 = compute == MS_COMPUTE_BF16});
    if (!m) return cli_fail();
    const ms_config *c = &m->cfg;
    int rc = 1;
    int32_t *ids = NULL;
    size_t n = 0;
    if (prompt) {
        if (!m->tok) { ms_error("%s: --prompt needs a tokenizer and this model has none (use --ids)", model_path); goto out; }
        if (ms_tokenizer_encode(m->tok, prompt, strlen(prompt), 1, &ids, &n)) goto out;
    } else if (ids_str) {
        if (ms_parse_ids(ids_str, "--ids", &ids, &n)) goto out;
    } else {
        if (c->bos_id < 0) { ms_error("%s: the model has no BOS token; give --prompt or --ids", model_path); goto out; }
        ids = ms_malloc(sizeof(int32_t));
        ids[0] = c->bos_id;
        n = 1;
    }
    if (n == 0) { ms_error("empty prompt: no tokens to start from"); goto out; }
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= c->vocab_size) {
            ms_error("--ids: token id %d is outside the vocabulary (0..%d)", (int)ids[i], c->vocab_size - 1);
            goto out;
        }
    if (n > (size_t)c->n_ctx) {
        ms_error("prompt of %zu tokens exceeds the model's context of %d", n, c->n_ctx);
        goto out;
    }
    size_t total = n + (size_t)n_gen;
    if (total > (size_t)c->n_ctx) total = (size_t)c->n_ctx;
    ids = ms_realloc(ids, (total > 0 ? total : 1) * sizeof(int32_t));
    printer pr = {!print_ids && m->tok ? m->tok : NULL, 1};
    if (!print_ids && !m->tok) fprintf(stderr, "monoscope: note: the model has no tokenizer; printing ids\n");
    if (ms_generate(m, ids, (int)n, (int)total, &smp, print_token, &pr) < 0) goto out;
    printf("\n");
    rc = 0;
out:
    if (rc) cli_fail();
    free(ids);
    ms_model_free(m);
    return rc;
}
