// dashboard_run.c: `viz dashboard` as a library call (viz.h): groups of features sized to the
// memory budget, one streaming pass over the activations file per group (dashboard.c gathers the
// statistics), the logit lens of each group (logit_lens.c), then the pages and the index.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "model/model.h"
#include "render/png_io.h"
#include "tokenizer/tokenizer.h"
#include "util/util.h"
#include "viz/acts_h5.h"
#include "viz/dashboard.h"
#include "viz/logit_lens.h"
#include "sae/match.h"
#include "viz/viz.h"

#define N_LOGIT 10 // logit-lens rows per side

typedef struct {
    const ms_viz_dashboard_opts *o;
    ms_acts_file *af;
    ms_model *m;             // NULL without --model
    ms_site site;            // the activations' site and layer (the logit lens's path, site_resid.h)
    int layer;
    char **voc;              // token id -> bytes (the file's /vocab, else the model's tokenizer)
    size_t *vl;
    int nv;
    int ctx;                 // tokens per sequence
    int64_t n_seq;           // sequences read
    int64_t seq_chunk;       // sequences encoded at a time
    int group;               // features per pass
    float *x;                // (seq_chunk * ctx, d_in)
    int32_t *ids;            // (seq_chunk * ctx)
    float *codes;            // (seq_chunk * ctx, d_sae)
    ms_sae_encoder *enc;
    int n_logit;             // N_LOGIT with a model, else 0
    int *pos_id, *neg_id;    // (group, n_logit)
    float *pos_v, *neg_v;
    ms_dash_index_row *rows; // (n_features)
    ms_fig_fonts fonts;      // one set for every page: glyphs are rasterised once, not once per page
    int fonts_open;
    ms_sae_match_result match; // the SAE file's /match (sae match), n_concepts 0 without one
    char sub[1024], inputs[4096];
} dash_run;

static const char *basename_of(const char *p) {
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

// The model's tokens as a vocabulary, for an activations file without /vocab.
static void vocab_from_tokenizer(dash_run *r) {
    r->nv = ms_tokenizer_vocab_size(r->m->tok);
    r->voc = ms_calloc((size_t)r->nv, sizeof *r->voc);
    r->vl = ms_calloc((size_t)r->nv, sizeof *r->vl);
    for (int i = 0; i < r->nv; i++) {
        size_t len = 0;
        const char *b = ms_tokenizer_token_bytes(r->m->tok, i, &len);
        r->voc[i] = ms_malloc(len + 1);
        memcpy(r->voc[i], b, len);
        r->voc[i][len] = 0;
        r->vl[i] = len;
    }
}

// Opens the activations file (and the model), checks they fit the SAE, creates the output dir.
static int open_inputs(dash_run *r) {
    const ms_viz_dashboard_opts *o = r->o;
    const char *h = o->hook ? o->hook : ms_sae_attr_str(o->sae, "hook");
    if (!(r->af = ms_acts_file_open(o->acts_path, h))) return -1;
    if (ms_acts_file_d(r->af) != o->sae->d_in) {
        ms_error("%s: /acts/%s has %d values per token but the SAE's d_in is %d", o->acts_path, ms_acts_file_hook(r->af),
                 ms_acts_file_d(r->af), o->sae->d_in);
        return -1;
    }
    if (ms_mkdir(o->out_dir) < 0) return -1;
    r->voc = ms_acts_file_vocab(r->af, &r->vl, &r->nv);
    if (!o->model_path) return 0;
    if (!(r->m = ms_model_load(o->model_path))) return -1;
    const char *site = ms_acts_file_hook(r->af);
    if (ms_site_parse(site, &r->site, &r->layer) < 0 || !ms_site_resid_width(&r->m->cfg, r->site)) {
        ms_error("--model: the logit lens is undefined at %s: it reads a direction in the residual stream, reached "
                 "linearly only from residual-stream sites, attn.hook_z, mlp.hook_post and ln_final.hook_normalized",
                 site);
        return -1;
    }
    if (ms_site_resid_width(&r->m->cfg, r->site) != o->sae->d_in) {
        ms_error("--model: %s is %d wide in this model but the SAE's d_in is %d", site,
                 ms_site_resid_width(&r->m->cfg, r->site), o->sae->d_in);
        return -1;
    }
    if (!r->voc && r->m->tok) vocab_from_tokenizer(r); // decode contexts with the model's tokenizer
    return 0;
}

// Sizes the passes to the budget: codes for a chunk of whole sequences (about a quarter of it)
// and the statistics of a group of features (about half), then allocates the buffers.
static int plan(dash_run *r) {
    const ms_viz_dashboard_opts *o = r->o;
    const int D = o->sae->d_sae, nf = o->n_features;
    r->ctx = ms_acts_file_ctx(r->af);
    r->n_seq = ms_acts_file_n_seq(r->af);
    if (r->n_seq < 1) { ms_error("%s: no complete sequences", o->acts_path); return -1; }
    if (o->max_tokens > 0 && o->max_tokens / r->ctx < r->n_seq) r->n_seq = o->max_tokens / r->ctx > 0 ? o->max_tokens / r->ctx : 1;
    size_t budget = (size_t)o->mem_mb << 20;
    int64_t rows_chunk = (int64_t)(budget / 4 / ((size_t)D * 4 + (size_t)o->sae->d_in * 4 + 4));
    r->seq_chunk = rows_chunk / r->ctx;
    if (r->seq_chunk < 1) r->seq_chunk = 1;
    if (r->seq_chunk > r->n_seq) r->seq_chunk = r->n_seq;
    size_t per_feat = ms_dash_bytes_per_feature(o->top_k, o->context);
    size_t group = (budget / 2) / per_feat;
    r->group = group < 1 ? 1 : group > (size_t)nf ? nf : (int)group;
    int n_groups = (nf + r->group - 1) / r->group;
    if (n_groups > 1)
        fprintf(stderr, "monoscope: note: %d features in %d groups of %d (one pass over the file each; raise --mem-mb for fewer)\n",
                nf, n_groups, r->group);
    const size_t rows = (size_t)r->seq_chunk * r->ctx;
    r->x = ms_malloc(rows * o->sae->d_in * sizeof *r->x);
    r->ids = ms_malloc(rows * sizeof *r->ids);
    r->codes = ms_malloc(rows * D * sizeof *r->codes);
    r->rows = ms_calloc((size_t)nf, sizeof *r->rows);
    r->n_logit = r->m ? N_LOGIT : 0;
    if (r->m) {
        r->pos_id = ms_malloc((size_t)r->group * N_LOGIT * sizeof *r->pos_id);
        r->neg_id = ms_malloc((size_t)r->group * N_LOGIT * sizeof *r->neg_id);
        r->pos_v = ms_malloc((size_t)r->group * N_LOGIT * sizeof *r->pos_v);
        r->neg_v = ms_malloc((size_t)r->group * N_LOGIT * sizeof *r->neg_v);
    }
    return (r->enc = ms_sae_encoder_new(o->sae)) ? 0 : -1;
}

// One pass over the file: encode chunks of whole sequences and feed the group's statistics.
static int feed_group(dash_run *r, ms_dash_stats *st, ms_progress *pr) {
    for (int64_t s0 = 0; s0 < r->n_seq; s0 += r->seq_chunk) {
        int ns = (int)(r->n_seq - s0 < r->seq_chunk ? r->n_seq - s0 : r->seq_chunk);
        if (ms_acts_file_read(r->af, s0, ns, r->x, r->ids) < 0 ||
            ms_sae_encoder_dense(r->enc, r->x, (int64_t)ns * r->ctx, r->codes) < 0)
            return -1;
        ms_dash_feed(st, r->codes, r->o->sae->d_sae, r->ids, s0, ns, r->ctx);
        ms_progress_update(pr, pr->done + (double)ns * r->ctx, NULL);
    }
    return 0;
}

// Label of token id for the logit-lens table: the model's own vocabulary, else the file's, else
// "#id" as the contexts draw it (ms_dash_context_labels).
static void token_text(const dash_run *r, int id, char *dst, size_t cap) {
    const char *b = "";
    size_t len = 0;
    char num[16];
    if (id >= 0 && r->m->tok) b = ms_tokenizer_token_bytes(r->m->tok, id, &len);
    else if (id >= 0 && r->voc && id < r->nv) { b = r->voc[id]; len = r->vl[id]; }
    else if (id >= 0) { snprintf(num, sizeof num, "#%d", id); b = num; len = strlen(num); }
    ms_token_label *tl = ms_token_labels(&b, &len, 1, 0);
    snprintf(dst, cap, "%s", tl[0].text);
    ms_token_labels_free(tl, 1);
}

// The logit-lens table of group feature g as text ("+id:value,... -id:value,..."), for scripts and tests.
static void lens_text(const dash_run *r, int g, char *lens, size_t cap) {
    lens[0] = 0;
    for (int side = 0; side < 2 && r->m; side++) {
        size_t o = strlen(lens);
        snprintf(lens + o, cap - o, "%s%c", side ? " " : "", side ? '-' : '+');
        const int *id = (side ? r->neg_id : r->pos_id) + (size_t)g * r->n_logit;
        const float *v = (side ? r->neg_v : r->pos_v) + (size_t)g * r->n_logit;
        for (int k = 0; k < r->n_logit; k++) {
            o = strlen(lens);
            snprintf(lens + o, cap - o, "%s%d:%.6g", k ? "," : "", id[k], v[k]);
        }
    }
}

// The concepts the SAE file's /match lists this feature for, best rank first: the title's note
// ("concept digits, F1 0.91 held out") and the page's "Concepts" text ("digits:1:0.91,...": concept,
// rank from 1, held-out F1). Empty without a match.
static void match_note(const dash_run *r, int feature, char *note, size_t ncap, char *text, size_t tcap) {
    note[0] = text[0] = 0;
    int shown = 0, more = 0;
    for (int j = 0; j < r->match.top; j++)
        for (int k = 0; k < r->match.n_concepts; k++) {
            const ms_match_feature *m = &r->match.c[k].best[j];
            if (m->feature != feature) continue;
            size_t o = strlen(text);
            snprintf(text + o, tcap - o, "%s%s:%d:%.4f", o ? "," : "", r->match.c[k].concept, j + 1, m->f1);
            if (!shown++) snprintf(note, ncap, " \xc2\xb7 %s concept %s, F1 %.2f held out", j ? "matches" : "best for",
                                   r->match.c[k].concept, m->f1);
            else more++;
        }
    if (more) { size_t o = strlen(note); snprintf(note + o, ncap - o, " (+%d more)", more); }
}

// Renders and writes the page of group feature g (global index feature).
static int write_page(dash_run *r, const ms_dash_stats *st, int g, int feature) {
    const char *pt[N_LOGIT], *nt[N_LOGIT];
    char pbuf[N_LOGIT][128], nbuf[N_LOGIT][128], title[256], path[4096], lens[1024], note[160] = "";
    char mnote[160], concepts[1024];
    for (int k = 0; k < r->n_logit; k++) {
        token_text(r, r->pos_id[g * r->n_logit + k], pbuf[k], sizeof pbuf[k]);
        token_text(r, r->neg_id[g * r->n_logit + k], nbuf[k], sizeof nbuf[k]);
        pt[k] = pbuf[k];
        nt[k] = nbuf[k];
    }
    match_note(r, feature, mnote, sizeof mnote, concepts, sizeof concepts);
    snprintf(title, sizeof title, "Feature %d%s", feature, mnote);
    if (r->m) ms_logit_lens_note(r->m, r->site, note, sizeof note);
    ms_dash_page pg = {title, r->sub, (const char *const *)r->voc, r->vl, r->nv, r->n_logit, pt,
                       r->m ? r->pos_v + (size_t)g * r->n_logit : NULL, nt, r->m ? r->neg_v + (size_t)g * r->n_logit : NULL,
                       r->m ? note : NULL, r->o->scale, &r->fonts};
    ms_canvas *cv = ms_dash_render(st, g, &pg);
    snprintf(path, sizeof path, "%s/feature_%05d.png", r->o->out_dir, feature);
    lens_text(r, g, lens, sizeof lens);
    // the page's numbers, machine-readable: density over real tokens (padding is never counted)
    char stats[160];
    snprintf(stats, sizeof stats, "density=%.9g tokens=%llu fires=%llu max=%.9g",
             st->n_tokens ? (double)st->n_fire[g] / (double)st->n_tokens : 0.0, (unsigned long long)st->n_tokens,
             (unsigned long long)st->n_fire[g], (double)st->max[g]);
    ms_png_text ptx[4] = {{"Inputs", r->inputs}, {"Stats", stats}, {"Concepts", concepts}, {"LogitLens", lens}};
    int rc = !cv || ms_png_write(cv, path, ptx, r->m ? 4 : 3) < 0 ? -1 : 0;
    ms_canvas_free(cv);
    return rc;
}

// Index pages of 100 features each.
static int write_index(dash_run *r) {
    const int nf = r->o->n_features;
    char t2[128], path[4096];
    for (int p0 = 0; p0 < nf; p0 += 100) {
        int n = nf - p0 < 100 ? nf - p0 : 100;
        snprintf(t2, sizeof t2, "Feature index: %d\xe2\x80\x93%d (%d of %d features)", r->rows[p0].feature,
                 r->rows[p0 + n - 1].feature, n, nf);
        ms_dash_index ix = {t2, r->sub, (const char *const *)r->voc, r->vl, r->nv, r->o->scale, &r->fonts};
        ms_canvas *cv = ms_dash_render_index(r->rows + p0, n, &ix);
        snprintf(path, sizeof path, "%s/index_%03d.png", r->o->out_dir, p0 / 100);
        ms_png_text t[1] = {{"Inputs", r->inputs}};
        int bad = !cv || ms_png_write(cv, path, t, 1) < 0;
        ms_canvas_free(cv);
        if (bad) return -1;
    }
    return 0;
}

static void describe(dash_run *r) {
    const ms_viz_dashboard_opts *o = r->o;
    const char *model_name = ms_sae_attr_str(o->sae, "model");
    if (!model_name || !*model_name) model_name = ms_acts_file_model(r->af);
    snprintf(r->sub, sizeof r->sub, "model %s \xc2\xb7 hook %s \xc2\xb7 SAE %s (%s, %d features) \xc2\xb7 %s",
             model_name && *model_name ? model_name : "?", ms_acts_file_hook(r->af), basename_of(o->sae_path),
             ms_sae_arch_name(o->sae->arch), o->sae->d_sae, basename_of(o->acts_path));
    snprintf(r->inputs, sizeof r->inputs, "sae=%s; acts=%s; hook=%s; model=%s; top_k=%d; context=%d", o->sae_path,
             o->acts_path, ms_acts_file_hook(r->af), o->model_path ? o->model_path : "", o->top_k, o->context);
}

static void dash_run_free(dash_run *r) {
    if (r->fonts_open) ms_fig_fonts_close(&r->fonts);
    if (r->rows) for (int i = 0; i < r->o->n_features; i++) ms_dash_index_row_free(&r->rows[i]);
    free(r->rows); free(r->x); free(r->ids); free(r->codes);
    ms_sae_encoder_free(r->enc);
    free(r->pos_id); free(r->neg_id); free(r->pos_v); free(r->neg_v);
    ms_vocab_free(r->voc, r->vl, r->nv);
    ms_model_free(r->m);
    ms_acts_file_close(r->af);
    ms_sae_match_result_free(&r->match);
}

int ms_viz_dashboard(const ms_viz_dashboard_opts *o, ms_viz_dashboard_report *rep) {
    dash_run r = {.o = o};
    const int nf = o->n_features;
    int rc = open_inputs(&r) || plan(&r) ? -1 : 0;
    if (!rc && o->sae_path && ms_sae_match_read(o->sae_path, &r.match) < 0) rc = -1; // absent: no notes
    if (!rc) {
        describe(&r);
        rc = ms_fig_fonts_open(&r.fonts, o->scale);
        r.fonts_open = rc == 0;
    }
    ms_progress pr;
    double t_pass = 0, t_render = 0, t0;
    int64_t n_real = 0; // tokens the statistics counted (padding is not data)
    if (!rc) ms_progress_start(&pr, "dashboard", (double)r.n_seq * r.ctx * ((nf + r.group - 1) / r.group), "tok");
    for (int g0 = 0; g0 < nf && !rc; g0 += r.group) {
        t0 = ms_now();
        int ng = nf - g0 < r.group ? nf - g0 : r.group;
        ms_dash_stats *st = ms_dash_new(o->features + g0, ng, o->top_k, o->context, o->seed);
        rc = feed_group(&r, st, &pr);
        n_real = (int64_t)st->n_tokens;
        t_pass += ms_now() - t0;
        t0 = ms_now();
        if (!rc && r.m)
            rc = ms_logit_lens(r.m, o->sae, r.site, r.layer, o->features + g0, ng, N_LOGIT, r.pos_id, r.pos_v, r.neg_id,
                               r.neg_v);
        for (int g = 0; g < ng && !rc; g++) {
            ms_dash_index_row_from(st, g, &r.rows[g0 + g]);
            rc = write_page(&r, st, g, o->features[g0 + g]);
        }
        ms_dash_free(st);
        t_render += ms_now() - t0;
    }
    if (r.fonts_open) ms_progress_finish(&pr);
    t0 = ms_now();
    if (!rc) rc = write_index(&r);
    t_render += ms_now() - t0;
    if (!rc) *rep = (ms_viz_dashboard_report){nf, (nf + 99) / 100, n_real, t_pass, t_render};
    dash_run_free(&r);
    return rc;
}
