// viz.h: the figure commands as library calls (`monoscope viz heatmap|text|dashboard`; summary
// is summary.h): inputs (SAE, activations file or model + text) in, PNG files out, each PNG
// carrying its inputs in text chunks. The CLI parses options and calls one of these.
#ifndef MS_VIZ_VIZ_H
#define MS_VIZ_VIZ_H
#include <stddef.h>
#include <stdint.h>
#include "probes/pca.h"
#include "probes/sweep.h"
#include "sae/sae.h"

// Returned when the request does not fit the data (a feature index past d_sae, too many tokens
// for one figure): a usage error, with ms_error() set. Other failures return -1.
#define MS_VIZ_BAD_REQUEST (-2)

// ---- the tokens of one text or captured sequence and their feature activations
typedef struct {
    const char *sae_path;
    const char *acts_path;   // either an activations file and seq ...
    long seq;
    const char *model_path;  // ... or a model run on text
    const char *text;
    int prepend_bos;         // text: prepend the tokenizer's BOS (as capture --prepend-bos)
    const char *hook;        // the site when the SAE file does not name one (NULL)
    long pos_a, pos_b;       // positions to keep; -1: from the start / to the end (at most 200 then)
} ms_viz_source_opts;

typedef struct {
    ms_sae *sae;
    char hook[256], model_name[256];
    int n;            // tokens kept
    int32_t *ids;     // (n)
    char **bytes;     // (n) each token's bytes, NUL-terminated ("<bos>" for BOS on the model path)
    size_t *lens;     // (n)
    float *codes;     // (n, d_sae) feature activations
} ms_viz_source;

int ms_viz_source_load(ms_viz_source *s, const ms_viz_source_opts *o);
void ms_viz_source_free(ms_viz_source *s);

// The top features by their largest activation over n tokens of codes (n, D), among those that
// fire (> 0), largest first; returns how many (<= top) into feat.
int ms_viz_top_features(const float *codes, int n, int D, int top, int *feat);

// ---- heatmap: features x tokens
typedef struct {
    ms_viz_source_opts src;
    const int *features;  // rows in this order, or NULL: the `top` features that fire most
    int n_features;
    int top;              // with features == NULL (<= 0: 10)
    double scale;         // dpi / 100
    const char *out;      // the PNG
} ms_viz_heatmap_opts;
typedef struct { int width, height, n_rows, n_tokens; } ms_viz_written;
int ms_viz_heatmap_png(const ms_viz_heatmap_opts *o, ms_viz_written *w);

// ---- text: the tokens as running text shaded by one feature
typedef struct {
    ms_viz_source_opts src;
    int feature;
    int width;            // page width in pixels at 100 dpi
    double scale;
    const char *out;
} ms_viz_text_opts;
int ms_viz_text_png(const ms_viz_text_opts *o, ms_viz_written *w);

// ---- dashboard: one page per feature + index pages, from streaming passes over an activations file
typedef struct {
    const char *sae_path, *acts_path;
    const ms_sae *sae;        // loaded from sae_path by the caller (which checks features against d_sae)
    const char *model_path;   // NULL: no logit lens
    const char *hook;         // the site when the SAE names none (NULL)
    const int *features;      // (n_features) indices < d_sae
    int n_features;
    int top_k, context;       // examples per feature, tokens either side
    int64_t mem_mb;           // budget for statistics and codes: features beyond it go in groups
    int64_t max_tokens;       // whole sequences up to this many tokens (0: all)
    uint64_t seed;            // of the reservoir sampling
    double scale;
    const char *out_dir;      // created if missing
} ms_viz_dashboard_opts;
typedef struct {
    int n_pages, n_index_pages;
    int64_t n_tokens;
    double t_stats, t_render; // seconds
} ms_viz_dashboard_report;
int ms_viz_dashboard(const ms_viz_dashboard_opts *o, ms_viz_dashboard_report *r);

// `viz match` (match_fig.c): the SAE file's /match (sae/match.h) as one PNG; its "Layout" text chunk:
// "rows=C x0=… axis_w=… y0=… row_h=… bar_h=…" (concept k's bar spans x0 .. x0 + F1·axis_w, centred
// in the row at y0 + k·row_h). 0 / -1 + ms_error (no /match: run `sae match` first).
int ms_viz_match_png(const char *sae_path, const char *out, double scale, const char *inputs, ms_viz_written *w);

// `probe sweep`'s figure (sweep_fig.c): held-out F1 against the layer, one line per concept; its
// "Layout" chunk: "area=x,y,w,h xr=lo,hi yr=lo,hi pt<k>_<i>=x,y" (concept k at site i). 0 / -1.
int ms_viz_probe_sweep_png(const ms_probe_sweep *r, const char *path, double scale, const char *inputs);

// `pca --figures DIR` (pca_fig.c): the scree figure, and tokens on PC1 × PC2 (xy (n, 2) from
// ms_pca_project2) coloured by is_concept (NULL: one colour). "Layout" chunks: "area=x,y,w,h xr=lo,hi
// yr=lo,hi", then "bar<c>=x,y" (scree: top centre of component c's bar) or "n=N concept=M". 0 / -1.
int ms_viz_pca_scree_png(const ms_pca *p, const char *path, double scale, const char *inputs);
int ms_viz_pca_scatter_png(const ms_pca *p, const double *xy, const uint8_t *is_concept, int64_t n, const char *concept,
                           const char *path, double scale, const char *inputs);

#endif
