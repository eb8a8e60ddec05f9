// cmd_random_model.c: `monoscope random-model`: parses the options, then writes a random-weight
// GPT-2 or Llama checkpoint (src/model/init_random.c) in one of the formats the loaders read
// (src/model/save_hf.c, save_gguf.c, save_llama2c.c).
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "model/checkpoint.h"
#include "util/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: monoscope random-model --arch gpt2|llama --out PATH [options]\n\n"
            "Writes a checkpoint with random weights (N(0, 0.02) matrices, unit norm gains, zero biases)\n"
            "and a byte-level GPT-2-style tokenizer (256 byte tokens, 40 merges,\n"
            "<|endoftext|> = last id = BOS/EOS),\n"
            "so text input works end to end without downloads.\n\n"
            "options:\n"
            "  --arch A        gpt2 or llama (required)\n"
            "  --format F      hf (directory: config.json, model.safetensors, vocab.json, merges.txt; default),\n"
            "                  gguf (one file, tokenizer in its metadata) or llama2c (llama only, f32, no tokenizer)\n"
            "  --out PATH      output directory (hf) or file (gguf, llama2c)\n"
            "  --layers N      number of blocks (default 2)\n"
            "  --d-model N     residual width (default 64)\n"
            "  --heads N       attention heads (default 4)\n"
            "  --kv-heads N    key/value heads, llama GQA (default = --heads)\n"
            "  --d-mlp N       MLP width (default 4 x d-model)\n"
            "  --vocab N       vocabulary size, >= 300 (default 512)\n"
            "  --ctx N         maximum context length (default 256)\n"
            "  --seed S        random seed (default 1); one seed gives the same model in every format\n"
            "  --dtype T       f32, f16 or bf16 for the weight matrices (default f32)\n"
            "  --overwrite     replace an existing --out (a non-empty directory or a file; refused otherwise)\n"
            "  -h, --help      this help\n\n"
            "GPT-2-small shape: --arch gpt2 --layers 12 --d-model 768 --heads 12 --d-mlp 3072 --vocab 50257 --ctx 1024\n");
}

int cmd_random_model(int argc, char **argv) {
    static const struct option opts[] = {
        {"arch", required_argument, 0, 'a'}, {"format", required_argument, 0, 'f'}, {"out", required_argument, 0, 'o'},
        {"layers", required_argument, 0, 'L'}, {"d-model", required_argument, 0, 'C'}, {"heads", required_argument, 0, 'H'},
        {"kv-heads", required_argument, 0, 'K'}, {"d-mlp", required_argument, 0, 'F'}, {"vocab", required_argument, 0, 'V'},
        {"ctx", required_argument, 0, 'T'}, {"seed", required_argument, 0, 's'}, {"dtype", required_argument, 0, 'd'}, {"overwrite", no_argument, 0, 'W'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ms_random_spec o = {.arch = MS_ARCH_GPT2, .n_layer = 2, .d_model = 64, .n_head = 4, .n_kv_head = -1, .d_mlp = -1, .vocab = 512,
                        .n_ctx = 256, .seed = 1};
    ms_dtype dtype = MS_DT_F32;
    int have_arch = 0, overwrite = 0;
    const char *format = "hf", *out = NULL;
    optind = 1;
    int c, li = 0;
    long v;
    char optname[32];
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        snprintf(optname, sizeof optname, "--%s", opts[li].name);
        switch (c) {
        case 'a':
            if (!strcmp(optarg, "gpt2")) o.arch = MS_ARCH_GPT2, have_arch = 1;
            else if (!strcmp(optarg, "llama")) o.arch = MS_ARCH_LLAMA, have_arch = 1;
            else return cli_usage_error("--arch must be gpt2 or llama, got '%s'", optarg);
            break;
        case 'f': format = optarg; break;
        case 'o': out = optarg; break;
        case 'd':
            if (!strcmp(optarg, "f32")) dtype = MS_DT_F32;
            else if (!strcmp(optarg, "f16")) dtype = MS_DT_F16;
            else if (!strcmp(optarg, "bf16")) dtype = MS_DT_BF16;
            else return cli_usage_error("--dtype must be f32, f16 or bf16, got '%s'", optarg);
            break;
        case 'W': overwrite = 1; break;
        case 'h': usage(stdout); return 0;
        case '?': usage(stderr); return 2;
        default:
            if ((v = cli_parse_long(optname, optarg)) < 0) return 2;
            if (c == 's') { o.seed = (uint64_t)v; break; }
            if (v < 1 || v > (1 << 24)) return cli_usage_error("%s must be between 1 and %d", optname, 1 << 24);
            if (c == 'L') o.n_layer = (int)v;
            else if (c == 'C') o.d_model = (int)v;
            else if (c == 'H') o.n_head = (int)v;
            else if (c == 'K') o.n_kv_head = (int)v;
            else if (c == 'F') o.d_mlp = (int)v;
            else if (c == 'V') o.vocab = (int)v;
            else if (c == 'T') o.n_ctx = (int)v;
        }
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!have_arch) return cli_usage_error("--arch is required (gpt2 or llama)");
    if (!out) return cli_usage_error("--out is required");
    if (o.n_kv_head < 0) o.n_kv_head = o.n_head;
    if (o.d_mlp < 0) o.d_mlp = 4 * o.d_model;
    if (o.arch == MS_ARCH_GPT2) o.n_kv_head = o.n_head;
    if (o.d_model % o.n_head) return cli_usage_error("--d-model %d is not divisible by --heads %d", o.d_model, o.n_head);
    if (o.n_head % o.n_kv_head) return cli_usage_error("--heads %d is not a multiple of --kv-heads %d", o.n_head, o.n_kv_head);
    if (o.arch == MS_ARCH_LLAMA && (o.d_model / o.n_head) % 2) return cli_usage_error("llama needs an even head dimension for RoPE");
    if (o.vocab < 300) return cli_usage_error("--vocab must be at least 300 (256 byte tokens, merges, <|endoftext|>)");
    if (o.n_layer > 256) return cli_usage_error("--layers must be at most 256");
    ms_ckpt_format fmt = MS_CKPT_HF;
    if (!strcmp(format, "gguf")) fmt = MS_CKPT_GGUF;
    else if (!strcmp(format, "llama2c")) fmt = MS_CKPT_LLAMA2C;
    else if (strcmp(format, "hf")) return cli_usage_error("--format must be hf, gguf or llama2c, got '%s'", format);
    if (fmt == MS_CKPT_LLAMA2C && (o.arch == MS_ARCH_GPT2 || dtype != MS_DT_F32))
        return cli_usage_error("--format llama2c supports only --arch llama with --dtype f32");
    if (cli_refuse_existing(out, overwrite)) return 1;
    ms_checkpoint *ck = ms_checkpoint_random(&o);
    int rc = ck ? ms_checkpoint_save(ck, fmt, out, dtype) : -1;
    ms_checkpoint_free(ck);
    return rc ? cli_fail() : 0;
}
