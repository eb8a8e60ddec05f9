// cmd_tokenizer.c: `monoscope tokenizer train`: learn a GPT-2-style byte-level BPE tokenizer from a
// JSONL corpus and write it as vocab.json + merges.txt (src/tokenizer/bpe_train.h).
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "tokenizer/bpe_train.h"
#include "util/util.h"

static void usage(FILE *f) {
    fprintf(f, "usage: monoscope tokenizer <subcommand> [options]   (monoscope tokenizer <subcommand> --help)\n\n"
               "subcommands:\n"
               "  train    learn GPT-2-style byte-level BPE merges from a JSONL corpus (vocab.json + merges.txt)\n");
}

static void train_help(FILE *f) {
    fprintf(f,
        "usage: monoscope tokenizer train --corpus C.jsonl --vocab N --out DIR\n\n"
        "Learns a GPT-2-style byte-level BPE tokenizer and writes DIR/vocab.json + DIR/merges.txt, which\n"
        "`monoscope tokenize --model DIR` (and Hugging Face's GPT2Tokenizer) load.\n"
        "Every document is split with GPT-2's pre-tokenizer regex; starting from the 256 byte tokens, the\n"
        "most frequent adjacent pair of tokens is merged until the vocabulary has N tokens. Ties go to\n"
        "the pair with the smallest (left id, right id). Ids: 0-255 the bytes in GPT-2's order, then one\n"
        "per merge, <|endoftext|> last (id N-1). Fewer tokens when the corpus runs out of pairs.\n\n"
        "options:\n"
        "  --corpus C     JSONL, one document per line: {\"text\": ...} (other members ignored)\n"
        "  --vocab N      vocabulary size, >= 258 (256 bytes + merges + <|endoftext|>)\n"
        "  --out DIR      output directory (created if missing)\n"
        "  -h, --help     this help\n");
}

static int cmd_tokenizer_train(int argc, char **argv) {
    static const struct option opts[] = {
        {"corpus", required_argument, 0, 'c'}, {"vocab", required_argument, 0, 'v'},
        {"out", required_argument, 0, 'o'},    {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *corpus = NULL, *out = NULL;
    long vocab = -1;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': corpus = optarg; break;
        case 'v': if ((vocab = cli_parse_long("--vocab", optarg)) < 0) return 2; break;
        case 'o': out = optarg; break;
        case 'h': train_help(stdout); return 0;
        default:
            return cli_usage_error("tokenizer train: unknown or incomplete option '%s' (see monoscope tokenizer train --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error("tokenizer train: unexpected argument '%s'", argv[optind]);
    if (!corpus || !out || vocab < 0) return cli_usage_error("tokenizer train: --corpus, --vocab and --out are required");
    if (vocab < 258 || vocab > (1 << 24)) return cli_usage_error("tokenizer train: --vocab must be in 258..16777216, got %ld", vocab);
    ms_bpe_stats st;
    if (ms_bpe_train_jsonl(corpus, (int)vocab, out, &st)) return cli_fail();
    fprintf(stderr, "%lld documents, %lld bytes, %lld words (%d distinct) -> %d merges, vocabulary %d, %.1f s\n",
            (long long)st.n_docs, (long long)st.n_bytes, (long long)st.n_words_total, st.n_words_unique, st.n_merges,
            st.vocab_size, st.seconds);
    return 0;
}

int cmd_tokenizer(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
    if (!strcmp(argv[1], "train")) return cmd_tokenizer_train(argc - 1, argv + 1);
    return cli_usage_error("unknown tokenizer subcommand '%s' (train)", argv[1]);
}
