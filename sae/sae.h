// sae.h: a sparse autoencoder (one dictionary for one hook site), its encode/decode, and its
// HDF5 file (README "On-disk formats", SAE file).
//
//   pre  = (x - b_dec) · W_enc + b_enc                   (N, d_sae)
//   topk:      f = the k largest of relu(pre), the rest 0
//   batchtopk: f = pre · [pre > threshold]   (inference; training selects the top N·k of the batch)
//   jumprelu:  f = pre · [pre > threshold]
//   relu:      f = relu(pre)
//   x̂    = f · W_dec + b_dec                              (N, d_in)
//
// Weights are float32, W_enc [d_in, d_sae] and W_dec [d_sae, d_in] row-major, exactly as stored on
// disk, with the activation normalisation already folded in (the saved dictionary applies to the
// raw activations).
#ifndef MS_SAE_H
#define MS_SAE_H
#include <stddef.h>
#include <stdint.h>

typedef enum { MS_SAE_TOPK = 0, MS_SAE_BATCHTOPK, MS_SAE_JUMPRELU, MS_SAE_RELU, MS_SAE_ARCH_COUNT } ms_sae_arch;
const char *ms_sae_arch_name(ms_sae_arch a);          // "topk", "batchtopk", "jumprelu", "relu"
int ms_sae_arch_parse(const char *s, ms_sae_arch *a); // 0, or -1 + ms_error
// 1 for architectures whose file carries /threshold (jumprelu, batchtopk).
int ms_sae_arch_has_threshold(ms_sae_arch a);

// A provenance / hyperparameter attribute, written as an HDF5 root attribute of its type.
typedef enum { MS_ATTR_INT = 0, MS_ATTR_FLOAT, MS_ATTR_STR } ms_attr_type;
typedef struct {
    char *name;
    ms_attr_type type;
    int64_t i;
    double f;
    char *s;
} ms_sae_attr;

typedef struct ms_sae {
    ms_sae_arch arch;
    int d_in, d_sae;
    int k;                 // topk/batchtopk: active latents per token; 0 otherwise
    float *W_enc;          // (d_in, d_sae)
    float *W_dec;          // (d_sae, d_in)
    float *b_enc;          // (d_sae)
    float *b_dec;          // (d_in)
    float *threshold;      // (d_sae) for jumprelu/batchtopk, NULL otherwise
    // Every other root attribute (hook, model, tokens_seen, hyperparameters, version, command ...).
    // The core attributes architecture/d_in/d_sae/k are written from the fields above.
    ms_sae_attr *attrs;
    int n_attrs;
    // /training_log: rows x cols float64, column names in log_columns (NULL when absent)
    double *log;
    int log_rows, log_cols;
    char **log_columns;
    // /eval as `sae eval` stored it, carried whole so that load -> save and SAELens export -> import
    // keep it exactly (sae/eval.h reads it as metrics); NULL when the file has none.
    struct ms_sae_eval_group *eval;
} ms_sae;

typedef struct ms_sae_eval_group {
    ms_sae_attr *attrs;   // /eval's scalar attributes (by name)
    int n_attrs;
    double *density;      // (d_sae) /eval/feature_density, or NULL
    int64_t *hist;        // (n_hist) /eval/density_hist, or NULL
    int n_hist;
} ms_sae_eval_group;
// Replaces the SAE's /eval (g malloc'ed, owned by the SAE from now on; NULL: none).
void ms_sae_set_eval(ms_sae *s, ms_sae_eval_group *g);

// Allocates a zeroed SAE (threshold allocated when the architecture has one).
ms_sae *ms_sae_new(ms_sae_arch arch, int d_in, int d_sae, int k);
void ms_sae_free(ms_sae *s);

// Attribute lists (the root's and /eval's): the slot named `name` in (*v, *n), emptied for a new
// value, appended when absent; then one of the typed setters.
ms_sae_attr *ms_sae_attr_slot(ms_sae_attr **v, int *n, const char *name);
void ms_sae_attr_set_int(ms_sae_attr *a, int64_t v);
void ms_sae_attr_set_float(ms_sae_attr *a, double v);
void ms_sae_attr_set_str(ms_sae_attr *a, const char *v);
void ms_sae_attrs_free(ms_sae_attr *v, int n);
// Attributes: set replaces an existing attribute of the same name.
void ms_sae_set_attr_int(ms_sae *s, const char *name, int64_t v);
void ms_sae_set_attr_float(ms_sae *s, const char *name, double v);
void ms_sae_set_attr_str(ms_sae *s, const char *name, const char *v);
const ms_sae_attr *ms_sae_attr_get(const ms_sae *s, const char *name); // NULL if absent
// Convenience: the attribute as a string (NULL if absent or not a string), as a number (def if absent).
const char *ms_sae_attr_str(const ms_sae *s, const char *name);
double ms_sae_attr_num(const ms_sae *s, const char *name, double def);

// Copies a training log (rows x cols, row-major) and its column names into the SAE.
void ms_sae_set_log(ms_sae *s, const double *log, int rows, int cols, const char *const *columns);

// ---- encode / decode (N tokens at a time; OpenMP, the encoder product through enc_gemm.h (oneDNN
// or OpenBLAS); thread-safe, allocates its scratch; -1 + ms_error if the product fails)
// Dense codes f (N, d_sae).
int ms_sae_encode(const ms_sae *s, const float *x, int64_t n, float *f);
// Pre-activations only: pre (N, d_sae) = (x - b_dec) W_enc + b_enc.
int ms_sae_preact(const ms_sae *s, const float *x, int64_t n, float *pre);
// x̂ (N, d_in) from dense codes.
void ms_sae_decode(const ms_sae *s, const float *f, int64_t n, float *xhat);

// Sparse codes of N tokens in CSR form: token t's active latents are idx[row[t] .. row[t+1]),
// with values val[...], ascending latent index within a token.
typedef struct {
    int64_t n;        // tokens
    int d_sae;
    int64_t *row;     // (n + 1)
    int32_t *idx;     // (nnz)
    float *val;       // (nnz)
    int64_t nnz, cap;
} ms_sae_codes;
void ms_sae_codes_free(ms_sae_codes *c); // frees the arrays, not the struct
// Encodes N tokens into sparse codes (c is (re)filled; zero-initialise it before first use).
int ms_sae_encode_sparse(const ms_sae *s, const float *x, int64_t n, ms_sae_codes *c);
// x̂ (c->n, d_in) from sparse codes (sparse-dense product, O(nnz · d_in)).
void ms_sae_decode_sparse(const ms_sae *s, const ms_sae_codes *c, float *xhat);

// In place: from the pre-activations of N tokens to codes, per the architecture's inference rule.
void ms_sae_activate(const ms_sae *s, float *pre, int64_t n);

// An encoder for many calls on one SAE: W_enc laid out for the product and b_dec folded into the
// encoder bias once, not once per call (ms_sae_encode, ms_sae_preact and ms_sae_encode_sparse build
// one per call). One caller at a time; the SAE must outlive it and not change.
typedef struct ms_sae_encoder ms_sae_encoder;
ms_sae_encoder *ms_sae_encoder_new(const ms_sae *s); // NULL + ms_error
void ms_sae_encoder_free(ms_sae_encoder *e);
int ms_sae_encoder_preact(ms_sae_encoder *e, const float *x, int64_t n, float *pre);
int ms_sae_encoder_dense(ms_sae_encoder *e, const float *x, int64_t n, float *f);
int ms_sae_encoder_sparse(ms_sae_encoder *e, const float *x, int64_t n, ms_sae_codes *c);

// ---- file (sae_io.c)
// Writes the README layout + every attribute + /training_log, atomically (temp + rename).
int ms_sae_save(const ms_sae *s, const char *path);
// Reads and validates a file (shapes consistent, architecture known). NULL + ms_error on failure.
ms_sae *ms_sae_load(const char *path);

#endif
