// checkpoint.h: a model on its way to disk: named float32 tensors in Hugging Face names and
// layouts (gpt2 Conv1D [in, out], llama q/k rows in rotate_half order) plus a GPT-2-style
// byte-level BPE vocabulary, and the writers of the three formats the loaders read:
//   save_hf.c       directory: config.json, model.safetensors, vocab.json, merges.txt
//   save_gguf.c     one GGUF file (llama.cpp names, tokenizer in the metadata)
//   save_llama2c.c  llama2.c legacy .bin (llama, float32, no tokenizer)
// checkpoint.c holds what they share.
// Each writer sits beside the loader of its format (load_hf.c, load_gguf.c, load_llama2c.c), so a
// format's two directions are read together. init_random.c makes the random-weight checkpoints of
// `monoscope random-model`.
#ifndef MS_MODEL_CHECKPOINT_H
#define MS_MODEL_CHECKPOINT_H
#include <stdint.h>
#include "io/safetensors.h"
#include "model/model.h"

typedef struct {
    char name[96];    // HF name without the "transformer." / "model." prefix ("h.0.ln_1.weight")
    int ndim;         // 1 or 2
    int64_t shape[2]; // torch shape as HF stores it (shape[1] = 1 when ndim == 1)
    float *data;      // (shape[0], shape[1]) row-major, malloc'ed
} ms_ckpt_tensor;

typedef struct {
    ms_arch arch;
    int n_layer, d_model, n_head, n_kv_head, d_mlp, vocab, n_ctx;
    ms_ckpt_tensor *t; // in the order they are written to model.safetensors
    int n_tensors, cap;
    // the byte-level BPE vocabulary (GPT-2 symbol form: 'Ġ' = space)
    char **tokens;       // (vocab) token strings
    int32_t *token_type; // (vocab) GGUF kinds: 1 normal, 3 control, 5 unused
    char **merges;       // (n_merges) "left right", in rank order
    int n_merges;
    int bos_id, eos_id;
} ms_checkpoint;

typedef struct {
    ms_arch arch;
    int n_layer, d_model, n_head, n_kv_head, d_mlp, vocab, n_ctx;
    uint64_t seed;
} ms_random_spec;

// Random weights: matrices and embeddings ~ N(0, 0.02) from a seeded xorshift64* + Box-Muller
// stream (in the tensor order of make_weights), norm gains 1, biases 0; a vocabulary of the 256
// byte symbols in GPT-2's id order, up to 40 English merges, <|endoftext|> as the last id (BOS and
// EOS), the ids between unused. Deterministic for a given spec. The spec must be consistent
// (d_model % n_head == 0, n_head % n_kv_head == 0, vocab >= 300, even d_head for llama); NULL +
// ms_error() otherwise.
ms_checkpoint *ms_checkpoint_random(const ms_random_spec *spec);
void ms_checkpoint_free(ms_checkpoint *ck);
ms_ckpt_tensor *ms_checkpoint_find(const ms_checkpoint *ck, const char *name);

// The writers convert tensors in place (dtype, Conv1D transposes, RoPE row order) rather than
// holding a second copy of the weights: a checkpoint is written once, then freed.
// dtype: F32, F16 or BF16 for the weight matrices (GGUF keeps norms and biases F32).
typedef enum { MS_CKPT_HF = 0, MS_CKPT_GGUF, MS_CKPT_LLAMA2C } ms_ckpt_format;
int ms_checkpoint_save(ms_checkpoint *ck, ms_ckpt_format format, const char *path, ms_dtype dtype);
int ms_checkpoint_save_hf(ms_checkpoint *ck, const char *dir, ms_dtype dtype);
int ms_checkpoint_save_gguf(ms_checkpoint *ck, const char *path, ms_dtype dtype);
int ms_checkpoint_save_llama2c(ms_checkpoint *ck, const char *path); // llama, float32

// HF llama q/k rows are in rotate_half order (per head: the first element of every rotated pair,
// then the second ones); GGUF and llama2.c keep Meta's interleaved order. Converts every layer's
// q_proj and k_proj in place, as llama.cpp's converter does, so one seed is one model in every
// format (llama only).
void ms_checkpoint_rope_interleaved(ms_checkpoint *ck);

#endif
