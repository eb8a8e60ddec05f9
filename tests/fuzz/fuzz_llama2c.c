// fuzz_llama2c.c: a llama2.c checkpoint (7 int32 config values, then float32 weights) through
// ms_model_load. No tokenizer.bin beside it (fuzz_tokenizer_bin covers that file).
#include "fuzz_common.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ms_clear_error();
    ms_model *m = ms_model_load(fuzz_put(0, "llama2c/model.bin", data, size));
    if (m) ms_model_free(m);
    else fuzz_check_refusal("ms_model_load");
    return 0;
}
