// match.c: features against concept labels (match.h).
#include "sae/match.h"
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "probes/labels.h"
#include "probes/probe.h"
#include "sae/eval.h"
#include "util/util.h"

// The non-zero codes of every real token, by feature (CSC), sorted by activation, largest first.
typedef struct { float v; int32_t tok; } entry;
typedef struct {
    int64_t n_tok;
    int64_t *flat;        // (n_tok) label index: sequence·ctx + position
    uint8_t *test;        // (n_tok) 1: held-out sequence
    int64_t *col;         // (d_sae + 1) feature f's entries are ent[col[f] .. col[f+1])
    entry *ent;           // (nnz)
} coded;

static void coded_free(coded *c) { free(c->flat); free(c->test); free(c->col); free(c->ent); }

static int cmp_entry_desc(const void *a, const void *b) {
    float x = ((const entry *)a)->v, y = ((const entry *)b)->v;
    return x < y ? 1 : x > y ? -1 : 0;
}

// Encodes every real token of the SAE's site (up to max_tokens), checking its ids against the labels
// file row by row; the codes go into c by feature.
static int encode_all(const ms_sae *s, const ms_sae_match_opts *o, const ms_labels *lab, const uint8_t *split,
                      int64_t n_split, coded *c) {
    ms_acts_reader *rd = ms_acts_reader_open_for(s, o->acts, o->hook);
    if (!rd) return -1;
    const int d = s->d_in, ctx = ms_acts_reader_ctx(rd);
    const int64_t n_seq = ms_acts_reader_n_seq(rd), B = 4096, maxt = o->max_tokens > 0 ? o->max_tokens : INT64_MAX;
    int rc = -1;
    float *x = ms_malloc((size_t)B * d * sizeof(float));
    int32_t *ids = ms_malloc((size_t)B * sizeof(int32_t));
    ms_sae_codes codes = {0};
    int64_t cap = 1 << 16, nnz = 0, pos = 0, ecap = 1 << 18;
    int32_t *efeat = ms_malloc((size_t)ecap * sizeof(int32_t));
    entry *ent = ms_malloc((size_t)ecap * sizeof(entry));
    c->flat = ms_malloc((size_t)cap * sizeof(int64_t));
    c->test = ms_malloc((size_t)cap);
    if (!ms_acts_reader_has_tokens(rd)) { ms_error("%s: no /tokens: labels cannot be lined up", o->acts); goto done; }
    if (lab->ctx != ctx || lab->n_seq < n_seq || (split && n_split < n_seq)) {
        ms_error("%s: %lld sequences of %d tokens; the labels file has %lld of %d%s", o->acts, (long long)n_seq, ctx,
                 (long long)lab->n_seq, lab->ctx, split && n_split < n_seq ? " and the probe's split is shorter" : "");
        goto done;
    }
    for (;;) {
        int64_t got = ms_acts_reader_next(rd, x, ids, B);
        if (got < 0) goto done;
        if (got == 0) break;
        int64_t m = 0; // compact the real tokens to the front of x
        for (int64_t i = 0; i < got && c->n_tok + m < maxt; i++, pos++) {
            // padding (-1) is never data; a capture cut by --max-tokens pads the end of its last row,
            // which labels of the whole input hold tokens for
            if (ids[i] >= 0 && ids[i] != lab->tokens[pos]) {
                ms_error("%s: token %lld (sequence %lld) differs from the labels file's (labels made with other "
                         "--input/--ctx/--prepend-bos?)", o->acts, (long long)(pos % ctx), (long long)(pos / ctx));
                goto done;
            }
            if (ids[i] < 0) continue;
            if (c->n_tok + m >= cap) {
                cap *= 2;
                c->flat = ms_realloc(c->flat, (size_t)cap * sizeof(int64_t));
                c->test = ms_realloc(c->test, (size_t)cap);
            }
            if (m != i) memcpy(x + m * d, x + i * d, (size_t)d * sizeof(float));
            c->flat[c->n_tok + m] = pos;
            const int64_t q = pos / ctx;
            c->test[c->n_tok + m] = split ? split[q] != 0 : q % 5 == 4;
            m++;
        }
        if (m && ms_sae_encode_sparse(s, x, m, &codes)) goto done;
        for (int64_t t = 0; t < m; t++)
            for (int64_t k = codes.row[t]; k < codes.row[t + 1]; k++) {
                if (nnz == ecap) {
                    ecap *= 2;
                    efeat = ms_realloc(efeat, (size_t)ecap * sizeof(int32_t));
                    ent = ms_realloc(ent, (size_t)ecap * sizeof(entry));
                }
                efeat[nnz] = codes.idx[k];
                ent[nnz++] = (entry){codes.val[k], (int32_t)(c->n_tok + t)};
            }
        c->n_tok += m;
        if (c->n_tok >= maxt) break;
    }
    if (c->n_tok > INT32_MAX) { ms_error("%s: more than 2^31 tokens: use --max-tokens", o->acts); goto done; }
    // by feature (counting sort), then each feature's entries largest first
    c->col = ms_calloc((size_t)s->d_sae + 1, sizeof(int64_t));
    for (int64_t k = 0; k < nnz; k++) c->col[efeat[k] + 1]++;
    for (int f = 0; f < s->d_sae; f++) c->col[f + 1] += c->col[f];
    c->ent = ms_malloc((size_t)(nnz ? nnz : 1) * sizeof(entry));
    int64_t *fill = ms_malloc((size_t)s->d_sae * sizeof(int64_t));
    memcpy(fill, c->col, (size_t)s->d_sae * sizeof(int64_t));
    for (int64_t k = 0; k < nnz; k++) c->ent[fill[efeat[k]]++] = ent[k];
    free(fill);
    for (int f = 0; f < s->d_sae; f++)
        qsort(c->ent + c->col[f], (size_t)(c->col[f + 1] - c->col[f]), sizeof(entry), cmp_entry_desc);
    rc = 0;
done:
    ms_sae_codes_free(&codes);
    free(x); free(ids); free(efeat); free(ent);
    ms_acts_reader_close(rd);
    return rc;
}

// The best training F1 of feature f over its thresholds (each distinct activation), and that threshold.
static double best_train_f1(const coded *c, int f, const uint8_t *y, int64_t P, double *thr) {
    int64_t tp = 0, fp = 0;
    double best = 0;
    *thr = INFINITY;
    const entry *e = c->ent + c->col[f];
    const int64_t n = c->col[f + 1] - c->col[f];
    for (int64_t i = 0; i < n; i++) {
        if (!c->test[e[i].tok]) { if (y[e[i].tok]) tp++; else fp++; }
        if (i + 1 < n && e[i + 1].v == e[i].v) continue; // a threshold lies between distinct values
        double f1 = P + tp + fp > 0 ? 2.0 * tp / (double)(P + tp + fp) : 0;
        if (f1 > best) { best = f1; *thr = e[i].v; }
    }
    return best;
}

// Held-out precision, recall, F1 at threshold thr and the rank AUC of feature f's activation.
static void test_scores(const coded *c, int f, const uint8_t *y, int64_t P, int64_t N, double thr, ms_match_feature *m) {
    const entry *e = c->ent + c->col[f];
    const int64_t n = c->col[f + 1] - c->col[f];
    int64_t tp = 0, fp = 0, pos_seen = 0, neg_seen = 0;
    double auc = 0; // Σ over positives of P(a negative scores lower) + ½ P(ties)
    for (int64_t i = 0; i < n;) {
        int64_t pg = 0, ng = 0, j = i;
        for (; j < n && e[j].v == e[i].v; j++) {
            if (!c->test[e[j].tok]) continue;
            if (y[e[j].tok]) pg++; else ng++;
        }
        auc += pg * ((double)(N - neg_seen - ng) + 0.5 * ng);
        if (e[i].v >= thr) { tp += pg; fp += ng; }
        pos_seen += pg;
        neg_seen += ng;
        i = j;
    }
    auc += 0.5 * (double)(P - pos_seen) * (double)(N - neg_seen); // the tokens where f is 0 tie
    m->auc = P > 0 && N > 0 ? auc / ((double)P * N) : 0.5;
    m->precision = tp + fp > 0 ? (double)tp / (tp + fp) : 0;
    m->recall = P > 0 ? (double)tp / P : 0;
    m->f1 = P + tp + fp > 0 ? 2.0 * tp / (double)(P + tp + fp) : 0;
}

// The `top` features with the best training F1 for the concept whose token labels are y.
static void match_concept(const coded *c, int d_sae, const uint8_t *y, int top, ms_match_concept *mc) {
    int64_t P_train = 0, P_test = 0, N_test = 0;
    for (int64_t t = 0; t < c->n_tok; t++) {
        if (c->test[t]) { P_test += y[t]; N_test += !y[t]; }
        else P_train += y[t];
    }
    mc->n_pos = P_test;
    for (int k = 0; k < top; k++) mc->best[k] = (ms_match_feature){.feature = -1};
    for (int f = 0; f < d_sae; f++) {
        double thr, f1 = best_train_f1(c, f, y, P_train, &thr);
        if (!(f1 > 0)) continue;
        int k = top;
        while (k > 0 && (mc->best[k - 1].feature < 0 || f1 > mc->best[k - 1].train_f1)) k--;
        if (k >= top) continue;
        memmove(mc->best + k + 1, mc->best + k, (size_t)(top - k - 1) * sizeof *mc->best);
        mc->best[k] = (ms_match_feature){.feature = f, .train_f1 = f1, .threshold = thr};
    }
    for (int k = 0; k < top && mc->best[k].feature >= 0; k++)
        test_scores(c, mc->best[k].feature, y, P_test, N_test, mc->best[k].threshold, &mc->best[k]);
}

int ms_sae_match(const ms_sae *s, const ms_sae_match_opts *o, ms_sae_match_result *r) {
    memset(r, 0, sizeof *r);
    const int top = o->top > 0 ? o->top : 3;
    if (top > s->d_sae) { ms_error("--top %d exceeds the dictionary's %d features", top, s->d_sae); return -1; }
    ms_labels *lab = ms_labels_load(o->labels, o->concept);
    if (!lab) return -1;
    ms_probe_set *probe = NULL;
    coded c = {0};
    uint8_t *y = NULL;
    int rc = -1;
    const char *hook = o->hook ? o->hook : ms_sae_attr_str(s, "hook");
    if (o->probe) {
        if (!(probe = ms_probe_load(o->probe))) goto done;
        if (hook && probe->hook && strcmp(hook, probe->hook)) {
            ms_error("%s: a probe of %s, not of the SAE's site %s", o->probe, probe->hook, hook);
            goto done;
        }
    }
    if (encode_all(s, o, lab, probe ? probe->split : NULL, probe ? probe->n_seq : 0, &c)) goto done;
    for (int64_t t = 0; t < c.n_tok; t++) *(c.test[t] ? &r->n_test : &r->n_train) += 1;
    if (!r->n_train || !r->n_test) {
        ms_error("%s: %lld training and %lld held-out tokens: both are needed (more sequences?)", o->acts,
                 (long long)r->n_train, (long long)r->n_test);
        goto done;
    }
    r->top = top;
    r->n_concepts = lab->n_concepts;
    r->c = ms_calloc((size_t)lab->n_concepts, sizeof *r->c);
    y = ms_malloc((size_t)c.n_tok);
    for (int k = 0; k < lab->n_concepts; k++) {
        ms_match_concept *mc = &r->c[k];
        mc->concept = ms_strdup(lab->names[k]);
        mc->best = ms_calloc((size_t)top, sizeof *mc->best);
        mc->probe_f1 = NAN;
        for (int i = 0; probe && i < probe->n_fits; i++)
            if (!strcmp(probe->fits[i].concept, lab->names[k])) mc->probe_f1 = probe->fits[i].f1;
        for (int64_t t = 0; t < c.n_tok; t++) y[t] = lab->labels[k][c.flat[t]] != 0;
        match_concept(&c, s->d_sae, y, top, mc);
    }
    snprintf(r->hook, sizeof r->hook, "%s", hook ? hook : "");
    snprintf(r->acts, sizeof r->acts, "%s", o->acts);
    snprintf(r->labels, sizeof r->labels, "%s", o->labels);
    snprintf(r->probe, sizeof r->probe, "%s", o->probe ? o->probe : "");
    snprintf(r->split, sizeof r->split, "%s", probe ? "the probe's" : "sequence % 5 == 4 held out");
    rc = 0;
done:
    if (rc) ms_sae_match_result_free(r);
    free(y);
    coded_free(&c);
    ms_probe_set_free(probe);
    ms_labels_free(lab);
    return rc;
}

void ms_sae_match_result_free(ms_sae_match_result *r) {
    for (int k = 0; r->c && k < r->n_concepts; k++) { free(r->c[k].concept); free(r->c[k].best); }
    free(r->c);
    memset(r, 0, sizeof *r);
}

void ms_sae_match_print(FILE *f, const ms_sae_match_result *r) {
    fprintf(f, "features vs concepts: %s of %s (%lld training / %lld held-out tokens; scores on the held-out split)\n",
            r->hook, r->acts, (long long)r->n_train, (long long)r->n_test);
    fprintf(f, "%-18s %8s  %8s %6s %6s %6s %6s %10s  %8s\n", "concept", "tokens", "feature", "F1", "prec", "recall",
            "AUC", "threshold", "probe F1");
    for (int k = 0; k < r->n_concepts; k++) {
        const ms_match_concept *c = &r->c[k];
        for (int j = 0; j < r->top; j++) {
            const ms_match_feature *m = &c->best[j];
            char probe[16] = "";
            if (j == 0 && !isnan(c->probe_f1)) snprintf(probe, sizeof probe, "%.3f", c->probe_f1);
            if (m->feature < 0) {
                if (j == 0) fprintf(f, "%-18s %8lld  %8s\n", c->concept, (long long)c->n_pos, "(none fires)");
                break;
            }
            char feat[16];
            snprintf(feat, sizeof feat, "#%d", m->feature);
            fprintf(f, "%-18s %8s  %8s %6.3f %6.3f %6.3f %6.3f %10.4g  %8s%s\n", j ? "" : c->concept, "", feat, m->f1,
                    m->precision, m->recall, m->auc, m->threshold, probe,
                    j == 0 && !isnan(c->probe_f1) && m->f1 > c->probe_f1 ? "  (one feature beats the linear probe)" : "");
        }
    }
}

static json_object *jnum(double v) { return isfinite(v) ? json_object_new_double(v) : NULL; }

char *ms_sae_match_json(const ms_sae_match_result *r) {
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    json_object_object_add(o, "hook", json_object_new_string(r->hook));
    json_object_object_add(o, "acts", json_object_new_string(r->acts));
    json_object_object_add(o, "labels", json_object_new_string(r->labels));
    json_object_object_add(o, "probe", r->probe[0] ? json_object_new_string(r->probe) : NULL);
    json_object_object_add(o, "split", json_object_new_string(r->split));
    json_object_object_add(o, "n_train_tokens", json_object_new_int64(r->n_train));
    json_object_object_add(o, "n_test_tokens", json_object_new_int64(r->n_test));
    for (int k = 0; k < r->n_concepts; k++) {
        const ms_match_concept *c = &r->c[k];
        json_object *jc = json_object_new_object(), *best = json_object_new_array();
        json_object_object_add(jc, "concept", json_object_new_string(c->concept));
        json_object_object_add(jc, "n_pos_test", json_object_new_int64(c->n_pos));
        json_object_object_add(jc, "probe_f1", jnum(c->probe_f1));
        for (int j = 0; j < r->top && c->best[j].feature >= 0; j++) {
            const ms_match_feature *m = &c->best[j];
            json_object *jm = json_object_new_object();
            json_object_object_add(jm, "feature", json_object_new_int(m->feature));
            json_object_object_add(jm, "f1", jnum(m->f1));
            json_object_object_add(jm, "precision", jnum(m->precision));
            json_object_object_add(jm, "recall", jnum(m->recall));
            json_object_object_add(jm, "auc", jnum(m->auc));
            json_object_object_add(jm, "threshold", jnum(m->threshold));
            json_object_object_add(jm, "train_f1", jnum(m->train_f1));
            json_object_array_add(best, jm);
        }
        json_object_object_add(jc, "best", best);
        json_object_array_add(arr, jc);
    }
    json_object_object_add(o, "concepts", arr);
    char *s = ms_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return s;
}

int ms_sae_match_file(const char *sae_path, const ms_sae_match_opts *o, int store, ms_sae_match_result *r) {
    memset(r, 0, sizeof *r);
    ms_sae *s = ms_sae_load(sae_path);
    if (!s) return -1;
    int rc = ms_sae_match(s, o, r);
    ms_sae_free(s);
    if (!rc && store) rc = ms_sae_match_store(sae_path, r);
    if (rc) ms_sae_match_result_free(r);
    return rc;
}
