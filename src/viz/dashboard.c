// dashboard.c: see dashboard.h.
#include "viz/dashboard.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "render/colormap.h"
#include "render/plot.h"
#include "render/text.h"
#include "util/util.h"
#include "viz/figure.h"

#define SLOTS(s) ((s)->k + MS_DASH_POOL)

size_t ms_dash_bytes_per_feature(int k, int context) {
    size_t win = (size_t)(2 * context + 1);
    return (size_t)(k + MS_DASH_POOL) * (sizeof(ms_dash_ex) + win * 8) + MS_DASH_POOL * 8 + MS_DASH_BINS * 8 + 64;
}

ms_dash_stats *ms_dash_new(const int *feat, int n_feat, int k, int context, uint64_t seed) {
    ms_dash_stats *s = ms_calloc(1, sizeof *s);
    s->k = k < 1 ? 1 : k;
    s->context = context < 0 ? 0 : context;
    s->win = 2 * s->context + 1;
    s->n_feat = n_feat;
    s->seed = seed;
    size_t F = (size_t)n_feat;
    s->feat = ms_malloc(F * sizeof *s->feat);
    memcpy(s->feat, feat, F * sizeof *s->feat);
    s->top = ms_calloc(F * s->k, sizeof *s->top);
    s->n_top = ms_calloc(F, sizeof *s->n_top);
    s->pool = ms_calloc(F * MS_DASH_POOL, sizeof *s->pool);
    s->pool_seen = ms_calloc(F * MS_DASH_POOL, sizeof *s->pool_seen);
    s->ids = ms_calloc(F * SLOTS(s) * s->win, sizeof *s->ids);
    s->acts = ms_calloc(F * SLOTS(s) * s->win, sizeof *s->acts);
    s->hist = ms_calloc(F * MS_DASH_BINS, sizeof *s->hist);
    s->n_fire = ms_calloc(F, sizeof *s->n_fire);
    s->sum = ms_calloc(F, sizeof *s->sum);
    s->max = ms_calloc(F, sizeof *s->max);
    return s;
}

void ms_dash_free(ms_dash_stats *s) {
    if (!s) return;
    free(s->feat); free(s->top); free(s->n_top); free(s->pool); free(s->pool_seen);
    free(s->ids); free(s->acts); free(s->hist); free(s->n_fire); free(s->sum); free(s->max);
    free(s);
}

static inline int bin_of(float v) {
    int b = (int)floorf((log2f(v) - MS_DASH_LOG2_LO) * MS_DASH_PER_OCTAVE);
    return b < 0 ? 0 : b >= MS_DASH_BINS ? MS_DASH_BINS - 1 : b;
}
static double bin_lo(int b) { return exp2((double)b / MS_DASH_PER_OCTAVE + MS_DASH_LOG2_LO); }

static inline uint64_t mix64(uint64_t x) { // splitmix64 finaliser
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// copies the window around (row t of sequence sq) into slot `slot` of group feature g
static void store_ctx(ms_dash_stats *s, int g, int slot, ms_dash_ex *ex, float v, const float *codes, int d_sae,
                      const int32_t *ids, int64_t seq0, int sq, int t, int ctx) {
    int a = t - s->context < 0 ? 0 : t - s->context, b = t + s->context >= ctx ? ctx - 1 : t + s->context;
    while (b > t && ids && ids[(size_t)sq * ctx + b] < 0) b--; // the context ends where the sequence does
    ex->v = v;
    ex->seq = seq0 + sq;
    ex->pos = t;
    ex->ctx_len = b - a + 1;
    ex->centre = t - a;
    size_t base = ((size_t)g * SLOTS(s) + slot) * s->win;
    int f = s->feat[g];
    for (int i = a; i <= b; i++) {
        size_t row = (size_t)sq * ctx + i;
        s->ids[base + i - a] = ids ? ids[row] : 0;
        s->acts[base + i - a] = codes[row * d_sae + f];
    }
}

// min-heap on v over the k top slots of feature g (slot index = heap position)
static void heap_swap(ms_dash_stats *s, int g, int i, int j) {
    ms_dash_ex *h = s->top + (size_t)g * s->k;
    ms_dash_ex t = h[i]; h[i] = h[j]; h[j] = t;
    size_t bi = ((size_t)g * SLOTS(s) + i) * s->win, bj = ((size_t)g * SLOTS(s) + j) * s->win;
    for (int w = 0; w < s->win; w++) {
        int32_t ti = s->ids[bi + w]; s->ids[bi + w] = s->ids[bj + w]; s->ids[bj + w] = ti;
        float ta = s->acts[bi + w]; s->acts[bi + w] = s->acts[bj + w]; s->acts[bj + w] = ta;
    }
}
static void sift_up(ms_dash_stats *s, int g, int i) {
    ms_dash_ex *h = s->top + (size_t)g * s->k;
    while (i > 0 && h[(i - 1) / 2].v > h[i].v) { heap_swap(s, g, i, (i - 1) / 2); i = (i - 1) / 2; }
}
static void sift_down(ms_dash_stats *s, int g, int i, int n) {
    ms_dash_ex *h = s->top + (size_t)g * s->k;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].v < h[m].v) m = l;
        if (r < n && h[r].v < h[m].v) m = r;
        if (m == i) return;
        heap_swap(s, g, i, m);
        i = m;
    }
}

// one token's activation of group feature g (already known to be > 0)
static inline void feed_one(ms_dash_stats *s, int g, float v, const float *codes, int d_sae, const int32_t *ids,
                            int64_t seq0, int sq, int t, int ctx) {
    int f = s->feat[g];
    ms_dash_ex *h = s->top + (size_t)g * s->k;
    s->n_fire[g]++;
    s->sum[g] += v;
    if (v > s->max[g]) s->max[g] = v;
    int b = bin_of(v);
    s->hist[(size_t)g * MS_DASH_BINS + b]++;
    int pb = b * MS_DASH_POOL / MS_DASH_BINS;
    uint64_t seen = ++s->pool_seen[(size_t)g * MS_DASH_POOL + pb];
    if (seen == 1 || mix64(s->seed ^ ((uint64_t)f << 40) ^ seen ^ ((uint64_t)pb << 32)) % seen == 0)
        store_ctx(s, g, s->k + pb, &s->pool[(size_t)g * MS_DASH_POOL + pb], v, codes, d_sae, ids, seq0, sq, t, ctx);
    int n = s->n_top[g];
    if (n < s->k) {
        store_ctx(s, g, n, &h[n], v, codes, d_sae, ids, seq0, sq, t, ctx);
        s->n_top[g] = n + 1;
        sift_up(s, g, n);
    } else if (v > h[0].v) {
        store_ctx(s, g, 0, &h[0], v, codes, d_sae, ids, seq0, sq, t, ctx);
        sift_down(s, g, 0, n);
    }
}

void ms_dash_feed(ms_dash_stats *s, const float *codes, int d_sae, const int32_t *ids, int64_t seq0, int n_seq, int ctx) {
    // Each thread owns a contiguous block of the group's features and walks the rows in order,
    // reading its block of each row: the codes stream through the cache once per thread (a loop
    // per feature would re-read every row's cache line once per feature). Results do not depend
    // on the thread count: the reservoir draws are a hash of (seed, feature, count).
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), tid = omp_get_thread_num();
        int g0 = (int)((int64_t)s->n_feat * tid / nt), g1 = (int)((int64_t)s->n_feat * (tid + 1) / nt);
        for (int sq = 0; sq < n_seq; sq++)
            for (int t = 0; t < ctx; t++) {
                if (ids && ids[(size_t)sq * ctx + t] < 0) continue; // padding is not data
                const float *row = codes + ((size_t)sq * ctx + t) * d_sae;
                for (int g = g0; g < g1; g++) {
                    float v = row[s->feat[g]];
                    if (v > 0) feed_one(s, g, v, codes, d_sae, ids, seq0, sq, t, ctx);
                }
            }
    }
    uint64_t n_real = (uint64_t)n_seq * ctx;
    if (ids)
        for (size_t i = 0; i < (size_t)n_seq * ctx; i++) n_real -= ids[i] < 0;
    s->n_tokens += n_real;
}

double ms_dash_quantile(const ms_dash_stats *s, int g, double q) {
    const uint64_t *h = s->hist + (size_t)g * MS_DASH_BINS;
    uint64_t n = s->n_fire[g];
    if (!n) return 0;
    double target = q * (double)n, cum = 0;
    for (int b = 0; b < MS_DASH_BINS; b++) {
        if (!h[b]) continue;
        if (cum + h[b] >= target) { // geometric interpolation inside the bin
            double u = (target - cum) / h[b];
            double v = bin_lo(b) * exp2(u / MS_DASH_PER_OCTAVE);
            return v < s->max[g] ? v : s->max[g];
        }
        cum += h[b];
    }
    return s->max[g];
}

static int cmp_desc(const void *a, const void *b, void *ctx) {
    const ms_dash_ex *h = ctx;
    float x = h[*(const int *)a].v, y = h[*(const int *)b].v;
    return x < y ? 1 : x > y ? -1 : 0;
}

int ms_dash_sorted_top(const ms_dash_stats *s, int g, int *slots) {
    int n = s->n_top[g];
    for (int i = 0; i < n; i++) slots[i] = i;
    qsort_r(slots, (size_t)n, sizeof *slots, cmp_desc, s->top + (size_t)g * s->k);
    return n;
}

ms_token_label *ms_dash_context_labels(const int32_t *ids, int n, const char *const *vocab, const size_t *lens, int n_vocab) {
    const char **b = ms_malloc((size_t)(n > 0 ? n : 1) * sizeof *b);
    size_t *l = ms_malloc((size_t)(n > 0 ? n : 1) * sizeof *l);
    char (*tmp)[16] = ms_malloc((size_t)(n > 0 ? n : 1) * sizeof *tmp);
    for (int i = 0; i < n; i++) {
        if (vocab && ids[i] >= 0 && ids[i] < n_vocab) { b[i] = vocab[ids[i]]; l[i] = lens[ids[i]]; }
        else { snprintf(tmp[i], sizeof tmp[i], "#%d", ids[i]); b[i] = tmp[i]; l[i] = strlen(tmp[i]); }
    }
    ms_token_label *out = ms_token_labels(b, l, n, 1); // spaces stay spaces; newlines show as ↵
    free(b); free(l); free(tmp);
    return out;
}

// One context on one line of width w: tokens shaded by act / vmax, the centre boxed; if the
// window is wider than the line, tokens are dropped from the ends, keeping the centre visible.
static void draw_context(ms_canvas *c, ms_font *font, double s, int x, int y, int w, const int32_t *ids,
                         const float *acts, int n, int centre, double vmax, const char *const *vocab,
                         const size_t *lens, int n_vocab) {
    ms_token_label *lab = ms_dash_context_labels(ids, n, vocab, lens, n_vocab);
    int *tw = ms_malloc((size_t)(n > 0 ? n : 1) * sizeof *tw);
    int pad = (int)lround(2 * s) > 0 ? (int)lround(2 * s) : 1;
    for (int i = 0; i < n; i++) tw[i] = ms_text_width(font, lab[i].text) + pad;
    if (tw[centre] > w) tw[centre] = w;
    int a = centre, b = centre, used = tw[centre];
    for (int grow = 1; grow;) { // alternately extend right then left while it fits
        grow = 0;
        if (b + 1 < n && used + tw[b + 1] <= w) { used += tw[++b]; grow = 1; }
        if (a - 1 >= 0 && used + tw[a - 1] <= w) { used += tw[--a]; grow = 1; }
    }
    int lh = ms_font_line_height(font), xx = x;
    for (int i = a; i <= b; i++) {
        double t = vmax > 0 && acts[i] > 0 ? acts[i] / vmax : 0;
        ms_canvas_fill_rect(c, xx, y, tw[i], lh + pad, ms_cmap_orange(t));
        char fit[512];
        ms_text_fit(font, lab[i].text, tw[i] - pad, fit, sizeof fit);
        ms_text_draw(c, font, xx + pad / 2, y + pad / 2, fit, MS_GREY(20));
        if (i == centre) ms_canvas_rect(c, xx, y, tw[i], lh + pad, pad > 1 ? pad / 2 : 1, MS_GREY(30));
        xx += tw[i];
    }
    ms_token_labels_free(lab, n);
    free(tw);
}

static void fmt_count(uint64_t v, char *buf, size_t n) { // 1234567 -> "1,234,567"
    char t[32];
    snprintf(t, sizeof t, "%llu", (unsigned long long)v);
    int len = (int)strlen(t), o = 0;
    for (int i = 0; i < len && o < (int)n - 2; i++) {
        if (i && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = t[i];
    }
    buf[o] = 0;
}

// The logit lens panel at (lx, y), lw wide, plot_h high: the decoder direction's top positive and
// negative tokens, as many rows as fit, and the page's note under them.
static void draw_logit_lens(ms_canvas *c, const ms_fig_fonts *f, const ms_dash_page *pg, int lx, int y, int lw, int plot_h) {
    ms_rgb ink = MS_GREY(20), grey = MS_GREY(90);
    int lh_n = ms_font_line_height(f->normal), lh_b = ms_font_line_height(f->bold), lh_s = ms_font_line_height(f->small);
    char buf[512], fit[1024];
    int ly = y;
    ms_text_draw(c, f->bold, lx, ly, "Logit lens of the decoder direction", ink);
    ly += lh_b + MS_PX(f, 4);
    int colw = (lw - MS_PX(f, 12)) / 2;
    ms_text_draw(c, f->normal, lx, ly, "top positive", MS_RGB(180, 40, 40));
    ms_text_draw(c, f->normal, lx + colw + MS_PX(f, 12), ly, "top negative", MS_RGB(40, 70, 170));
    ly += lh_n + MS_PX(f, 2);
    int rows = pg->n_logit, rh = lh_s + MS_PX(f, 1);
    int avail = plot_h - (ly - y) - (pg->logit_note ? lh_s + MS_PX(f, 4) : 0);
    if (rows * rh > avail) rows = avail / rh;
    for (int i = 0; i < rows; i++) {
        for (int side = 0; side < 2; side++) {
            const char *tk = side ? pg->neg_tok[i] : pg->pos_tok[i];
            float v = side ? pg->neg_val[i] : pg->pos_val[i];
            int cx = lx + side * (colw + MS_PX(f, 12));
            snprintf(buf, sizeof buf, "%+.3g", v);
            int vw = ms_text_width(f->small, buf);
            ms_text_draw_aligned(c, f->small, cx + colw, ly + i * rh, buf, side ? MS_RGB(40, 70, 170) : MS_RGB(180, 40, 40), 2);
            ms_text_fit(f->small, tk, colw - vw - MS_PX(f, 8), fit, sizeof fit);
            ms_canvas_fill_rect(c, cx, ly + i * rh, ms_text_width(f->small, fit) + MS_PX(f, 2), lh_s, MS_GREY(240));
            ms_text_draw(c, f->small, cx + MS_PX(f, 1), ly + i * rh, fit, ink);
        }
    }
    if (pg->logit_note) {
        ms_text_fit(f->small, pg->logit_note, lw, fit, sizeof fit);
        ms_text_draw(c, f->small, lx, y + plot_h - lh_s, fit, grey);
    }
}

// The activation histogram at (x, y), w x plot_h (bins of 1/8 doubling), or the note that the
// feature is dead.
static void draw_histogram(ms_canvas *c, const ms_fig_fonts *f, const uint64_t *hist, double dens, int x, int y, int w,
                           int plot_h) {
    ms_rgb ink = MS_GREY(20), grey = MS_GREY(90);
    int lh_b = ms_font_line_height(f->bold);
    char buf[512];
    int b0 = -1, b1 = -1;
    uint64_t hmax = 0;
    for (int b = 0; b < MS_DASH_BINS; b++)
        if (hist[b]) { if (b0 < 0) b0 = b; b1 = b; if (hist[b] > hmax) hmax = hist[b]; }
    ms_plot p;
    memset(&p, 0, sizeof p);
    snprintf(buf, sizeof buf, "Activation histogram (density %.3g %%)", 100 * dens);
    if (b0 >= 0) {
        double edges[MS_DASH_BINS + 1], ys[MS_DASH_BINS];
        int nb = b1 - b0 + 1;
        for (int b = 0; b <= nb; b++) edges[b] = bin_lo(b0 + b);
        for (int b = 0; b < nb; b++) ys[b] = (double)hist[b0 + b];
        // a log axis when the activations span more than a decade, else linear (same bins)
        int xlog = edges[nb] / edges[0] > 10;
        const char *xl = xlog ? "activation (log scale; bins of 1/8 doubling)" : "activation (bins of 1/8 doubling)";
        ms_plot_init(&p, c, f->small, f->normal, f->bold, f->s, x, y, w, plot_h, xlog ? edges[0] : 0, edges[nb], xlog, 0,
                     (double)hmax * 1.05, 0, buf, xl, "tokens");
        ms_plot_axes(&p, buf, xl, "tokens");
        ms_plot_bars(&p, edges, ys, nb, 0, MS_RGB(230, 120, 20));
    } else {
        ms_text_draw(c, f->bold, x, y, buf, ink);
        ms_text_draw(c, f->normal, x, y + lh_b + MS_PX(f, 8), "the feature never fires on this corpus (dead)", grey);
    }
}

#define N_INTERVALS 5
static const double q_edges[N_INTERVALS + 1] = {0, 0.5, 0.75, 0.9, 0.99, 1.0};

// Interval examples of feature g: for each quantile band [iv_lo, iv_hi) (the top one closed at the
// max), up to 2 examples, the band's highest and lowest candidate, as slots (pool slot j, or
// MS_DASH_POOL + heap slot) in iv_slots[i][0 .. iv_n[i]).
static void pick_interval_examples(const ms_dash_stats *s, int g, int iv_slots[][2], int *iv_n, double *iv_lo,
                                   double *iv_hi) {
    const ms_dash_ex *pool = s->pool + (size_t)g * MS_DASH_POOL;
    // candidates: the pooled examples first (a uniform sample within each bin), then the top-k
    // (the only examples of the narrow top interval on small corpora); within an interval the
    // highest and the lowest candidate are shown, so the pair spans it
    int nt_sorted_slots[1024];
    int n_sorted = ms_dash_sorted_top(s, g, nt_sorted_slots);
    for (int i = 0; i < N_INTERVALS; i++) {
        iv_lo[i] = ms_dash_quantile(s, g, q_edges[i]);
        iv_hi[i] = ms_dash_quantile(s, g, q_edges[i + 1]);
        if (i == N_INTERVALS - 1) iv_hi[i] = s->max[g];
        iv_n[i] = 0;
        int lo_j = -1, hi_j = -1;
        for (int pass = 0; pass < 2 && lo_j < 0; pass++) {
            int nc = pass ? n_sorted : MS_DASH_POOL;
            for (int jj = 0; jj < nc; jj++) {
                int j = pass ? MS_DASH_POOL + nt_sorted_slots[jj] : jj; // pool slot j, or MS_DASH_POOL + heap slot
                float v;
                if (!pass) {
                    if (!s->pool_seen[(size_t)g * MS_DASH_POOL + j]) continue;
                    v = pool[j].v;
                } else {
                    v = s->top[(size_t)g * s->k + nt_sorted_slots[jj]].v;
                }
                // bands are [lo, hi), the top one [lo, max]: when the 99 % quantile is the max itself
                // (few firings, or the last histogram bin), the max still falls in the top band
                if (v < iv_lo[i] || (i < N_INTERVALS - 1 ? v >= iv_hi[i] : v > iv_hi[i])) continue;
                float vlo = lo_j < 0 ? 0 : (lo_j >= MS_DASH_POOL ? s->top[(size_t)g * s->k + lo_j - MS_DASH_POOL].v : pool[lo_j].v);
                float vhi = hi_j < 0 ? 0 : (hi_j >= MS_DASH_POOL ? s->top[(size_t)g * s->k + hi_j - MS_DASH_POOL].v : pool[hi_j].v);
                if (lo_j < 0 || v < vlo) lo_j = j;
                if (hi_j < 0 || v > vhi) hi_j = j;
            }
        }
        if (hi_j >= 0) iv_slots[i][iv_n[i]++] = hi_j;
        if (lo_j >= 0 && lo_j != hi_j) iv_slots[i][iv_n[i]++] = lo_j;
    }
}

ms_canvas *ms_dash_render(const ms_dash_stats *s, int g, const ms_dash_page *pg) {
    ms_fig_fonts F;
    if (!pg->fonts && ms_fig_fonts_open(&F, pg->scale) < 0) return NULL;
    const ms_fig_fonts *f = pg->fonts ? pg->fonts : &F;
    ms_font *cf = f->ctx;
    int pad = MS_PX(f, 16), W = MS_PX(f, 980), inner = W - 2 * pad;
    int lh_t = ms_font_line_height(f->title), lh_n = ms_font_line_height(f->normal), lh_b = ms_font_line_height(f->bold);
    int lh_s = ms_font_line_height(f->small);
    int row_h = ms_font_line_height(cf) + MS_PX(f, 2) + MS_PX(f, 4);
    int n_top_rows = s->n_top[g];
    // interval examples: up to 2 per interval from the pool, highest intervals first
    int iv_slots[N_INTERVALS][2], iv_n[N_INTERVALS];
    double iv_lo[N_INTERVALS], iv_hi[N_INTERVALS];
    pick_interval_examples(s, g, iv_slots, iv_n, iv_lo, iv_hi);
    const ms_dash_ex *pool = s->pool + (size_t)g * MS_DASH_POOL;
    int n_iv_rows = 0, n_iv_shown = 0;
    for (int i = 0; i < N_INTERVALS; i++) { n_iv_rows += iv_n[i] ? iv_n[i] : 1; n_iv_shown++; }
    int plot_h = MS_PX(f, 230);
    int H = pad + lh_t + MS_PX(f, 4) + lh_n + MS_PX(f, 4) + lh_n + MS_PX(f, 12) + plot_h + MS_PX(f, 14) +
            lh_b + MS_PX(f, 6) + (n_top_rows ? n_top_rows : 1) * row_h + MS_PX(f, 14) +
            lh_b + MS_PX(f, 6) + n_iv_shown * (lh_s + MS_PX(f, 2)) + n_iv_rows * row_h + pad;
    ms_canvas *c = ms_canvas_new(W, H, MS_WHITE);
    ms_rgb ink = MS_GREY(20), grey = MS_GREY(90);
    char buf[512], fit[1024];
    int y = pad;
    ms_text_fit(f->title, pg->title ? pg->title : "", inner, fit, sizeof fit);
    ms_text_draw(c, f->title, pad, y, fit, ink);
    y += lh_t + MS_PX(f, 4);
    ms_text_fit(f->normal, pg->subtitle ? pg->subtitle : "", inner, fit, sizeof fit);
    ms_text_draw(c, f->normal, pad, y, fit, grey);
    y += lh_n + MS_PX(f, 4);
    char ntok[32], nfire[32];
    fmt_count(s->n_tokens, ntok, sizeof ntok);
    fmt_count(s->n_fire[g], nfire, sizeof nfire);
    double dens = s->n_tokens ? (double)s->n_fire[g] / s->n_tokens : 0;
    snprintf(buf, sizeof buf, "density %.4g %% (fires on %s of %s tokens)   max %.4g   mean when active %.4g",
             100 * dens, nfire, ntok, s->max[g], s->n_fire[g] ? s->sum[g] / s->n_fire[g] : 0.0);
    ms_text_draw(c, f->normal, pad, y, buf, ink);
    y += lh_n + MS_PX(f, 12);
    // histogram (left) and logit lens (right)
    int hist_w = pg->n_logit > 0 ? inner * 58 / 100 : inner;
    draw_histogram(c, f, s->hist + (size_t)g * MS_DASH_BINS, dens, pad, y, hist_w, plot_h);
    if (pg->n_logit > 0)
        draw_logit_lens(c, f, pg, pad + hist_w + MS_PX(f, 24), y, inner - hist_w - MS_PX(f, 24), plot_h);
    y += plot_h + MS_PX(f, 14);
    // top-k contexts
    int val_w = MS_PX(f, 64), ctx_x = pad + val_w + MS_PX(f, 8), ctx_w = W - pad - ctx_x;
    snprintf(buf, sizeof buf, "Top %d activations (context \xc2\xb1%d tokens, the maximum boxed)", s->k, s->context);
    ms_text_draw(c, f->bold, pad, y, buf, ink);
    y += lh_b + MS_PX(f, 6);
    int slots[1024];
    int nt = ms_dash_sorted_top(s, g, slots);
    double vmax = s->max[g];
    for (int i = 0; i < nt; i++) {
        const ms_dash_ex *e = &s->top[(size_t)g * s->k + slots[i]];
        size_t base = ((size_t)g * SLOTS(s) + slots[i]) * s->win;
        snprintf(buf, sizeof buf, "%.3g", e->v);
        ms_text_draw_aligned(c, f->small, pad + val_w, y + MS_PX(f, 2), buf, ink, 2);
        draw_context(c, cf, f->s, ctx_x, y, ctx_w, s->ids + base, s->acts + base, e->ctx_len, e->centre, vmax,
                     pg->vocab, pg->vocab_lens, pg->n_vocab);
        y += row_h;
    }
    if (!nt) { ms_text_draw(c, f->normal, ctx_x, y, "(no activation above zero)", grey); y += row_h; }
    y += MS_PX(f, 14);
    ms_text_draw(c, f->bold, pad, y, "Examples from activation quantile intervals (of the tokens where it fires)", ink);
    y += lh_b + MS_PX(f, 6);
    for (int i = N_INTERVALS - 1; i >= 0; i--) {
        snprintf(buf, sizeof buf, "quantiles %g\xe2\x80\x93%g %%: activation %.3g \xe2\x80\x93 %.3g", 100 * q_edges[i],
                 100 * q_edges[i + 1], iv_lo[i], iv_hi[i]);
        ms_text_draw(c, f->small, pad, y, buf, grey);
        y += lh_s + MS_PX(f, 2);
        if (!iv_n[i]) {
            ms_text_draw(c, f->small, ctx_x, y + MS_PX(f, 2), "(no example sampled in this interval)", grey);
            y += row_h;
        }
        for (int j = 0; j < iv_n[i]; j++) {
            int sl = iv_slots[i][j];
            const ms_dash_ex *e = sl >= MS_DASH_POOL ? &s->top[(size_t)g * s->k + sl - MS_DASH_POOL] : &pool[sl];
            size_t base = ((size_t)g * SLOTS(s) + (sl >= MS_DASH_POOL ? sl - MS_DASH_POOL : s->k + sl)) * s->win;
            snprintf(buf, sizeof buf, "%.3g", e->v);
            ms_text_draw_aligned(c, f->small, pad + val_w, y + MS_PX(f, 2), buf, ink, 2);
            draw_context(c, cf, f->s, ctx_x, y, ctx_w, s->ids + base, s->acts + base, e->ctx_len, e->centre, vmax,
                         pg->vocab, pg->vocab_lens, pg->n_vocab);
            y += row_h;
        }
    }
    if (f == &F) ms_fig_fonts_close(&F);
    return c;
}

void ms_dash_index_row_from(const ms_dash_stats *s, int g, ms_dash_index_row *r) {
    memset(r, 0, sizeof *r);
    r->feature = s->feat[g];
    r->density = s->n_tokens ? (double)s->n_fire[g] / s->n_tokens : 0;
    r->max = s->max[g];
    int slots[1024];
    int n = ms_dash_sorted_top(s, g, slots);
    if (n > 0) {
        const ms_dash_ex *e = &s->top[(size_t)g * s->k + slots[0]];
        size_t base = ((size_t)g * SLOTS(s) + slots[0]) * s->win;
        r->ctx_len = e->ctx_len;
        r->centre = e->centre;
        r->ids = ms_malloc((size_t)e->ctx_len * sizeof *r->ids);
        r->acts = ms_malloc((size_t)e->ctx_len * sizeof *r->acts);
        memcpy(r->ids, s->ids + base, (size_t)e->ctx_len * sizeof *r->ids);
        memcpy(r->acts, s->acts + base, (size_t)e->ctx_len * sizeof *r->acts);
    }
}

void ms_dash_index_row_free(ms_dash_index_row *r) {
    free(r->ids);
    free(r->acts);
    r->ids = NULL;
    r->acts = NULL;
}

ms_canvas *ms_dash_render_index(const ms_dash_index_row *rows, int n, const ms_dash_index *ix) {
    ms_fig_fonts F;
    if (!ix->fonts && ms_fig_fonts_open(&F, ix->scale) < 0) return NULL;
    const ms_fig_fonts *f = ix->fonts ? ix->fonts : &F;
    ms_font *cf = f->ctx;
    int pad = MS_PX(f, 16), W = MS_PX(f, 980);
    int lh_t = ms_font_line_height(f->title), lh_n = ms_font_line_height(f->normal);
    int row_h = ms_font_line_height(cf) + MS_PX(f, 2) + MS_PX(f, 6);
    int H = pad + lh_t + MS_PX(f, 4) + lh_n + MS_PX(f, 10) + lh_n + MS_PX(f, 4) + (n > 0 ? n : 1) * row_h + pad;
    ms_canvas *c = ms_canvas_new(W, H, MS_WHITE);
    ms_rgb ink = MS_GREY(20), grey = MS_GREY(90);
    char buf[256], fit[1024];
    int y = pad;
    ms_text_fit(f->title, ix->title ? ix->title : "", W - 2 * pad, fit, sizeof fit);
    ms_text_draw(c, f->title, pad, y, fit, ink);
    y += lh_t + MS_PX(f, 4);
    ms_text_fit(f->normal, ix->subtitle ? ix->subtitle : "", W - 2 * pad, fit, sizeof fit);
    ms_text_draw(c, f->normal, pad, y, fit, grey);
    y += lh_n + MS_PX(f, 10);
    // columns: feature | density | max | top context
    int x_feat = pad + ms_text_width(f->normal, "#000000"), x_dens = x_feat + MS_PX(f, 90),
        x_max = x_dens + MS_PX(f, 70), x_ctx = x_max + MS_PX(f, 16);
    ms_text_draw_aligned(c, f->bold, x_feat, y, "feature", ink, 2);
    ms_text_draw_aligned(c, f->bold, x_dens, y, "density", ink, 2);
    ms_text_draw_aligned(c, f->bold, x_max, y, "max", ink, 2);
    ms_text_draw(c, f->bold, x_ctx, y, "top-activating context", ink);
    y += lh_n + MS_PX(f, 4);
    for (int i = 0; i < n; i++) {
        const ms_dash_index_row *r = &rows[i];
        if (i % 2) ms_canvas_fill_rect(c, pad, y - MS_PX(f, 2), W - 2 * pad, row_h, MS_GREY(246));
        snprintf(buf, sizeof buf, "#%d", r->feature);
        ms_text_draw_aligned(c, f->normal, x_feat, y, buf, ink, 2);
        if (r->density > 0) snprintf(buf, sizeof buf, "%.3g %%", 100 * r->density);
        else snprintf(buf, sizeof buf, "dead");
        ms_text_draw_aligned(c, f->normal, x_dens, y, buf, r->density > 0 ? ink : MS_RGB(180, 40, 40), 2);
        snprintf(buf, sizeof buf, "%.3g", r->max);
        ms_text_draw_aligned(c, f->normal, x_max, y, buf, ink, 2);
        if (r->ctx_len > 0)
            draw_context(c, cf, f->s, x_ctx, y, W - pad - x_ctx, r->ids, r->acts, r->ctx_len, r->centre, r->max,
                         ix->vocab, ix->vocab_lens, ix->n_vocab);
        y += row_h;
    }
    if (f == &F) ms_fig_fonts_close(&F);
    return c;
}
