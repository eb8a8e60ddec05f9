// hooks.c: hook-site names and the callback registry (see hooks.h).
#include "model/hooks.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

static const char *const site_suffix[MS_SITE_COUNT] = {
    [MS_SITE_EMBED] = "hook_embed",
    [MS_SITE_POS_EMBED] = "hook_pos_embed",
    [MS_SITE_RESID_PRE] = "hook_resid_pre",
    [MS_SITE_LN1_SCALE] = "ln1.hook_scale",
    [MS_SITE_LN1_NORMALIZED] = "ln1.hook_normalized",
    [MS_SITE_ATTN_Q] = "attn.hook_q",
    [MS_SITE_ATTN_K] = "attn.hook_k",
    [MS_SITE_ATTN_V] = "attn.hook_v",
    [MS_SITE_ATTN_Q_NORMED] = "attn.hook_q_normed",
    [MS_SITE_ATTN_K_NORMED] = "attn.hook_k_normed",
    [MS_SITE_ATTN_ROT_Q] = "attn.hook_rot_q",
    [MS_SITE_ATTN_ROT_K] = "attn.hook_rot_k",
    [MS_SITE_ATTN_SCORES] = "attn.hook_attn_scores",
    [MS_SITE_ATTN_PATTERN] = "attn.hook_pattern",
    [MS_SITE_ATTN_Z] = "attn.hook_z",
    [MS_SITE_LN1_POST_SCALE] = "ln1_post.hook_scale",
    [MS_SITE_LN1_POST_NORMALIZED] = "ln1_post.hook_normalized",
    [MS_SITE_ATTN_OUT] = "hook_attn_out",
    [MS_SITE_RESID_MID] = "hook_resid_mid",
    [MS_SITE_LN2_SCALE] = "ln2.hook_scale",
    [MS_SITE_LN2_NORMALIZED] = "ln2.hook_normalized",
    [MS_SITE_MLP_PRE] = "mlp.hook_pre",
    [MS_SITE_MLP_PRE_LINEAR] = "mlp.hook_pre_linear",
    [MS_SITE_MLP_POST] = "mlp.hook_post",
    [MS_SITE_LN2_POST_SCALE] = "ln2_post.hook_scale",
    [MS_SITE_LN2_POST_NORMALIZED] = "ln2_post.hook_normalized",
    [MS_SITE_MLP_OUT] = "hook_mlp_out",
    [MS_SITE_RESID_POST] = "hook_resid_post",
    [MS_SITE_LN_FINAL_SCALE] = "ln_final.hook_scale",
    [MS_SITE_LN_FINAL_NORMALIZED] = "ln_final.hook_normalized",
    [MS_SITE_LOGITS] = "logits",
};

int ms_site_is_block(ms_site s) { return s >= MS_SITE_RESID_PRE && s <= MS_SITE_RESID_POST; }
const char *ms_site_suffix(ms_site s) { return (unsigned)s < MS_SITE_COUNT ? site_suffix[s] : "?"; }

char *ms_site_name(ms_site s, int layer, char *buf, int bufsize) {
    if (ms_site_is_block(s)) snprintf(buf, (size_t)bufsize, "blocks.%d.%s", layer, site_suffix[s]);
    else snprintf(buf, (size_t)bufsize, "%s", ms_site_suffix(s));
    return buf;
}

int ms_site_parse(const char *name, ms_site *site, int *layer) {
    if (!strncmp(name, "blocks.", 7)) {
        char *end;
        long l = strtol(name + 7, &end, 10);
        if (end == name + 7 || *end != '.' || l < 0 || l >= MS_MAX_LAYERS) return -1;
        for (int s = 0; s < MS_SITE_COUNT; s++)
            if (ms_site_is_block((ms_site)s) && !strcmp(end + 1, site_suffix[s])) {
                *site = (ms_site)s;
                *layer = (int)l;
                return 0;
            }
        return -1;
    }
    for (int s = 0; s < MS_SITE_COUNT; s++)
        if (!ms_site_is_block((ms_site)s) && !strcmp(name, site_suffix[s])) {
            *site = (ms_site)s;
            *layer = -1;
            return 0;
        }
    return -1;
}

typedef struct {
    char *pattern;
    ms_hook_fn fn;
    void *user;
} hook_entry;

struct ms_hooks {
    hook_entry *entries;
    int n, cap;
    // wanted[site][layer + 1]: any pattern matches that site (layer -1 stored at index 0), so the
    // forward pass pays one table lookup per site and nothing else when no hook is set.
    unsigned char wanted[MS_SITE_COUNT][MS_MAX_LAYERS + 1];
};

ms_hooks *ms_hooks_new(void) { return ms_calloc(1, sizeof(ms_hooks)); }

void ms_hooks_free(ms_hooks *h) {
    if (!h) return;
    for (int i = 0; i < h->n; i++) free(h->entries[i].pattern);
    free(h->entries);
    free(h);
}

int ms_hooks_add(ms_hooks *h, const char *pattern, ms_hook_fn fn, void *user) {
    int matched = 0;
    char name[128];
    for (int s = 0; s < MS_SITE_COUNT; s++) {
        int block = ms_site_is_block((ms_site)s);
        for (int l = block ? 0 : -1; l < (block ? MS_MAX_LAYERS : 0); l++) {
            ms_site_name((ms_site)s, l, name, sizeof name);
            if (ms_glob_match(pattern, name)) {
                h->wanted[s][l + 1] = 1;
                matched = 1;
            }
        }
    }
    if (!matched) {
        ms_error("hook pattern '%s' matches no hook site (e.g. blocks.0.hook_resid_post)", pattern);
        return -1;
    }
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 8;
        h->entries = ms_realloc(h->entries, (size_t)h->cap * sizeof(hook_entry));
    }
    h->entries[h->n++] = (hook_entry){ms_strdup(pattern), fn, user};
    return 0;
}

int ms_hooks_wants(const ms_hooks *h, ms_site site, int layer) {
    if (!h || (unsigned)site >= MS_SITE_COUNT || layer < -1 || layer >= MS_MAX_LAYERS) return 0;
    return h->wanted[site][layer + 1];
}

int ms_hooks_call(const ms_hooks *h, ms_activation *act) {
    if (!ms_hooks_wants(h, act->site, act->layer)) return 0;
    for (int i = 0; i < h->n; i++) {
        if (!ms_glob_match(h->entries[i].pattern, act->name)) continue;
        int rc = h->entries[i].fn(act, h->entries[i].user);
        if (rc) return rc;
    }
    return 0;
}

int ms_hooks_last_layer(const ms_hooks *h, int n_layer) {
    if (!h) return -1;
    for (int s = MS_SITE_RESID_POST + 1; s < MS_SITE_COUNT; s++) // ln_final's sites, logits: after the last block
        if (h->wanted[s][0]) return n_layer;
    int last = -1;
    for (int s = 0; s < MS_SITE_COUNT; s++) {
        if (!ms_site_is_block((ms_site)s)) continue;
        for (int l = 0; l < n_layer && l < MS_MAX_LAYERS; l++)
            if (h->wanted[s][l + 1] && l > last) last = l;
    }
    return last;
}
