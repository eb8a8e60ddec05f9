// save_hf.c: writes a checkpoint (checkpoint.h) as a Hugging Face directory, the format
// load_hf.c reads: config.json, model.safetensors (tensors under "transformer." / "model."),
// and the tokenizer as vocab.json + merges.txt.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "model/checkpoint.h"
#include "tokenizer/tokenizer.h"
#include "util/util.h"

static int write_text(const char *path, const char *text) {
    char *tmp = ms_atomic_tmp_path(path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) { ms_error("%s: cannot write: %s", path, strerror(errno)); if (f) remove(tmp); free(tmp); return -1; }
    int rc = ms_atomic_commit(tmp, path);
    free(tmp);
    return rc;
}

// vocab.json + merges.txt have one writer, the tokenizer's (tok_save_hf.c)
static int write_tokenizer(const ms_checkpoint *ck, const char *dir) {
    return ms_tokenizer_save_vocab_merges(dir, ck->vocab, (const char *const *)ck->tokens, ck->n_merges,
                                          (const char *const *)ck->merges);
}

static int write_config(const ms_checkpoint *ck, const char *dir, ms_dtype dtype) {
    char cfg[2048];
    const char *torch_dtype = dtype == MS_DT_F16 ? "float16" : dtype == MS_DT_BF16 ? "bfloat16" : "float32";
    if (ck->arch == MS_ARCH_GPT2)
        snprintf(cfg, sizeof cfg,
                 "{\n  \"model_type\": \"gpt2\",\n  \"architectures\": [\"GPT2LMHeadModel\"],\n  \"n_embd\": %d,\n  \"n_layer\": %d,\n"
                 "  \"n_head\": %d,\n  \"n_inner\": %d,\n  \"n_positions\": %d,\n  \"n_ctx\": %d,\n  \"vocab_size\": %d,\n"
                 "  \"layer_norm_epsilon\": 1e-05,\n  \"activation_function\": \"gelu_new\",\n  \"bos_token_id\": %d,\n"
                 "  \"eos_token_id\": %d,\n  \"tie_word_embeddings\": true,\n  \"torch_dtype\": \"%s\"\n}\n",
                 ck->d_model, ck->n_layer, ck->n_head, ck->d_mlp, ck->n_ctx, ck->n_ctx, ck->vocab, ck->bos_id, ck->eos_id,
                 torch_dtype);
    else
        snprintf(cfg, sizeof cfg,
                 "{\n  \"model_type\": \"llama\",\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"hidden_size\": %d,\n"
                 "  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n  \"num_attention_heads\": %d,\n"
                 "  \"num_key_value_heads\": %d,\n  \"max_position_embeddings\": %d,\n  \"vocab_size\": %d,\n"
                 "  \"rms_norm_eps\": 1e-05,\n  \"rope_theta\": 10000.0,\n  \"rope_scaling\": null,\n  \"hidden_act\": \"silu\",\n"
                 "  \"bos_token_id\": %d,\n  \"eos_token_id\": %d,\n  \"tie_word_embeddings\": true,\n  \"torch_dtype\": \"%s\"\n}\n",
                 ck->d_model, ck->d_mlp, ck->n_layer, ck->n_head, ck->n_kv_head, ck->n_ctx, ck->vocab, ck->bos_id,
                 ck->eos_id, torch_dtype);
    char *cp = ms_path_join(dir, "config.json");
    int rc = write_text(cp, cfg);
    free(cp);
    return rc;
}

// Every file is written atomically, and model.safetensors last: a directory holding it is complete
// (a process killed while saving leaves no weights beside a missing tokenizer or config).
int ms_checkpoint_save_hf(ms_checkpoint *ck, const char *dir, ms_dtype dtype) {
    if (ms_mkdir(dir) < 0) return -1;
    if (write_config(ck, dir, dtype) || write_tokenizer(ck, dir)) return -1;
    ms_st_writer *w = ms_st_writer_new();
    ms_st_writer_meta(w, "format", "pt");
    const char *prefix = ck->arch == MS_ARCH_GPT2 ? "transformer." : "model.";
    for (int i = 0; i < ck->n_tensors; i++) {
        ms_ckpt_tensor *t = &ck->t[i];
        size_t n = (size_t)t->shape[0] * (size_t)t->shape[1];
        if (dtype != MS_DT_F32) { // convert in place into the first half of the buffer
            uint16_t *h = (uint16_t *)t->data;
            for (size_t j = 0; j < n; j++) h[j] = dtype == MS_DT_F16 ? ms_f32_to_f16(t->data[j]) : ms_f32_to_bf16(t->data[j]);
        }
        char name[128];
        snprintf(name, sizeof name, "%s%s", prefix, t->name);
        ms_st_writer_add(w, name, dtype, t->ndim, t->shape, t->data);
    }
    char *mp = ms_path_join(dir, "model.safetensors");
    int rc = ms_st_writer_write(w, mp);
    free(mp);
    ms_st_writer_free(w);
    return rc ? -1 : 0;
}
