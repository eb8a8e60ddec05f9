// fuzz_tokenizer_bin.c: a llama2.c tokenizer.bin (max_token_length, then per token: float score,
// int32 length, bytes) through ms_tokenizer_load_llama2c, then a short text encoded and decoded.
#include "fuzz_common.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ms_clear_error();
    ms_tokenizer *t = ms_tokenizer_load_llama2c(fuzz_put(0, "tokbin/tokenizer.bin", data, size), 0);
    if (!t) { fuzz_check_refusal("ms_tokenizer_load_llama2c"); return 0; }
    fuzz_use_tokenizer(t);
    ms_tokenizer_free(t);
    return 0;
}
