// checkpoint.c: what every checkpoint writer shares (see checkpoint.h): the tensor list and the
// RoPE row order conversion of llama q/k for the formats that keep Meta's interleaved order.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/checkpoint.h"
#include "util/util.h"

void ms_checkpoint_free(ms_checkpoint *ck) {
    if (!ck) return;
    for (int i = 0; i < ck->n_tensors; i++) free(ck->t[i].data);
    free(ck->t);
    for (int i = 0; ck->tokens && i < ck->vocab; i++) free(ck->tokens[i]);
    free(ck->tokens);
    free(ck->token_type);
    for (int i = 0; ck->merges && i < ck->n_merges; i++) free(ck->merges[i]);
    free(ck->merges);
    free(ck);
}

int ms_checkpoint_save(ms_checkpoint *ck, ms_ckpt_format format, const char *path, ms_dtype dtype) {
    switch (format) {
    case MS_CKPT_HF: return ms_checkpoint_save_hf(ck, path, dtype);
    case MS_CKPT_GGUF: return ms_checkpoint_save_gguf(ck, path, dtype);
    case MS_CKPT_LLAMA2C:
        if (dtype != MS_DT_F32) { ms_error("%s: llama2.c holds float32 weights only", path); return -1; }
        return ms_checkpoint_save_llama2c(ck, path);
    }
    ms_error("%s: unknown checkpoint format %d", path, (int)format);
    return -1;
}

ms_ckpt_tensor *ms_checkpoint_find(const ms_checkpoint *ck, const char *name) {
    for (int i = 0; i < ck->n_tensors; i++)
        if (!strcmp(ck->t[i].name, name)) return &ck->t[i];
    return NULL;
}

// One (rows, cols) projection of n_heads heads: interleaved row h*D + 2i + j <- HF row h*D + j*D/2 + i.
static void rows_to_interleaved(float *w, int64_t rows, int64_t cols, int n_heads) {
    const int64_t D = rows / n_heads;
    float *tmp = ms_malloc((size_t)(rows * cols) * sizeof(float));
    for (int64_t h = 0; h < n_heads; h++)
        for (int64_t i = 0; i < D / 2; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(tmp + (h * D + 2 * i + j) * cols, w + (h * D + j * (D / 2) + i) * cols, (size_t)cols * sizeof(float));
    memcpy(w, tmp, (size_t)(rows * cols) * sizeof(float));
    free(tmp);
}

void ms_checkpoint_rope_interleaved(ms_checkpoint *ck) {
    char n[96];
    for (int L = 0; L < ck->n_layer; L++) {
        snprintf(n, sizeof n, "layers.%d.self_attn.q_proj.weight", L);
        ms_ckpt_tensor *q = ms_checkpoint_find(ck, n);
        rows_to_interleaved(q->data, q->shape[0], q->shape[1], ck->n_head);
        snprintf(n, sizeof n, "layers.%d.self_attn.k_proj.weight", L);
        ms_ckpt_tensor *k = ms_checkpoint_find(ck, n);
        rows_to_interleaved(k->data, k->shape[0], k->shape[1], ck->n_kv_head);
    }
}
