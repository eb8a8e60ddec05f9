// fuzz_st_index.c: the model.safetensors.index.json of a sharded Hugging Face directory through
// ms_model_load. The directory holds a tiny GPT-2's weights as one shard, model-00001-of-00001.safetensors,
// and no model.safetensors (which would take precedence over the index).
#include "fuzz_hf_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    const char *dir = fuzz_hf_dir("hfidx");
    if (!ready) {
        char *single = ms_path_join(dir, "model.safetensors"), *shard = ms_path_join(dir, "model-00001-of-00001.safetensors");
        if (rename(single, shard)) { perror(single); abort(); }
        free(single);
        free(shard);
        ready = 1;
    }
    fuzz_put(0, "hfidx/model.safetensors.index.json", data, size);
    ms_clear_error();
    ms_model *m = ms_model_load(dir);
    if (m) ms_model_free(m);
    else fuzz_check_refusal("ms_model_load");
    return 0;
}
