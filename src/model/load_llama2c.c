// load_llama2c.c: Karpathy's llama2.c checkpoints (legacy "version 0" export, e.g. stories15M.bin):
//   int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (< 0: separate classifier), seq_len
//   float32 token_embedding (V,C), rms_att (L,C), wq (L,C,C), wk (L,KV,C), wv (L,KV,C), wo (L,C,C),
//           rms_ffn (L,C), w1 (L,F,C), w2 (L,C,F), w3 (L,F,C), rms_final (C),
//           freq_cis_real (seq_len, Dh/2), freq_cis_imag (seq_len, Dh/2)   (unused: we compute RoPE),
//           [wcls (V,C) when vocab_size < 0]
// Conventions of llama2.c: interleaved RoPE, rms eps 1e-5, theta 10000, w1 = gate, w3 = up, w2 = down,
// BOS = 1, EOS = 2. A tokenizer.bin beside the checkpoint is loaded when present.
#include <errno.h>
#include <stddef.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/model.h"
#include "util/util.h"

// Reads n floats for each of L layers from a stacked (L, n) tensor into per-layer destinations.
static int read_stacked(FILE *f, const char *path, const char *what, ms_model *m, size_t n,
                        size_t field_offset) {
    for (int l = 0; l < m->cfg.n_layer; l++) {
        float *dst = *(float **)((char *)&m->w.layers[l] + field_offset);
        if (fread(dst, sizeof(float), n, f) != n) {
            ms_error("%s: truncated llama2.c checkpoint while reading %s of layer %d", path, what, l);
            return -1;
        }
        char name[64];
        snprintf(name, sizeof name, "%s of layer %d", what, l);
        if (ms_weights_check_finite(path, name, dst, n)) return -1;
    }
    return 0;
}

static int read_flat(FILE *f, const char *path, const char *what, float *dst, size_t n) {
    if (fread(dst, sizeof(float), n, f) != n) {
        ms_error("%s: truncated llama2.c checkpoint while reading %s", path, what);
        return -1;
    }
    return ms_weights_check_finite(path, what, dst, n);
}

int ms_load_llama2c(const char *path, ms_model *m) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        ms_error("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int rc = -1;
    int32_t h[7];
    if (fread(h, sizeof(int32_t), 7, f) != 7) {
        ms_error("%s: not a model file: too short for a llama2.c header (28 bytes)", path);
        goto done;
    }
    if (!memcmp(h, "ak42", 4) || h[0] == 0x616b3432) {
        ms_error("%s: llama2.c 'version 1+' export is not supported; export with the legacy format (version 0)", path);
        goto done;
    }
    for (int i = 0; i < 7; i++) {
        if ((i == 5 && (h[i] == 0 || h[i] < -(1 << 24) || h[i] > (1 << 24))) ||
            (i != 5 && (h[i] <= 0 || h[i] > (1 << 20)))) {
            ms_error("%s: not a recognised model file (not HF dir, GGUF or llama2.c: header field %d = %d is implausible)",
                     path, i, h[i]);
            goto done;
        }
    }
    ms_config *c = &m->cfg;
    c->arch = MS_ARCH_LLAMA;
    c->d_model = h[0];
    c->d_mlp = h[1];
    c->n_layer = h[2];
    c->n_head = h[3];
    c->n_kv_head = h[4];
    c->tied_embeddings = h[5] > 0;
    c->vocab_size = h[5] > 0 ? h[5] : -h[5];
    c->n_ctx = h[6];
    c->norm_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->rope_style = MS_ROPE_INTERLEAVED;
    c->bos_id = 1;
    c->eos_id = 2;
    snprintf(c->source_format, sizeof c->source_format, "llama2c");
    snprintf(c->source_dtype, sizeof c->source_dtype, "F32");
    if (c->d_model % c->n_head) {
        ms_error("%s: dim %d is not divisible by n_heads %d", path, c->d_model, c->n_head);
        goto done;
    }
    c->d_head = c->d_model / c->n_head;

    if (ms_config_validate(c, path)) goto done; // a contradictory header is named before the size
    // the file must be exactly header + weights: anything else means a corrupt or foreign file.
    // Checked before allocating, in double (the header's fields may multiply past 2^64).
    const size_t C = (size_t)c->d_model, F = (size_t)c->d_mlp, V = (size_t)c->vocab_size, L = (size_t)c->n_layer;
    const size_t KV = (size_t)c->n_kv_head * c->d_head, Dh = (size_t)c->d_head;
    const double dC = (double)C, dKV = (double)KV;
    double n_floats = (double)V * dC + (double)L * (dC + dC * dC + 2 * dKV * dC + dC * dC + dC + 3 * (double)F * dC) +
                      dC + (double)c->n_ctx * (double)Dh + (c->tied_embeddings ? 0 : (double)V * dC);
    double expect = 28 + 4 * n_floats;
    if (fseek(f, 0, SEEK_END) != 0) { ms_error("%s: cannot seek: %s", path, strerror(errno)); goto done; }
    long size = ftell(f);
    if (size < 0 || (double)size != expect) {
        ms_error("%s: %s llama2.c checkpoint: header (dim %d, hidden %d, layers %d, heads %d, kv heads %d, vocab %d, seq %d) "
                 "implies %.0f bytes, file has %ld", path, (double)size < expect ? "truncated" : "size mismatch in",
                 h[0], h[1], h[2], h[3], h[4], h[5], h[6], expect, size);
        goto done;
    }
    m->n_layer_loaded = 0; // the file is read in order, tensor kind by kind across layers: load all
    if (ms_model_alloc_weights(m) != 0) goto done;
    fseek(f, 28, SEEK_SET);
    ms_weights *w = &m->w;
#define OFF(field) offsetof(ms_layer_weights, field)
    if (!m->header_only && (read_flat(f, path, "token_embedding", w->wte, V * C) ||
        read_stacked(f, path, "rms_att", m, C, OFF(ln1_w)) ||
        read_stacked(f, path, "wq", m, C * C, OFF(wq)) ||
        read_stacked(f, path, "wk", m, KV * C, OFF(wk)) ||
        read_stacked(f, path, "wv", m, KV * C, OFF(wv)) ||
        read_stacked(f, path, "wo", m, C * C, OFF(wo)) ||
        read_stacked(f, path, "rms_ffn", m, C, OFF(ln2_w)) ||
        read_stacked(f, path, "w1", m, F * C, OFF(w_gate)) ||
        read_stacked(f, path, "w2", m, C * F, OFF(w_out)) ||
        read_stacked(f, path, "w3", m, F * C, OFF(w_in)) ||
        read_flat(f, path, "rms_final", w->lnf_w, C)))
        goto done;
#undef OFF
    if (!m->header_only && !c->tied_embeddings) {
        fseek(f, (long)(28 + 4 * (n_floats - V * C)), SEEK_SET); // skip the legacy freq_cis tables
        if (read_flat(f, path, "wcls", w->unembed, V * C)) goto done;
    }

    // optional tokenizer.bin beside the checkpoint
    char *copy = ms_strdup(path);
    char *tok_path = ms_path_join(dirname(copy), "tokenizer.bin");
    free(copy);
    if (ms_file_exists(tok_path)) {
        m->tok = ms_tokenizer_load_llama2c(tok_path, c->vocab_size);
        if (!m->tok) { free(tok_path); goto done; } // ms_error names tokenizer.bin and the problem
    }
    free(tok_path);
    rc = 0;
done:
    fclose(f);
    return rc;
}
