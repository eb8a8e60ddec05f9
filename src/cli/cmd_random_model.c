// cmd_random_model.c: `monoscope random-model`: writes a random-weight GPT-2 or Llama checkpoint
// (Hugging Face directory, GGUF file or llama2.c file) with a tiny byte-level GPT-2-style tokenizer,
// for demos, benchmarks and tests that must not depend on downloads.
// Weights: matrices and embeddings ~ N(0, 0.02) from a seeded xorshift64* + Box-Muller stream;
// norm gains 1, biases 0. Deterministic for a given seed and shape, and the same model in every
// format (GGUF/llama2.c get llama q/k converted to interleaved RoPE order).
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli/cli.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "util/util.h"

typedef struct {
    int gpt2;
    int n_layer, d_model, n_head, n_kv_head, d_mlp, vocab, n_ctx;
    uint64_t seed;
    ms_dtype dtype;
} rm_opts;

// ---- random numbers
static uint64_t rng_next(uint64_t *s) { // xorshift64*
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}
static void fill_normal(float *x, size_t n, float std, uint64_t *s) {
    for (size_t i = 0; i < n; i += 2) { // Box-Muller: two normals per pair of uniforms
        double u1 = ((rng_next(s) >> 11) + 1.0) * (1.0 / 9007199254740993.0); // (0, 1]
        double u2 = (rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
        double r = sqrt(-2.0 * log(u1)) * std;
        x[i] = (float)(r * cos(2.0 * M_PI * u2));
        if (i + 1 < n) x[i + 1] = (float)(r * sin(2.0 * M_PI * u2));
    }
}

// ---- tensors: name (HF convention), torch shape as stored by HF, init
typedef struct {
    char name[96];
    int ndim;
    int64_t shape[2];
    float *data;
} rm_tensor;

typedef struct {
    rm_tensor *t;
    int n, cap;
    uint64_t rng;
} rm_set;

static float *add(rm_set *s, const char *name, int64_t d0, int64_t d1, int init) { // init: 0 normal, 1 ones, 2 zeros
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->t = ms_realloc(s->t, (size_t)s->cap * sizeof *s->t);
    }
    rm_tensor *t = &s->t[s->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = d1 < 0 ? 1 : 2;
    t->shape[0] = d0;
    t->shape[1] = d1 < 0 ? 1 : d1;
    size_t n = (size_t)d0 * (size_t)t->shape[1];
    t->data = ms_malloc(n * sizeof(float));
    if (init == 0) fill_normal(t->data, n, 0.02f, &s->rng);
    else for (size_t i = 0; i < n; i++) t->data[i] = init == 1 ? 1.0f : 0.0f;
    return t->data;
}

static const rm_tensor *get(const rm_set *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name)) return &s->t[i];
    return NULL;
}

// Generates the weights under Hugging Face names and layouts (gpt2 Conv1D: [in, out]).
static void make_weights(const rm_opts *o, rm_set *s) {
    int64_t C = o->d_model, F = o->d_mlp, V = o->vocab, D = o->d_model / o->n_head;
    int64_t KV = (int64_t)o->n_kv_head * D;
    char n[96];
    if (o->gpt2) {
        add(s, "wte.weight", V, C, 0);
        add(s, "wpe.weight", o->n_ctx, C, 0);
        for (int L = 0; L < o->n_layer; L++) {
#define T(suffix, d0, d1, init) (snprintf(n, sizeof n, "h.%d." suffix, L), add(s, n, d0, d1, init))
            T("ln_1.weight", C, -1, 1); T("ln_1.bias", C, -1, 2);
            T("attn.c_attn.weight", C, 3 * C, 0); T("attn.c_attn.bias", 3 * C, -1, 2);
            T("attn.c_proj.weight", C, C, 0); T("attn.c_proj.bias", C, -1, 2);
            T("ln_2.weight", C, -1, 1); T("ln_2.bias", C, -1, 2);
            T("mlp.c_fc.weight", C, F, 0); T("mlp.c_fc.bias", F, -1, 2);
            T("mlp.c_proj.weight", F, C, 0); T("mlp.c_proj.bias", C, -1, 2);
#undef T
        }
        add(s, "ln_f.weight", C, -1, 1);
        add(s, "ln_f.bias", C, -1, 2);
    } else {
        add(s, "embed_tokens.weight", V, C, 0);
        for (int L = 0; L < o->n_layer; L++) {
#define T(suffix, d0, d1, init) (snprintf(n, sizeof n, "layers.%d." suffix, L), add(s, n, d0, d1, init))
            T("input_layernorm.weight", C, -1, 1);
            T("self_attn.q_proj.weight", C, C, 0);
            T("self_attn.k_proj.weight", KV, C, 0);
            T("self_attn.v_proj.weight", KV, C, 0);
            T("self_attn.o_proj.weight", C, C, 0);
            T("post_attention_layernorm.weight", C, -1, 1);
            T("mlp.gate_proj.weight", F, C, 0);
            T("mlp.up_proj.weight", F, C, 0);
            T("mlp.down_proj.weight", C, F, 0);
#undef T
        }
        add(s, "norm.weight", C, -1, 1);
    }
}

// ---- the byte-level tokenizer: GPT-2's byte<->unicode table, 256 byte symbols in GPT-2's id
// order, then <|endoftext|> as the last id when the vocabulary has room.
static int byte_order[256];
static char byte_sym[256][4];
static void make_byte_table(void) {
    int n = 0, used[256] = {0};
    for (int b = 0; b < 256; b++)
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) { used[b] = 1; byte_order[n++] = b; }
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        unsigned cp = used[b] ? (unsigned)b : 256u + (unsigned)extra++;
        if (!used[b]) byte_order[n++] = b;
        if (cp < 0x80) { byte_sym[b][0] = (char)cp; byte_sym[b][1] = 0; }
        else { byte_sym[b][0] = (char)(0xC0 | (cp >> 6)); byte_sym[b][1] = (char)(0x80 | (cp & 0x3F)); byte_sym[b][2] = 0; }
    }
}
static int special_id(const rm_opts *o) { return o->vocab - 1; }

// A few English merges (GPT-2 symbols: Ġ = space) so BPE is exercised; each merge's parts exist
// before it. Ids 256.. in this order, as many as the vocabulary has room for.
static const char *merge_list[][2] = {
    {"Ġ", "t"}, {"h", "e"}, {"i", "n"}, {"e", "r"}, {"a", "n"}, {"r", "e"}, {"o", "n"}, {"Ġ", "a"},
    {"e", "n"}, {"a", "t"}, {"o", "u"}, {"e", "d"}, {"h", "a"}, {"t", "o"}, {"o", "r"}, {"i", "t"},
    {"i", "s"}, {"h", "i"}, {"e", "s"}, {"n", "g"}, {"Ġ", "s"}, {"Ġ", "w"}, {"Ġ", "o"}, {"Ġ", "b"},
    {"Ġt", "he"}, {"Ġ", "c"}, {"Ġa", "n"}, {"in", "g"}, {"Ġ", "f"}, {"Ġ", "m"}, {"Ġt", "o"}, {"Ġ", "h"},
    {"e", "l"}, {"Ġ", "d"}, {"l", "l"}, {"Ġ", "p"}, {"a", "r"}, {"Ġ", "i"}, {"Ġan", "d"}, {"Ġo", "f"}};
static int n_merges(const rm_opts *o) {
    int n = (int)(sizeof merge_list / sizeof merge_list[0]);
    return o->vocab - 257 < n ? o->vocab - 257 : n;
}
// Token string of id (GPT-2 symbol form) into buf.
static const char *token_str(const rm_opts *o, int id, char *buf, size_t cap) {
    if (id < 256) return byte_sym[byte_order[id]];
    if (id == special_id(o)) return "<|endoftext|>";
    if (id - 256 < n_merges(o)) { snprintf(buf, cap, "%s%s", merge_list[id - 256][0], merge_list[id - 256][1]); return buf; }
    snprintf(buf, cap, "<|unused_%d|>", id);
    return buf;
}

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

static int write_tokenizer_hf(const rm_opts *o, const char *dir) {
    size_t cap = (size_t)o->vocab * 40 + 64, len = 0;
    char *js = ms_malloc(cap), tb[64];
    len += (size_t)snprintf(js + len, cap - len, "{");
    for (int i = 0; i < o->vocab; i++) {
        const char *sym = token_str(o, i, tb, sizeof tb);
        const char *esc = !strcmp(sym, "\"") ? "\\\"" : !strcmp(sym, "\\") ? "\\\\" : sym;
        len += (size_t)snprintf(js + len, cap - len, "%s\"%s\": %d", i ? ", " : "", esc, i);
    }
    snprintf(js + len, cap - len, "}\n");
    char *mtxt = ms_malloc(64 + 16 * (size_t)n_merges(o));
    size_t ml = (size_t)sprintf(mtxt, "#version: 0.2\n");
    for (int i = 0; i < n_merges(o); i++) ml += (size_t)sprintf(mtxt + ml, "%s %s\n", merge_list[i][0], merge_list[i][1]);
    char *vp = ms_path_join(dir, "vocab.json"), *mp = ms_path_join(dir, "merges.txt");
    int rc = write_text(vp, js) || write_text(mp, mtxt);
    free(vp); free(mp); free(js); free(mtxt);
    return rc ? -1 : 0;
}

// ---- Hugging Face directory
static int write_hf(const rm_opts *o, rm_set *s, const char *dir) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) { ms_error("%s: cannot create directory: %s", dir, strerror(errno)); return -1; }
    if (!ms_is_dir(dir)) { ms_error("%s: exists and is not a directory", dir); return -1; }
    char cfg[2048];
    int sp = special_id(o);
    if (o->gpt2)
        snprintf(cfg, sizeof cfg,
                 "{\n  \"model_type\": \"gpt2\",\n  \"architectures\": [\"GPT2LMHeadModel\"],\n  \"n_embd\": %d,\n  \"n_layer\": %d,\n"
                 "  \"n_head\": %d,\n  \"n_inner\": %d,\n  \"n_positions\": %d,\n  \"n_ctx\": %d,\n  \"vocab_size\": %d,\n"
                 "  \"layer_norm_epsilon\": 1e-05,\n  \"activation_function\": \"gelu_new\",\n  \"bos_token_id\": %d,\n"
                 "  \"eos_token_id\": %d,\n  \"tie_word_embeddings\": true,\n  \"torch_dtype\": \"%s\"\n}\n",
                 o->d_model, o->n_layer, o->n_head, o->d_mlp, o->n_ctx, o->n_ctx, o->vocab, sp, sp,
                 o->dtype == MS_DT_F16 ? "float16" : o->dtype == MS_DT_BF16 ? "bfloat16" : "float32");
    else
        snprintf(cfg, sizeof cfg,
                 "{\n  \"model_type\": \"llama\",\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"hidden_size\": %d,\n"
                 "  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n  \"num_attention_heads\": %d,\n"
                 "  \"num_key_value_heads\": %d,\n  \"max_position_embeddings\": %d,\n  \"vocab_size\": %d,\n"
                 "  \"rms_norm_eps\": 1e-05,\n  \"rope_theta\": 10000.0,\n  \"rope_scaling\": null,\n  \"hidden_act\": \"silu\",\n"
                 "  \"bos_token_id\": %d,\n  \"eos_token_id\": %d,\n  \"tie_word_embeddings\": true,\n  \"torch_dtype\": \"%s\"\n}\n",
                 o->d_model, o->d_mlp, o->n_layer, o->n_head, o->n_kv_head, o->n_ctx, o->vocab, sp, sp,
                 o->dtype == MS_DT_F16 ? "float16" : o->dtype == MS_DT_BF16 ? "bfloat16" : "float32");
    char *cp = ms_path_join(dir, "config.json");
    int rc = write_text(cp, cfg);
    free(cp);
    if (rc) return -1;
    ms_st_writer *w = ms_st_writer_new();
    ms_st_writer_meta(w, "format", "pt");
    const char *prefix = o->gpt2 ? "transformer." : "model.";
    for (int i = 0; i < s->n; i++) {
        rm_tensor *t = &s->t[i];
        size_t n = (size_t)t->shape[0] * (size_t)t->shape[1];
        if (o->dtype != MS_DT_F32) { // convert in place into the first half of the buffer
            uint16_t *h = (uint16_t *)t->data;
            for (size_t j = 0; j < n; j++) h[j] = o->dtype == MS_DT_F16 ? ms_f32_to_f16(t->data[j]) : ms_f32_to_bf16(t->data[j]);
        }
        char name[128];
        snprintf(name, sizeof name, "%s%s", prefix, t->name);
        ms_st_writer_add(w, name, o->dtype, t->ndim, t->shape, t->data);
    }
    char *mp = ms_path_join(dir, "model.safetensors");
    rc = ms_st_writer_write(w, mp);
    free(mp);
    ms_st_writer_free(w);
    return rc || write_tokenizer_hf(o, dir) ? -1 : 0;
}

// HF llama q/k rows are in rotate_half order (per head: the even dims of each pair, then the odd
// ones); GGUF and llama2.c keep Meta's interleaved order. Undo Hugging Face's permutation in place,
// as llama.cpp's converter does, so every format of one seed is the same model:
//   interleaved row h*D + 2i + j  <-  HF row h*D + j*D/2 + i.
static void unpermute_rows(rm_tensor *t, int n_heads) {
    int64_t rows = t->shape[0], cols = t->shape[1], D = rows / n_heads;
    float *tmp = ms_malloc((size_t)(rows * cols) * sizeof(float));
    for (int64_t h = 0; h < n_heads; h++)
        for (int64_t i = 0; i < D / 2; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(tmp + (h * D + 2 * i + j) * cols, t->data + (h * D + j * (D / 2) + i) * cols, (size_t)cols * sizeof(float));
    memcpy(t->data, tmp, (size_t)(rows * cols) * sizeof(float));
    free(tmp);
}
static void to_interleaved(const rm_opts *o, rm_set *s) {
    char n[96];
    for (int L = 0; L < o->n_layer; L++) {
        snprintf(n, sizeof n, "layers.%d.self_attn.q_proj.weight", L);
        unpermute_rows((rm_tensor *)get(s, n), o->n_head);
        snprintf(n, sizeof n, "layers.%d.self_attn.k_proj.weight", L);
        unpermute_rows((rm_tensor *)get(s, n), o->n_kv_head);
    }
}

// ---- GGUF file (llama.cpp names; gpt2 with a fused attn_qkv)
static void gg_add(ms_gguf_writer *w, const rm_opts *o, const char *name, const rm_tensor *t, int transpose) {
    // HF tensors are torch [d0, d1]; GGUF wants ne = {in, out} of the [out, in] matrix.
    int64_t ne[2];
    const float *data = t->data;
    if (t->ndim == 1) {
        ne[0] = t->shape[0];
        ms_gguf_writer_tensor(w, name, MS_DT_F32, 1, ne, data); // norms and biases stay F32 as llama.cpp does
        return;
    }
    if (transpose) { // Conv1D [in, out] -> [out, in] (the transposed copy is kept until write)
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
    ms_gguf_writer_tensor(w, name, o->dtype, 2, ne, data);
}

static int write_gguf(const rm_opts *o, rm_set *s, const char *path) {
    ms_gguf_writer *w = ms_gguf_writer_new();
    const char *a = o->gpt2 ? "gpt2" : "llama";
    char k[128];
#define KEY(suffix) (snprintf(k, sizeof k, "%s.%s", a, suffix), k)
    ms_gguf_writer_str(w, "general.architecture", a);
    ms_gguf_writer_str(w, "general.name", "monoscope random model");
    ms_gguf_writer_u32(w, "general.alignment", 32);
    ms_gguf_writer_u32(w, KEY("block_count"), (uint32_t)o->n_layer);
    ms_gguf_writer_u32(w, KEY("context_length"), (uint32_t)o->n_ctx);
    ms_gguf_writer_u32(w, KEY("embedding_length"), (uint32_t)o->d_model);
    ms_gguf_writer_u32(w, KEY("feed_forward_length"), (uint32_t)o->d_mlp);
    ms_gguf_writer_u32(w, KEY("attention.head_count"), (uint32_t)o->n_head);
    if (o->gpt2) {
        ms_gguf_writer_f32(w, KEY("attention.layer_norm_epsilon"), 1e-5f);
    } else {
        ms_gguf_writer_u32(w, KEY("attention.head_count_kv"), (uint32_t)o->n_kv_head);
        ms_gguf_writer_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
        ms_gguf_writer_f32(w, KEY("rope.freq_base"), 10000.0f);
        ms_gguf_writer_u32(w, KEY("rope.dimension_count"), (uint32_t)(o->d_model / o->n_head));
    }
#undef KEY
    // tokenizer: the same table as vocab.json / merges.txt
    const char **toks = ms_calloc((size_t)o->vocab, sizeof *toks);
    char **own = ms_calloc((size_t)o->vocab, sizeof *own);
    int32_t *types = ms_malloc((size_t)o->vocab * sizeof(int32_t));
    char tb[64];
    for (int i = 0; i < o->vocab; i++) {
        const char *t = token_str(o, i, tb, sizeof tb);
        toks[i] = t == tb ? (own[i] = ms_strdup(tb)) : t;
        types[i] = i == special_id(o) ? 3 : (i >= 256 + n_merges(o) ? 5 : 1); // control / unused / normal
    }
    int nm = n_merges(o);
    char **merges = ms_calloc((size_t)nm + 1, sizeof *merges);
    for (int i = 0; i < nm; i++) {
        merges[i] = ms_malloc(16);
        snprintf(merges[i], 16, "%s %s", merge_list[i][0], merge_list[i][1]);
    }
    ms_gguf_writer_str(w, "tokenizer.ggml.model", "gpt2");
    ms_gguf_writer_str(w, "tokenizer.ggml.pre", "gpt-2");
    ms_gguf_writer_str_array(w, "tokenizer.ggml.tokens", o->vocab, toks);
    ms_gguf_writer_i32_array(w, "tokenizer.ggml.token_type", o->vocab, types);
    ms_gguf_writer_str_array(w, "tokenizer.ggml.merges", nm, (const char *const *)merges);
    ms_gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)special_id(o));
    ms_gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)special_id(o));
    for (int i = 0; i < nm; i++) free(merges[i]);
    free(merges);
    char n[128], hn[128];
    if (o->gpt2) {
        gg_add(w, o, "token_embd.weight", get(s, "wte.weight"), 0);
        gg_add(w, o, "position_embd.weight", get(s, "wpe.weight"), 0);
        static const char *map[][3] = { // HF suffix, GGUF suffix, transpose
            {"ln_1.weight", "attn_norm.weight", "0"}, {"ln_1.bias", "attn_norm.bias", "0"},
            {"attn.c_attn.weight", "attn_qkv.weight", "1"}, {"attn.c_attn.bias", "attn_qkv.bias", "0"},
            {"attn.c_proj.weight", "attn_output.weight", "1"}, {"attn.c_proj.bias", "attn_output.bias", "0"},
            {"ln_2.weight", "ffn_norm.weight", "0"}, {"ln_2.bias", "ffn_norm.bias", "0"},
            {"mlp.c_fc.weight", "ffn_up.weight", "1"}, {"mlp.c_fc.bias", "ffn_up.bias", "0"},
            {"mlp.c_proj.weight", "ffn_down.weight", "1"}, {"mlp.c_proj.bias", "ffn_down.bias", "0"}};
        for (int L = 0; L < o->n_layer; L++)
            for (int j = 0; j < 12; j++) {
                snprintf(hn, sizeof hn, "h.%d.%s", L, map[j][0]);
                snprintf(n, sizeof n, "blk.%d.%s", L, map[j][1]);
                gg_add(w, o, n, get(s, hn), map[j][2][0] == '1');
            }
        gg_add(w, o, "output_norm.weight", get(s, "ln_f.weight"), 0);
        gg_add(w, o, "output_norm.bias", get(s, "ln_f.bias"), 0);
    } else {
        to_interleaved(o, s);
        gg_add(w, o, "token_embd.weight", get(s, "embed_tokens.weight"), 0);
        static const char *map[][2] = {
            {"input_layernorm.weight", "attn_norm.weight"}, {"self_attn.q_proj.weight", "attn_q.weight"},
            {"self_attn.k_proj.weight", "attn_k.weight"}, {"self_attn.v_proj.weight", "attn_v.weight"},
            {"self_attn.o_proj.weight", "attn_output.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
            {"mlp.gate_proj.weight", "ffn_gate.weight"}, {"mlp.up_proj.weight", "ffn_up.weight"},
            {"mlp.down_proj.weight", "ffn_down.weight"}};
        for (int L = 0; L < o->n_layer; L++)
            for (int j = 0; j < 9; j++) {
                snprintf(hn, sizeof hn, "layers.%d.%s", L, map[j][0]);
                snprintf(n, sizeof n, "blk.%d.%s", L, map[j][1]);
                gg_add(w, o, n, get(s, hn), 0);
            }
        gg_add(w, o, "output_norm.weight", get(s, "norm.weight"), 0);
    }
    int rc = ms_gguf_writer_write(w, path);
    ms_gguf_writer_free(w);
    for (int i = 0; i < o->vocab; i++) free(own[i]);
    free(own);
    free(toks);
    free(types);
    return rc;
}

// ---- llama2.c (llama only, float32, shared classifier): header of 7 int32, then the weights
// grouped by kind across layers, then freq_cis tables (legacy layout that loaders skip).
static int write_llama2c(const rm_opts *o, rm_set *s, const char *path) {
    char *tmp = ms_atomic_tmp_path(path);
    FILE *f = fopen(tmp, "wb");
    if (!f) { ms_error("%s: cannot write: %s", path, strerror(errno)); free(tmp); return -1; }
    to_interleaved(o, s);
    int32_t hdr[7] = {o->d_model, o->d_mlp, o->n_layer, o->n_head, o->n_kv_head, o->vocab, o->n_ctx};
    int ok = fwrite(hdr, 4, 7, f) == 7;
    const rm_tensor *e = get(s, "embed_tokens.weight");
    ok = ok && fwrite(e->data, 4, (size_t)(e->shape[0] * e->shape[1]), f) == (size_t)(e->shape[0] * e->shape[1]);
    static const char *kinds[] = {"input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                                  "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                                  "mlp.gate_proj.weight", "mlp.down_proj.weight", "mlp.up_proj.weight"};
    char n[128];
    for (int k = 0; ok && k < 9; k++)
        for (int L = 0; ok && L < o->n_layer; L++) {
            snprintf(n, sizeof n, "layers.%d.%s", L, kinds[k]);
            const rm_tensor *t = get(s, n);
            size_t cnt = (size_t)(t->shape[0] * t->shape[1]);
            ok = fwrite(t->data, 4, cnt, f) == cnt;
        }
    const rm_tensor *nw = get(s, "norm.weight");
    ok = ok && fwrite(nw->data, 4, (size_t)nw->shape[0], f) == (size_t)nw->shape[0];
    int hd = o->d_model / o->n_head;
    for (int part = 0; ok && part < 2; part++) // freq_cis_real, freq_cis_imag (unused by loaders)
        for (int p = 0; ok && p < o->n_ctx; p++)
            for (int i = 0; ok && i < hd / 2; i++) {
                double ang = p * pow(10000.0, -2.0 * i / hd);
                float v = (float)(part == 0 ? cos(ang) : sin(ang));
                ok = fwrite(&v, 4, 1, f) == 1;
            }
    if (fclose(f) != 0) ok = 0;
    if (!ok) { ms_error("%s: write failed: %s", path, strerror(errno)); remove(tmp); free(tmp); return -1; }
    int rc = ms_atomic_commit(tmp, path);
    free(tmp);
    return rc;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: monoscope random-model --arch gpt2|llama --out PATH [options]\n\n"
            "Writes a checkpoint with random weights (N(0, 0.02) matrices, unit norm gains, zero biases)\n"
            "and a byte-level GPT-2-style tokenizer (256 byte tokens, 40 merges,\n"
            "<|endoftext|> = last id = BOS/EOS),\n"
            "so text input works end to end without downloads.\n\n"
            "options:\n"
            "  --arch A        gpt2 or llama (required)\n"
            "  --format F      hf (directory: config.json, model.safetensors, vocab.json, merges.txt; default),\n"
            "                  gguf (one file, tokenizer in its metadata) or llama2c (llama only, f32, no tokenizer)\n"
            "  --out PATH      output directory (hf) or file (gguf, llama2c)\n"
            "  --layers N      number of blocks (default 2)\n"
            "  --d-model N     residual width (default 64)\n"
            "  --heads N       attention heads (default 4)\n"
            "  --kv-heads N    key/value heads, llama GQA (default = --heads)\n"
            "  --d-mlp N       MLP width (default 4 x d-model)\n"
            "  --vocab N       vocabulary size, >= 300 (default 512)\n"
            "  --ctx N         maximum context length (default 256)\n"
            "  --seed S        random seed (default 1); one seed gives the same model in every format\n"
            "  --dtype T       f32, f16 or bf16 for the weight matrices (default f32)\n"
            "  -h, --help      this help\n\n"
            "GPT-2-small shape: --arch gpt2 --layers 12 --d-model 768 --heads 12 --d-mlp 3072 --vocab 50257 --ctx 1024\n");
}

int cmd_random_model(int argc, char **argv) {
    static const struct option opts[] = {
        {"arch", required_argument, 0, 'a'}, {"format", required_argument, 0, 'f'}, {"out", required_argument, 0, 'o'},
        {"layers", required_argument, 0, 'L'}, {"d-model", required_argument, 0, 'C'}, {"heads", required_argument, 0, 'H'},
        {"kv-heads", required_argument, 0, 'K'}, {"d-mlp", required_argument, 0, 'F'}, {"vocab", required_argument, 0, 'V'},
        {"ctx", required_argument, 0, 'T'}, {"seed", required_argument, 0, 's'}, {"dtype", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    rm_opts o = {.gpt2 = -1, .n_layer = 2, .d_model = 64, .n_head = 4, .n_kv_head = -1, .d_mlp = -1, .vocab = 512,
                 .n_ctx = 256, .seed = 1, .dtype = MS_DT_F32};
    const char *format = "hf", *out = NULL;
    optind = 1;
    int c, li = 0;
    long v;
    char optname[32];
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        snprintf(optname, sizeof optname, "--%s", opts[li].name);
        switch (c) {
        case 'a':
            if (!strcmp(optarg, "gpt2")) o.gpt2 = 1;
            else if (!strcmp(optarg, "llama")) o.gpt2 = 0;
            else return cli_usage_error("--arch must be gpt2 or llama, got '%s'", optarg);
            break;
        case 'f': format = optarg; break;
        case 'o': out = optarg; break;
        case 'd':
            if (!strcmp(optarg, "f32")) o.dtype = MS_DT_F32;
            else if (!strcmp(optarg, "f16")) o.dtype = MS_DT_F16;
            else if (!strcmp(optarg, "bf16")) o.dtype = MS_DT_BF16;
            else return cli_usage_error("--dtype must be f32, f16 or bf16, got '%s'", optarg);
            break;
        case 'h': usage(stdout); return 0;
        case '?': usage(stderr); return 2;
        default:
            if ((v = cli_parse_long(optname, optarg)) < 0) return 2;
            if (c == 's') { o.seed = (uint64_t)v; break; }
            if (v < 1 || v > (1 << 24)) return cli_usage_error("%s must be between 1 and %d", optname, 1 << 24);
            if (c == 'L') o.n_layer = (int)v;
            else if (c == 'C') o.d_model = (int)v;
            else if (c == 'H') o.n_head = (int)v;
            else if (c == 'K') o.n_kv_head = (int)v;
            else if (c == 'F') o.d_mlp = (int)v;
            else if (c == 'V') o.vocab = (int)v;
            else if (c == 'T') o.n_ctx = (int)v;
        }
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (o.gpt2 < 0) return cli_usage_error("--arch is required (gpt2 or llama)");
    if (!out) return cli_usage_error("--out is required");
    if (o.n_kv_head < 0) o.n_kv_head = o.n_head;
    if (o.d_mlp < 0) o.d_mlp = 4 * o.d_model;
    if (o.gpt2) o.n_kv_head = o.n_head;
    if (o.d_model % o.n_head) return cli_usage_error("--d-model %d is not divisible by --heads %d", o.d_model, o.n_head);
    if (o.n_head % o.n_kv_head) return cli_usage_error("--heads %d is not a multiple of --kv-heads %d", o.n_head, o.n_kv_head);
    if (!o.gpt2 && (o.d_model / o.n_head) % 2) return cli_usage_error("llama needs an even head dimension for RoPE");
    if (o.vocab < 300) return cli_usage_error("--vocab must be at least 300 (256 byte tokens, merges, <|endoftext|>)");
    if (o.n_layer > 256) return cli_usage_error("--layers must be at most 256");
    int fmt = !strcmp(format, "hf") ? 0 : !strcmp(format, "gguf") ? 1 : !strcmp(format, "llama2c") ? 2 : -1;
    if (fmt < 0) return cli_usage_error("--format must be hf, gguf or llama2c, got '%s'", format);
    if (fmt == 2 && (o.gpt2 || o.dtype != MS_DT_F32))
        return cli_usage_error("--format llama2c supports only --arch llama with --dtype f32");
    make_byte_table();
    rm_set s = {.rng = o.seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL};
    if (!s.rng) s.rng = 1;
    make_weights(&o, &s);
    int rc = fmt == 0 ? write_hf(&o, &s, out) : fmt == 1 ? write_gguf(&o, &s, out) : write_llama2c(&o, &s, out);
    for (int i = 0; i < s.n; i++) free(s.t[i].data);
    free(s.t);
    if (rc) return cli_fail();
    return 0;
}
