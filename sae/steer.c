// steer.c: an SAE feature's decoder row as a steering intervention (steer.h).
#include "sae/steer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

int ms_intervention_steer(ms_intervention *iv, const ms_model *m, const ms_sae *sae, const char *text) {
    const char *colon = strchr(text, ':');
    if (!colon) { ms_error("--steer '%s': expected SITE:feature=F[,scale=X]", text); return -1; }
    char site[160];
    long feature = -1, head = -1;
    double scale = 1.0;
    snprintf(site, sizeof site, "%.*s", (int)(colon - text), text);
    for (const char *p = colon + 1; *p;) {
        char *end = NULL;
        if (!strncmp(p, "feature=", 8)) feature = strtol(p + 8, &end, 10);
        else if (!strncmp(p, "scale=", 6)) scale = strtod(p + 6, &end);
        else if (!strncmp(p, "head=", 5)) head = strtol(p + 5, &end, 10);
        if (!end || (*end && *end != ',') || end == strchr(p, '=') + 1) {
            ms_error("--steer '%s': expected SITE:feature=F[,scale=X][,head=H]", text);
            return -1;
        }
        p = *end ? end + 1 : end;
    }
    if (feature < 0) { ms_error("--steer '%s': feature=F (a non-negative integer) is required", text); return -1; }
    char spec[192];
    if (head >= 0) snprintf(spec, sizeof spec, "%s:head=%ld", site, head);
    else snprintf(spec, sizeof spec, "%s", site);
    if (ms_intervention_parse_site(iv, &m->cfg, spec)) return -1;
    const char *sae_hook = ms_sae_attr_str(sae, "hook");
    char name[160];
    ms_site_name(iv->site, iv->layer, name, sizeof name);
    if (!sae_hook || strcmp(sae_hook, name)) {
        ms_error("--steer %s: the SAE was trained on '%s', not on this site", name, sae_hook ? sae_hook : "(no hook attribute)");
        return -1;
    }
    const int64_t D = ms_site_token_size(&m->cfg, iv->site);
    if (D != sae->d_in) {
        ms_error("--steer %s: the SAE's d_in %d differs from the site's per-token size %lld", name, sae->d_in, (long long)D);
        return -1;
    }
    if (feature >= sae->d_sae) {
        ms_error("--steer %s: feature %ld is out of range (the SAE has %d features)", name, feature, sae->d_sae);
        return -1;
    }
    iv->vec = sae->W_dec + (size_t)feature * sae->d_in; // (d_in) in the site's units: normalisation is folded in
    iv->vec_len = sae->d_in;
    iv->scale = (float)scale;
    return 0;
}
