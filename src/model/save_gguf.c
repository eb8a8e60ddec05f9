// save_gguf.c: writes a checkpoint (checkpoint.h) as one GGUF file the way llama.cpp's converter
// lays it out and load_gguf.c reads it: llama.cpp tensor names (gpt2 with a fused attn_qkv), llama
// q/k in interleaved RoPE order, the byte-level BPE vocabulary in the tokenizer.ggml.* metadata.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/gguf.h"
#include "model/checkpoint.h"
#include "util/util.h"

// HF tensors are torch [d0, d1]; GGUF wants ne = {in, out} of the [out, in] matrix. transpose:
// a gpt2 Conv1D [in, out], turned into [out, in] in place (the writer reads t->data at write time).
static void add_tensor(ms_gguf_writer *w, ms_dtype dtype, const char *name, ms_ckpt_tensor *t, int transpose) {
    int64_t ne[2];
    if (t->ndim == 1) {
        ne[0] = t->shape[0];
        ms_gguf_writer_tensor(w, name, MS_DT_F32, 1, ne, t->data); // norms and biases stay F32 as llama.cpp does
        return;
    }
    if (transpose) {
        float *tr = ms_malloc((size_t)(t->shape[0] * t->shape[1]) * sizeof(float));
        for (int64_t i = 0; i < t->shape[0]; i++)
            for (int64_t j = 0; j < t->shape[1]; j++) tr[j * t->shape[0] + i] = t->data[i * t->shape[1] + j];
        memcpy(t->data, tr, (size_t)(t->shape[0] * t->shape[1]) * sizeof(float));
        free(tr);
        ne[0] = t->shape[0];
        ne[1] = t->shape[1];
    } else {
        ne[0] = t->shape[1];
        ne[1] = t->shape[0];
    }
    ms_gguf_writer_tensor(w, name, dtype, 2, ne, t->data);
}

static void add_hparams(ms_gguf_writer *w, const ms_checkpoint *ck) {
    const char *a = ck->arch == MS_ARCH_GPT2 ? "gpt2" : "llama";
    char k[128];
#define KEY(suffix) (snprintf(k, sizeof k, "%s.%s", a, suffix), k)
    ms_gguf_writer_str(w, "general.architecture", a);
    ms_gguf_writer_str(w, "general.name", "monoscope random model");
    ms_gguf_writer_u32(w, "general.alignment", 32);
    ms_gguf_writer_u32(w, KEY("block_count"), (uint32_t)ck->n_layer);
    ms_gguf_writer_u32(w, KEY("context_length"), (uint32_t)ck->n_ctx);
    ms_gguf_writer_u32(w, KEY("embedding_length"), (uint32_t)ck->d_model);
    ms_gguf_writer_u32(w, KEY("feed_forward_length"), (uint32_t)ck->d_mlp);
    ms_gguf_writer_u32(w, KEY("attention.head_count"), (uint32_t)ck->n_head);
    if (ck->arch == MS_ARCH_GPT2) {
        ms_gguf_writer_f32(w, KEY("attention.layer_norm_epsilon"), 1e-5f);
    } else {
        ms_gguf_writer_u32(w, KEY("attention.head_count_kv"), (uint32_t)ck->n_kv_head);
        ms_gguf_writer_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
        ms_gguf_writer_f32(w, KEY("rope.freq_base"), 10000.0f);
        ms_gguf_writer_u32(w, KEY("rope.dimension_count"), (uint32_t)(ck->d_model / ck->n_head));
    }
#undef KEY
}

// The same table as vocab.json / merges.txt (the writer copies the strings).
static void add_tokenizer(ms_gguf_writer *w, const ms_checkpoint *ck) {
    ms_gguf_writer_str(w, "tokenizer.ggml.model", "gpt2");
    ms_gguf_writer_str(w, "tokenizer.ggml.pre", "gpt-2");
    ms_gguf_writer_str_array(w, "tokenizer.ggml.tokens", ck->vocab, (const char *const *)ck->tokens);
    ms_gguf_writer_i32_array(w, "tokenizer.ggml.token_type", ck->vocab, ck->token_type);
    ms_gguf_writer_str_array(w, "tokenizer.ggml.merges", ck->n_merges, (const char *const *)ck->merges);
    ms_gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)ck->bos_id);
    ms_gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)ck->eos_id);
}

static void add_gpt2_tensors(ms_gguf_writer *w, ms_checkpoint *ck, ms_dtype dtype) {
    static const char *map[][3] = { // HF suffix, GGUF suffix, transpose
        {"ln_1.weight", "attn_norm.weight", "0"}, {"ln_1.bias", "attn_norm.bias", "0"},
        {"attn.c_attn.weight", "attn_qkv.weight", "1"}, {"attn.c_attn.bias", "attn_qkv.bias", "0"},
        {"attn.c_proj.weight", "attn_output.weight", "1"}, {"attn.c_proj.bias", "attn_output.bias", "0"},
        {"ln_2.weight", "ffn_norm.weight", "0"}, {"ln_2.bias", "ffn_norm.bias", "0"},
        {"mlp.c_fc.weight", "ffn_up.weight", "1"}, {"mlp.c_fc.bias", "ffn_up.bias", "0"},
        {"mlp.c_proj.weight", "ffn_down.weight", "1"}, {"mlp.c_proj.bias", "ffn_down.bias", "0"}};
    char n[128], hn[128];
    add_tensor(w, dtype, "token_embd.weight", ms_checkpoint_find(ck, "wte.weight"), 0);
    add_tensor(w, dtype, "position_embd.weight", ms_checkpoint_find(ck, "wpe.weight"), 0);
    for (int L = 0; L < ck->n_layer; L++)
        for (int j = 0; j < 12; j++) {
            snprintf(hn, sizeof hn, "h.%d.%s", L, map[j][0]);
            snprintf(n, sizeof n, "blk.%d.%s", L, map[j][1]);
            add_tensor(w, dtype, n, ms_checkpoint_find(ck, hn), map[j][2][0] == '1');
        }
    add_tensor(w, dtype, "output_norm.weight", ms_checkpoint_find(ck, "ln_f.weight"), 0);
    add_tensor(w, dtype, "output_norm.bias", ms_checkpoint_find(ck, "ln_f.bias"), 0);
}

static void add_llama_tensors(ms_gguf_writer *w, ms_checkpoint *ck, ms_dtype dtype) {
    static const char *map[][2] = {
        {"input_layernorm.weight", "attn_norm.weight"}, {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"}, {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.o_proj.weight", "attn_output.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"}, {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"}};
    char n[128], hn[128];
    ms_checkpoint_rope_interleaved(ck);
    add_tensor(w, dtype, "token_embd.weight", ms_checkpoint_find(ck, "embed_tokens.weight"), 0);
    for (int L = 0; L < ck->n_layer; L++)
        for (int j = 0; j < 9; j++) {
            snprintf(hn, sizeof hn, "layers.%d.%s", L, map[j][0]);
            snprintf(n, sizeof n, "blk.%d.%s", L, map[j][1]);
            add_tensor(w, dtype, n, ms_checkpoint_find(ck, hn), 0);
        }
    add_tensor(w, dtype, "output_norm.weight", ms_checkpoint_find(ck, "norm.weight"), 0);
}

int ms_checkpoint_save_gguf(ms_checkpoint *ck, const char *path, ms_dtype dtype) {
    ms_gguf_writer *w = ms_gguf_writer_new();
    add_hparams(w, ck);
    add_tokenizer(w, ck);
    if (ck->arch == MS_ARCH_GPT2) add_gpt2_tensors(w, ck, dtype);
    else add_llama_tensors(w, ck, dtype);
    int rc = ms_gguf_writer_write(w, path);
    ms_gguf_writer_free(w);
    return rc;
}
