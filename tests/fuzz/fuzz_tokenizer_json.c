// fuzz_tokenizer_json.c: a Hugging Face tokenizer.json through ms_tokenizer_load (model, merges,
// added tokens, pre-tokenizer regex, normalizer), then a short text encoded and decoded.
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ms_clear_error();
    ms_tokenizer *t = ms_tokenizer_load(fuzz_put(0, "tokjson/tokenizer.json", data, size));
    if (!t) { fuzz_check_refusal("ms_tokenizer_load"); return 0; }
    fuzz_use_tokenizer(t);
    ms_tokenizer_free(t);
    return 0;
}
