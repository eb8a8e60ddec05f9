// match.h: which dictionary features isolate which concept (`monoscope sae match`): for every concept
// of a labels file (probes/labels.h), the features whose activation best predicts the concept's
// tokens, beside a linear probe's score as the ceiling a dictionary is measured against.
//
// A feature f predicts "concept" at threshold v when f(x) >= v > 0. Sequences are split as the probe
// that is given split them (probes/probe.h, /split), else every fifth sequence (index % 5 == 4) is
// held out. On the training sequences every feature's F1 is computed at every threshold (each distinct
// activation value: one sweep of its sorted non-zeros); the `top` features with the best F1 are kept,
// each with the threshold that gave it. They are then scored on the held-out sequences at that
// threshold: F1, precision, recall, and the rank AUC of the raw activation (ties, the zeros among
// them, get their average rank). Choosing on one split and reporting on the other keeps the score
// honest: the best of thousands of features on the same tokens would be optimistic. A probe's F1 is
// its own held-out F1 (on the same sequences when --probe is given). Padding (token -1) is never data.
//
// Stored as /match in the SAE file (sae_io.c, the file's owner):
//   /match/concepts   strings [C]     concept names, as in the labels file
//   /match/feature    int32   [C, K]  the K best features per concept (-1 where fewer fire at all)
//   /match/f1, precision, recall, auc, threshold   float64 [C, K]   held-out scores, the threshold
//   /match/train_f1   float64 [C, K]  the F1 the feature was chosen by
//   /match/n_pos      int64   [C]     held-out tokens carrying the concept
//   /match/probe_f1   float64 [C]     the probe's held-out F1 (NaN without --probe)
//   attributes: acts, labels, hook, probe, split, n_train_tokens, n_test_tokens, top, command
#ifndef MS_SAE_MATCH_H
#define MS_SAE_MATCH_H
#include <stdint.h>
#include <stdio.h>
#include "sae/sae.h"

typedef struct {
    int feature;          // -1: none
    double f1, precision, recall, auc, threshold, train_f1;
} ms_match_feature;

typedef struct {
    char *concept;
    int64_t n_pos;        // held-out positives
    double probe_f1;      // NaN without a probe
    ms_match_feature *best; // (top)
} ms_match_concept;

typedef struct {
    int n_concepts, top;
    ms_match_concept *c;  // (n_concepts)
    int64_t n_train, n_test; // tokens
    char hook[256], acts[1024], labels[1024], probe[1024], split[64];
} ms_sae_match_result;

typedef struct {
    const char *acts, *labels;
    const char *hook;     // NULL: the SAE's "hook" attribute
    const char *concept;  // NULL: every concept of the labels file
    const char *probe;    // probe.h5 of the same hook and labels (its split and F1 are used), or NULL
    int top;              // features kept per concept (default 3)
    int64_t max_tokens;   // 0: every real token (memory: ~12 bytes per non-zero code)
} ms_sae_match_opts;

// Computes the result (r zeroed first). 0 / -1 + ms_error.
int ms_sae_match(const ms_sae *s, const ms_sae_match_opts *o, ms_sae_match_result *r);
// `monoscope sae match`: loads the SAE file, computes, and with store writes /match into it.
int ms_sae_match_file(const char *sae_path, const ms_sae_match_opts *o, int store, ms_sae_match_result *r);
void ms_sae_match_result_free(ms_sae_match_result *r);
void ms_sae_match_print(FILE *f, const ms_sae_match_result *r);
char *ms_sae_match_json(const ms_sae_match_result *r); // malloc'ed
// /match in the SAE file (sae_io.c): store replaces an earlier /match atomically (copy, write,
// rename); read returns 1 when present, 0 when absent, -1 + ms_error when damaged.
int ms_sae_match_store(const char *sae_path, const ms_sae_match_result *r);
int ms_sae_match_read(const char *sae_path, ms_sae_match_result *r);

#endif
