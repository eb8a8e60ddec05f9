// fuzz_gguf.c: a GGUF file through the reader (ms_gguf_open, every metadata value and tensor
// converted) and through the model loader (ms_model_load: config, weights, tokenizer tables).
#include "fuzz_common.h"
#include "io/gguf.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_put(0, "gguf/model.gguf", data, size);
    ms_clear_error();
    ms_gguf *g = ms_gguf_open(path);
    if (!g) { fuzz_check_refusal("ms_gguf_open"); return 0; }
    for (int i = 0; i < g->n_kv; i++) {
        const ms_gguf_kv *kv = &g->kv[i];
        int64_t iv; double fv; const char *sv;
        ms_gguf_get_int(g, kv->key, &iv);
        ms_gguf_get_float(g, kv->key, &fv);
        ms_gguf_get_str(g, kv->key, &sv);
        if (kv->type == MS_GGUF_ARRAY && kv->arr_data && kv->arr_n > 0) {
            ms_gguf_arr_f64(kv, kv->arr_n - 1);
            ms_gguf_arr_i64(kv, 0);
        }
    }
    for (int i = 0; i < g->n_tensors; i++) {
        const ms_gguf_tensor *t = &g->tensors[i];
        if (t->dtype == MS_DT_UNKNOWN || t->numel <= 0) continue;
        float *out = ms_malloc((size_t)t->numel * sizeof(float)); // numel is bounded by the file's size
        ms_gguf_tensor_to_f32(g, t, out);
        free(out);
    }
    ms_gguf_close(g);
    ms_clear_error();
    ms_model *m = ms_model_load(path);
    if (m) ms_model_free(m);
    else fuzz_check_refusal("ms_model_load");
    return 0;
}
