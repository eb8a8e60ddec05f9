// model.h: one transformer abstraction for GPT-2 and Llama-family checkpoints, whatever the file
// format they were read from (Hugging Face safetensors, llama2.c .bin, GGUF). All weights are held
// as float32 in one arena (or, loaded with hold_bf16, the matrices as bfloat16 in a second one), in
// the [out, in] row-major layout of torch.nn.Linear, so the forward pass computes
// Y(B*T, out) = X(B*T, in) · Wᵀ with one GEMM per projection.
//
// Dimension legend, used by the shape comments here, in src/model and in src/backend:
//   B  sequences in a batch        T  tokens per sequence         N   = B*T rows of a batch
//   C  d_model (residual width)    H  query heads (n_head)        Hkv key/value heads (n_kv_head)
//   Dh d_head                      F  d_mlp (MLP hidden width)    V   vocab_size
//   d_in, d_sae: a dictionary's input width (one site's width) and its number of latents (sae/)
#ifndef MS_MODEL_H
#define MS_MODEL_H
#include <stdint.h>
#include "model/hooks.h"
#include "tokenizer/tokenizer.h"

typedef enum { MS_ARCH_GPT2 = 0, MS_ARCH_LLAMA = 1, MS_ARCH_NEOX = 2 } ms_arch;

// The MLP's nonlinearity: gpt2's tanh-approximated gelu_new, GPT-NeoX's exact (erf) gelu, Llama's
// gated silu (SwiGLU: silu(gate) * up), or Gemma's gated tanh-gelu (GeGLU: gelu_new(gate) * up).
typedef enum { MS_MLP_GELU_TANH = 0, MS_MLP_GELU_ERF, MS_MLP_SWIGLU, MS_MLP_GEGLU } ms_mlp_kind;

// How rotary embeddings pair the dimensions of a head:
//   MS_ROPE_INTERLEAVED: pairs (0,1), (2,3), ...   (llama2.c, GGUF, Meta's original checkpoints)
//   MS_ROPE_HALF:        pairs (i, i + d_head/2)  (Hugging Face "rotate_half")
typedef enum { MS_ROPE_NONE = 0, MS_ROPE_INTERLEAVED, MS_ROPE_HALF } ms_rope_style;

// Rotary frequency rescaling for contexts beyond the pre-training one (config.json "rope_scaling").
//   MS_ROPE_SCALING_LLAMA3 (Llama 3.1/3.2): wavelengths longer than original_ctx / low_freq_factor are
//   divided by factor, those shorter than original_ctx / high_freq_factor kept, and the band between
//   interpolated smoothly (Hugging Face modeling_rope_utils, rope_type "llama3").
//   MS_ROPE_SCALING_LINEAR: every frequency divided by factor (rope_type "linear"; Gemma 3's global layers).
//   MS_ROPE_SCALING_FACTORS: frequency i divided by freq_factors[i] (GGUF's rope_freqs.weight, which
//   llama.cpp's converter computes from the llama3 parameters above: the same frequencies).
typedef enum { MS_ROPE_SCALING_NONE = 0, MS_ROPE_SCALING_LLAMA3, MS_ROPE_SCALING_LINEAR, MS_ROPE_SCALING_FACTORS } ms_rope_scaling_type;
#define MS_MAX_ROPE_PAIRS 256
typedef struct {
    ms_rope_scaling_type type;
    float factor, low_freq_factor, high_freq_factor;
    int original_ctx;     // original_max_position_embeddings
    float freq_factors[MS_MAX_ROPE_PAIRS]; // (rotary_dims/2) with MS_ROPE_SCALING_FACTORS
} ms_rope_scaling;

typedef struct {
    ms_arch arch;
    int n_layer;
    int d_model;          // C
    int n_head;           // H
    int n_kv_head;        // Hkv; == n_head without GQA
    int d_head;           // Dh; d_model / n_head unless the file says otherwise
    int d_mlp;            // F
    int vocab_size;       // V
    int n_ctx;            // maximum sequence length (T <= n_ctx)
    float norm_eps;       // layer_norm_epsilon (gpt2) / rms_norm_eps (llama), read from the file
    float rope_theta;     // llama; read from the file (10000 if absent)
    ms_rope_style rope_style;
    ms_rope_scaling rope_scaling; // type NONE: plain RoPE
    float rope_local_theta; // > 0: RoPE base of the local_layer layers, unscaled (Gemma 3 rope_local_base_freq)
    int sliding_window;   // > 0: on layers with local_layer[l], a query attends only to the last sliding_window
                          // keys (itself included); 0: all
    unsigned char local_layer[MS_MAX_LAYERS]; // Mistral: every layer; Gemma 2: even layers; Gemma 3: all but every 6th
    float attn_scale;     // attention score scale; 0: 1/sqrt(d_head) (Gemma: query_pre_attn_scalar^-1/2)
    float attn_softcap;   // > 0: scores = cap * tanh(scores / cap) before the causal mask (Gemma 2)
    float logit_softcap;  // > 0: logits = cap * tanh(logits / cap) (Gemma 2)
    float embed_scale;    // > 0: token embeddings times this (Gemma: sqrt(d_model) in the model dtype)
    int post_norms;       // RMSNorm (ln1_post/ln2_post) of the attention and MLP outputs before each residual add
    int qkv_bias;         // llama family: q/k/v projections carry biases (Qwen2)
    int qk_norm;          // llama family: per-head RMSNorm of q and k (gain (Dh)) before RoPE (Qwen3, Gemma 3)
    int rotary_dims;      // leading dims of each head that RoPE rotates (GPT-NeoX rotary_pct); 0: all d_head
    int parallel_residual; // x + attn(ln1(x)) + mlp(ln2(x)) (GPT-NeoX); no hook_resid_mid then
    // Set by ms_model_alloc_weights from arch (loaders leave them): the forward pass reads only these.
    int layer_norm;       // 1: LayerNorm with bias (gpt2, neox); 0: RMSNorm
    int linear_bias;      // every projection and norm has a bias (gpt2, neox)
    ms_mlp_kind mlp;
    int tied_embeddings;  // unembedding shares the token embedding
    int bos_id, eos_id;   // -1 if unknown
    char source_format[16]; // "hf", "llama2c", "gguf"
    char source_dtype[16];  // "F32", "F16", "BF16", "Q8_0", ... as stored on disk
} ms_config;

// Per-block weights. Pointers into the model arena; NULL where the architecture has none.
typedef struct {
    float *ln1_w, *ln1_b;        // (C)        ln1_b NULL for RMSNorm
    float *wq, *wk, *wv;         // (H*Dh, C), (Hkv*Dh, C), (Hkv*Dh, C)
    float *bq, *bk, *bv;         // gpt2, and the llama family with cfg.qkv_bias
    float *q_norm_w, *k_norm_w;  // (Dh) with cfg.qk_norm, else NULL
    // wq, wk, wv (and bq, bk, bv) as one stacked (H*Dh + 2*Hkv*Dh, C) tensor (and bias), decided by
    // ms_model_alloc_weights: set where its layout put them back to back, and the forward pass then
    // projects q, k, v with one GEMM; NULL: three GEMMs. bqkv NULL when there are no biases.
    float *wqkv, *bqkv;
    float *wo, *bo;              // (C, H*Dh), (C)
    float *ln2_w, *ln2_b;        // (C)
    float *ln1_post_w, *ln2_post_w; // (C) with cfg.post_norms: gains of the attention / MLP output norms
    float *w_in, *b_in;          // (F, C): gpt2 c_fc, llama up_proj
    float *w_gate;               // (F, C): llama gate_proj, NULL for gpt2
    float *w_out, *b_out;        // (C, F): gpt2 c_proj, llama down_proj
} ms_layer_weights;

typedef struct {
    float *wte;                  // (V, C) token embedding
    float *wpe;                  // (n_ctx, C) gpt2 positional embedding, else NULL
    float *lnf_w, *lnf_b;        // (C)
    float *unembed;              // (V, C); == wte when tied
    ms_layer_weights *layers;    // [n_layer]
} ms_weights;

typedef struct ms_model {
    ms_config cfg;
    ms_weights w;
    float *arena;                // every weight lives here (the float32 ones, with weights_bf16)
    // weights_bf16 (ms_load_opts.hold_bf16): the weight matrices -- wte, unembed and each layer's
    // wq, wk, wv, wqkv, wo, w_in, w_gate, w_out -- point at bfloat16 values (uint16_t, cast to
    // float *) in arena_bf16, at the same element offsets as in arena, so the weights take half the
    // memory (a Llama-3.1-8B pass in ~16 GB). Only the forward pass (ms_state: bf16 products on the
    // weights in place) and ms_model_embedding_row read them; biases, norms and wpe stay float32. Both
    // arenas are anonymous mappings of arena_len floats / bf16s, touched only where a tensor lives.
    int weights_bf16;
    uint16_t *arena_bf16;
    size_t arena_len;
    size_t n_params;             // counted once (tied unembedding not double counted)
    ms_tokenizer *tok;           // NULL if the checkpoint came without one
    char *path;
    int n_layer_loaded;          // layers 0..n_layer_loaded-1 hold weights; later layers' pointers are NULL
    int header_only;             // ms_model_load_header: configuration, parameter count and tokenizer, no weights
} ms_model;

// ---- loading
// Detects the format: a directory (Hugging Face: config.json + model.safetensors or
// model.safetensors.index.json), a file starting with "GGUF", otherwise a llama2.c checkpoint
// (tokenizer.bin looked for beside it). Returns NULL with ms_error() set on any failure.
ms_model *ms_model_load(const char *path);
// As ms_model_load, but only layers 0..layers_needed-1 (plus embeddings and the final norm, not an
// untied unembedding) get weights, read from the file and held in memory: for a forward that stops
// at layer layers_needed-1 (no logits; a pass needing more is refused). layers_needed <= 0 or >= n_layer loads every layer. cfg.n_layer stays the file's.
ms_model *ms_model_load_layers(const char *path, int layers_needed);
// What a checkpoint is without its weights (`monoscope info`): the configuration as every loader
// validates it, the parameter count and the tokenizer; no tensor is read or allocated, so an 8B
// checkpoint is described in milliseconds. Such a model cannot run (ms_forward refuses it).
ms_model *ms_model_load_header(const char *path);
// Both of the above and more: layers_needed as ms_model_load_layers (0: all); hold_bf16: the weight
// matrices held as bfloat16 (ms_model.weights_bf16), converted from the file's dtype one layer at a
// time as it is read, so the float32 copy of a layer never outlives that layer's loading (Hugging Face
// and GGUF checkpoints; llama2.c files, stored tensor kind by kind across layers, are converted once
// read whole). Such a model runs only with
// bf16 products (ms_state_new gives it a bf16 state) and cannot be saved or trained.
typedef struct {
    int layers_needed;
    int hold_bf16;
} ms_load_opts;
ms_model *ms_model_load_opts(const char *path, const ms_load_opts *o);
void ms_model_free(ms_model *m);
// Row `token` of the token embedding, as float32 (C values), whatever the weights are held in.
void ms_model_embedding_row(const ms_model *m, int token, float *out);
// For loaders, after filling every tensor of layer l (l = -1: the token embedding, and the
// unembedding when tied; an untied one is held once the loader returns): with
// weights_bf16, converts that layer's matrices to bfloat16 and returns their float32 pages to the
// system; otherwise nothing. Idempotent.
void ms_model_hold_layer(ms_model *m, int l);

// For loaders: after filling m->cfg, validates it and allocates the arena + sets every pointer in
// m->w for that config; the loader then fills the tensors. Returns 0 / -1 (bad config).
int ms_model_alloc_weights(ms_model *m);
// The consistency checks of ms_model_alloc_weights alone (fills d_head / n_kv_head defaults), for a
// loader that must judge the header before it judges the file's size. 0 / -1 + ms_error.
int ms_config_validate(ms_config *c, const char *path);
// For loaders, after converting one tensor to float32: -1 + ms_error naming the file, the tensor and
// how many of its n values are NaN or infinite (a corrupt or diverged checkpoint: every activation
// downstream would be NaN), else 0.
int ms_weights_check_finite(const char *file, const char *tensor, const float *x, size_t n);
// Format readers, each filling cfg then weights (and tok where the file carries one).
int ms_load_hf(const char *dir, ms_model *m);
int ms_load_llama2c(const char *path, ms_model *m);
int ms_load_gguf(const char *path, ms_model *m);

// ---- running
// Scratch buffers for up to max_batch sequences of up to max_T tokens; allocated once and reused
// (no allocation in the forward pass after the first at each shape, which lays out the weights for
// the GEMM kernel, backend.h).
typedef struct ms_state ms_state;
ms_state *ms_state_new(const ms_model *m, int max_batch, int max_T);
void ms_state_free(ms_state *s);
// A state keeps a copy of each weight matrix in the GEMM kernel's layout (backend.h): after
// changing the model's weights in place, call this before the next pass; the copies are refreshed
// from the same pointers on their next use (no allocation: a training loop calls it every step).
void ms_state_weights_changed(ms_state *s);
// Precision of the weight products of later passes (an ms_compute of backend/backend.h, f32 by
// default): bf16 rounds weights (once) and the products' inputs to bfloat16, accumulating in fp32;
// norms, softmax and the residual stream stay fp32. 0, or -1 + ms_error where bf16 is unavailable.
int ms_state_set_compute(ms_state *s, int compute);
// Threads the kernels of later passes use (ms_state_new takes ms_num_threads()); n >= 1. The count
// travels with the state into every kernel: nothing sets process-wide OpenMP state.
void ms_state_set_threads(ms_state *s, int n_threads);

typedef struct {
    const ms_hooks *hooks;   // NULL: no hooks, no cost
    int want_logits;         // compute logits into ms_state_logits()
    int stop_after_layer;    // -1: decide from hooks/want_logits; else run blocks 0..this only
    // KV cache: the pass keeps every layer's post-RoPE keys and values in the state, and its T tokens
    // continue each sequence at position pos0, attending to the keys cached by earlier passes (a
    // prefill with pos0 0, then one token at a time: generate.c). Logits and hooks cover the T new
    // positions; the attention scores / pattern hooks need pos0 0. pos0 + T <= the state's max_T.
    int kv_cache, pos0;
} ms_forward_opts;

// tokens: (B, T) row-major token ids; every id must be < vocab_size and T <= n_ctx.
// Deterministic for a given thread count. Sets no process-wide OpenMP state. Returns 0, or -1 (bad
// input, or a hook aborted).
int ms_forward(const ms_model *m, ms_state *s, const int32_t *tokens, int B, int T,
               const ms_forward_opts *opts);
// (B, T, V) logits of the last ms_forward with want_logits.
const float *ms_state_logits(const ms_state *s);

// Shape of one sequence's activation at a site for T tokens (leading pos/head dim first);
// returns ndim, or -1 if the site does not exist for this architecture (e.g. pos_embed on llama).
int ms_site_shape(const ms_config *cfg, ms_site site, int T, int64_t shape[4]);

const char *ms_arch_name(ms_arch a);

#endif
