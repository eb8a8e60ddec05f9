// fuzz_saelens.c: a SAELens cfg.json through ms_saelens_import, beside a valid
// sae_weights.safetensors written once by the project's own exporter (ms_saelens_export of a small
// topk SAE), so the shapes and architecture the config claims meet real tensors.
#include "fuzz_common.h"
#include "sae/saelens.h"

static const char *saelens_dir(void) {
    static char *dir;
    if (!dir) {
        dir = fuzz_path("saelens");
        ms_sae *s = ms_sae_new(MS_SAE_TOPK, 4, 8, 2);
        for (int i = 0; i < 4 * 8; i++) s->W_enc[i] = s->W_dec[i] = (float)((i * 7) % 5) - 2.0f;
        ms_sae_set_attr_str(s, "hook", "blocks.0.hook_resid_post");
        if (ms_saelens_export(s, dir)) { fprintf(stderr, "%s\n", ms_last_error()); abort(); }
        ms_sae_free(s);
    }
    return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = saelens_dir();
    fuzz_put(0, "saelens/cfg.json", data, size);
    ms_saelens_import_opts o = {.norm_scale = 0};
    ms_clear_error();
    ms_sae *s = ms_saelens_import(dir, &o);
    if (s) ms_sae_free(s);
    else fuzz_check_refusal("ms_saelens_import");
    return 0;
}
