// fuzz_hf_model.h: a tiny random GPT-2 checkpoint written once per process by the project's own
// HF writer (ms_checkpoint_save_hf: config.json, model.safetensors, vocab.json, merges.txt), for the
// harnesses that fuzz one file of a Hugging Face directory while the others stay valid.
#ifndef MS_FUZZ_HF_MODEL_H
#define MS_FUZZ_HF_MODEL_H
#include "fuzz_common.h"
#include "model/checkpoint.h"

// Writes the checkpoint into <scratch>/<name> on the first call; returns that directory (malloc'ed
// once, kept for the process).
static inline const char *fuzz_hf_dir(const char *name) {
    static char *dir;
    if (!dir) {
        dir = fuzz_path(name);
        ms_random_spec sp = {.arch = MS_ARCH_GPT2, .n_layer = 1, .d_model = 8, .n_head = 2, .n_kv_head = 2,
                             .d_mlp = 16, .vocab = 300, .n_ctx = 16, .seed = 1};
        ms_checkpoint *ck = ms_checkpoint_random(&sp);
        if (!ck || ms_checkpoint_save_hf(ck, dir, MS_DT_F32)) { fprintf(stderr, "%s\n", ms_last_error()); abort(); }
        ms_checkpoint_free(ck);
    }
    return dir;
}

#endif
