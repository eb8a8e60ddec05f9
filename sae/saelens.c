// saelens.c: SAELens directory export/import (see saelens.h for the mapping and its rationale).
#include "sae/saelens.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "io/json_util.h"
#include "io/safetensors.h"
#include "util/util.h"

#define CFG_NAME "cfg.json"
#define WEIGHTS_NAME "sae_weights.safetensors"
#define LOG_NAME "monoscope_training_log.safetensors"
#define EVAL_NAME "monoscope_eval.safetensors"
// The SAELens config generation we write. SAELens decides between its 6.x reader and its pre-6
// converter from metadata.sae_lens_version; every key either reader needs is present.
#define SAELENS_FORMAT_VERSION "6.0.0"

// ---------------------------------------------------------------- export

static int mkdir_p(const char *dir) {
    char *p = ms_strdup(dir);
    for (char *c = p + 1; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) { ms_error("%s: cannot create directory: %s", p, strerror(errno)); free(p); return -1; }
        *c = '/';
    }
    int rc = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST) { ms_error("%s: cannot create directory: %s", p, strerror(errno)); rc = -1; }
    else if (!ms_is_dir(p)) { ms_error("%s: exists and is not a directory", p); rc = -1; }
    free(p);
    return rc;
}

// A double that reads back bit-identically ("%.17g"), kept a JSON number.
static json_object *exact_double(double v) {
    if (!isfinite(v)) return json_object_new_string(isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    if (!strpbrk(buf, ".eE")) strcat(buf, ".0");
    return json_object_new_double_s(v, buf);
}

// An attribute list as a JSON array of {"name", "int" | "float" | "str"} (floats exact: %.17g).
static json_object *attrs_json(const ms_sae_attr *v, int n) {
    json_object *arr = json_object_new_array();
    for (int i = 0; i < n; i++) {
        const ms_sae_attr *a = &v[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(a->name));
        if (a->type == MS_ATTR_INT) json_object_object_add(o, "int", json_object_new_int64(a->i));
        else if (a->type == MS_ATTR_FLOAT) json_object_object_add(o, "float", exact_double(a->f));
        else json_object_object_add(o, "str", json_object_new_string(a->s ? a->s : ""));
        json_object_array_add(arr, o);
    }
    return arr;
}

// SAELens names a model as TransformerLens / the Hub do ("gpt2", "pythia-70m"); monoscope records the
// path it loaded. The last path component is that name for a Hugging Face download directory; a
// single-file checkpoint (GGUF, llama2.c .bin) loses its extension. The full path stays in the
// "monoscope" section. NULL when the SAE does not say.
static char *model_name_of(const char *model) {
    if (!model || !*model) return NULL;
    char *m = ms_strdup(model);
    size_t n = strlen(m);
    while (n > 1 && m[n - 1] == '/') m[--n] = 0;
    const char *slash = strrchr(m, '/');
    char *name = ms_strdup(slash && slash[1] ? slash + 1 : m);
    free(m);
    char *dot = strrchr(name, '.');
    if (dot && (!strcmp(dot, ".gguf") || !strcmp(dot, ".bin"))) *dot = 0;
    return name;
}

// "blocks.5.hook_resid_pre" -> 5; -1 for global sites.
static int hook_layer(const char *hook) {
    if (!hook || strncmp(hook, "blocks.", 7) != 0) return -1;
    char *end = NULL;
    long l = strtol(hook + 7, &end, 10);
    return end && *end == '.' && end > hook + 7 ? (int)l : -1;
}

static int write_text_atomic(const char *path, const char *text) {
    char *tmp = ms_atomic_tmp_path(path);
    FILE *f = fopen(tmp, "wb");
    if (!f) { ms_error("%s: cannot write: %s", path, strerror(errno)); free(tmp); return -1; }
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n && fputc('\n', f) != EOF;
    if (fclose(f) != 0) ok = 0;
    if (!ok) { ms_error("%s: write failed: %s", path, strerror(errno)); unlink(tmp); free(tmp); return -1; }
    int rc = ms_atomic_commit(tmp, path);
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

// /eval's datasets beside the weights (its attributes go into cfg.json's "monoscope" section);
// a stale file from an earlier export is removed when the SAE has no /eval.
static int write_eval_file(const ms_sae *s, const char *dir) {
    char *epath = ms_path_join(dir, EVAL_NAME);
    int rc = 0;
    const ms_sae_eval_group *e = s->eval;
    if (e && (e->density || e->hist)) {
        ms_st_writer *w = ms_st_writer_new();
        int64_t sh_d[1] = {s->d_sae}, sh_h[1] = {e->n_hist};
        if (e->density) ms_st_writer_add(w, "feature_density", MS_DT_F64, 1, sh_d, e->density);
        if (e->hist) ms_st_writer_add(w, "density_hist", MS_DT_I64, 1, sh_h, e->hist);
        rc = ms_st_writer_write(w, epath);
        ms_st_writer_free(w);
    } else if (ms_file_exists(epath)) {
        unlink(epath);
    }
    free(epath);
    return rc;
}

int ms_saelens_export(const ms_sae *s, const char *dir) {
    if (mkdir_p(dir)) return -1;
    const int sae_arch_saelens_jumprelu = s->arch == MS_SAE_JUMPRELU || s->arch == MS_SAE_BATCHTOPK;
    if (sae_arch_saelens_jumprelu && !s->threshold) { ms_error("%s: SAE has no threshold", dir); return -1; }
    const char *arch = s->arch == MS_SAE_RELU ? "standard" : s->arch == MS_SAE_TOPK ? "topk" : "jumprelu";

    // ---- weights (float32, the layout SAELens' state_dict uses)
    char *wpath = ms_path_join(dir, WEIGHTS_NAME);
    ms_st_writer *w = ms_st_writer_new();
    int64_t sh_enc[2] = {s->d_in, s->d_sae}, sh_dec[2] = {s->d_sae, s->d_in}, sh_s[1] = {s->d_sae}, sh_d[1] = {s->d_in};
    ms_st_writer_add(w, "W_enc", MS_DT_F32, 2, sh_enc, s->W_enc);
    ms_st_writer_add(w, "W_dec", MS_DT_F32, 2, sh_dec, s->W_dec);
    ms_st_writer_add(w, "b_enc", MS_DT_F32, 1, sh_s, s->b_enc);
    ms_st_writer_add(w, "b_dec", MS_DT_F32, 1, sh_d, s->b_dec);
    if (sae_arch_saelens_jumprelu) ms_st_writer_add(w, "threshold", MS_DT_F32, 1, sh_s, s->threshold);
    int rc = ms_st_writer_write(w, wpath);
    ms_st_writer_free(w);
    free(wpath);
    if (rc) return -1;

    // ---- training log beside it (SAELens ignores unknown files; its state_dict must stay exact)
    char *lpath = ms_path_join(dir, LOG_NAME);
    if (s->log && s->log_rows > 0 && s->log_cols > 0) {
        json_object *cols = json_object_new_array();
        for (int c = 0; c < s->log_cols; c++) json_object_array_add(cols, json_object_new_string(s->log_columns[c]));
        ms_st_writer *lw = ms_st_writer_new();
        int64_t sh[2] = {s->log_rows, s->log_cols};
        ms_st_writer_add(lw, "training_log", MS_DT_F64, 2, sh, s->log);
        ms_st_writer_meta(lw, "columns", json_object_to_json_string_ext(cols, JSON_C_TO_STRING_PLAIN));
        rc = ms_st_writer_write(lw, lpath);
        ms_st_writer_free(lw);
        json_object_put(cols);
        if (rc) { free(lpath); return -1; }
    } else if (ms_file_exists(lpath)) {
        unlink(lpath); // a stale log from an earlier export into the same directory
    }
    free(lpath);
    if (write_eval_file(s, dir)) return -1;

    // ---- cfg.json
    const char *hook = ms_sae_attr_str(s, "hook");
    char *model = model_name_of(ms_sae_attr_str(s, "model"));
    int layer = hook_layer(hook);
    // SAELens flattens hook_z's (heads, d_head) itself when told so; our hook_z rows are already flat
    const size_t hl = hook ? strlen(hook) : 0;
    const int is_z = hl >= 7 && !strcmp(hook + hl - 7, ".hook_z");
    const ms_sae_attr *bos = ms_sae_attr_get(s, "prepend_bos"), *ctx = ms_sae_attr_get(s, "context_size");
    json_object *cfg = json_object_new_object();
    json_object_object_add(cfg, "architecture", json_object_new_string(arch));
    json_object_object_add(cfg, "d_in", json_object_new_int(s->d_in));
    json_object_object_add(cfg, "d_sae", json_object_new_int(s->d_sae));
    json_object_object_add(cfg, "dtype", json_object_new_string("float32"));
    json_object_object_add(cfg, "device", json_object_new_string("cpu"));
    json_object_object_add(cfg, "apply_b_dec_to_input", json_object_new_boolean(1));
    json_object_object_add(cfg, "normalize_activations", json_object_new_string("none"));
    json_object_object_add(cfg, "reshape_activations", json_object_new_string(is_z ? "hook_z" : "none"));
    if (s->arch == MS_SAE_TOPK) {
        json_object_object_add(cfg, "k", json_object_new_int(s->k));
        json_object_object_add(cfg, "rescale_acts_by_decoder_norm", json_object_new_boolean(0));
    }
    // pre-6 readers: activation function and flat metadata
    json_object *akw = json_object_new_object();
    if (s->arch == MS_SAE_TOPK) json_object_object_add(akw, "k", json_object_new_int(s->k));
    json_object_object_add(cfg, "activation_fn_str", json_object_new_string(s->arch == MS_SAE_TOPK ? "topk" : "relu"));
    json_object_object_add(cfg, "activation_fn_kwargs", akw);
    json_object_object_add(cfg, "finetuning_scaling_factor", json_object_new_boolean(0));
    json_object_object_add(cfg, "model_name", model ? json_object_new_string(model) : NULL);
    json_object_object_add(cfg, "hook_name", hook ? json_object_new_string(hook) : NULL);
    json_object_object_add(cfg, "hook_layer", json_object_new_int(layer < 0 ? 0 : layer));
    json_object_object_add(cfg, "hook_head_index", NULL);
    // prepend_bos / context_size as the activations were captured; left out (SAELens' defaults
    // apply) for an SAE that does not record them
    if (bos) json_object_object_add(cfg, "prepend_bos", json_object_new_boolean(bos->i != 0));
    if (ctx && ctx->i > 0) json_object_object_add(cfg, "context_size", json_object_new_int64(ctx->i));
    // 6.x metadata
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "sae_lens_version", json_object_new_string(SAELENS_FORMAT_VERSION));
    json_object_object_add(meta, "sae_lens_training_version", NULL);
    json_object_object_add(meta, "model_name", model ? json_object_new_string(model) : NULL);
    json_object_object_add(meta, "hook_name", hook ? json_object_new_string(hook) : NULL);
    json_object_object_add(meta, "hook_head_index", NULL);
    if (bos) json_object_object_add(meta, "prepend_bos", json_object_new_boolean(bos->i != 0));
    if (ctx && ctx->i > 0) json_object_object_add(meta, "context_size", json_object_new_int64(ctx->i));
    json_object_object_add(cfg, "metadata", meta);
    // ours: everything needed to restore sae.h5 exactly
    json_object *ms = json_object_new_object();
    json_object_object_add(ms, "version", json_object_new_string(MS_VERSION));
    json_object_object_add(ms, "architecture", json_object_new_string(ms_sae_arch_name(s->arch)));
    json_object_object_add(ms, "k", json_object_new_int(s->k));
    json_object_object_add(ms, "attrs", attrs_json(s->attrs, s->n_attrs));
    if (s->eval) json_object_object_add(ms, "eval_attrs", attrs_json(s->eval->attrs, s->eval->n_attrs));
    json_object_object_add(cfg, "monoscope", ms);

    char *cpath = ms_path_join(dir, CFG_NAME);
    rc = write_text_atomic(cpath, json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
    free(cpath);
    json_object_put(cfg);
    free(model);
    return rc;
}

// ---------------------------------------------------------------- import

static json_object *member(json_object *o, const char *key) {
    json_object *v = NULL;
    if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v)) return NULL;
    return v;
}

// First string found under key at top level, then in "metadata", then in "meta" (SAELens 6.0).
static int cfg_string(json_object *cfg, const char *key, const char **out, const char *path) {
    const char *where[3] = {NULL, "metadata", "meta"};
    for (int i = 0; i < 3; i++) {
        json_object *o = where[i] ? member(cfg, where[i]) : cfg;
        if (!o || !json_object_is_type(o, json_type_object)) continue;
        int r = ms_json_get_string(o, key, out, path);
        if (r) return r;
    }
    return 0;
}

// A float tensor of the expected shape, converted to float32 (fresh buffer). NULL + error otherwise.
static float *tensor_f32(const ms_safetensors *st, const char *name, int ndim, const int64_t *shape,
                         const char *path, int required) {
    const ms_st_tensor *t = ms_safetensors_find(st, name);
    if (!t) {
        if (required) ms_error("%s: tensor '%s' is missing", path, name);
        return NULL;
    }
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char want[64], got[64];
        int n = 0;
        for (int i = 0; i < ndim; i++) n += snprintf(want + n, sizeof want - n, "%s%lld", i ? "," : "", (long long)shape[i]);
        n = 0;
        got[0] = 0;
        for (int i = 0; i < t->ndim && n < (int)sizeof got - 24; i++) n += snprintf(got + n, sizeof got - n, "%s%lld", i ? "," : "", (long long)t->shape[i]);
        ms_error("%s: tensor '%s' has shape [%s], expected [%s] from cfg.json", path, name, got, want);
        return NULL;
    }
    if (t->dtype != MS_DT_F32 && t->dtype != MS_DT_F16 && t->dtype != MS_DT_BF16 && t->dtype != MS_DT_F64) {
        ms_error("%s: tensor '%s' has dtype %s; expected F32, F16, BF16 or F64", path, name, ms_dtype_name(t->dtype));
        return NULL;
    }
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= (size_t)shape[i];
    float *out = ms_malloc(numel * sizeof(float) + 1);
    if (ms_tensor_to_f32(t->dtype, t->data, numel, out)) { free(out); return NULL; }
    return out;
}

static int finite_all(const float *a, size_t n) {
    for (size_t i = 0; i < n; i++) if (!isfinite(a[i])) return 0;
    return 1;
}

// Restores an attribute list our own export stored (attrs_json) into (*v, *nv); returns the number
// restored.
static int restore_attrs(ms_sae_attr **v, int *nv, json_object *attrs) {
    if (!attrs || !json_object_is_type(attrs, json_type_array)) return 0;
    int n = 0;
    for (size_t i = 0; i < json_object_array_length(attrs); i++) {
        json_object *o = json_object_array_get_idx(attrs, i), *x;
        json_object *nm = member(o, "name");
        if (!nm || !json_object_is_type(nm, json_type_string)) continue;
        const char *name = json_object_get_string(nm);
        if ((x = member(o, "int"))) ms_sae_attr_set_int(ms_sae_attr_slot(v, nv, name), json_object_get_int64(x));
        else if ((x = member(o, "float")))
            ms_sae_attr_set_float(ms_sae_attr_slot(v, nv, name), json_object_is_type(x, json_type_string)
                                                                      ? strtod(json_object_get_string(x), NULL)
                                                                      : json_object_get_double(x));
        else if ((x = member(o, "str"))) ms_sae_attr_set_str(ms_sae_attr_slot(v, nv, name), json_object_get_string(x));
        else continue;
        n++;
    }
    return n;
}

// /eval from our own export: its attributes from cfg.json, its datasets from monoscope_eval.safetensors.
static int read_eval(ms_sae *s, json_object *ms, const char *dir) {
    json_object *ea = member(ms, "eval_attrs");
    if (!ea) return 0;
    ms_sae_eval_group *e = ms_calloc(1, sizeof *e);
    ms_sae_set_eval(s, e);
    restore_attrs(&e->attrs, &e->n_attrs, ea);
    char *epath = ms_path_join(dir, EVAL_NAME);
    int rc = 0;
    if (ms_file_exists(epath)) {
        ms_safetensors *st = ms_safetensors_open(epath);
        if (!st) { free(epath); return -1; }
        const ms_st_tensor *d = ms_safetensors_find(st, "feature_density"), *h = ms_safetensors_find(st, "density_hist");
        if ((d && (d->dtype != MS_DT_F64 || d->ndim != 1 || d->shape[0] != s->d_sae)) ||
            (h && (h->dtype != MS_DT_I64 || h->ndim != 1 || h->shape[0] < 1 || h->shape[0] > 4096))) {
            ms_error("%s: not a monoscope eval file (feature_density F64 [d_sae], density_hist I64 [bins])", epath);
            rc = -1;
        } else {
            if (d) { e->density = ms_malloc(d->nbytes); memcpy(e->density, d->data, d->nbytes); } // mapping may be unaligned
            if (h) { e->hist = ms_malloc(h->nbytes); memcpy(e->hist, h->data, h->nbytes); e->n_hist = (int)h->shape[0]; }
        }
        ms_safetensors_close(st);
    }
    free(epath);
    return rc;
}

static int read_training_log(ms_sae *s, const char *dir) {
    char *lpath = ms_path_join(dir, LOG_NAME);
    int rc = 0;
    if (ms_file_exists(lpath)) {
        ms_safetensors *st = ms_safetensors_open(lpath);
        const ms_st_tensor *t = st ? ms_safetensors_find(st, "training_log") : NULL;
        const char *cols = st ? ms_safetensors_meta(st, "columns") : NULL;
        json_object *ca = cols ? json_tokener_parse(cols) : NULL;
        if (!st) rc = -1;
        else if (!t || t->dtype != MS_DT_F64 || t->ndim != 2 || !ca || !json_object_is_type(ca, json_type_array) ||
                 (int64_t)json_object_array_length(ca) != t->shape[1]) {
            ms_error("%s: not a monoscope training log", lpath);
            rc = -1;
        } else {
            int cols_n = (int)t->shape[1];
            const char **names = ms_calloc((size_t)cols_n + 1, sizeof(char *));
            for (int c = 0; c < cols_n; c++) names[c] = json_object_get_string(json_object_array_get_idx(ca, c));
            // the mapping may be unaligned for doubles: copy through memcpy
            double *buf = ms_malloc(t->nbytes + 8);
            memcpy(buf, t->data, t->nbytes);
            ms_sae_set_log(s, buf, (int)t->shape[0], cols_n, names);
            free(buf);
            free(names);
        }
        if (ca) json_object_put(ca);
        if (st) ms_safetensors_close(st);
    }
    free(lpath);
    return rc;
}

// The per-latent threshold of a JumpReLU/BatchTopK SAE: "threshold", exp("log_threshold"), or a
// training checkpoint's scalar "topk_threshold" (BatchTopK); NULL + ms_error when none is usable.
static float *read_threshold(ms_safetensors *st, ms_sae_arch arch, const char *arch_s, const char *wpath, int64_t d_sae) {
    const size_t DS = (size_t)d_sae;
    int64_t sh_s[1] = {d_sae};
    float *thr = tensor_f32(st, "threshold", 1, sh_s, wpath, 0);
    if (thr) return thr;
    if (ms_safetensors_find(st, "threshold")) return NULL; // present but wrong
    if ((thr = tensor_f32(st, "log_threshold", 1, sh_s, wpath, 0))) {
        for (size_t i = 0; i < DS; i++) thr[i] = expf(thr[i]);
        return thr;
    }
    if (ms_safetensors_find(st, "log_threshold")) return NULL;
    if (arch == MS_SAE_BATCHTOPK) { // a training checkpoint: one scalar threshold
        const ms_st_tensor *t = ms_safetensors_find(st, "topk_threshold");
        float v;
        if (t && t->ndim == 0 && (t->dtype == MS_DT_F64 || t->dtype == MS_DT_F32) && !ms_tensor_to_f32(t->dtype, t->data, 1, &v)) {
            thr = ms_malloc(DS * sizeof(float));
            for (size_t i = 0; i < DS; i++) thr[i] = v;
            return thr;
        }
    }
    ms_error("%s: %s SAE without a 'threshold' tensor", wpath, arch_s);
    return NULL;
}

// SAELens conventions folded into monoscope's rule pre = (x - b_dec) W_enc + b_enc, x̂ = f W_dec + b_dec:
// an activation-norm scaling factor (fold_activation_norm_scaling_factor), decoder row norms
// (rescale_acts_by_decoder_norm, TopK), and apply_b_dec_to_input = false (b_dec W_enc into b_enc).
static void fold_into_weights(float *W_enc, float *W_dec, float *b_enc, float *b_dec, size_t DI, size_t DS,
                              double norm_scale, int fold_dec_norms, int fold_b_dec) {
    if (norm_scale > 0) { // SAELens' fold_activation_norm_scaling_factor
        const float sc = (float)norm_scale;
        for (size_t i = 0; i < DI * DS; i++) { W_enc[i] *= sc; W_dec[i] /= sc; }
        for (size_t q = 0; q < DI; q++) b_dec[q] /= sc;
    }
    if (fold_dec_norms) { // treat the decoder as normalised: fold its row norms
        for (size_t i = 0; i < DS; i++) {
            double n2 = 0;
            for (size_t q = 0; q < DI; q++) n2 += (double)W_dec[i * DI + q] * W_dec[i * DI + q];
            float nrm = (float)sqrt(n2);
            for (size_t q = 0; q < DI; q++) W_enc[q * DS + i] *= nrm;
            b_enc[i] *= nrm;
            if (nrm > 0) for (size_t q = 0; q < DI; q++) W_dec[i * DI + q] /= nrm;
        }
    }
    if (fold_b_dec) { // x W_enc + b_enc = (x - b_dec) W_enc + (b_enc + b_dec W_enc)
        double *acc = ms_calloc(DS, sizeof(double));
        for (size_t q = 0; q < DI; q++) {
            const double bq = b_dec[q];
            const float *row = W_enc + q * DS;
            for (size_t i = 0; i < DS; i++) acc[i] += bq * row[i];
        }
        for (size_t i = 0; i < DS; i++) b_enc[i] = (float)((double)b_enc[i] + acc[i]);
        free(acc);
    }
}

// Where an SAE without monoscope's own attributes came from: hook, model, the SAELens version and
// architecture, and what the import folded into the weights.
static void set_import_attrs(ms_sae *s, json_object *cfg, const char *cpath, const char *dir, const char *hook,
                             const char *model, const char *arch_s, int apply_b_dec, double norm_scale) {
    if (hook) ms_sae_set_attr_str(s, "hook", hook);
    if (model) ms_sae_set_attr_str(s, "model", model);
    ms_sae_set_attr_str(s, "imported_from", dir);
    ms_sae_set_attr_str(s, "imported_format", "saelens");
    const char *ver = NULL;
    if (cfg_string(cfg, "sae_lens_training_version", &ver, cpath) > 0 || cfg_string(cfg, "sae_lens_version", &ver, cpath) > 0)
        ms_sae_set_attr_str(s, "saelens_version", ver);
    ms_sae_set_attr_str(s, "saelens_architecture", arch_s);
    if (!apply_b_dec) ms_sae_set_attr_str(s, "import_note", "apply_b_dec_to_input=false folded into b_enc");
    if (norm_scale > 0) ms_sae_set_attr_float(s, "norm_scale_folded", norm_scale);
}

// The SAE's architecture and k from cfg.json: "architecture" with activation_fn (SAELens' "standard"
// + topk is TopK), k top-level (SAELens 6) or in activation_fn_kwargs (3-5), our own BatchTopK
// export (jumprelu + monoscope.architecture). 0 / -1 + ms_error.
static int resolve_arch(json_object *cfg, json_object *ms, const char *cpath, const char *arch_s, const char *act,
                        int64_t d_sae, ms_sae_arch *arch, int *k) {
    *k = 0;
    // k: top-level (SAELens 6) or activation_fn_kwargs.k (3-5); a float for BatchTopK
    double kd = 0;
    int have_k = ms_json_get_double(cfg, "k", &kd, cpath);
    if (have_k < 0) return -1;
    if (!have_k) {
        json_object *kw = member(cfg, "activation_fn_kwargs");
        if (kw && (have_k = ms_json_get_double(kw, "k", &kd, cpath)) < 0) return -1;
    }

    const char *ms_arch = NULL;
    if (ms && ms_json_get_string(ms, "architecture", &ms_arch, cpath) < 0) return -1;

    if (!strcmp(arch_s, "standard")) *arch = (act && !strcmp(act, "topk")) ? MS_SAE_TOPK : MS_SAE_RELU;
    else if (!strcmp(arch_s, "topk")) *arch = MS_SAE_TOPK;
    else if (!strcmp(arch_s, "jumprelu")) *arch = MS_SAE_JUMPRELU;
    else if (!strcmp(arch_s, "batchtopk")) *arch = MS_SAE_BATCHTOPK;
    else {
        ms_error("%s: unsupported SAELens architecture '%s' (monoscope reads standard, topk, jumprelu, batchtopk)", cpath, arch_s);
        return -1;
    }
    if (*arch == MS_SAE_JUMPRELU && ms_arch && !strcmp(ms_arch, "batchtopk")) { // our own BatchTopK export
        *arch = MS_SAE_BATCHTOPK;
        int64_t mk = 0;
        if (ms_json_get_int(ms, "k", &mk, cpath) < 0) return -1;
        kd = (double)mk;
        have_k = 1;
    }
    if (act && strcmp(act, "relu") && strcmp(act, "topk")) {
        ms_error("%s: unsupported activation function '%s'", cpath, act);
        return -1;
    }
    if (*arch == MS_SAE_TOPK || *arch == MS_SAE_BATCHTOPK) {
        if (!have_k && *arch == MS_SAE_TOPK) { ms_error("%s: topk SAE without k (neither \"k\" nor activation_fn_kwargs.k)", cpath); return -1; }
        if (have_k && (!(kd >= 1) || kd > (double)d_sae)) { ms_error("%s: k=%g out of range [1, d_sae=%lld]", cpath, kd, (long long)d_sae); return -1; }
        *k = have_k ? (int)lround(kd) : 0;
    }
    return 0;
}

ms_sae *ms_saelens_import(const char *dir, const ms_saelens_import_opts *opts) {
    if (!ms_is_dir(dir)) {
        ms_error("%s: %s", dir, ms_file_exists(dir) ? "not a directory (expected a SAELens directory with cfg.json and sae_weights.safetensors)"
                                                     : "no such directory");
        return NULL;
    }
    char *cpath = ms_path_join(dir, CFG_NAME), *wpath = ms_path_join(dir, WEIGHTS_NAME);
    json_object *cfg = NULL;
    ms_safetensors *st = NULL;
    ms_sae *s = NULL;
    float *W_enc = NULL, *W_dec = NULL, *b_enc = NULL, *b_dec = NULL, *thr = NULL, *aux = NULL;

    if (!ms_file_exists(cpath)) { ms_error("%s: no cfg.json (not a SAELens directory)", dir); goto fail; }
    if (!(cfg = ms_json_read_file(cpath))) goto fail;
    if (!json_object_is_type(cfg, json_type_object)) { ms_error("%s: expected a JSON object", cpath); goto fail; }

    int64_t d_in = 0, d_sae = 0;
    int r1 = ms_json_get_int(cfg, "d_in", &d_in, cpath);
    if (r1 < 0) goto fail;
    int r2 = ms_json_get_int(cfg, "d_sae", &d_sae, cpath);
    if (r2 < 0) goto fail;
    if (!r1 || !r2) { ms_error("%s: \"%s\" is missing", cpath, !r1 ? "d_in" : "d_sae"); goto fail; }
    if (d_in <= 0 || d_sae <= 0 || d_in > (1 << 24) || d_sae > (1 << 26)) {
        ms_error("%s: implausible dimensions d_in=%lld d_sae=%lld", cpath, (long long)d_in, (long long)d_sae);
        goto fail;
    }

    const char *arch_s = "standard", *act = NULL, *norm = "none", *hook = NULL, *model = NULL;
    if (ms_json_get_string(cfg, "architecture", &arch_s, cpath) < 0) goto fail;
    if (ms_json_get_string(cfg, "activation_fn_str", &act, cpath) < 0) goto fail;
    if (!act && ms_json_get_string(cfg, "activation_fn", &act, cpath) < 0) goto fail;
    // normalize_activations: a string, or a bool in pre-4 files (true = expected_average_only_in)
    json_object *nv = member(cfg, "normalize_activations");
    if (nv && json_object_is_type(nv, json_type_boolean)) norm = json_object_get_boolean(nv) ? "expected_average_only_in" : "none";
    else if (ms_json_get_string(cfg, "normalize_activations", &norm, cpath) < 0) goto fail;
    int apply_b_dec = 1, rescale = 0;
    if (ms_json_get_bool(cfg, "apply_b_dec_to_input", &apply_b_dec, cpath) < 0) goto fail;
    if (ms_json_get_bool(cfg, "rescale_acts_by_decoder_norm", &rescale, cpath) < 0) goto fail;
    if (cfg_string(cfg, "hook_name", &hook, cpath) < 0) goto fail;
    if (!hook && cfg_string(cfg, "hook_point", &hook, cpath) < 0) goto fail;
    if (cfg_string(cfg, "model_name", &model, cpath) < 0) goto fail;
    const char *reshape = NULL;
    if (ms_json_get_string(cfg, "reshape_activations", &reshape, cpath) < 0) goto fail;
    if (reshape && strcmp(reshape, "none") && strcmp(reshape, "hook_z")) {
        ms_error("%s: unsupported reshape_activations '%s'", cpath, reshape);
        goto fail;
    }

    json_object *ms = member(cfg, "monoscope");
    ms_sae_arch arch;
    int k;
    if (resolve_arch(cfg, ms, cpath, arch_s, act, d_sae, &arch, &k)) goto fail;

    double norm_scale = 0;
    if (!strcmp(norm, "expected_average_only_in")) {
        if (!opts || !(opts->norm_scale > 0)) {
            ms_error("%s: normalize_activations is expected_average_only_in: give the release's scaling factor with --norm-scale", cpath);
            goto fail;
        }
        norm_scale = opts->norm_scale;
    } else if (strcmp(norm, "none")) {
        ms_error("%s: normalize_activations '%s' is a per-token normalisation monoscope cannot fold into the weights", cpath, norm);
        goto fail;
    }

    if (!ms_file_exists(wpath)) { ms_error("%s: no %s", dir, WEIGHTS_NAME); goto fail; }
    if (!(st = ms_safetensors_open(wpath))) goto fail;
    int64_t sh_enc[2] = {d_in, d_sae}, sh_dec[2] = {d_sae, d_in}, sh_s[1] = {d_sae}, sh_d[1] = {d_in};
    if (!(W_enc = tensor_f32(st, "W_enc", 2, sh_enc, wpath, 1))) goto fail;
    if (!(W_dec = tensor_f32(st, "W_dec", 2, sh_dec, wpath, 1))) goto fail;
    if (!(b_enc = tensor_f32(st, "b_enc", 1, sh_s, wpath, 1))) goto fail;
    if (!(b_dec = tensor_f32(st, "b_dec", 1, sh_d, wpath, 1))) goto fail;
    const size_t DI = (size_t)d_in, DS = (size_t)d_sae;
    if (arch == MS_SAE_JUMPRELU || arch == MS_SAE_BATCHTOPK) {
        if (!(thr = read_threshold(st, arch, arch_s, wpath, d_sae))) goto fail;
    }
    if (!finite_all(W_enc, DI * DS) || !finite_all(W_dec, DI * DS) || !finite_all(b_enc, DS) || !finite_all(b_dec, DI) ||
        (thr && !finite_all(thr, DS))) {
        ms_error("%s: weights contain NaN or infinity", wpath);
        goto fail;
    }

    // ---- conversions to monoscope's rule pre = (x - b_dec) W_enc + b_enc, f per arch, x̂ = f W_dec + b_dec
    aux = tensor_f32(st, "scaling_factor", 1, sh_s, wpath, 0);
    if (!aux && ms_safetensors_find(st, "scaling_factor")) goto fail;
    if (aux) { // finetuning scaling: decode(f * sf)
        for (size_t i = 0; i < DS; i++)
            if (aux[i] != 1.0f) for (size_t q = 0; q < DI; q++) W_dec[i * DI + q] *= aux[i];
        free(aux); aux = NULL;
    }
    fold_into_weights(W_enc, W_dec, b_enc, b_dec, DI, DS, norm_scale, rescale && arch == MS_SAE_TOPK, !apply_b_dec);

    s = ms_sae_new(arch, (int)d_in, (int)d_sae, k);
    memcpy(s->W_enc, W_enc, DI * DS * sizeof(float));
    memcpy(s->W_dec, W_dec, DI * DS * sizeof(float));
    memcpy(s->b_enc, b_enc, DS * sizeof(float));
    memcpy(s->b_dec, b_dec, DI * sizeof(float));
    if (thr) memcpy(s->threshold, thr, DS * sizeof(float));

    if (ms && restore_attrs(&s->attrs, &s->n_attrs, member(ms, "attrs")) > 0) {
        if (read_training_log(s, dir) || read_eval(s, ms, dir)) goto fail;
    } else {
        set_import_attrs(s, cfg, cpath, dir, hook, model, arch_s, apply_b_dec, norm_scale);
    }
    ms_clear_error();
    goto done;

fail:
    if (s) { ms_sae_free(s); s = NULL; }
done:
    free(W_enc); free(W_dec); free(b_enc); free(b_dec); free(thr); free(aux);
    if (st) ms_safetensors_close(st);
    if (cfg) json_object_put(cfg);
    free(cpath); free(wpath);
    return s;
}
