// cmd_sae_train.c: `monoscope sae train` — learn one sparse dictionary per hook site.
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "sae/act_stream.h"
#include "backend/enc_gemm.h"
#include "sae/train.h"
#include "util/util.h"

static void usage(FILE *f) {
    fprintf(f,
"usage: monoscope sae train --acts A.h5[,B.h5...] --hook NAME|GLOB --out sae.h5 [options]\n"
"\n"
"Trains a sparse autoencoder on activations written by `monoscope capture` (/acts/<hook>\n"
"[n_seq, ctx, ...], float32/float16; trailing dims are flattened). The files are streamed\n"
"through a shuffle buffer, so they may be larger than memory. A glob (quote it:\n"
"'blocks.*.hook_resid_post') trains one dictionary per matching site from the same reads,\n"
"written to <out stem>.<hook>.h5. Every default is printed at start and stored in the output.\n"
"\n"
"  --acts FILES          comma-separated activation files (same hooks and site shapes)\n"
"  --hook NAME|GLOB      hook site(s) under /acts\n"
"  --out PATH            output SAE file (README \"SAE file\"); checkpoints go to PATH.ckpt\n"
"  --arch A              topk (default) | batchtopk | jumprelu | relu\n"
"  --d-sae N             dictionary size (default: expansion x d_in)\n"
"  --expansion R         d_sae = R x d_in (default 8)\n"
"  --k K                 active latents per token for topk/batchtopk (default 32)\n"
"  --l1 LAMBDA           fixed sparsity coefficient (relu: decoder-norm-weighted L1; jumprelu: L0).\n"
"                        Default: adapted during training so the L0 reaches --l0-target\n"
"  --l0-target T         target active latents per token for relu/jumprelu (default: --k)\n"
"  --tokens N            training tokens (default: one pass over the files' real tokens, whole\n"
"                        batches; padding is never data); suffixes k, M, G\n"
"  --batch B             tokens per step (default 4096)\n"
"  --lr ETA              Adam learning rate (default 3e-3*sqrt(1024/d_sae), at most 3e-3)\n"
"  --seed S              initialisation and shuffling seed (default 0)\n"
"  --checkpoint-every N  write PATH.ckpt atomically every N tokens (default tokens/10; 0: never)\n"
"  --overwrite           replace existing output file(s) (refused otherwise)\n"
"  --resume              continue from PATH.ckpt if present (same options and thread count give\n"
"                        bit-identical weights to an uninterrupted run)\n"
"  --threads N           OpenMP/BLAS threads (default: MONOSCOPE_THREADS, OMP_NUM_THREADS or all cores)\n"
"  --buffer-tokens N     shuffle buffer size in tokens (default 262144, at most 512 MiB)\n"
"  --encoder-dtype T     f32 (default) | bf16: precision of the encoder product's inputs (x - b_dec\n"
"                        and W_enc rounded to bfloat16, fp32 accumulation; AMX/AVX512-BF16 through\n"
"                        oneDNN, several times faster). Master weights, Adam and every other product\n"
"                        stay fp32.\n"
"  --init-from SAE.h5    start from a saved SAE (same d_in and d_sae; e.g. one imported from SAELens)\n"
"                        instead of the random initialisation; the normalisation scale is estimated\n"
"                        anew and the weights converted to it\n"
"advanced:\n"
"  --warmup F            LR warmup fraction of steps (default 0.01)\n"
"  --decay F             LR linear decay to 0 over the last F of steps (default 0.2)\n"
"  --sparsity-warmup F   sparsity coefficient warmup fraction (default 0.05)\n"
"  --dead-window N       tokens without firing before a latent is dead (default tokens/10, <= 10M)\n"
"  --resample-every N    relu: every N tokens during the first half of training, re-initialise each\n"
"                        dead latent towards an input of the batch drawn with probability\n"
"                        proportional to its squared reconstruction error (Anthropic 2023)\n"
"                        (default: the dead window; 0: off; other architectures use AuxK instead)\n"
"  --k-aux N             AuxK latents for topk/batchtopk (default d_in/2)\n"
"  --aux-coef C          AuxK loss coefficient (default 1/32)\n"
"  --bandwidth E         JumpReLU straight-through bandwidth (default 0.001*sqrt(d_in), i.e. 0.001\n"
"                        at unit mean squared norm; inputs are scaled to E|x|^2 = d_in)\n"
"  --jumprelu-warm F     batchtopk/jumprelu: train the first F of steps as TopK (jumprelu: k =\n"
"                        --l0-target, then each threshold set to reproduce its TopK firing\n"
"                        rate) (default 0.2)\n"
"  --clip C              gradient-norm clipping (default 1 for relu, off otherwise)\n"
"  --log-every N         steps between rows of /training_log (default: ~1000 rows)\n");
}

// Integer with optional k/M/G suffix (powers of 1000).
static int parse_count(const char *opt, const char *v, int64_t *out) {
    char *end = NULL;
    double x = v ? strtod(v, &end) : -1;
    if (!v || end == v) goto bad;
    if (*end == 'k' || *end == 'K') { x *= 1e3; end++; }
    else if (*end == 'M' || *end == 'm') { x *= 1e6; end++; }
    else if (*end == 'G' || *end == 'g') { x *= 1e9; end++; }
    if (*end || x < 0 || x > 9e18) goto bad;
    *out = (int64_t)(x + 0.5);
    return 0;
bad:
    cli_usage_error("%s expects a non-negative count (e.g. 4096, 10M), got '%s'", opt, v ? v : "");
    return -1;
}
static int parse_real(const char *opt, const char *v, double *out) {
    char *end = NULL;
    double x = v ? strtod(v, &end) : -1;
    if (!v || end == v || *end || !(x >= 0) || x > 1e30) {
        cli_usage_error("%s expects a non-negative number, got '%s'", opt, v ? v : "");
        return -1;
    }
    *out = x;
    return 0;
}

// sae train's options
enum { O_ACTS = 1000, O_HOOK, O_OUT, O_ARCH, O_DSAE, O_EXP, O_K, O_L1, O_L0, O_TOKENS, O_BATCH, O_LR, O_SEED,
       O_CKPT, O_RESUME, O_THREADS, O_BUF, O_WARM, O_DECAY, O_SPW, O_DEAD, O_KAUX, O_AUXC, O_BW, O_CLIP, O_LOG, O_JRW, O_RS, O_ENC, O_INIT, O_OVERWRITE, O_HELP };
static const struct option train_opts[] = {
    {"acts", required_argument, 0, O_ACTS}, {"hook", required_argument, 0, O_HOOK},
    {"out", required_argument, 0, O_OUT}, {"arch", required_argument, 0, O_ARCH},
    {"d-sae", required_argument, 0, O_DSAE}, {"expansion", required_argument, 0, O_EXP},
    {"k", required_argument, 0, O_K}, {"l1", required_argument, 0, O_L1},
    {"l0-target", required_argument, 0, O_L0}, {"tokens", required_argument, 0, O_TOKENS},
    {"batch", required_argument, 0, O_BATCH}, {"lr", required_argument, 0, O_LR},
    {"seed", required_argument, 0, O_SEED}, {"checkpoint-every", required_argument, 0, O_CKPT},
    {"resume", no_argument, 0, O_RESUME}, {"threads", required_argument, 0, O_THREADS},
    {"buffer-tokens", required_argument, 0, O_BUF}, {"warmup", required_argument, 0, O_WARM},
    {"decay", required_argument, 0, O_DECAY}, {"sparsity-warmup", required_argument, 0, O_SPW},
    {"dead-window", required_argument, 0, O_DEAD}, {"k-aux", required_argument, 0, O_KAUX},
    {"aux-coef", required_argument, 0, O_AUXC}, {"bandwidth", required_argument, 0, O_BW},
    {"clip", required_argument, 0, O_CLIP}, {"jumprelu-warm", required_argument, 0, O_JRW}, {"log-every", required_argument, 0, O_LOG},
    {"resample-every", required_argument, 0, O_RS}, {"encoder-dtype", required_argument, 0, O_ENC},
    {"init-from", required_argument, 0, O_INIT}, {"overwrite", no_argument, 0, O_OVERWRITE},
    {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0}};

typedef struct {
    const char *acts, *hook, *out;
    int overwrite;
} train_args;

// One option into c / a: 0, -1 after --help (exit 0), or the exit status of a bad value.
static int on_option(ms_train_cfg *c, train_args *a, int o, const char *v, const char *raw) {
    int64_t n;
    double r;
    switch (o) {
    case O_ACTS: a->acts = v; break;
    case O_HOOK: a->hook = v; break;
    case O_OUT: a->out = v; break;
    case O_ARCH: if (ms_sae_arch_parse(v, &c->arch) < 0) return cli_usage_error("%s", ms_last_error()); break;
    case O_DSAE: if (parse_count("--d-sae", v, &n) < 0) return 2; if (n < 1 || n > (1 << 24)) return cli_usage_error("--d-sae out of range"); c->d_sae = (int)n; break;
    case O_EXP: if (parse_real("--expansion", v, &c->expansion) < 0) return 2; if (c->expansion <= 0) return cli_usage_error("--expansion must be > 0"); break;
    case O_K: if (parse_count("--k", v, &n) < 0) return 2; if (n < 1 || n > (1 << 24)) return cli_usage_error("--k must be >= 1"); c->k = (int)n; break;
    case O_L1: if (parse_real("--l1", v, &c->l1) < 0) return 2; break;
    case O_L0: if (parse_real("--l0-target", v, &c->l0_target) < 0) return 2; if (c->l0_target <= 0) return cli_usage_error("--l0-target must be > 0"); break;
    case O_TOKENS: if (parse_count("--tokens", v, &c->tokens) < 0) return 2; break;
    case O_BATCH: if (parse_count("--batch", v, &n) < 0) return 2; if (n < 1 || n > (1 << 22)) return cli_usage_error("--batch out of range"); c->batch = (int)n; break;
    case O_LR: if (parse_real("--lr", v, &c->lr) < 0) return 2; if (c->lr <= 0) return cli_usage_error("--lr must be > 0"); break;
    case O_SEED: if (parse_count("--seed", v, &n) < 0) return 2; c->seed = (uint64_t)n; break;
    case O_CKPT: if (parse_count("--checkpoint-every", v, &c->checkpoint_every) < 0) return 2; break;
    case O_RESUME: c->resume = 1; break;
    case O_OVERWRITE: a->overwrite = 1; break;
    case O_THREADS: if (parse_count("--threads", v, &n) < 0) return 2; if (n < 1 || n > 4096) return cli_usage_error("--threads out of range"); c->threads = (int)n; break;
    case O_BUF: if (parse_count("--buffer-tokens", v, &c->buffer_tokens) < 0) return 2; break;
    case O_WARM: if (parse_real("--warmup", v, &c->warmup_frac) < 0) return 2; break;
    case O_DECAY: if (parse_real("--decay", v, &c->decay_frac) < 0) return 2; if (c->decay_frac > 1) return cli_usage_error("--decay must be <= 1"); break;
    case O_SPW: if (parse_real("--sparsity-warmup", v, &c->sparsity_warmup_frac) < 0) return 2; break;
    case O_DEAD: if (parse_count("--dead-window", v, &c->dead_window) < 0) return 2; break;
    case O_KAUX: if (parse_count("--k-aux", v, &n) < 0) return 2; c->k_aux = (int)n; break;
    case O_AUXC: if (parse_real("--aux-coef", v, &c->aux_coef) < 0) return 2; break;
    case O_BW: if (parse_real("--bandwidth", v, &c->bandwidth) < 0) return 2; break;
    case O_CLIP: if (parse_real("--clip", v, &r) < 0) return 2; c->clip = r > 0 ? r : 0; break;
    case O_JRW: if (parse_real("--jumprelu-warm", v, &c->jumprelu_warm) < 0) return 2; if (c->jumprelu_warm >= 1) return cli_usage_error("--jumprelu-warm must be < 1"); break;
    case O_INIT: c->init_from = v; break;
    case O_ENC:
        c->encoder_dtype = ms_enc_dtype_parse(v);
        if (c->encoder_dtype < 0) return cli_usage_error("--encoder-dtype must be f32 or bf16");
        break;
    case O_RS: if (parse_count("--resample-every", v, &c->resample_every) < 0) return 2; break;
    case O_LOG: if (parse_count("--log-every", v, &n) < 0) return 2; c->log_every = (int)n; break;
    case O_HELP: case 'h': usage(stdout); return -1;
    default: return cli_usage_error("sae train: unknown or incomplete option '%s' (see --help)", raw);
    }
    return 0;
}

// The output file of each hook: --out itself, or for a glob OUT.<hook>.h5 (OUT without its .h5).
static char **output_names(const char *out, char *const *hooks, int n_hooks, int is_glob) {
    char **outs = ms_calloc((size_t)n_hooks, sizeof(char *));
    if (!is_glob) { outs[0] = ms_strdup(out); return outs; }
    size_t L = strlen(out);
    size_t stem = L > 3 && !strcmp(out + L - 3, ".h5") ? L - 3 : L;
    for (int h = 0; h < n_hooks; h++) {
        size_t m = stem + strlen(hooks[h]) + 8;
        outs[h] = ms_malloc(m);
        snprintf(outs[h], m, "%.*s.%s.h5", (int)stem, out, hooks[h]);
    }
    return outs;
}

int cmd_sae_train(int argc, char **argv) {
    ms_train_cfg c;
    ms_train_cfg_init(&c);
    train_args a = {0};
    optind = 1;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, "h", train_opts, NULL)) != -1) {
        int st = on_option(&c, &a, o, optarg, argv[optind - 1]);
        if (st) return st < 0 ? 0 : st;
    }
    if (optind < argc) return cli_usage_error("sae train: unexpected argument '%s'", argv[optind]);
    const char *acts = a.acts, *hook = a.hook, *out = a.out;
    const int overwrite = a.overwrite;
    if (!acts || !hook || !out) return cli_usage_error("sae train needs --acts, --hook and --out (see --help)");

    // files
    char *acts_copy = ms_strdup(acts);
    char **files = NULL;
    int n_files = 0;
    for (char *tok = strtok(acts_copy, ","); tok; tok = strtok(NULL, ",")) {
        files = ms_realloc(files, (size_t)(n_files + 1) * sizeof(char *));
        files[n_files++] = tok;
    }
    int status = 1;
    char **hooks = NULL, **outs = NULL;
    int n_hooks = 0;
    if (n_files == 0) { status = cli_usage_error("--acts names no file"); goto end; }
    int is_glob = strpbrk(hook, "*?[") != NULL;
    if (is_glob) {
        n_hooks = ms_acts_match_hooks(files[0], hook, &hooks);
        if (n_hooks < 0) { n_hooks = 0; status = cli_fail(); goto end; }
    } else {
        n_hooks = 1;
        hooks = ms_malloc(sizeof(char *));
        hooks[0] = ms_strdup(hook);
    }
    // The application sets the process-wide OpenMP default, once: OpenBLAS and oneDNN follow it;
    // the trainer's own loops are given c.threads explicitly.
    if (c.threads <= 0) c.threads = ms_num_threads();
    omp_set_num_threads(c.threads);
    outs = output_names(out, hooks, n_hooks, is_glob);
    size_t cl = strlen(out) + 8;
    char *ckpt = ms_malloc(cl);
    snprintf(ckpt, cl, "%s.ckpt", out);
    // Like capture: --resume with a checkpoint continues (the outputs are written only at the end);
    // --resume with no checkpoint and every output present has nothing to do.
    int resuming = c.resume && ms_file_exists(ckpt), all_done = 1;
    for (int h = 0; h < n_hooks; h++) all_done &= ms_file_exists(outs[h]);
    if (c.resume && !resuming && all_done && !overwrite) {
        fprintf(stderr, "monoscope: %s is already complete; nothing to resume\n", out);
        status = 0;
        free(ckpt);
        goto end;
    }
    for (int h = 0; h < n_hooks && !resuming; h++)
        if (cli_refuse_existing(outs[h], overwrite)) { free(ckpt); goto end; }
    if (ms_sae_train(&c, (const char *const *)files, n_files, (const char *const *)hooks, n_hooks,
                     (const char *const *)outs, ckpt) < 0)
        status = cli_fail();
    else
        status = 0;
    free(ckpt);
end:
    for (int h = 0; h < n_hooks; h++) { free(hooks[h]); if (outs) free(outs[h]); }
    free(hooks); free(outs); free(files); free(acts_copy);
    return status;
}
