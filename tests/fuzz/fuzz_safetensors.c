// fuzz_safetensors.c: a safetensors file (8-byte header length, JSON header, tensor bytes) through
// ms_safetensors_open, then every float tensor converted to float32 as the loaders do.
#include "fuzz_common.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ms_clear_error();
    ms_safetensors *st = ms_safetensors_open(fuzz_put(0, "st/model.safetensors", data, size));
    if (!st) { fuzz_check_refusal("ms_safetensors_open"); return 0; }
    for (int i = 0; i < st->n_tensors; i++) {
        const ms_st_tensor *t = &st->tensors[i];
        size_t el = ms_dtype_size(t->dtype);
        if (el == 0 || t->nbytes % el) continue;
        size_t numel = t->nbytes / el;
        float *out = ms_malloc(numel * sizeof(float) + 1); // numel is bounded by the file's size
        ms_tensor_to_f32(t->dtype, t->data, numel, out);
        free(out);
        ms_safetensors_find(st, t->name);
    }
    ms_safetensors_meta(st, "format");
    ms_safetensors_close(st);
    return 0;
}
