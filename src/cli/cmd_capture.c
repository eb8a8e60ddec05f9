// cmd_capture.c: `monoscope capture`: corpus -> activations HDF5 (options -> ms_capture_opts).
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "capture/capture.h"
#include "cli/cli.h"
#include "util/util.h"

static void help(FILE *f) {
    fprintf(f,
        "usage: monoscope capture --model PATH --input FILE --hooks P[,P...] --ctx N --out acts.h5\n"
        "                         [--input-format text|jsonl|ids] [--max-tokens N] [--batch N]\n"
        "                         [--dtype f32|f16] [--compress 0-9] [--compute f32|bf16] [--prepend-bos] [--pack]\n"
        "                         [--resume] [--overwrite]\n\n"
        "Runs the model over a corpus and writes the activations at the chosen hook sites to HDF5:\n"
        "/tokens int32 [n_seq, ctx], /acts/<hook> [n_seq, ctx, ...site shape], /vocab (token bytes, when\n"
        "the model has a tokenizer), root attributes describing model, hooks and run (README: \"Activations\n"
        "file\"). Sequences shorter than ctx are padded: token -1 and zero activations.\n\n"
        "  -m, --model PATH       Hugging Face dir, GGUF file, or llama2.c .bin\n"
        "  -i, --input FILE       the corpus\n"
        "  -f, --input-format F   text  (default) the whole file is tokenized at once (it is read into\n"
        "                               memory: use jsonl for corpora larger than RAM) and cut into\n"
        "                               ctx-token windows (the last one may be shorter); needs a tokenizer\n"
        "                         jsonl one JSON object per line; its \"text\" field is a document, tokenized\n"
        "                               and cut into ctx-token windows; needs a tokenizer\n"
        "                         ids   whitespace-separated token ids, one sequence per line, each <= ctx\n"
        "  -k, --hooks LIST       comma-separated hook names or globs, e.g. 'blocks.*.hook_resid_post',\n"
        "                         'blocks.3.*', 'logits' (names: TransformerLens, see model/hooks.h)\n"
        "  -c, --ctx N            tokens per row (<= the model's context)\n"
        "  -o, --out FILE         output HDF5 file. It is written as FILE.partial and renamed to FILE when\n"
        "                         the run completes; an existing FILE is never overwritten without --overwrite\n"
        "      --max-tokens N     stop after N tokens (0: the whole input; with --pack, the whole windows\n"
        "                         that fit in N)\n"
        "  -b, --batch N          sequences per forward pass (default 4); bounds memory together with ctx\n"
        "      --dtype f32|f16    storage type of /acts (default f32; f16 halves the file)\n"
        "      --compress L       deflate level 0-9 with byte shuffle (default %d = none). Activations are\n"
        "                         dense floats: on a GPT-2-small shape deflate 1 shrank the file by only\n"
        "                         15%% yet took ~20%% of capture time, against the <= 5%% budget for\n"
        "                         writing; so the default stores uncompressed chunks. Use --dtype f16 to\n"
        "                         halve files, and --compress 1 when disk matters more than speed\n"
        "      --compute f32|bf16 precision of the weight products (default f32). bf16: the weight\n"
        "                         matrices held in bfloat16 from the load on (half the memory: a\n"
        "                         Llama-3.1-8B pass in ~16 GB), each product's inputs rounded per call,\n"
        "                         fp32 accumulation (oneDNN, AVX512-BF16 / AMX); norms, softmax and the\n"
        "                         residual stream stay fp32. Every site within 3%% relative L2 of f32 in\n"
        "                         the tests (README).\n"
        "                         Resume with the same --compute\n"
"      --prepend-bos      start every row with the model's BOS token (then ctx-1 corpus tokens)\n"
        "      --pack             join the documents (text or jsonl) into one stream, each followed by the\n"
        "                         model's EOS (BOS if it has none), and cut it into full ctx windows: no\n"
        "                         padding; the final partial window is dropped. Without it a row is a\n"
        "                         window of one document, padded past its end with token -1 (every\n"
        "                         consumer skips padding)\n"
        "      --resume           continue FILE.partial left by an interrupted run (same model, hooks, ctx,\n"
        "                         dtype, input format, batch); the result equals an uninterrupted run.\n"
        "                         After every batch the file is flushed with its row count n_seq, so a\n"
        "                         crash or Ctrl-C loses at most the batch in flight. Without a partial\n"
        "                         file --resume starts a fresh run; without --resume a stale FILE.partial\n"
        "                         is replaced\n"
        "      --overwrite        replace an existing FILE\n"
        "  -h, --help             this help\n\n"
        "A progress bar (tokens/s, ETA) is drawn on stderr when it is a terminal; a summary line with the\n"
        "forward and HDF5 times follows.\n", MS_CAPTURE_DEFAULT_COMPRESS);
}

int cmd_capture(int argc, char **argv) {
    enum { O_MAXTOK = 256, O_DTYPE, O_COMPRESS, O_BOS, O_PACK, O_RESUME, O_OVERWRITE, O_COMPUTE };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},      {"input", required_argument, 0, 'i'},
        {"input-format", required_argument, 0, 'f'}, {"hooks", required_argument, 0, 'k'},
        {"ctx", required_argument, 0, 'c'},        {"out", required_argument, 0, 'o'},
        {"max-tokens", required_argument, 0, O_MAXTOK}, {"batch", required_argument, 0, 'b'},
        {"dtype", required_argument, 0, O_DTYPE},  {"compress", required_argument, 0, O_COMPRESS},
        {"prepend-bos", no_argument, 0, O_BOS},    {"pack", no_argument, 0, O_PACK},
        {"resume", no_argument, 0, O_RESUME},      {"compute", required_argument, 0, O_COMPUTE},
        {"overwrite", no_argument, 0, O_OVERWRITE}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ms_capture_opts o = {.input_format = MS_INPUT_TEXT, .compress = -1};
    long v;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:i:f:k:c:o:b:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': o.model_path = optarg; break;
        case 'i': o.input_path = optarg; break;
        case 'f':
            if (!strcmp(optarg, "text")) o.input_format = MS_INPUT_TEXT;
            else if (!strcmp(optarg, "jsonl")) o.input_format = MS_INPUT_JSONL;
            else if (!strcmp(optarg, "ids")) o.input_format = MS_INPUT_IDS;
            else return cli_usage_error("--input-format expects text, jsonl or ids, got '%s'", optarg);
            break;
        case 'k': o.hooks = optarg; break;
        case 'c': if ((v = cli_parse_long("--ctx", optarg)) < 0) return 2; o.ctx = (int)(v > 1 << 24 ? 1 << 24 : v); break;
        case 'o': o.out_path = optarg; break;
        case O_MAXTOK: if ((v = cli_parse_long("--max-tokens", optarg)) < 0) return 2; o.max_tokens = v; break;
        case 'b':
            if ((v = cli_parse_long("--batch", optarg)) < 0) return 2;
            if (v < 1 || v > 65536) return cli_usage_error("--batch expects 1..65536, got %ld", v);
            o.batch = (int)v;
            break;
        case O_DTYPE:
            if (!strcmp(optarg, "f32")) o.f16 = 0;
            else if (!strcmp(optarg, "f16")) o.f16 = 1;
            else return cli_usage_error("--dtype expects f32 or f16, got '%s'", optarg);
            break;
        case O_COMPRESS:
            if ((v = cli_parse_long("--compress", optarg)) < 0) return 2;
            if (v > 9) return cli_usage_error("--compress expects 0..9, got %ld", v);
            o.compress = (int)v;
            break;
        case O_COMPUTE:
            if ((o.compute = ms_compute_parse(optarg)) < 0) return cli_usage_error("--compute expects f32 or bf16, got '%s'", optarg);
            break;
        case O_BOS: o.prepend_bos = 1; break;
        case O_PACK: o.pack = 1; break;
        case O_RESUME: o.resume = 1; break;
        case O_OVERWRITE: o.overwrite = 1; break;
        case 'h': help(stdout); return 0;
        default: return cli_usage_error("unknown option (see monoscope capture --help)");
        }
    }
    if (optind != argc) return cli_usage_error("unexpected argument '%s' (see monoscope capture --help)", argv[optind]);
    if (!o.model_path) return cli_usage_error("--model is required (see monoscope capture --help)");
    if (!o.input_path) return cli_usage_error("--input is required");
    if (!o.hooks) return cli_usage_error("--hooks is required (e.g. 'blocks.*.hook_resid_post')");
    if (!o.ctx) return cli_usage_error("--ctx is required and must be at least 1");
    if (!o.out_path) return cli_usage_error("--out is required");
    if (o.pack && o.input_format == MS_INPUT_IDS)
        return cli_usage_error("--pack joins tokenized documents (text or jsonl); ids rows are taken as given");
    return ms_capture(&o) ? cli_fail() : 0;
}
