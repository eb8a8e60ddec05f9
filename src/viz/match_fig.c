// match_fig.c: `monoscope viz match`: the /match of an SAE file (sae/match.h) as one figure. One row
// per concept: a bar from 0 to the held-out F1 of its best feature (labelled "#f F1 · AUC"), the
// next features' F1 as small grey marks, and the linear probe's held-out F1 as a black tick: how
// close the best single feature comes to the linear ceiling.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "render/png_io.h"
#include "sae/match.h"
#include "util/util.h"
#include "viz/figure.h"
#include "viz/viz.h"

static const ms_rgb BAR = {59, 117, 175}, PROBE = {20, 20, 20}, OTHER = {150, 150, 150};

// The scale's ticks 0, 0.25 .. 1 under the rows and their gridlines.
static void draw_axis(ms_canvas *c, ms_fig_fonts *f, int x0, int w, int y_top, int y_bot) {
    char buf[16];
    for (int i = 0; i <= 4; i++) {
        int x = x0 + (int)lround(w * i / 4.0);
        ms_canvas_fill_rect(c, x, y_top, 1, y_bot - y_top, MS_GREY(225));
        snprintf(buf, sizeof buf, "%.2g", i / 4.0);
        ms_text_draw_aligned(c, f->small, x, y_bot + MS_PX(f, 3), buf, MS_GREY(60), 1);
    }
    ms_text_draw_aligned(c, f->normal, x0 + w / 2, y_bot + MS_PX(f, 3) + ms_font_line_height(f->small) + MS_PX(f, 2),
                         "F1 on held-out sequences", MS_GREY(40), 1);
}

static ms_canvas *draw(const ms_sae_match_result *r, const char *sae_path, ms_fig_fonts *f, char *layout, size_t lsz) {
    const int C = r->n_concepts, pad = MS_PX(f, 16), row_h = MS_PX(f, 26), bar_h = MS_PX(f, 14);
    int lab_w = ms_text_width(f->normal, "concept");
    for (int k = 0; k < C; k++) {
        int w = ms_text_width(f->normal, r->c[k].concept);
        if (w > lab_w) lab_w = w;
    }
    if (lab_w > MS_PX(f, 220)) lab_w = MS_PX(f, 220);
    const int axis_w = MS_PX(f, 420), note_w = MS_PX(f, 230);
    const int x0 = pad + lab_w + MS_PX(f, 10);
    const int title_h = ms_font_line_height(f->title) + ms_font_line_height(f->normal) + MS_PX(f, 4);
    const int legend_y = pad + title_h + MS_PX(f, 8), y0 = legend_y + ms_font_line_height(f->small) + MS_PX(f, 12);
    const int y_bot = y0 + C * row_h;
    const int W = x0 + axis_w + MS_PX(f, 10) + note_w + pad;
    const int H = y_bot + MS_PX(f, 6) + ms_font_line_height(f->small) + ms_font_line_height(f->normal) + MS_PX(f, 8) + pad;
    ms_canvas *c = ms_canvas_new(W, H, MS_WHITE);
    char buf[512], fit[512];
    ms_text_draw(c, f->title, pad, pad, "Features vs concepts: the best single feature beside a linear probe", MS_GREY(20));
    const char *base = strrchr(sae_path, '/');
    snprintf(buf, sizeof buf, "SAE %s \xc2\xb7 hook %s \xc2\xb7 %lld held-out tokens", base ? base + 1 : sae_path, r->hook,
             (long long)r->n_test);
    ms_text_fit(f->normal, buf, W - 2 * pad, fit, sizeof fit);
    ms_text_draw(c, f->normal, pad, pad + ms_font_line_height(f->title) + MS_PX(f, 4), fit, MS_GREY(70));
    // legend
    int lx = x0;
    ms_canvas_fill_rect(c, lx, legend_y + MS_PX(f, 2), MS_PX(f, 18), MS_PX(f, 9), BAR);
    lx += MS_PX(f, 22) + ms_text_draw(c, f->small, lx + MS_PX(f, 22), legend_y, "best feature", MS_GREY(40));
    ms_canvas_fill_rect(c, lx + MS_PX(f, 14), legend_y, MS_PX(f, 3), MS_PX(f, 13), PROBE);
    lx += MS_PX(f, 22) + ms_text_draw(c, f->small, lx + MS_PX(f, 22), legend_y, "linear probe", MS_GREY(40));
    ms_canvas_fill_rect(c, lx + MS_PX(f, 14), legend_y + MS_PX(f, 3), MS_PX(f, 2), MS_PX(f, 7), OTHER);
    ms_text_draw(c, f->small, lx + MS_PX(f, 22), legend_y, "next features", MS_GREY(40));
    draw_axis(c, f, x0, axis_w, y0 - MS_PX(f, 4), y_bot);
    ms_text_draw_aligned(c, f->normal, x0 - MS_PX(f, 10), y0 - ms_font_line_height(f->normal) - MS_PX(f, 4), "concept",
                         MS_GREY(90), 2);
    for (int k = 0; k < C; k++) {
        const ms_match_concept *m = &r->c[k];
        const int y = y0 + k * row_h, yb = y + (row_h - bar_h) / 2;
        ms_text_fit(f->normal, m->concept, lab_w, fit, sizeof fit);
        ms_text_draw_aligned(c, f->normal, x0 - MS_PX(f, 10), y + (row_h - ms_font_line_height(f->normal)) / 2, fit,
                             MS_GREY(20), 2);
        for (int j = r->top - 1; j >= 1; j--) // the runners-up first, under the bar
            if (m->best[j].feature >= 0)
                ms_canvas_fill_rect(c, x0 + (int)lround(axis_w * m->best[j].f1) - MS_PX(f, 1), yb - MS_PX(f, 3),
                                    MS_PX(f, 2), bar_h + MS_PX(f, 6), OTHER);
        if (m->best[0].feature >= 0) {
            ms_canvas_fill_rect(c, x0, yb, (int)lround(axis_w * m->best[0].f1), bar_h, BAR);
            snprintf(buf, sizeof buf, "#%d  F1 %.2f \xc2\xb7 AUC %.2f", m->best[0].feature, m->best[0].f1, m->best[0].auc);
        } else {
            snprintf(buf, sizeof buf, "no feature fires on it");
        }
        if (!isnan(m->probe_f1)) {
            ms_canvas_fill_rect(c, x0 + (int)lround(axis_w * m->probe_f1) - MS_PX(f, 1), yb - MS_PX(f, 4), MS_PX(f, 3),
                                bar_h + MS_PX(f, 8), PROBE);
            size_t n = strlen(buf);
            snprintf(buf + n, sizeof buf - n, " \xc2\xb7 probe %.2f", m->probe_f1);
        }
        ms_text_fit(f->small, buf, note_w, fit, sizeof fit);
        ms_text_draw(c, f->small, x0 + axis_w + MS_PX(f, 10), y + (row_h - ms_font_line_height(f->small)) / 2, fit,
                     MS_GREY(30));
    }
    snprintf(layout, lsz, "rows=%d x0=%d axis_w=%d y0=%d row_h=%d bar_h=%d", C, x0, axis_w, y0, row_h, bar_h);
    return c;
}

int ms_viz_match_png(const char *sae_path, const char *out, double scale, const char *inputs, ms_viz_written *w) {
    ms_sae_match_result r;
    int got = ms_sae_match_read(sae_path, &r);
    if (got < 0) return -1;
    if (got == 0) { ms_error("%s: no /match (run `monoscope sae match` first)", sae_path); return -1; }
    if (r.n_concepts == 0) { ms_error("%s: /match holds no concept", sae_path); ms_sae_match_result_free(&r); return -1; }
    ms_fig_fonts F;
    if (ms_fig_fonts_open(&F, scale) < 0) { ms_sae_match_result_free(&r); return -1; }
    char layout[256];
    ms_canvas *c = draw(&r, sae_path, &F, layout, sizeof layout);
    ms_png_text t[2] = {{"Inputs", inputs ? inputs : sae_path}, {"Layout", layout}};
    int rc = ms_png_write(c, out, t, 2);
    if (!rc && w) *w = (ms_viz_written){c->w, c->h, r.n_concepts, 0};
    ms_canvas_free(c);
    ms_fig_fonts_close(&F);
    ms_sae_match_result_free(&r);
    return rc;
}
