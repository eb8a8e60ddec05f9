// probe.h: linear probes on one hook site's activations (README "Probes and concepts").
//
// Features are standardised with the mean and (population) std of the training split; the bias is
// never penalised. Ridge: the normal equations (ZᵀZ + λI) w = Zᵀ(y - ȳ), b = ȳ, of the centred design,
// accumulated in float64 in row blocks streamed from the activations file (memory O(d² + block·d), so
// files larger than RAM work), solved by Cholesky (LAPACKE_dposv), falling back to LAPACKE_dgelsd
// (minimum-norm least squares) when not positive definite. Logistic: Newton/IRLS on
// Σ log(1 + e^{-±s}) + λ/2 |w|², one streamed pass per iteration, each step solved by dposv
// (dgelsd fallback). Sequences are split train/test by a seeded shuffle; padding tokens (id -1 in
// /tokens) are never data. Metrics on the test split: accuracy and F1 at score >= 0.5 (ridge: the
// fitted value; logistic: the probability), AUC from ranks (ties averaged).
//
// probe.h5 (this module owns it):
//   /mean, /std        float64 [d]        the standardisation (training split)
//   /split             uint8 [n_seq]      1 = test sequence
//   /probes/<concept>/weight      float64 [d]  in original units: score = x·weight + bias
//   /probes/<concept>/weight_std  float64 [d]  on standardised features: score = z·weight_std + bias_std
//   /probes/<concept> attributes: bias, bias_std, accuracy, auc, f1, n_pos_train, n_pos_test, iterations,
//                                 converged (0/1), solver ("dposv" | "dgelsd")
//   root attributes: kind ("ridge" | "logistic"), hook, acts, labels, lambda, test_frac, seed, d,
//                    n_seq, n_train_tokens, n_test_tokens, command
#ifndef MS_PROBES_PROBE_H
#define MS_PROBES_PROBE_H
#include <stdint.h>

typedef struct {
    const char *acts, *labels, *hook; // hook NULL: the file's only hook
    const char *concept;              // NULL: every concept in the labels file
    int logistic;
    double lambda;                    // L2 penalty on standardised weights (default 1e-2)
    double test_frac;                 // fraction of sequences held out (default 0.2)
    uint64_t seed;
    int max_iter;                     // logistic Newton iterations (default 50)
    int64_t block;                    // tokens per streamed block (default 4096)
} ms_probe_opts;

typedef struct {
    char *concept;
    double *weight, *weight_std;      // (d)
    double bias, bias_std;
    double accuracy, auc, f1;
    int64_t n_pos_train, n_pos_test;
    int iterations, converged;        // converged: ridge always; logistic when the step fell below 1e-9
    const char *solver;               // "dposv" or "dgelsd" (static string)
} ms_probe_fit;

typedef struct {
    int logistic, d;
    char *hook;
    double lambda, test_frac;
    uint64_t seed;
    int64_t n_seq, n_train, n_test;   // sequences; tokens of each split
    double *mean, *std;               // (d)
    uint8_t *split;                   // (n_seq) 1 = test
    int n_fits;
    ms_probe_fit *fits;               // (n_fits)
} ms_probe_set;

// Fits the probes; NULL + ms_error.
ms_probe_set *ms_probe_train(const ms_probe_opts *o);
void ms_probe_set_free(ms_probe_set *p);
// probe.h5: written atomically / read back. 0 / -1 + ms_error; NULL + ms_error.
int ms_probe_save(const char *path, const ms_probe_set *p, const ms_probe_opts *o);
ms_probe_set *ms_probe_load(const char *path);

// Held-out metrics of scores s (n) against labels y (0/1) at threshold thr: accuracy, F1 and the
// rank AUC (ties get their average rank; 0.5 when a class is empty).
void ms_probe_metrics(const double *s, const uint8_t *y, int64_t n, double thr, double *acc, double *auc, double *f1);

#endif
