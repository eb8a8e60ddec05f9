// heatmap.c: see heatmap.h.
//
// Heatmap layout, top to bottom: title, subtitle, grid of n_rows x n_cols cells with "#id" labels
// on the left and the colorbar on the right, token labels under the columns. Cells are as wide as
// the widest token label when that is at most 64 px (labels horizontal); otherwise cells are one
// line high and labels are rotated 90 degrees (reading bottom-to-top, ending at the grid), cut with
// "…" at 180 px. A sequence wider than a page (1200 px of grid at 100 dpi) wraps into panels
// stacked top to bottom, each with its own row and column labels, like lines of text. The colour
// scale runs from min(0, min act) to max act, so the largest activation
// is the map's extreme colour and zero is the dark end.
#include "viz/heatmap.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "render/colormap.h"
#include "render/text.h"
#include "util/util.h"
#include "viz/figure.h"

void ms_heatmap_layout_str(const ms_heatmap_layout *l, char *buf, int bufsz) {
    snprintf(buf, (size_t)bufsz,
             "grid=%d,%d cell=%d,%d rows=%d cols=%d rotated=%d collab=%d,%d rowlab=%d,%d cbar=%d,%d,%d,%d vmin=%.9g vmax=%.9g "
             "panels=%d,%d,%d",
             l->grid_x, l->grid_y, l->cell_w, l->cell_h, l->rows, l->cols, l->rotated, l->collab_y, l->collab_h,
             l->rowlab_x, l->rowlab_w, l->cbar_x, l->cbar_y, l->cbar_w, l->cbar_h, l->vmin, l->vmax, l->panels,
             l->per_panel, l->panel_dy);
}

#define MS_HEATMAP_PAGE_GRID 1200 // px of grid per panel at 100 dpi

// One panel: the row labels, cells and column labels of columns [j0, j1) with its grid at (gx, gy).
static void draw_panel(ms_canvas *c, ms_fig_fonts *f, const ms_heatmap_spec *sp, int j0, int j1, int gx, int gy,
                       int cell_w, int cell_h, int rotated, double vmin, double vmax) {
    const int R = sp->n_rows, C = sp->n_cols, lh = ms_font_line_height(f->small), n = j1 - j0;
    const ms_rgb ink = MS_GREY(20);
    char buf[256];
    ms_text_draw_aligned(c, f->normal, gx - MS_PX(f, 8), gy - ms_font_line_height(f->normal) - MS_PX(f, 2), "feature",
                         MS_GREY(90), 2);
    for (int i = 0; i < R; i++) {
        snprintf(buf, sizeof buf, "#%d", sp->feature_ids[i]);
        int y = gy + i * cell_h + (cell_h - ms_font_line_height(f->normal)) / 2;
        ms_text_draw_aligned(c, f->normal, gx - MS_PX(f, 8), y, buf, ink, 2);
        for (int j = j0; j < j1; j++) {
            float a = sp->acts[(size_t)i * C + j];
            ms_rgb col = isfinite(a) ? ms_cmap_viridis((a - vmin) / (vmax - vmin)) : MS_GREY(200);
            ms_canvas_fill_rect(c, gx + (j - j0) * cell_w, gy + i * cell_h, cell_w, cell_h, col);
        }
    }
    // thin white separators keep neighbouring cells of similar colour distinguishable
    for (int j = 1; j < n; j++) ms_canvas_fill_rect(c, gx + j * cell_w, gy, 1, R * cell_h, MS_WHITE);
    for (int i = 1; i < R; i++) ms_canvas_fill_rect(c, gx, gy + i * cell_h, n * cell_w, 1, MS_WHITE);
    int collab_y = gy + R * cell_h + MS_PX(f, 4);
    for (int j = j0; j < j1; j++) {
        char fit[512];
        int x = gx + (j - j0) * cell_w;
        if (rotated) {
            int w = ms_text_fit(f->small, sp->cols[j].text, MS_PX(f, 180), fit, sizeof fit);
            // the label's end touches the grid: start at collab_y + w, read upwards
            ms_text_draw_rot90(c, f->small, x + (cell_w - lh) / 2, collab_y + w, fit, ink);
        } else {
            ms_text_draw_aligned(c, f->small, x + cell_w / 2, collab_y, sp->cols[j].text, ink, 1);
        }
    }
}

ms_canvas *ms_viz_heatmap(const ms_heatmap_spec *sp, ms_heatmap_layout *lay) {
    ms_fig_fonts F;
    if (ms_fig_fonts_open(&F, sp->scale) < 0) return NULL;
    ms_fig_fonts *f = &F;
    int R = sp->n_rows, C = sp->n_cols;
    int pad = MS_PX(f, 14), lh = ms_font_line_height(f->small);
    double vmin = 0, vmax = -INFINITY;
    for (size_t i = 0; i < (size_t)R * C; i++) {
        float a = sp->acts[i];
        if (!isfinite(a)) continue;
        if (a < vmin) vmin = a;
        if (a > vmax) vmax = a;
    }
    if (!(vmax > vmin)) vmax = vmin + 1;
    // column labels: horizontal if every label fits in a cell of at most 64 px
    int maxw = 0;
    for (int j = 0; j < C; j++) {
        int w = ms_text_width(f->small, sp->cols[j].text);
        if (w > maxw) maxw = w;
    }
    int rotated = maxw + MS_PX(f, 8) > MS_PX(f, 64);
    int cell_h = MS_PX(f, 22);
    int cell_w = rotated ? lh + MS_PX(f, 6) : (maxw + MS_PX(f, 8) > MS_PX(f, 26) ? maxw + MS_PX(f, 8) : MS_PX(f, 26));
    int collab_h = rotated ? (maxw < MS_PX(f, 180) ? maxw : MS_PX(f, 180)) + MS_PX(f, 6) : lh + MS_PX(f, 6);
    // row labels
    int rowlab_w = ms_text_width(f->normal, "feature");
    char buf[256];
    for (int i = 0; i < R; i++) {
        snprintf(buf, sizeof buf, "#%d", sp->feature_ids[i]);
        int w = ms_text_width(f->normal, buf);
        if (w > rowlab_w) rowlab_w = w;
    }
    int title_h = ms_font_line_height(f->title) + (sp->subtitle ? ms_font_line_height(f->normal) + MS_PX(f, 4) : 0);
    int per = MS_PX(f, MS_HEATMAP_PAGE_GRID) / cell_w;
    if (per < 1) per = 1;
    if (per > C) per = C > 0 ? C : 1;
    const int panels = C > 0 ? (C + per - 1) / per : 1;
    per = C > 0 ? (C + panels - 1) / panels : 1; // balanced: 24 columns wrap as 12 + 12, not 23 + 1
    int grid_w = per * cell_w, grid_h = R * cell_h;
    int cbar_h = grid_h > MS_PX(f, 120) ? grid_h : MS_PX(f, 120);
    int cbar_w = MS_PX(f, 16);
    int cbar_total = ms_fig_colorbar_width(f, cbar_w, vmin, vmax, "activation");
    int grid_x = pad + rowlab_w + MS_PX(f, 8), grid_y = pad + title_h + MS_PX(f, 10) + ms_font_line_height(f->normal);
    int W = grid_x + grid_w + MS_PX(f, 18) + cbar_total + pad;
    int tw = ms_text_width(f->title, sp->title ? sp->title : "");
    int sw = sp->subtitle ? ms_text_width(f->normal, sp->subtitle) : 0;
    if (tw + 2 * pad > W) W = tw + 2 * pad;
    if (sw + 2 * pad > W) W = sw + 2 * pad < 2400 ? sw + 2 * pad : 2400;
    // panel p's grid starts panel_dy lower than panel p-1's: its labels' header, grid, column labels
    const int panel_dy = grid_h + collab_h + MS_PX(f, 16) + ms_font_line_height(f->normal);
    int body_h = (panels - 1) * panel_dy + grid_h + collab_h;
    if (cbar_h > body_h) body_h = cbar_h;
    int H = grid_y + body_h + MS_PX(f, 6) + pad;
    ms_canvas *c = ms_canvas_new(W, H, MS_WHITE);
    ms_rgb ink = MS_GREY(20);
    if (sp->title) ms_text_draw(c, f->title, pad, pad, sp->title, ink);
    if (sp->subtitle) {
        char fit[1024];
        ms_text_fit(f->normal, sp->subtitle, W - 2 * pad, fit, sizeof fit);
        ms_text_draw(c, f->normal, pad, pad + ms_font_line_height(f->title) + MS_PX(f, 4), fit, MS_GREY(70));
    }
    for (int p = 0; p < panels; p++) {
        int j0 = p * per, j1 = j0 + per < C ? j0 + per : C;
        draw_panel(c, f, sp, j0, j1, grid_x, grid_y + p * panel_dy, cell_w, cell_h, rotated, vmin, vmax);
    }
    int collab_y = grid_y + grid_h + MS_PX(f, 4);
    int cbar_x = grid_x + grid_w + MS_PX(f, 18);
    ms_fig_colorbar(c, f, cbar_x, grid_y, cbar_w, cbar_h, vmin, vmax, ms_cmap_viridis, "activation");
    if (lay) {
        ms_heatmap_layout L = {grid_x, grid_y, cell_w, cell_h, R, C, rotated, collab_y, collab_h - MS_PX(f, 6) + 1,
                               pad, rowlab_w, cbar_x, grid_y, cbar_w, cbar_h, vmin, vmax, panels, per, panel_dy};
        *lay = L;
    }
    ms_fig_fonts_close(f);
    return c;
}

ms_canvas *ms_viz_textview(const ms_textview_spec *sp, ms_box *boxes, double *vmax_used) {
    ms_fig_fonts F;
    if (ms_fig_fonts_open(&F, sp->scale) < 0) return NULL;
    ms_fig_fonts *f = &F;
    ms_font *tf = ms_font_new(15 * f->s, 0);
    if (!tf) { ms_fig_fonts_close(f); return NULL; }
    int pad = MS_PX(f, 16), page = sp->page_width > 0 ? sp->page_width : 900;
    int W = MS_PX(f, page);
    int text_w = W - 2 * pad;
    double vmax = sp->vmax;
    if (!(vmax > 0)) {
        vmax = 0;
        for (int i = 0; i < sp->n_tok; i++)
            if (isfinite(sp->acts[i]) && sp->acts[i] > vmax) vmax = sp->acts[i];
        if (!(vmax > 0)) vmax = 1;
    }
    int tlh = ms_font_line_height(tf), line_h = tlh + MS_PX(f, 6);
    int title_h = ms_font_line_height(f->title) + (sp->subtitle ? ms_font_line_height(f->normal) + MS_PX(f, 4) : 0);
    int y0 = pad + title_h + MS_PX(f, 14);
    // pass 1: flow the tokens into lines
    ms_box *bx = ms_malloc((size_t)(sp->n_tok > 0 ? sp->n_tok : 1) * sizeof *bx);
    char **fitted = ms_calloc((size_t)(sp->n_tok > 0 ? sp->n_tok : 1), sizeof *fitted);
    int x = 0, line = 0;
    for (int i = 0; i < sp->n_tok; i++) {
        const char *s = sp->toks[i].text;
        char fit[1024];
        int w = ms_text_fit(tf, s, text_w - MS_PX(f, 2), fit, sizeof fit);
        fitted[i] = ms_strdup(fit);
        int bw = w + MS_PX(f, 2);
        if (x > 0 && x + bw > text_w) { x = 0; line++; }
        bx[i] = (ms_box){pad + x, y0 + line * line_h, bw, tlh + MS_PX(f, 2)};
        x += bw;
        if (sp->toks[i].newline) { x = 0; line++; }
    }
    int n_lines = x > 0 || line == 0 ? line + 1 : line;
    int bar_y = y0 + n_lines * line_h + MS_PX(f, 18);
    int bar_w = MS_PX(f, 260) < text_w ? MS_PX(f, 260) : text_w;
    int H = bar_y + MS_PX(f, 12) + MS_PX(f, 5) + ms_font_line_height(f->small) + MS_PX(f, 2) +
            ms_font_line_height(f->normal) + pad;
    ms_canvas *c = ms_canvas_new(W, H, MS_WHITE);
    ms_rgb ink = MS_GREY(20);
    if (sp->title) {
        char fit[1024];
        ms_text_fit(f->title, sp->title, W - 2 * pad, fit, sizeof fit);
        ms_text_draw(c, f->title, pad, pad, fit, ink);
    }
    if (sp->subtitle) {
        char fit[1024];
        ms_text_fit(f->normal, sp->subtitle, W - 2 * pad, fit, sizeof fit);
        ms_text_draw(c, f->normal, pad, pad + ms_font_line_height(f->title) + MS_PX(f, 4), fit, MS_GREY(70));
    }
    int imax = -1;
    for (int i = 0; i < sp->n_tok; i++)
        if (isfinite(sp->acts[i]) && (imax < 0 || sp->acts[i] > sp->acts[imax])) imax = i;
    for (int i = 0; i < sp->n_tok; i++) {
        double a = sp->acts[i];
        ms_rgb bg = ms_cmap_orange(isfinite(a) ? a / vmax : 0);
        ms_canvas_fill_rect(c, bx[i].x, bx[i].y, bx[i].w, bx[i].h, bg);
        ms_text_draw(c, tf, bx[i].x + MS_PX(f, 1), bx[i].y + MS_PX(f, 1), fitted[i], ink);
    }
    if (imax >= 0 && sp->acts[imax] > 0) // the maximum is boxed, as in the dashboards
        ms_canvas_rect(c, bx[imax].x, bx[imax].y, bx[imax].w, bx[imax].h, MS_PX(f, 1) > 0 ? MS_PX(f, 1) : 1, MS_GREY(30));
    ms_fig_hbar(c, f, pad, bar_y, bar_w, MS_PX(f, 12), 0, vmax, ms_cmap_orange, "activation");
    if (boxes) memcpy(boxes, bx, (size_t)sp->n_tok * sizeof *bx);
    if (vmax_used) *vmax_used = vmax;
    for (int i = 0; i < sp->n_tok; i++) free(fitted[i]);
    free(fitted);
    free(bx);
    ms_font_free(tf);
    ms_fig_fonts_close(f);
    return c;
}
