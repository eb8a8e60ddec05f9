// fuzz_vocab_merges.c: GPT-2's pair of files, vocab.json + merges.txt, through ms_tokenizer_load.
// The input holds both: vocab.json, the separator line FUZZ_SEP, then merges.txt.
#include "fuzz_common.h"

#define FUZZ_SEP "\n#=== merges.txt ===#\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *vocab, *merges;
    size_t n_vocab, n_merges;
    fuzz_split(data, size, FUZZ_SEP, &vocab, &n_vocab, &merges, &n_merges);
    fuzz_put(1, "vocab/merges.txt", merges, n_merges);
    ms_clear_error();
    ms_tokenizer *t = ms_tokenizer_load(fuzz_put(0, "vocab/vocab.json", vocab, n_vocab));
    if (!t) { fuzz_check_refusal("ms_tokenizer_load"); return 0; }
    fuzz_use_tokenizer(t);
    ms_tokenizer_free(t);
    return 0;
}
