// hook_example.c: embedding libmonoscope. Zeroes one attention head through a hook and prints the
// next-token logits after the last token, one "id logit" line per vocabulary entry.
//   cc hook_example.c $(pkg-config --cflags --libs monoscope) -o hook_example
//   ./hook_example MODEL blocks.0.attn.hook_z HEAD ID [ID ...]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/model.h"
#include "util/util.h"

// A hook sees (n_seq, pos, n_head, d_head) at attn.hook_z and may overwrite it in place.
static int zero_head(ms_activation *a, void *user) {
    const int head = *(const int *)user;
    const int64_t rows = a->shape[0] * a->shape[1], H = a->shape[2], Dh = a->shape[3];
    if (head < 0 || head >= H) return 1; // abort: ms_forward then returns -1
    for (int64_t r = 0; r < rows; r++) memset(a->data + (r * H + head) * Dh, 0, sizeof(float) * (size_t)Dh);
    return 0; // non-zero would abort the forward pass
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL SITE HEAD ID [ID ...]\n", argv[0]);
        return 2;
    }
    const int head = atoi(argv[3]), T = argc - 4;
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)T); // (1, T)
    for (int t = 0; t < T; t++) tokens[t] = atoi(argv[4 + t]);
    ms_model *m = ms_model_load(argv[1]);
    ms_hooks *h = ms_hooks_new();
    ms_state *s = m ? ms_state_new(m, 1, T) : NULL;
    int rc = 1;
    if (s && ms_hooks_add(h, argv[2], zero_head, (void *)&head) == 0) {
        ms_forward_opts o = {.hooks = h, .want_logits = 1, .stop_after_layer = -1};
        if (ms_forward(m, s, tokens, 1, T, &o) == 0) {
            const int V = m->cfg.vocab_size;
            const float *last = ms_state_logits(s) + (size_t)(T - 1) * V; // (B, T, V) -> row T-1
            for (int v = 0; v < V; v++) printf("%d %.9g\n", v, last[v]);
            rc = 0;
        }
    }
    if (rc) fprintf(stderr, "hook_example: %s\n", ms_last_error());
    ms_state_free(s);
    ms_hooks_free(h);
    ms_model_free(m);
    free(tokens);
    return rc;
}
