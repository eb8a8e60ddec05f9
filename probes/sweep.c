// sweep.c: probes across sites (sweep.h).
#include "probes/sweep.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io/acts.h"
#include "util/util.h"

// "blocks.5.hook_resid_post" -> 5; -1 for a site without a layer.
static int layer_of(const char *site) {
    if (strncmp(site, "blocks.", 7)) return -1;
    char *end;
    long l = strtol(site + 7, &end, 10);
    return end > site + 7 && *end == '.' ? (int)l : -1;
}

typedef struct { char *name; int layer; } site_key;
static int cmp_site(const void *a, const void *b) {
    const site_key *x = a, *y = b;
    if (x->layer != y->layer) return x->layer < y->layer ? -1 : 1;
    return strcmp(x->name, y->name);
}

// The sites of acts matching glob, ordered by layer then name. -1 + ms_error when none.
static int match_sites(const char *acts, const char *glob, ms_probe_sweep *r) {
    ms_acts *a = ms_acts_open(acts);
    if (!a) return -1;
    site_key *k = ms_malloc((size_t)(ms_acts_n_hooks(a) + 1) * sizeof *k);
    int n = 0;
    for (int h = 0; h < ms_acts_n_hooks(a); h++)
        if (ms_glob_match(glob, ms_acts_hook_name(a, h))) {
            k[n].name = ms_strdup(ms_acts_hook_name(a, h));
            k[n].layer = layer_of(k[n].name);
            n++;
        }
    if (!n) {
        char *have = ms_acts_hook_list(a, 400);
        ms_error("%s: no site matches '%s' (the file has: %s)", acts, glob, have);
        free(have);
    }
    ms_acts_close(a);
    qsort(k, (size_t)n, sizeof *k, cmp_site);
    r->n_sites = n;
    r->sites = ms_malloc((size_t)(n + 1) * sizeof(char *));
    r->layers = ms_malloc((size_t)(n + 1) * sizeof(int));
    for (int i = 0; i < n; i++) { r->sites[i] = k[i].name; r->layers[i] = k[i].layer; }
    free(k);
    return n ? 0 : -1;
}

// Copies site i's metrics; the first site fixes the concept list (every site sees the same labels).
static void take_metrics(ms_probe_sweep *r, int i, const ms_probe_set *p) {
    if (i == 0) {
        r->n_concepts = p->n_fits;
        r->concepts = ms_malloc((size_t)(p->n_fits + 1) * sizeof(char *));
        for (int k = 0; k < p->n_fits; k++) r->concepts[k] = ms_strdup(p->fits[k].concept);
        const size_t n = (size_t)r->n_sites * p->n_fits + 1;
        r->accuracy = ms_malloc(n * sizeof(double));
        r->auc = ms_malloc(n * sizeof(double));
        r->f1 = ms_malloc(n * sizeof(double));
    }
    for (int k = 0; k < r->n_concepts; k++) {
        const size_t j = (size_t)i * r->n_concepts + k;
        r->accuracy[j] = p->fits[k].accuracy;
        r->auc[j] = p->fits[k].auc;
        r->f1[j] = p->fits[k].f1;
    }
}

static int write_table(const ms_probe_sweep *r, const char *out_dir, const int64_t *n_pos) {
    char *path = ms_path_join(out_dir, "sweep.tsv");
    char *tmp = ms_atomic_tmp_path(path);
    FILE *f = fopen(tmp, "w");
    int rc = f ? 0 : -1;
    if (f) {
        fprintf(f, "site\tlayer\tconcept\taccuracy\tauc\tf1\tn_pos_test\n");
        for (int i = 0; i < r->n_sites; i++)
            for (int k = 0; k < r->n_concepts; k++) {
                const size_t j = (size_t)i * r->n_concepts + k;
                fprintf(f, "%s\t%d\t%s\t%.17g\t%.17g\t%.17g\t%lld\n", r->sites[i], r->layers[i], r->concepts[k],
                        r->accuracy[j], r->auc[j], r->f1[j], (long long)n_pos[k]);
            }
        if (fclose(f) != 0) rc = -1;
    }
    if (rc) ms_error("%s: cannot write: %s", path, strerror(errno));
    else rc = ms_atomic_commit(tmp, path);
    if (rc) unlink(tmp);
    free(tmp);
    free(path);
    return rc;
}

int ms_probe_sweep_run(const ms_probe_opts *o, const char *glob, const char *out_dir, ms_probe_sweep *r) {
    memset(r, 0, sizeof *r);
    r->logistic = o->logistic;
    if (match_sites(o->acts, glob, r)) { ms_probe_sweep_free(r); return -1; }
    if (ms_mkdir(out_dir) < 0) { ms_probe_sweep_free(r); return -1; }
    int64_t *n_pos = NULL;
    for (int i = 0; i < r->n_sites; i++) {
        ms_probe_opts oi = *o;
        oi.hook = r->sites[i];
        ms_probe_set *p = ms_probe_train(&oi);
        if (!p) { free(n_pos); ms_probe_sweep_free(r); return -1; }
        char name[1100];
        snprintf(name, sizeof name, "probe_%s.h5", r->sites[i]);
        char *path = ms_path_join(out_dir, name);
        int rc = ms_probe_save(path, p, &oi);
        free(path);
        if (!rc) {
            take_metrics(r, i, p);
            if (!n_pos) {
                n_pos = ms_malloc((size_t)(p->n_fits + 1) * sizeof(int64_t));
                for (int k = 0; k < p->n_fits; k++) n_pos[k] = p->fits[k].n_pos_test;
            }
        }
        ms_probe_set_free(p);
        if (rc) { free(n_pos); ms_probe_sweep_free(r); return -1; }
        fprintf(stderr, "monoscope: probed %s (%d of %d)\n", r->sites[i], i + 1, r->n_sites);
    }
    int rc = write_table(r, out_dir, n_pos);
    free(n_pos);
    if (rc) ms_probe_sweep_free(r);
    return rc;
}

void ms_probe_sweep_free(ms_probe_sweep *r) {
    for (int i = 0; r->sites && i < r->n_sites; i++) free(r->sites[i]);
    for (int k = 0; r->concepts && k < r->n_concepts; k++) free(r->concepts[k]);
    free(r->sites); free(r->layers); free(r->concepts); free(r->accuracy); free(r->auc); free(r->f1);
    memset(r, 0, sizeof *r);
}
