// dashboard.h: per-feature dashboards from one streaming pass over an activation corpus.
//
// Statistics per feature, bounded in memory whatever the corpus size:
//   top-k heap      the k largest activations with their context (±N tokens: ids and the
//                   feature's activation on each), copied when an example enters the heap
//   log histogram   counts of positive activations in MS_DASH_BINS bins of width 1/8 octave over
//                   [2^-16, 2^16) (values outside are clamped to the end bins): the quantile sketch
//                   (relative error < 9 %) and the histogram that is drawn
//   interval pool   one example per histogram bin kept by reservoir sampling (each positive
//                   activation in that bin has equal probability of being the one kept), from which
//                   (with the top-k) examples of each quantile interval are drawn
//   counts          tokens seen, tokens where the feature fires (> 0), sum and max of activations
// A group of features costs ms_dash_bytes_per_feature() each; callers size groups to a budget and
// make one pass per group.
#ifndef MS_VIZ_DASHBOARD_H
#define MS_VIZ_DASHBOARD_H
#include <stddef.h>
#include <stdint.h>
#include "render/canvas.h"
#include "viz/figure.h"
#include "viz/tokens.h"

#define MS_DASH_BINS 256
#define MS_DASH_LOG2_LO (-16)
#define MS_DASH_PER_OCTAVE 8
#define MS_DASH_POOL MS_DASH_BINS // one reservoir slot per histogram bin

typedef struct {
    float v;          // activation at the centre token
    int32_t ctx_len;  // tokens stored in the window
    int32_t centre;   // index of the centre token within the window
    int64_t seq;      // sequence index in the corpus
    int32_t pos;      // position in the sequence
} ms_dash_ex;

typedef struct {
    int k, context, n_feat;
    int win;             // 2 * context + 1
    int *feat;           // (n_feat) feature indices of this group
    ms_dash_ex *top;     // (n_feat, k) min-heap on v
    int *n_top;
    ms_dash_ex *pool;    // (n_feat, MS_DASH_POOL)
    uint64_t *pool_seen; // (n_feat, MS_DASH_POOL)
    int32_t *ids;        // (n_feat, k + MS_DASH_POOL, win) context token ids of every slot
    float *acts;         // (n_feat, k + MS_DASH_POOL, win) the feature's activation on them
    uint64_t *hist;      // (n_feat, MS_DASH_BINS)
    uint64_t *n_fire;
    double *sum;
    float *max;
    uint64_t n_tokens;
    uint64_t seed;
} ms_dash_stats;

size_t ms_dash_bytes_per_feature(int k, int context);
ms_dash_stats *ms_dash_new(const int *feat, int n_feat, int k, int context, uint64_t seed);
void ms_dash_free(ms_dash_stats *s);
// Feeds n_seq whole sequences of ctx tokens: codes (n_seq*ctx, d_sae) dense feature activations,
// ids (n_seq*ctx) token ids; seq0 = corpus index of the first sequence. OpenMP over features.
void ms_dash_feed(ms_dash_stats *s, const float *codes, int d_sae, const int32_t *ids, int64_t seq0, int n_seq, int ctx);
// Approximate q-quantile (0..1) of the positive activations of group feature g from the histogram.
double ms_dash_quantile(const ms_dash_stats *s, int g, double q);
// Top examples of group feature g sorted by decreasing activation; returns the count (<= k).
int ms_dash_sorted_top(const ms_dash_stats *s, int g, int *slots);

// What a page shows besides the statistics.
typedef struct {
    const char *title;      // "Feature 12"
    const char *subtitle;   // "SAE … · hook … · model …"
    // token id -> bytes (NULL: show "#id")
    const char *const *vocab;
    const size_t *vocab_lens;
    int n_vocab;
    // logit lens (n_logit each; 0: section omitted)
    int n_logit;
    const char *const *pos_tok; const float *pos_val;
    const char *const *neg_tok; const float *neg_val;
    const char *logit_note; // how the directions were computed, printed under the section
    double scale;
    const ms_fig_fonts *fonts; // opened once by the caller for many pages (NULL: opened per page)
} ms_dash_page;

// Renders the page of group feature g. NULL + ms_error() on failure.
ms_canvas *ms_dash_render(const ms_dash_stats *s, int g, const ms_dash_page *page);

// Index (contact sheet): one row per feature with density, max and its top context. Rows are
// collected across feature groups (ms_dash_index_row_from), so the index covers every feature.
typedef struct {
    int feature;
    double density;       // fraction of tokens where it fires
    float max;
    int ctx_len, centre;
    int32_t *ids;         // (ctx_len) malloc'ed
    float *acts;          // (ctx_len)
} ms_dash_index_row;
void ms_dash_index_row_from(const ms_dash_stats *s, int g, ms_dash_index_row *r);
void ms_dash_index_row_free(ms_dash_index_row *r);
typedef struct {
    const char *title, *subtitle;
    const char *const *vocab;
    const size_t *vocab_lens;
    int n_vocab;
    double scale;
    const ms_fig_fonts *fonts; // NULL: opened per page
} ms_dash_index;
// Renders rows[0..n) as one page (callers page by 100 rows).
ms_canvas *ms_dash_render_index(const ms_dash_index_row *rows, int n, const ms_dash_index *ix);

// Token labels of a context window (visible mode), decoded with the vocabulary.
ms_token_label *ms_dash_context_labels(const int32_t *ids, int n, const char *const *vocab, const size_t *lens,
                                       int n_vocab);

#endif
