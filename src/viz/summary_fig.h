// summary_fig.h: the figures of `monoscope viz summary`, built from metrics already read (summary.c
// reads the files). Dictionary i keeps one style in every figure: colour tab10(i), marker shape
// i % MS_MARK_COUNT, bar hatch i % MS_HATCH_COUNT; legends stand beside the data, labels never
// overlap (see ms_plot_points). Each builder returns the canvas (NULL when it has no data) and, when
// layout is given, a malloc'd "Layout" text: the placed geometry, for tests and scripts.
#ifndef MS_VIZ_SUMMARY_FIG_H
#define MS_VIZ_SUMMARY_FIG_H
#include "render/canvas.h"
#include "viz/figure.h"

typedef struct {
    const char *name;   // short label on points and bars: "L4 topk" (layer, architecture), or the file's stem
    const char *legend; // legend text: the name, hook and file
    int layer;          // -1 if unknown
    int have_eval, have_ce;
    double l0, ev, ce, dead;      // dead: fraction in [0, 1]
    const double *density;        // (d_sae) fraction of tokens each feature fires on, or NULL
    int d_sae;
    const double *log;            // (log_rows, log_cols) training log, or NULL
    int log_rows, log_cols;
    char *const *log_columns;     // (log_cols) column names
    int ce_valid;                 // ce is meaningful (sae/eval.h's denominator rule); else left out of the CE panel
} ms_sum_dict;

ms_canvas *ms_sum_density(const ms_fig_fonts *f, const ms_sum_dict *d, int n);
// L0 vs explained variance, and vs CE loss recovered when any dictionary has it; a CE score flagged
// unreliable (!ce_valid) is left out of that panel, and its title says how many were. Layout:
// "legend=x,y,w,h" then per panel q "area<q>=x,y,w,h xr<q>=lo,hi yr<q>=lo,hi n<q>=points left<q>=left out"
// and per point i of the panel "mk<q>_<i>=x,y,w,h,r,g,b" (marker box and fill colour) and "lb<q>_<i>=x,y,w,h,leader".
ms_canvas *ms_sum_l0_ev(const ms_fig_fonts *f, const ms_sum_dict *d, int n, char **layout);
// Dead fraction, bars grouped by layer. Layout: "legend=… area=… bar<i>=x,y,w,h,r,g,b val<i>=x,y,w,h".
ms_canvas *ms_sum_dead(const ms_fig_fonts *f, const ms_sum_dict *d, int n, char **layout);
ms_canvas *ms_sum_training(const ms_fig_fonts *f, const ms_sum_dict *d, int n);

#endif
