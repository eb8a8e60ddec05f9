// save_llama2c.c: writes a llama checkpoint (checkpoint.h) in the llama2.c legacy layout that
// load_llama2c.c reads: a header of 7 int32, the float32 weights grouped by kind across layers
// (shared classifier), then the freq_cis tables that loaders skip. No tokenizer.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/checkpoint.h"
#include "util/util.h"

static int write_floats(FILE *f, const ms_ckpt_tensor *t) {
    size_t n = (size_t)(t->shape[0] * t->shape[1]);
    return fwrite(t->data, 4, n, f) == n;
}

int ms_checkpoint_save_llama2c(ms_checkpoint *ck, const char *path) {
    if (ck->arch != MS_ARCH_LLAMA) { ms_error("%s: llama2.c holds llama models only", path); return -1; }
    char *tmp = ms_atomic_tmp_path(path);
    FILE *f = fopen(tmp, "wb");
    if (!f) { ms_error("%s: cannot write: %s", path, strerror(errno)); free(tmp); return -1; }
    ms_checkpoint_rope_interleaved(ck);
    int32_t hdr[7] = {ck->d_model, ck->d_mlp, ck->n_layer, ck->n_head, ck->n_kv_head, ck->vocab, ck->n_ctx};
    int ok = fwrite(hdr, 4, 7, f) == 7;
    ok = ok && write_floats(f, ms_checkpoint_find(ck, "embed_tokens.weight"));
    // llama2.c order: rms_att, wq, wk, wv, wo, rms_ffn, w1 (gate), w2 (down), w3 (up)
    static const char *kinds[] = {"input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                                  "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                                  "mlp.gate_proj.weight", "mlp.down_proj.weight", "mlp.up_proj.weight"};
    char n[128];
    for (int k = 0; ok && k < 9; k++)
        for (int L = 0; ok && L < ck->n_layer; L++) {
            snprintf(n, sizeof n, "layers.%d.%s", L, kinds[k]);
            ok = write_floats(f, ms_checkpoint_find(ck, n));
        }
    ok = ok && write_floats(f, ms_checkpoint_find(ck, "norm.weight"));
    int hd = ck->d_model / ck->n_head;
    for (int part = 0; ok && part < 2; part++) // freq_cis_real, freq_cis_imag (unused by loaders)
        for (int p = 0; ok && p < ck->n_ctx; p++)
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
