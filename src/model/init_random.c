// init_random.c: random-weight checkpoints (see checkpoint.h) for demos, benchmarks and tests that
// must not depend on downloads. One seed gives one model whatever format it is then written in.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/checkpoint.h"
#include "util/util.h"

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

enum { INIT_NORMAL, INIT_ONES, INIT_ZEROS };

// Appends a (d0) (d1 < 0) or (d0, d1) tensor, initialised from the stream in call order.
static void add(ms_checkpoint *ck, uint64_t *rng, const char *name, int64_t d0, int64_t d1, int init) {
    if (ck->n_tensors == ck->cap) {
        ck->cap = ck->cap ? 2 * ck->cap : 64;
        ck->t = ms_realloc(ck->t, (size_t)ck->cap * sizeof *ck->t);
    }
    ms_ckpt_tensor *t = &ck->t[ck->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = d1 < 0 ? 1 : 2;
    t->shape[0] = d0;
    t->shape[1] = d1 < 0 ? 1 : d1;
    size_t n = (size_t)d0 * (size_t)t->shape[1];
    t->data = ms_malloc(n * sizeof(float));
    if (init == INIT_NORMAL) fill_normal(t->data, n, 0.02f, rng);
    else for (size_t i = 0; i < n; i++) t->data[i] = init == INIT_ONES ? 1.0f : 0.0f;
}

// The weights under Hugging Face names and layouts (gpt2 Conv1D: [in, out]).
static void make_weights(ms_checkpoint *ck, uint64_t *rng) {
    int64_t C = ck->d_model, F = ck->d_mlp, V = ck->vocab, D = ck->d_model / ck->n_head;
    int64_t KV = (int64_t)ck->n_kv_head * D;
    char n[96];
    if (ck->arch == MS_ARCH_GPT2) {
        add(ck, rng, "wte.weight", V, C, INIT_NORMAL);
        add(ck, rng, "wpe.weight", ck->n_ctx, C, INIT_NORMAL);
        for (int L = 0; L < ck->n_layer; L++) {
#define T(suffix, d0, d1, init) (snprintf(n, sizeof n, "h.%d." suffix, L), add(ck, rng, n, d0, d1, init))
            T("ln_1.weight", C, -1, INIT_ONES); T("ln_1.bias", C, -1, INIT_ZEROS);
            T("attn.c_attn.weight", C, 3 * C, INIT_NORMAL); T("attn.c_attn.bias", 3 * C, -1, INIT_ZEROS);
            T("attn.c_proj.weight", C, C, INIT_NORMAL); T("attn.c_proj.bias", C, -1, INIT_ZEROS);
            T("ln_2.weight", C, -1, INIT_ONES); T("ln_2.bias", C, -1, INIT_ZEROS);
            T("mlp.c_fc.weight", C, F, INIT_NORMAL); T("mlp.c_fc.bias", F, -1, INIT_ZEROS);
            T("mlp.c_proj.weight", F, C, INIT_NORMAL); T("mlp.c_proj.bias", C, -1, INIT_ZEROS);
#undef T
        }
        add(ck, rng, "ln_f.weight", C, -1, INIT_ONES);
        add(ck, rng, "ln_f.bias", C, -1, INIT_ZEROS);
    } else {
        add(ck, rng, "embed_tokens.weight", V, C, INIT_NORMAL);
        for (int L = 0; L < ck->n_layer; L++) {
#define T(suffix, d0, d1, init) (snprintf(n, sizeof n, "layers.%d." suffix, L), add(ck, rng, n, d0, d1, init))
            T("input_layernorm.weight", C, -1, INIT_ONES);
            T("self_attn.q_proj.weight", C, C, INIT_NORMAL);
            T("self_attn.k_proj.weight", KV, C, INIT_NORMAL);
            T("self_attn.v_proj.weight", KV, C, INIT_NORMAL);
            T("self_attn.o_proj.weight", C, C, INIT_NORMAL);
            T("post_attention_layernorm.weight", C, -1, INIT_ONES);
            T("mlp.gate_proj.weight", F, C, INIT_NORMAL);
            T("mlp.up_proj.weight", F, C, INIT_NORMAL);
            T("mlp.down_proj.weight", C, F, INIT_NORMAL);
#undef T
        }
        add(ck, rng, "norm.weight", C, -1, INIT_ONES);
    }
}

// ---- the byte-level vocabulary: GPT-2's byte<->unicode table, 256 byte symbols in GPT-2's id
// order, a few merges, then <|endoftext|> as the last id.
typedef struct {
    int byte_order[256]; // id -> byte
    char sym[256][4];    // byte -> its GPT-2 symbol (UTF-8)
} byte_table;

static void make_byte_table(byte_table *bt) {
    int n = 0, used[256] = {0};
    for (int b = 0; b < 256; b++)
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) { used[b] = 1; bt->byte_order[n++] = b; }
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        unsigned cp = used[b] ? (unsigned)b : 256u + (unsigned)extra++;
        if (!used[b]) bt->byte_order[n++] = b;
        memset(bt->sym[b], 0, sizeof bt->sym[b]);
        if (cp < 0x80) bt->sym[b][0] = (char)cp;
        else { bt->sym[b][0] = (char)(0xC0 | (cp >> 6)); bt->sym[b][1] = (char)(0x80 | (cp & 0x3F)); }
    }
}

// A few English merges (GPT-2 symbols: Ġ = space) so BPE is exercised; each merge's parts exist
// before it. Ids 256.. in this order, as many as the vocabulary has room for.
static const char *const merge_list[][2] = {
    {"Ġ", "t"}, {"h", "e"}, {"i", "n"}, {"e", "r"}, {"a", "n"}, {"r", "e"}, {"o", "n"}, {"Ġ", "a"},
    {"e", "n"}, {"a", "t"}, {"o", "u"}, {"e", "d"}, {"h", "a"}, {"t", "o"}, {"o", "r"}, {"i", "t"},
    {"i", "s"}, {"h", "i"}, {"e", "s"}, {"n", "g"}, {"Ġ", "s"}, {"Ġ", "w"}, {"Ġ", "o"}, {"Ġ", "b"},
    {"Ġt", "he"}, {"Ġ", "c"}, {"Ġa", "n"}, {"in", "g"}, {"Ġ", "f"}, {"Ġ", "m"}, {"Ġt", "o"}, {"Ġ", "h"},
    {"e", "l"}, {"Ġ", "d"}, {"l", "l"}, {"Ġ", "p"}, {"a", "r"}, {"Ġ", "i"}, {"Ġan", "d"}, {"Ġo", "f"}};

static void make_vocab(ms_checkpoint *ck) {
    byte_table bt;
    make_byte_table(&bt);
    int n_list = (int)(sizeof merge_list / sizeof merge_list[0]);
    ck->n_merges = ck->vocab - 257 < n_list ? ck->vocab - 257 : n_list;
    ck->bos_id = ck->eos_id = ck->vocab - 1;
    ck->tokens = ms_calloc((size_t)ck->vocab, sizeof *ck->tokens);
    ck->token_type = ms_malloc((size_t)ck->vocab * sizeof *ck->token_type);
    ck->merges = ms_calloc((size_t)ck->n_merges + 1, sizeof *ck->merges);
    char buf[64];
    for (int id = 0; id < ck->vocab; id++) {
        if (id < 256) snprintf(buf, sizeof buf, "%s", bt.sym[bt.byte_order[id]]);
        else if (id == ck->vocab - 1) snprintf(buf, sizeof buf, "<|endoftext|>");
        else if (id - 256 < ck->n_merges) snprintf(buf, sizeof buf, "%s%s", merge_list[id - 256][0], merge_list[id - 256][1]);
        else snprintf(buf, sizeof buf, "<|unused_%d|>", id);
        ck->tokens[id] = ms_strdup(buf);
        ck->token_type[id] = id == ck->vocab - 1 ? 3 : id >= 256 + ck->n_merges ? 5 : 1; // control / unused / normal
    }
    for (int i = 0; i < ck->n_merges; i++) {
        snprintf(buf, sizeof buf, "%s %s", merge_list[i][0], merge_list[i][1]);
        ck->merges[i] = ms_strdup(buf);
    }
}

ms_checkpoint *ms_checkpoint_random(const ms_random_spec *sp) {
    if (sp->n_layer < 1 || sp->d_model < 1 || sp->n_head < 1 || sp->n_kv_head < 1 || sp->d_mlp < 1 || sp->n_ctx < 1 ||
        sp->d_model % sp->n_head || sp->n_head % sp->n_kv_head || sp->vocab < 300 ||
        (sp->arch == MS_ARCH_GPT2 && sp->n_kv_head != sp->n_head) ||
        (sp->arch == MS_ARCH_LLAMA && (sp->d_model / sp->n_head) % 2)) {
        ms_error("random model: inconsistent shape (layers %d, d_model %d, heads %d, kv heads %d, d_mlp %d, vocab %d, ctx %d)",
                 sp->n_layer, sp->d_model, sp->n_head, sp->n_kv_head, sp->d_mlp, sp->vocab, sp->n_ctx);
        return NULL;
    }
    ms_checkpoint *ck = ms_calloc(1, sizeof *ck);
    ck->arch = sp->arch;
    ck->n_layer = sp->n_layer;
    ck->d_model = sp->d_model;
    ck->n_head = sp->n_head;
    ck->n_kv_head = sp->n_kv_head;
    ck->d_mlp = sp->d_mlp;
    ck->vocab = sp->vocab;
    ck->n_ctx = sp->n_ctx;
    uint64_t rng = sp->seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL; // spread small seeds apart
    if (!rng) rng = 1; // xorshift's one fixed point
    make_weights(ck, &rng);
    make_vocab(ck);
    return ck;
}
