// pca.h: principal components of one hook site's activations (README "Probes and concepts").
//
// The covariance Σ (x - μ)(x - μ)ᵀ / (n - 1) over every real token (padding skipped) is accumulated in
// float64 over streamed blocks (memory O(d² + block·d)); its top k eigenpairs come from LAPACKE_dsyevr.
// Components are unit rows, sign fixed so each one's largest-magnitude entry is positive.
//
// pca.h5 (this module owns it): /components float64 [k, d] (descending variance), /explained_variance
// float64 [k], /explained_variance_ratio float64 [k] (of the total variance, the covariance's trace),
// /mean float64 [d]; root attributes hook, acts, k, d, n_tokens, total_variance, command.
#ifndef MS_PROBES_PCA_H
#define MS_PROBES_PCA_H
#include <stdint.h>

typedef struct {
    int k, d;
    int64_t n_tokens;
    double total_variance;
    double *components;  // (k, d)
    double *variance;    // (k)
    double *mean;        // (d)
    char *hook;
} ms_pca;

// k <= 0: every component. NULL + ms_error.
ms_pca *ms_pca_fit(const char *acts, const char *hook, int k, int64_t block);
int ms_pca_save(const char *path, const ms_pca *p, const char *acts);
void ms_pca_free(ms_pca *p);

// Tokens on the first two components, for the scatter figure: xy (n, 2) = ((x − μ)·c₀, (x − μ)·c₁) of
// every real token, in sequence order, keeping every ⌈n_tokens / max_points⌉-th; with labels (a
// labels file of the same windows, checked against /tokens) and concept, is_concept (n) = its label
// there, else NULL. Returns n, -1 + ms_error. The caller frees *xy and *is_concept.
int64_t ms_pca_project2(const ms_pca *p, const char *acts, const char *labels, const char *concept, int64_t max_points,
                        double **xy, uint8_t **is_concept);

#endif
