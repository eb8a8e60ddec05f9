// test_input_stream.c: capture's text reader encodes a large file a chunk at a time (bounded memory,
// and --max-tokens reads only what it needs); its windows must be exactly those of the whole file
// encoded at once. Checked on the real GPT-2 vocabulary (../shared) with a 0.6 MB text whose lines
// start with every kind of character the pre-tokenizer treats differently (letters, spaces, tabs,
// digits, punctuation, apostrophes, CR LF, non-ASCII, blank lines), plus one 0.2 MB line without a
// newline (no place to cut: the reader must grow its buffer), read in chunks of 777 and 4096 bytes
// (thousands of cuts) and of the default 1 MiB: plain windows, windows after BOS, packed windows.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "capture/input.h"
#include "tokenizer/tokenizer.h"
#include "util/util.h"
#include "harness.h"

static uint64_t rng_state = 12345;
static uint32_t next_u32(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

// Appends random lines until the text holds n bytes.
static void add_lines(char *t, size_t *len, size_t n) {
    static const char *starts[] = {"The", " leading", "  two", "\tTab", "42 apples", "'s", "'ll go", "...and",
                                   "(paren", "-dash", "caf\xc3\xa9", "\xe4\xb8\xad\xe6\x96\x87", "\xf0\x9f\x98\x80 ok",
                                   "", "x", "  ", "#include <stdio.h>", "\"quoted\"", "3.14159", "ALL CAPS"};
    static const char *words[] = {" the", " quick", " brown", " fox", ",", ".", " 2024", "  spaced", " don't",
                                  " \xc3\xbc" "ber", "!", " a"};
    static const char *ends[] = {"\n", "\n", "\n", "\r\n", "  \n", "\n\n", "\n\n\n", " \t\n"};
    while (*len < n) {
        const char *s = starts[next_u32() % (sizeof starts / sizeof *starts)];
        *len += (size_t)sprintf(t + *len, "%s", s);
        int nw = (int)(next_u32() % 12);
        for (int i = 0; i < nw; i++) *len += (size_t)sprintf(t + *len, "%s", words[next_u32() % (sizeof words / sizeof *words)]);
        *len += (size_t)sprintf(t + *len, "%s", ends[next_u32() % (sizeof ends / sizeof *ends)]);
    }
}

// Every window of the reader, concatenated; windows must be full except the last.
static int32_t *read_all(ms_input *in, int ctx, size_t *n, int *short_inside) {
    int32_t *all = ms_malloc(sizeof(int32_t)), *w = ms_malloc((size_t)ctx * sizeof(int32_t));
    size_t cap = 1;
    int len, last_short = 0;
    *n = 0;
    *short_inside = 0;
    while ((len = ms_input_next(in, w)) > 0) {
        if (last_short) *short_inside = 1;
        last_short = len < ctx;
        if (*n + (size_t)len > cap) all = ms_realloc(all, (cap = 2 * (*n + (size_t)len)) * sizeof(int32_t));
        memcpy(all + *n, w, (size_t)len * sizeof(int32_t));
        *n += (size_t)len;
    }
    CHECK(len == 0, "reader error: %s", ms_last_error());
    free(w);
    return all;
}

int main(void) {
    const char *shared = getenv("MONOSCOPE_SHARED"), *tmpd = getenv("MONOSCOPE_TMP");
    char *tdir = ms_path_join(shared ? shared : "../shared", "tokenizers/gpt2");
    ms_tokenizer *tok = ms_tokenizer_load_hf(tdir);
    free(tdir);
    if (!tok) {
        printf("SKIP: no GPT-2 vocabulary in ../shared (%s)\n", ms_last_error());
        return 0;
    }
    const int V = ms_tokenizer_vocab_size(tok), eos = ms_tokenizer_eos(tok) >= 0 ? ms_tokenizer_eos(tok) : 50256;
    // 0.3 MB of lines, one 0.2 MB line without a newline, 0.1 MB of lines, and no final newline
    const size_t cap = 1u << 20;
    char *text = ms_malloc(cap);
    size_t len = 0;
    add_lines(text, &len, 300000);
    for (size_t i = 0; i < 200000; i++) text[len++] = "abc de,f"[next_u32() % 8];
    add_lines(text, &len, len + 100000);
    len += (size_t)sprintf(text + len, "the end");
    char *path = ms_path_join(tmpd ? tmpd : "/tmp", "stream.txt");
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(text, 1, len, f) == len && fclose(f) == 0, "write %s", path);

    int32_t *whole;
    size_t nwhole;
    CHECK(!ms_tokenizer_encode(tok, text, len, 0, &whole, &nwhole), "encode: %s", ms_last_error());

    const size_t chunks[] = {777, 4096, 0}; // 0: the default
    for (int c = 0; c < 3; c++) {
        const size_t chunk = chunks[c];
        // plain windows of 97 tokens: the whole file's ids, cut every 97
        ms_input *in = ms_input_open(path, MS_INPUT_TEXT, tok, 97, 0, -1, V);
        ms_input_set_text_chunk(in, chunk);
        size_t n;
        int short_inside;
        int32_t *got = read_all(in, 97, &n, &short_inside);
        CHECK(n == nwhole && !memcmp(got, whole, n * sizeof(int32_t)), "chunk %zu: ids differ from the whole file's (%zu vs %zu)", chunk, n, nwhole);
        CHECK(!short_inside, "a window other than the last is short");
        ms_input_close(in);
        free(got);

        // BOS + 63 tokens per window
        in = ms_input_open(path, MS_INPUT_TEXT, tok, 64, 1, eos, V);
        ms_input_set_text_chunk(in, chunk);
        got = read_all(in, 64, &n, &short_inside);
        size_t k = 0, bad = 0;
        for (size_t i = 0; i < n; i++) {
            if (i % 64 == 0) { bad += got[i] != eos; continue; }
            bad += k >= nwhole || got[i] != whole[k];
            k++;
        }
        CHECK(!bad && k == nwhole && !short_inside, "BOS windows: %zu wrong ids, %zu of %zu tokens", bad, k, nwhole);
        ms_input_close(in);
        free(got);

        // packed: the file is one document followed by the separator; every window full
        in = ms_input_open(path, MS_INPUT_TEXT, tok, 128, 0, -1, V);
        ms_input_set_text_chunk(in, chunk);
        CHECK(!ms_input_set_packing(in, eos), "packing: %s", ms_last_error());
        got = read_all(in, 128, &n, &short_inside);
        CHECK(n == (nwhole + 1) / 128 * 128 && n % 128 == 0, "packed: %zu ids for %zu tokens", n, nwhole);
        CHECK(!memcmp(got, whole, (n < nwhole ? n : nwhole) * sizeof(int32_t)), "packed ids differ");
        ms_input_close(in);
        free(got);
    }

    free(whole);
    free(text);
    free(path);
    ms_tokenizer_free(tok);
    return ms_test_summary("test_input_stream");
}
