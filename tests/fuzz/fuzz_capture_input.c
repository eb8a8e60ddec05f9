// fuzz_capture_input.c: bytes as a capture corpus (--input) through its one reader, src/capture/input.c,
// with the tokenizer of a tiny GPT-2 written by the project's HF writer (fuzz_hf_model.h).
//
// Input layout: byte 0 chooses the reader's settings, byte 1 the context length (1 + b % 16; 2 at least with BOS), the
// rest is the file. Byte 0: bits 0-1 the format (text, jsonl, ids; 3 is ids too), bit 2
// --prepend-bos, bit 3 --pack, bit 4 a 7-byte text chunk (chunk boundaries everywhere, as a corpus
// larger than the 1 MiB default has), bit 5 keep each document's text (concepts label), bit 6 step
// back one window after the first (--resume). Every window the reader yields is checked: length
// 1..ctx, ids inside the vocabulary.
#include "capture/input.h"
#include "fuzz_hf_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ms_tokenizer *tok;
    if (!tok) {
        tok = ms_tokenizer_load_hf(fuzz_hf_dir("capin_model"));
        if (!tok) { fprintf(stderr, "%s\n", ms_last_error()); abort(); }
    }
    const unsigned how = size > 0 ? data[0] : 0, bos = (how >> 2) & 1;
    unsigned ctx = 1 + (size > 1 ? data[1] % 16 : 0);
    if (bos && ctx < 2) ctx = 2; // --prepend-bos --ctx 1 is a usage error (no room for a token), not the file's
    const uint8_t *body = size > 2 ? data + 2 : data + size;
    const char *path = fuzz_put(0, "capin/input.txt", body, size > 2 ? size - 2 : 0);
    const ms_input_format fmt = (how & 3) == 0 ? MS_INPUT_TEXT : (how & 3) == 1 ? MS_INPUT_JSONL : MS_INPUT_IDS;
    const int V = ms_tokenizer_vocab_size(tok), eos = ms_tokenizer_eos(tok);
    ms_clear_error();
    ms_input *in = ms_input_open(path, fmt, tok, (int)ctx, bos, eos, V);
    if (!in) { fuzz_check_refusal("ms_input_open"); return 0; }
    if (how & 64) ms_input_set_history(in, 1);
    if ((how & 8) && ms_input_set_packing(in, eos) < 0 && fmt != MS_INPUT_IDS) abort(); // ids alone may refuse
    if (how & 16) ms_input_set_text_chunk(in, 7);
    if (how & 32) ms_input_keep_text(in);
    ms_clear_error();
    int32_t win[16];
    int n, windows = 0;
    while ((n = ms_input_next(in, win)) > 0) {
        if (n > (int)ctx) { fprintf(stderr, "window of %d ids for ctx %u\n", n, ctx); abort(); }
        for (int i = 0; i < n; i++)
            if (win[i] < 0 || win[i] >= V) { fprintf(stderr, "id %d outside the vocabulary of %d\n", win[i], V); abort(); }
        ms_input_window w;
        if ((how & 32) && ms_input_last_window(in, &w) == 0 && w.doc_ids && w.first > w.doc_n) abort();
        if (++windows == 1 && (how & 64) && ms_input_unread(in, 1) < 0) abort();
        double frac = ms_input_fraction(in);
        if (!(frac >= 0 && frac <= 1)) { fprintf(stderr, "fraction %g\n", frac); abort(); }
    }
    if (n < 0) fuzz_check_refusal("ms_input_next");
    ms_input_close(in);
    return 0;
}
