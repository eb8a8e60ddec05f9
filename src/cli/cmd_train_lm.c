// cmd_train_lm.c: `monoscope train-lm`: parses the options, then trains a GPT-2 from scratch with
// one library call (src/train/lm_train.c).
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "train/lm_train.h"
#include "util/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: monoscope train-lm --corpus TRAIN.jsonl --tokenizer DIR --layers L --d-model D --heads H\n"
            "                          --d-mlp F --ctx T --out DIR [options]\n\n"
            "Trains a GPT-2-architecture language model from scratch on a JSONL corpus ({\"text\": ...} a\n"
            "line; documents joined by <|endoftext|>) and writes a Hugging Face GPT-2 directory (config.json,\n"
            "model.safetensors, vocab.json, merges.txt) plus training_log.h5 (step, lr, train_loss, val_loss,\n"
            "grad_norm, tokens_per_s). AdamW (betas 0.9/0.95, decay on matrices and embeddings), linear\n"
            "warm-up then cosine to 10%% of --lr, global-norm clipping. Results are bit-identical for a\n"
            "fixed --threads (reductions depend on it), --resume included.\n\n"
            "options:\n"
            "  --corpus FILE       training JSONL (required)\n"
            "  --val FILE          validation JSONL (val loss every --val-every steps)\n"
            "  --tokenizer DIR     GPT-2 BPE vocab.json + merges.txt (`monoscope tokenizer train`) (required)\n"
            "  --layers/--d-model/--heads/--d-mlp/--ctx N   model shape (required)\n"
            "  --batch B           sequences per step (default 8)\n"
            "  --steps N | --tokens N   training length (steps = tokens / (batch x ctx))\n"
            "  --lr X              peak learning rate (default 3e-4)\n"
            "  --warmup-frac X     warm-up fraction of the steps (default 0.05)\n"
            "  --weight-decay X    decoupled weight decay (default 0.1)\n"
            "  --clip X            global gradient-norm clip, 0 = off (default 1.0)\n"
            "  --val-every N       steps between validation losses (default 100)\n"
            "  --val-batches N     validation batches (consecutive windows of the val set; default 8)\n"
            "  --checkpoint-every N  steps between atomic checkpoints out/checkpoint.h5 (default 100)\n"
            "  --seed S            initialisation and batch seed (default 1337)\n"
            "  --threads N         threads (default 1)\n"
            "  --resume            continue from out/checkpoint.h5 (same settings)\n"
            "  --out DIR           output directory (required)\n"
            "  -h, --help          this help\n");
}

static int parse_double(const char *opt, const char *s, double *v) {
    char *end;
    *v = strtod(s, &end);
    if (end == s || *end || *v < 0) { cli_usage_error("%s: not a non-negative number: '%s'", opt, s); return -1; }
    return 0;
}

int cmd_train_lm(int argc, char **argv) {
    static const struct option opts[] = {
        {"corpus", required_argument, 0, 'c'}, {"val", required_argument, 0, 'v'}, {"tokenizer", required_argument, 0, 'k'},
        {"out", required_argument, 0, 'o'}, {"layers", required_argument, 0, 'L'}, {"d-model", required_argument, 0, 'C'},
        {"heads", required_argument, 0, 'H'}, {"d-mlp", required_argument, 0, 'F'}, {"ctx", required_argument, 0, 'T'},
        {"batch", required_argument, 0, 'B'}, {"steps", required_argument, 0, 'n'}, {"tokens", required_argument, 0, 'N'},
        {"lr", required_argument, 0, 'l'}, {"warmup-frac", required_argument, 0, 'w'},
        {"weight-decay", required_argument, 0, 'd'}, {"clip", required_argument, 0, 'g'},
        {"val-every", required_argument, 0, 'e'}, {"checkpoint-every", required_argument, 0, 'E'},
        {"val-batches", required_argument, 0, 'V'},
        {"seed", required_argument, 0, 's'}, {"threads", required_argument, 0, 't'}, {"resume", no_argument, 0, 'r'},
        {"dump-grads", required_argument, 0, 'D'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ms_lm_train_opts o;
    ms_lm_train_defaults(&o);
    optind = 1;
    int c, li = 0;
    long v;
    char optname[32];
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        snprintf(optname, sizeof optname, "--%s", opts[li].name);
        switch (c) {
        case 'c': o.corpus = optarg; break;
        case 'v': o.val = optarg; break;
        case 'k': o.tokenizer = optarg; break;
        case 'o': o.out = optarg; break;
        case 'D': o.dump_grads = optarg; break; // testing: see tests/py/test_train_lm.py
        case 'r': o.resume = 1; break;
        case 'l': if (parse_double(optname, optarg, &o.lr)) return 2; break;
        case 'w': if (parse_double(optname, optarg, &o.warmup_frac)) return 2; break;
        case 'd': if (parse_double(optname, optarg, &o.weight_decay)) return 2; break;
        case 'g': if (parse_double(optname, optarg, &o.clip)) return 2; break;
        case 'h': usage(stdout); return 0;
        case '?': usage(stderr); return 2;
        default:
            if ((v = cli_parse_long(optname, optarg)) < 0) return 2;
            if (c == 's') { o.seed = (uint64_t)v; break; }
            if (c == 'n') { o.steps = v; break; }
            if (c == 'N') { o.tokens = v; break; }
            if (c == 'e') { o.val_every = v; break; }
            if (c == 'E') { o.ckpt_every = v; break; }
            if (c == 'V' && v < 1) return cli_usage_error("--val-batches must be >= 1");
            if (c == 'V') { o.val_batches = v; break; }
            if (v < 1 || v > (1 << 24)) return cli_usage_error("%s must be between 1 and %d", optname, 1 << 24);
            if (c == 'L') o.cfg.n_layer = (int)v;
            else if (c == 'C') o.cfg.d_model = (int)v;
            else if (c == 'H') o.cfg.n_head = (int)v;
            else if (c == 'F') o.cfg.d_mlp = (int)v;
            else if (c == 'T') o.cfg.n_ctx = (int)v;
            else if (c == 'B') o.batch = (int)v;
            else if (c == 't') o.threads = (int)v;
        }
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!o.corpus || !o.tokenizer || (!o.out && !o.dump_grads))
        return cli_usage_error("--corpus, --tokenizer and --out are required (see --help)");
    if (!o.cfg.n_layer || !o.cfg.d_model || !o.cfg.n_head || !o.cfg.d_mlp || !o.cfg.n_ctx)
        return cli_usage_error("--layers, --d-model, --heads, --d-mlp and --ctx are required (see --help)");
    if (!o.steps && !o.tokens) return cli_usage_error("one of --steps or --tokens is required");
    return ms_lm_train(&o) == 0 ? 0 : cli_fail();
}
