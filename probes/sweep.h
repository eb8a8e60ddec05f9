// sweep.h: linear probes at every site a glob names (`monoscope probe sweep`): is a concept linearly
// present, and from which layer on? One ms_probe_train per site, same split and settings, each
// probe file written beside a table of held-out metrics per site and concept.
//
// DIR/probe_<site>.h5   each site's probes (probe.h)
// DIR/sweep.tsv         site, layer, concept, accuracy, auc, f1, n_pos_test (one row per pair)
// Sites are ordered by layer (from "blocks.<L>."; sites without one first), then by name.
#ifndef MS_PROBES_SWEEP_H
#define MS_PROBES_SWEEP_H
#include "probes/probe.h"

typedef struct {
    int n_sites, n_concepts;
    char **sites;                // (n_sites)
    int *layers;                 // (n_sites) -1 without a layer
    char **concepts;             // (n_concepts)
    double *accuracy, *auc, *f1; // (n_sites, n_concepts) held out
    int logistic;
} ms_probe_sweep;

// o->hook is ignored: every site of o->acts matching `glob` is probed. 0 / -1 + ms_error.
int ms_probe_sweep_run(const ms_probe_opts *o, const char *glob, const char *out_dir, ms_probe_sweep *r);
void ms_probe_sweep_free(ms_probe_sweep *r);

#endif
