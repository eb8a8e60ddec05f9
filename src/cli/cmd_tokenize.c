// cmd_tokenize.c: `monoscope tokenize`: text -> ids, or ids -> text with --decode.
// The tokenizer comes from ms_tokenizer_open_path (model/describe.h): a tokenizer file is read on
// its own, so tokenizing never pays for reading weights.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "model/describe.h"
#include "tokenizer/tokenizer.h"
#include "util/util.h"

static void help(FILE *f) {
    fprintf(f,
        "usage: monoscope tokenize --model PATH (--text S | --file F) [--bos]\n"
        "       monoscope tokenize --model PATH --decode --ids \"ID ID ...\"\n\n"
        "Encodes text to token ids (printed space-separated on one line), or decodes ids to text\n"
        "(printed as is, followed by one newline).\n\n"
        "options:\n"
        "  --model PATH   where the tokenizer comes from:\n"
        "                   a Hugging Face directory (tokenizer.json, else vocab.json + merges.txt;\n"
        "                     tokenizer_config.json / config.json beside them name BOS/EOS),\n"
        "                   a tokenizer.json file, a vocab.json file (merges.txt beside it),\n"
        "                   a llama2.c tokenizer.bin,\n"
        "                   or a model file (.gguf: tokenizer from its metadata; llama2.c checkpoint:\n"
        "                     tokenizer.bin beside it)\n"
        "  --text S       the text to encode (UTF-8; invalid bytes: see README)\n"
        "  --file F       encode the bytes of file F instead (all of it, trailing newline included)\n"
        "  --bos          prepend the tokenizer's BOS token (when it has one)\n"
        "  --decode       decode instead of encode; needs --ids\n"
        "  --ids \"...\"    token ids separated by spaces or commas\n"
        "  -h, --help     this help\n");
}

static int parse_ids(const char *s, int32_t **ids, size_t *n) {
    size_t cap = 64;
    *ids = ms_malloc(cap * sizeof **ids);
    *n = 0;
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n' || *s == '\r') s++;
        if (!*s) break;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX || (*end && !strchr(" ,\t\r\n", *end))) {
            int l = 0;
            while (s[l] && !strchr(" ,\t\r\n", s[l])) l++;
            cli_usage_error("--ids: '%.*s' is not a token id", l, s);
            free(*ids);
            return -1;
        }
        if (*n == cap) { cap *= 2; *ids = ms_realloc(*ids, cap * sizeof **ids); }
        (*ids)[(*n)++] = (int32_t)v;
        s = end;
    }
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"text", required_argument, 0, 't'},
        {"file", required_argument, 0, 'f'},  {"bos", no_argument, 0, 'b'},
        {"decode", no_argument, 0, 'd'},      {"ids", required_argument, 0, 'i'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *model_path = NULL, *text = NULL, *file = NULL, *ids_str = NULL;
    int bos = 0, decode = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 't': text = optarg; break;
        case 'f': file = optarg; break;
        case 'b': bos = 1; break;
        case 'd': decode = 1; break;
        case 'i': ids_str = optarg; break;
        case 'h': help(stdout); return 0;
        default:
            return cli_usage_error("tokenize: unknown or incomplete option '%s' (see monoscope tokenize --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error("tokenize: unexpected argument '%s'", argv[optind]);
    if (!model_path) return cli_usage_error("tokenize: --model PATH is required (see monoscope tokenize --help)");
    if (decode) {
        if (!ids_str) return cli_usage_error("tokenize: --decode needs --ids");
        if (text || file || bos) return cli_usage_error("tokenize: --decode takes only --ids");
    } else {
        if (ids_str) return cli_usage_error("tokenize: --ids is for --decode");
        if (!text == !file) return cli_usage_error("tokenize: give exactly one of --text or --file");
    }
    int32_t *ids = NULL;
    size_t n = 0;
    if (decode && parse_ids(ids_str, &ids, &n)) return 2;
    char *data = NULL;
    size_t len = 0;
    if (file && !(data = ms_read_file(file, &len))) return cli_fail();

    ms_model *model = NULL;
    ms_tokenizer *tok = ms_tokenizer_open_path(model_path, &model);
    int rc = 0;
    if (!tok) { rc = cli_fail(); goto done; }
    if (decode) {
        int nv = ms_tokenizer_vocab_size(tok);
        for (size_t i = 0; i < n; i++)
            if (ids[i] >= nv) { ms_error("--ids: token id %d is outside the vocabulary (0..%d)", ids[i], nv - 1); rc = cli_fail(); goto done; }
        size_t sl;
        char *s = ms_tokenizer_decode_bytes(tok, ids, n, &sl); // may hold NUL bytes
        if (!s) { rc = cli_fail(); goto done; }
        fwrite(s, 1, sl, stdout);
        fputc('\n', stdout);
        free(s);
    } else {
        if (text) len = strlen(text);
        int32_t *out;
        size_t m;
        if (ms_tokenizer_encode(tok, text ? text : data, len, bos, &out, &m)) { rc = cli_fail(); goto done; }
        // one line; stdio buffering keeps a million ids cheap
        for (size_t i = 0; i < m; i++) printf(i ? " %d" : "%d", out[i]);
        putchar('\n');
        free(out);
    }
    if (fflush(stdout) != 0) { ms_error("cannot write to standard output"); rc = cli_fail(); }
done:
    if (model) ms_model_free(model);
    else ms_tokenizer_free(tok);
    free(ids);
    free(data);
    return rc;
}
