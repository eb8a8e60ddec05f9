// heatmap.h: feature x token heatmap (rows features, columns tokens) and token-highlight view.
#ifndef MS_VIZ_HEATMAP_H
#define MS_VIZ_HEATMAP_H
#include "render/canvas.h"
#include "viz/tokens.h"

// Where the parts of a rendered heatmap are (also written to the PNG's "Layout" text chunk).
typedef struct {
    int grid_x, grid_y;  // top-left of cell (0, 0)
    int cell_w, cell_h;
    int rows, cols;
    int rotated;         // column labels drawn rotated 90 degrees
    int collab_y, collab_h; // column-label band below the grid
    int rowlab_x, rowlab_w; // row-label band left of the grid
    int cbar_x, cbar_y, cbar_w, cbar_h;
    double vmin, vmax;
    // long sequences wrap into panels stacked top to bottom, per_panel columns each: column j is at
    // x = grid_x + (j % per_panel)·cell_w, panel j / per_panel, shifted down by that times panel_dy
    // (grid and its labels alike); cols counts every column
    int panels, per_panel, panel_dy;
} ms_heatmap_layout;

typedef struct {
    const char *title;         // first line, e.g. "SAE feature activations"
    const char *subtitle;      // second line, e.g. "model … · hook … · SAE …" (may be NULL)
    int n_rows, n_cols;
    const int *feature_ids;    // (n_rows) row labels "#id"
    const float *acts;         // (n_rows, n_cols) activations
    const ms_token_label *cols; // (n_cols) visible-mode token labels
    double scale;              // dpi / 100
} ms_heatmap_spec;

// Renders; NULL + ms_error() on failure (font missing). layout may be NULL.
ms_canvas *ms_viz_heatmap(const ms_heatmap_spec *spec, ms_heatmap_layout *layout);
// "grid=x,y cell=w,h rows=R cols=C rotated=0 collab=y,h rowlab=x,w cbar=x,y,w,h vmin=… vmax=…
//  panels=P,per_panel,panel_dy"
void ms_heatmap_layout_str(const ms_heatmap_layout *l, char *buf, int bufsz);

// Token-highlight view: tokens flowed like text, background white -> orange by activation.
typedef struct {
    int x, y, w, h;      // box of token i
} ms_box;
typedef struct {
    const char *title, *subtitle;
    int n_tok;
    const float *acts;          // (n_tok) the feature's activation per token
    const ms_token_label *toks; // (n_tok) text-mode labels
    double vmax;                // activation mapped to full orange (<= 0: the max of acts)
    int page_width;             // pixels at 100 dpi (<= 0: 900)
    double scale;
} ms_textview_spec;
// boxes (optional, n_tok) receives each token's box; *vmax_used the scale's top.
ms_canvas *ms_viz_textview(const ms_textview_spec *spec, ms_box *boxes, double *vmax_used);

#endif
