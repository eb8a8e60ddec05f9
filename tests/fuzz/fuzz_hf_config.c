// fuzz_hf_config.c: the config.json of a Hugging Face model directory through ms_model_load, beside
// a valid model.safetensors / vocab.json / merges.txt of a tiny GPT-2 (so the dimensions the config
// claims meet real tensors, and the tokenizer reads bos/eos from it).
#include "fuzz_hf_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = fuzz_hf_dir("hfcfg");
    fuzz_put(0, "hfcfg/config.json", data, size);
    ms_clear_error();
    ms_model *m = ms_model_load(dir);
    if (m) ms_model_free(m);
    else fuzz_check_refusal("ms_model_load");
    return 0;
}
