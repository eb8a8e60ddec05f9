// describe.c: a checkpoint's summary and the tokenizer behind a path (describe.h).
#include "model/describe.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

void ms_model_describe(FILE *f, const ms_model *m) {
    const ms_config *c = &m->cfg;
    fprintf(f, "path: %s\n", m->path);
    fprintf(f, "architecture: %s\n", ms_arch_name(c->arch));
    fprintf(f, "format: %s\n", c->source_format);
    fprintf(f, "dtype: %s\n", c->source_dtype);
    fprintf(f, "n_layer: %d\n", c->n_layer);
    fprintf(f, "d_model: %d\n", c->d_model);
    fprintf(f, "n_head: %d\n", c->n_head);
    fprintf(f, "n_kv_head: %d\n", c->n_kv_head);
    fprintf(f, "d_head: %d\n", c->d_head);
    fprintf(f, "d_mlp: %d\n", c->d_mlp);
    fprintf(f, "vocab_size: %d\n", c->vocab_size);
    fprintf(f, "n_ctx: %d\n", c->n_ctx);
    fprintf(f, "norm: %s eps %g\n", c->layer_norm ? "layernorm" : "rmsnorm", (double)c->norm_eps);
    if (c->rope_style != MS_ROPE_NONE)
        fprintf(f, "rope: %s theta %g\n", c->rope_style == MS_ROPE_HALF ? "half (rotate_half)" : "interleaved",
                (double)c->rope_theta);
    else
        fprintf(f, "rope: none\n");
    // the llama family's optional features, printed only where a checkpoint has them
    if (c->rope_scaling.type == MS_ROPE_SCALING_LLAMA3)
        fprintf(f, "rope_scaling: llama3 factor %g low_freq_factor %g high_freq_factor %g original_ctx %d\n",
                (double)c->rope_scaling.factor, (double)c->rope_scaling.low_freq_factor,
                (double)c->rope_scaling.high_freq_factor, c->rope_scaling.original_ctx);
    if (c->rope_scaling.type == MS_ROPE_SCALING_LINEAR)
        fprintf(f, "rope_scaling: linear factor %g%s\n", (double)c->rope_scaling.factor,
                c->rope_local_theta > 0 ? " (global layers)" : "");
    if (c->rope_scaling.type == MS_ROPE_SCALING_FACTORS) {
        float lo = c->rope_scaling.freq_factors[0], hi = lo;
        for (int i = 1; i < c->rotary_dims / 2; i++)
            lo = fminf(lo, c->rope_scaling.freq_factors[i]), hi = fmaxf(hi, c->rope_scaling.freq_factors[i]);
        fprintf(f, "rope_scaling: per-frequency factors (rope_freqs) %g .. %g\n", (double)lo, (double)hi);
    }
    if (c->rope_local_theta > 0) fprintf(f, "rope_local_theta: %g (sliding layers)\n", (double)c->rope_local_theta);
    if (c->rope_style != MS_ROPE_NONE && c->rotary_dims < c->d_head)
        fprintf(f, "rotary_dims: %d of d_head %d\n", c->rotary_dims, c->d_head);
    if (c->parallel_residual) fprintf(f, "parallel_residual: yes (no blocks.L.hook_resid_mid)\n");
    if (c->sliding_window > 0) {
        fprintf(f, "sliding_window: %d on layers", c->sliding_window);
        for (int l = 0; l < c->n_layer; l++)
            if (c->local_layer[l]) fprintf(f, " %d", l);
        fprintf(f, "\n");
    }
    if (c->mlp == MS_MLP_GEGLU) fprintf(f, "mlp: geglu (gelu_pytorch_tanh)\n");
    if (c->post_norms) fprintf(f, "post_norms: yes (attention and MLP outputs normalized before the residual add)\n");
    if (c->embed_scale > 0) fprintf(f, "embed_scale: %g\n", (double)c->embed_scale);
    if (c->attn_scale > 0) fprintf(f, "attn_scale: %g\n", (double)c->attn_scale);
    if (c->attn_softcap > 0) fprintf(f, "attn_softcap: %g\n", (double)c->attn_softcap);
    if (c->logit_softcap > 0) fprintf(f, "logit_softcap: %g\n", (double)c->logit_softcap);
    if (c->qkv_bias) fprintf(f, "qkv_bias: yes\n");
    if (c->qk_norm) fprintf(f, "qk_norm: yes (per-head rmsnorm before rope)\n");
    fprintf(f, "tied_embeddings: %s\n", c->tied_embeddings ? "yes" : "no");
    fprintf(f, "parameters: %zu\n", m->n_params);
    fprintf(f, "bos_id: %d\n", c->bos_id);
    fprintf(f, "eos_id: %d\n", c->eos_id);
    fprintf(f, "tokenizer: %s\n", m->tok ? ms_tokenizer_kind_name(m->tok) : "none");
    // the hook sites this architecture has (`monoscope hooks` lists them with shapes)
    int64_t sh[4];
    fprintf(f, "hook_sites_per_block:");
    for (int s = 0; s < MS_SITE_COUNT; s++)
        if (ms_site_is_block((ms_site)s) && ms_site_shape(c, (ms_site)s, 1, sh) >= 0) fprintf(f, " %s", ms_site_suffix((ms_site)s));
    fprintf(f, "\nhook_sites_global:");
    for (int s = 0; s < MS_SITE_COUNT; s++)
        if (!ms_site_is_block((ms_site)s) && ms_site_shape(c, (ms_site)s, 1, sh) >= 0) fprintf(f, " %s", ms_site_suffix((ms_site)s));
    fprintf(f, "\n");
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

ms_tokenizer *ms_tokenizer_open_path(const char *path, ms_model **model) {
    *model = NULL;
    if (!ms_file_exists(path)) { ms_error("%s: no such file or directory", path); return NULL; }
    if (ends_with(path, ".json")) return ms_tokenizer_load(path);
    if (ms_is_dir(path)) {
        char *tj = ms_path_join(path, "tokenizer.json"), *vj = ms_path_join(path, "vocab.json");
        int has = ms_file_exists(tj) || ms_file_exists(vj);
        free(tj); free(vj);
        if (has) return ms_tokenizer_load_hf(path);
    } else if (!ends_with(path, ".gguf")) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        // a llama2.c tokenizer.bin is validated record by record, so a checkpoint never parses as one
        ms_tokenizer *t = ms_tokenizer_load_llama2c(path, 0);
        if (t || !strncmp(base, "tok", 3)) return t;
    }
    ms_model *m = ms_model_load(path);
    if (!m) return NULL;
    if (!m->tok) {
        ms_error("%s: the checkpoint carries no tokenizer (for llama2.c, put tokenizer.bin beside it)", path);
        ms_model_free(m);
        return NULL;
    }
    *model = m;
    return m->tok;
}
