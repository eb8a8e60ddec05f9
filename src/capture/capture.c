// capture.c: corpus -> activations HDF5, batch by batch (see capture.h, README "Activations file").
//
// Crash safety: a run writes "<out>.partial". After every batch the datasets are extended, the batch
// is written, the root attribute n_seq is set to the number of complete rows and the file is flushed,
// so a crash or Ctrl-C loses at most the batch in flight. --resume reopens the partial file, checks
// that model, hooks, ctx, dtype, input format and batch size are the same (attribute resume_key),
// re-reads the input up to n_seq rows checking they equal /tokens, and continues. At the end the
// partial file is fsynced and renamed to <out>.
//
// Rows are ctx tokens long. A shorter sequence (the last window of a document, a short ids line)
// is padded: token -1, activations 0 (attention scores: -inf in the masked columns, 0 in padded rows).
#include "capture/capture.h"
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "model/model.h"
#include "model/observe.h"
#include "util/util.h"

typedef struct {
    ms_site site;
    int layer;
    char name[96];
    int ndim;           // per-sequence rank at ctx
    int64_t shape[4];   // per-sequence shape at ctx
    size_t row;         // floats per sequence at ctx
    float *buf;         // (batch, row) staging for the batch in flight, filled by ms_observe
    hid_t ds;
} cap_hook;

// ---- HDF5 helpers
static int attr_str(hid_t obj, const char *name, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) + 1);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, t, value);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc < 0 ? -1 : 0;
}

static int attr_i64(hid_t obj, const char *name, long long v, int create) {
    hid_t a;
    if (create) {
        hid_t sp = H5Screate(H5S_SCALAR);
        a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Sclose(sp);
    } else {
        a = H5Aopen(obj, name, H5P_DEFAULT);
    }
    if (a < 0) return -1;
    herr_t rc = H5Awrite(a, H5T_NATIVE_LLONG, &v);
    H5Aclose(a);
    return rc < 0 ? -1 : 0;
}

static int attr_read_i64(hid_t obj, const char *name, long long *v) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    herr_t rc = H5Aread(a, H5T_NATIVE_LLONG, v);
    H5Aclose(a);
    return rc < 0 ? -1 : 0;
}

static char *attr_read_str(hid_t obj, const char *name) {
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ft = H5Aget_type(a);
    char *s = NULL;
    if (H5Tget_class(ft) == H5T_STRING && !H5Tis_variable_str(ft)) {
        size_t n = H5Tget_size(ft);
        s = ms_calloc(n + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_cset(mt, H5Tget_cset(ft));
        H5Tset_size(mt, n);
        if (H5Aread(a, mt, s) < 0) { free(s); s = NULL; }
        H5Tclose(mt);
    }
    H5Tclose(ft);
    H5Aclose(a);
    return s;
}

// IEEE binary16, little-endian, as h5py's float16 (built from the float32 type: HDF5 1.10 has no
// predefined half type).
static hid_t f16_type(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
}

static hid_t create_rows(hid_t f, const char *path, hid_t type, int ndim, const hsize_t *row_dims,
                         size_t row_bytes, int batch, int compress) {
    hsize_t dims[6] = {0}, maxd[6] = {H5S_UNLIMITED}, chunk[6];
    // a chunk holds a few whole rows (~1 MiB), so readers stream rows and writers write whole chunks
    hsize_t rows = row_bytes ? (hsize_t)((1u << 20) / row_bytes) : 1;
    if (rows < 1) rows = 1;
    if (rows > (hsize_t)batch) rows = (hsize_t)batch;
    chunk[0] = rows;
    for (int i = 0; i < ndim; i++) dims[i + 1] = maxd[i + 1] = chunk[i + 1] = row_dims[i];
    hid_t sp = H5Screate_simple(ndim + 1, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, ndim + 1, chunk);
    if (compress > 0) {
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, (unsigned)compress);
    }
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t ds = H5Dcreate2(f, path, type, sp, lcpl, dcpl, H5P_DEFAULT);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return ds;
}

// Writes rows [row0, row0 + n) of a (rows, ...) dataset, growing it to row0 + n rows.
static int write_rows(hid_t ds, hid_t mtype, hsize_t row0, hsize_t n, const void *data) {
    hid_t sp = H5Dget_space(ds);
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[8], start[8] = {0}, count[8];
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    dims[0] = row0 + n;
    if (H5Dset_extent(ds, dims) < 0) return -1;
    sp = H5Dget_space(ds);
    start[0] = row0;
    count[0] = n;
    for (int i = 1; i < nd; i++) count[i] = dims[i];
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(nd, count, NULL);
    herr_t rc = H5Dwrite(ds, mtype, ms, sp, H5P_DEFAULT, data);
    H5Sclose(ms);
    H5Sclose(sp);
    return rc < 0 ? -1 : 0;
}

static int set_rows(hid_t ds, hsize_t n) {
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[8];
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    dims[0] = n;
    return H5Dset_extent(ds, dims) < 0 ? -1 : 0;
}

static int write_vocab(hid_t f, const ms_model *m) {
    if (!m->tok) return attr_str(f, "vocab_note", "the model has no tokenizer: /vocab omitted");
    const int V = m->cfg.vocab_size, tv = ms_tokenizer_vocab_size(m->tok);
    char **strs = ms_malloc((size_t)V * sizeof(char *));
    for (int i = 0; i < V; i++) {
        size_t len = 0;
        const char *b = i < tv ? ms_tokenizer_token_bytes(m->tok, i, &len) : "";
        strs[i] = ms_malloc(len + 1);
        memcpy(strs[i], b, len);
        strs[i][len] = 0;
    }
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_ASCII);
    hsize_t d = (hsize_t)V;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t ds = H5Dcreate2(f, "vocab", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = ds < 0 ? -1 : H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, strs);
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    H5Tclose(t);
    for (int i = 0; i < V; i++) free(strs[i]);
    free(strs);
    return rc < 0 ? -1 : 0;
}

// ---- hooks: expand the user's patterns to this model's concrete sites
static int expand_hooks(const ms_model *m, const char *list, int ctx, int batch, cap_hook **out, int *n_out) {
    const ms_config *c = &m->cfg;
    char *copy = ms_strdup(list);
    int n = 0, cap = 16;
    cap_hook *h = ms_calloc((size_t)cap, sizeof(cap_hook));
    int rc = -1;
    for (char *save = NULL, *pat = strtok_r(copy, ",", &save); pat; pat = strtok_r(NULL, ",", &save)) {
        while (*pat == ' ') pat++;
        char *e = pat + strlen(pat);
        while (e > pat && e[-1] == ' ') *--e = 0;
        if (!*pat) continue;
        int matched = 0;
        for (int s = 0; s < MS_SITE_COUNT; s++) {
            int64_t shape[4];
            int nd = ms_site_shape(c, (ms_site)s, ctx, shape);
            if (nd < 0) continue;
            int block = ms_site_is_block((ms_site)s);
            for (int l = block ? 0 : -1; l < (block ? c->n_layer : 0); l++) {
                char name[96];
                ms_site_name((ms_site)s, l, name, sizeof name);
                if (!ms_glob_match(pat, name)) continue;
                matched = 1;
                int dup = 0;
                for (int i = 0; i < n; i++) dup |= !strcmp(h[i].name, name);
                if (dup) continue;
                if (n == cap) h = ms_realloc(h, (size_t)(cap *= 2) * sizeof(cap_hook));
                cap_hook *x = &h[n++];
                memset(x, 0, sizeof *x);
                x->site = (ms_site)s;
                x->layer = l;
                snprintf(x->name, sizeof x->name, "%s", name);
                x->ndim = nd;
                x->row = 1;
                for (int i = 0; i < nd; i++) { x->shape[i] = shape[i]; x->row *= (size_t)shape[i]; }
                x->ds = -1;
            }
        }
        if (!matched) {
            ms_error("--hooks: '%s' matches no hook site of this %s model with %d layers (e.g. blocks.0.hook_resid_post)",
                     pat, ms_arch_name(c->arch), c->n_layer);
            goto done;
        }
    }
    if (n == 0) { ms_error("--hooks: no hook names given"); goto done; }
    // capture order: execution order (global pre-block sites, then block by block, then final)
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0; j--) {
            cap_hook *a = &h[j - 1], *b = &h[j];
            int ka = a->layer < 0 ? (a->site >= MS_SITE_LN_FINAL_NORMALIZED ? 1 << 20 : -1) : a->layer;
            int kb = b->layer < 0 ? (b->site >= MS_SITE_LN_FINAL_NORMALIZED ? 1 << 20 : -1) : b->layer;
            if (ka < kb || (ka == kb && a->site <= b->site)) break;
            cap_hook t = *a; *a = *b; *b = t;
        }
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)batch * h[i].row * sizeof(float);
        if (bytes > ((size_t)1 << 34)) {
            ms_error("--hooks: %s needs %zu MiB per batch; lower --batch or --ctx", h[i].name, bytes >> 20);
            goto done;
        }
        h[i].buf = ms_aligned_alloc(bytes);
    }
    rc = 0;
done:
    free(copy);
    if (rc) {
        for (int i = 0; i < n; i++) free(h[i].buf);
        free(h);
    } else {
        *out = h;
        *n_out = n;
    }
    return rc;
}

static void free_hooks(cap_hook *h, int n) {
    for (int i = 0; i < n; i++) {
        free(h[i].buf);
        if (h[i].ds >= 0) H5Dclose(h[i].ds);
    }
    free(h);
}

static const char *format_name(ms_input_format f) {
    return f == MS_INPUT_TEXT ? "text" : f == MS_INPUT_JSONL ? "jsonl" : "ids";
}

// Everything that must match for --resume to continue a file, as "key=value;" pairs.
static char *resume_key(const ms_model *m, const ms_capture_opts *o, const char *hooks, int batch) {
    const ms_config *c = &m->cfg;
    size_t n = strlen(hooks) + strlen(o->input_path) + 1024;
    char *k = ms_malloc(n);
    snprintf(k, n,
             "architecture=%s;n_layer=%d;d_model=%d;n_head=%d;n_kv_head=%d;d_head=%d;d_mlp=%d;vocab_size=%d;"
             "parameters=%zu;hooks=%s;ctx=%d;dtype=%s;input_format=%s;prepend_bos=%d;batch=%d;max_tokens=%lld;",
             ms_arch_name(c->arch), c->n_layer, c->d_model, c->n_head, c->n_kv_head, c->d_head, c->d_mlp,
             c->vocab_size, m->n_params, hooks, o->ctx, o->f16 ? "f16" : "f32", format_name(o->input_format),
             o->prepend_bos, batch, o->max_tokens);
    return k;
}

// Names the first key=value that differs between two resume keys.
static void key_mismatch(const char *path, const char *have, const char *want) {
    const char *a = have, *b = want;
    while (*a && *b) {
        const char *ea = strchr(a, ';'), *eb = strchr(b, ';');
        if (!ea || !eb) break;
        if (ea - a != eb - b || memcmp(a, b, (size_t)(ea - a))) {
            ms_error("%s: --resume: this run differs from the partial file: file has %.*s, this run %.*s", path,
                     (int)(ea - a), a, (int)(eb - b), b);
            return;
        }
        a = ea + 1;
        b = eb + 1;
    }
    ms_error("%s: --resume: this run's settings differ from the partial file's", path);
}

static char *join_names(const cap_hook *h, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(h[i].name) + 1;
    char *s = ms_calloc(len, 1);
    for (int i = 0; i < n; i++) {
        if (i) strcat(s, ",");
        strcat(s, h[i].name);
    }
    return s;
}

static hid_t create_file(const char *tmp, const ms_model *m, const ms_capture_opts *o, cap_hook *h, int n_hooks,
                         const char *hook_list, const char *key, int batch, int compress, hid_t *tokens_ds) {
    // probe with stdio first: HDF5 reports no errno
    FILE *probe = fopen(tmp, "wb");
    if (!probe) {
        ms_error("%s: cannot write output: %s", o->out_path, strerror(errno));
        return -1;
    }
    fclose(probe);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) { ms_error("%s: cannot create HDF5 file", tmp); return -1; }
    const ms_config *c = &m->cfg;
    int bad = 0;
    bad |= attr_str(f, "model", m->path);
    bad |= attr_str(f, "architecture", ms_arch_name(c->arch));
    bad |= attr_str(f, "source_format", c->source_format);
    bad |= attr_str(f, "source_dtype", c->source_dtype);
    bad |= attr_i64(f, "n_layer", c->n_layer, 1);
    bad |= attr_i64(f, "d_model", c->d_model, 1);
    bad |= attr_i64(f, "n_head", c->n_head, 1);
    bad |= attr_i64(f, "n_kv_head", c->n_kv_head, 1);
    bad |= attr_i64(f, "d_head", c->d_head, 1);
    bad |= attr_i64(f, "d_mlp", c->d_mlp, 1);
    bad |= attr_i64(f, "vocab_size", c->vocab_size, 1);
    bad |= attr_i64(f, "n_ctx", c->n_ctx, 1);
    bad |= attr_i64(f, "n_params", (long long)m->n_params, 1);
    bad |= attr_str(f, "hooks", hook_list);
    bad |= attr_i64(f, "ctx", o->ctx, 1);
    bad |= attr_str(f, "dtype", o->f16 ? "f16" : "f32");
    bad |= attr_i64(f, "n_seq", 0, 1);
    bad |= attr_i64(f, "n_tokens", 0, 1);
    bad |= attr_str(f, "input", o->input_path);
    bad |= attr_str(f, "input_format", format_name(o->input_format));
    bad |= attr_i64(f, "prepend_bos", o->prepend_bos, 1);
    bad |= attr_i64(f, "batch", batch, 1);
    bad |= attr_i64(f, "compress", compress, 1);
    bad |= attr_str(f, "padding", "positions past a sequence's end: token -1, activations 0 (attn scores -inf)");
    bad |= attr_str(f, "monoscope_version", MS_VERSION);
    bad |= attr_str(f, "command", ms_command_line());
    bad |= attr_str(f, "resume_key", key);
    bad |= write_vocab(f, m);
    hsize_t ctxd = (hsize_t)o->ctx;
    *tokens_ds = create_rows(f, "tokens", H5T_STD_I32LE, 1, &ctxd, (size_t)o->ctx * 4, 1 << 16, compress);
    bad |= *tokens_ds < 0;
    hid_t ft = o->f16 ? f16_type() : H5Tcopy(H5T_IEEE_F32LE);
    for (int i = 0; i < n_hooks && !bad; i++) {
        char path[128];
        hsize_t d[4];
        for (int j = 0; j < h[i].ndim; j++) d[j] = (hsize_t)h[i].shape[j];
        snprintf(path, sizeof path, "acts/%s", h[i].name);
        h[i].ds = create_rows(f, path, ft, h[i].ndim, d, h[i].row * (o->f16 ? 2 : 4), batch, compress);
        bad |= h[i].ds < 0;
    }
    H5Tclose(ft);
    if (bad || H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) {
        ms_error("%s: cannot write HDF5 metadata", tmp);
        H5Fclose(f);
        return -1;
    }
    return f;
}

// Opens a partial file for --resume; *n_seq and *n_tok get its complete rows and their tokens.
static hid_t open_partial(const char *tmp, const ms_capture_opts *o, cap_hook *h, int n_hooks, const char *key,
                          long long *n_seq, long long *n_tok, hid_t *tokens_ds) {
    hid_t f = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) {
        ms_error("%s: --resume: cannot open the partial file (corrupt? delete it to start over)", tmp);
        return -1;
    }
    char *have = attr_read_str(f, "resume_key");
    if (!have || attr_read_i64(f, "n_seq", n_seq) || attr_read_i64(f, "n_tokens", n_tok)) {
        ms_error("%s: --resume: not a monoscope capture file", tmp);
        free(have);
        H5Fclose(f);
        return -1;
    }
    if (strcmp(have, key)) {
        key_mismatch(o->out_path, have, key);
        free(have);
        H5Fclose(f);
        return -1;
    }
    free(have);
    *tokens_ds = H5Dopen2(f, "tokens", H5P_DEFAULT);
    int bad = *tokens_ds < 0;
    for (int i = 0; i < n_hooks && !bad; i++) {
        char path[128];
        snprintf(path, sizeof path, "acts/%s", h[i].name);
        h[i].ds = H5Dopen2(f, path, H5P_DEFAULT);
        bad |= h[i].ds < 0;
    }
    if (bad) {
        ms_error("%s: --resume: datasets missing from the partial file", tmp);
        H5Fclose(f);
        return -1;
    }
    return f;
}

static void to_f16(uint16_t *dst, const float *src, size_t n) {
    _Float16 *d = (_Float16 *)dst; // GCC/Clang on x86-64: IEEE binary16, round to nearest even
    for (size_t i = 0; i < n; i++) d[i] = (_Float16)src[i];
}

int ms_capture(const ms_capture_opts *o) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); // errors are reported through ms_error, one line
    int rc = -1;
    ms_model *m = NULL;
    ms_state *st = NULL;
    ms_observer *obs = NULL;
    ms_input *in = NULL;
    cap_hook *h = NULL;
    int n_hooks = 0;
    char *tmp = NULL, *hook_list = NULL, *key = NULL;
    int32_t *tok = NULL, *seq = NULL;
    int *lens = NULL;
    uint16_t *half = NULL;
    hid_t f = -1, tokens_ds = -1, f16t = -1;
    int32_t *fwd_tok = NULL;
    long long n_seq = 0, n_tok = 0;
    int fresh = 0;

    if (o->ctx < 1) { ms_error("--ctx must be at least 1"); return -1; }
    if (!o->out_path || !*o->out_path) { ms_error("--out is required"); return -1; }
    size_t tl = strlen(o->out_path) + 16;
    tmp = ms_malloc(tl);
    snprintf(tmp, tl, "%s.partial", o->out_path);
    if (ms_file_exists(o->out_path) && !o->overwrite) {
        if (o->resume && !ms_file_exists(tmp)) {
            fprintf(stderr, "monoscope: %s is already complete; nothing to resume\n", o->out_path);
            free(tmp);
            return 0;
        }
        if (!o->resume) {
            ms_error("%s: output exists (use --overwrite to replace it, or another --out)", o->out_path);
            free(tmp);
            return -1;
        }
    }
    m = ms_model_load(o->model_path);
    if (!m) goto out;
    const ms_config *c = &m->cfg;
    if (o->ctx > c->n_ctx) {
        ms_error("--ctx %d exceeds the model's context of %d tokens", o->ctx, c->n_ctx);
        goto out;
    }
    int batch = o->batch > 0 ? o->batch : 4;
    if (o->resume && o->batch <= 0 && ms_file_exists(tmp)) { // take the partial file's batch size
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        hid_t pf = H5Fopen(tmp, H5F_ACC_RDONLY, H5P_DEFAULT);
        long long b;
        if (pf >= 0 && attr_read_i64(pf, "batch", &b) == 0 && b > 0 && b < (1 << 20)) batch = (int)b;
        if (pf >= 0) H5Fclose(pf);
    }
    const int compress = o->compress >= 0 ? o->compress : MS_CAPTURE_DEFAULT_COMPRESS;
    if (compress > 9) { ms_error("--compress expects 0..9, got %d", compress); goto out; }
    if (expand_hooks(m, o->hooks ? o->hooks : "", o->ctx, batch, &h, &n_hooks)) goto out;
    hook_list = join_names(h, n_hooks);
    key = resume_key(m, o, hook_list, batch);
    in = ms_input_open(o->input_path, o->input_format, m->tok, o->ctx, o->prepend_bos, c->bos_id, c->vocab_size);
    if (!in) goto out;

    const int ctx = o->ctx;
    tok = ms_malloc((size_t)batch * ctx * sizeof(int32_t));
    seq = ms_malloc((size_t)ctx * sizeof(int32_t));
    lens = ms_calloc((size_t)batch, sizeof(int));
    if (o->resume && ms_file_exists(tmp)) {
        f = open_partial(tmp, o, h, n_hooks, key, &n_seq, &n_tok, &tokens_ds);
        if (f < 0) goto out;
        // re-read the rows already done, checking the input still produces them
        int32_t *row = ms_malloc((size_t)ctx * sizeof(int32_t));
        for (long long r = 0; r < n_seq; r++) {
            int len = ms_input_next(in, seq);
            if (len < 0) { free(row); goto out; }
            hid_t sp = H5Dget_space(tokens_ds);
            hsize_t start[2] = {(hsize_t)r, 0}, count[2] = {1, (hsize_t)ctx};
            H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
            hid_t ms = H5Screate_simple(2, count, NULL);
            herr_t e = H5Dread(tokens_ds, H5T_NATIVE_INT32, ms, sp, H5P_DEFAULT, row);
            H5Sclose(ms);
            H5Sclose(sp);
            if (e < 0) { ms_error("%s: --resume: cannot read /tokens row %lld", tmp, r); free(row); goto out; }
            int same = len > 0;
            for (int i = 0; i < ctx && same; i++) same = row[i] == (i < len ? seq[i] : -1);
            if (!same && o->max_tokens > 0 && r == n_seq - 1) same = 1; // last row may be cut by --max-tokens
            if (!same) {
                ms_error("%s: --resume: the input no longer produces row %lld of the partial file", o->input_path, r);
                free(row);
                goto out;
            }
        }
        free(row);
        fprintf(stderr, "monoscope: resuming %s after %lld sequences\n", tmp, n_seq);
    } else {
        f = create_file(tmp, m, o, h, n_hooks, hook_list, key, batch, compress, &tokens_ds);
        if (f < 0) goto out;
        fresh = 1;
    }

    {
        const char **names = ms_malloc((size_t)n_hooks * sizeof *names);
        float **bufs = ms_malloc((size_t)n_hooks * sizeof *bufs);
        for (int i = 0; i < n_hooks; i++) { names[i] = h[i].name; bufs[i] = h[i].buf; }
        obs = ms_observer_new(m, names, n_hooks, ctx, bufs);
        free(names);
        free(bufs);
        if (!obs) goto out;
    }
    st = ms_state_new(m, batch, ctx);
    if (!st) goto out;
    size_t max_row = 0;
    for (int i = 0; i < n_hooks; i++) if (h[i].row > max_row) max_row = h[i].row;
    if (o->f16) half = ms_malloc((size_t)batch * max_row * sizeof(uint16_t));
    if (o->f16) f16t = f16_type();
    fwd_tok = ms_malloc((size_t)batch * ctx * sizeof(int32_t));

    ms_progress prog;
    ms_progress_start(&prog, "capture", 0, "tok");
    double t0 = ms_now(), t_write = 0, t_fwd = 0;
    long long n_seq0 = n_seq, n_tok0 = n_tok;
    int done = 0;
    while (!done) {
        // gather a batch
        int B = 0, T = 0;
        while (B < batch) {
            if (o->max_tokens > 0 && n_tok >= o->max_tokens) { done = 1; break; }
            int len = ms_input_next(in, seq);
            if (len < 0) goto out;
            if (len == 0) { done = 1; break; }
            if (o->max_tokens > 0 && n_tok + len > o->max_tokens) len = (int)(o->max_tokens - n_tok);
            lens[B] = len;
            n_tok += len;
            memcpy(tok + (size_t)B * ctx, seq, (size_t)len * sizeof(int32_t));
            if (len > T) T = len;
            B++;
        }
        if (B == 0) break;
        // pack (B, T) for the forward pass: pad short rows with a valid id (causal attention keeps
        // the padding from affecting earlier positions; ms_observe leaves it out of the rows)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) fwd_tok[(size_t)b * T + t] = t < lens[b] ? tok[(size_t)b * ctx + t] : 0;
        double ta = ms_now();
        if (ms_observe(obs, st, fwd_tok, B, T, lens)) goto out;
        double tb = ms_now();
        t_fwd += tb - ta;
        // write: tokens (padded with -1), every hook, then n_seq, then flush
        for (int b = 0; b < B; b++)
            for (int t = lens[b]; t < ctx; t++) tok[(size_t)b * ctx + t] = -1;
        int bad = write_rows(tokens_ds, H5T_NATIVE_INT32, (hsize_t)n_seq, (hsize_t)B, tok);
        for (int i = 0; i < n_hooks && !bad; i++) {
            if (o->f16) {
                to_f16(half, h[i].buf, (size_t)B * h[i].row);
                bad |= write_rows(h[i].ds, f16t, (hsize_t)n_seq, (hsize_t)B, half);
            } else {
                bad |= write_rows(h[i].ds, H5T_NATIVE_FLOAT, (hsize_t)n_seq, (hsize_t)B, h[i].buf);
            }
        }
        n_seq += B;
        bad |= attr_i64(f, "n_seq", n_seq, 0);
        bad |= attr_i64(f, "n_tokens", n_tok, 0);
        bad |= H5Fflush(f, H5F_SCOPE_GLOBAL) < 0;
        if (bad) { ms_error("%s: writing batch at row %lld failed (disk full?)", tmp, n_seq - B); goto out; }
        t_write += ms_now() - tb;
        double frac = ms_input_fraction(in);
        double est = frac > 0 ? (double)(n_tok - n_tok0) / frac : 0;
        if (o->max_tokens > 0 && (est == 0 || est > (double)(o->max_tokens - n_tok0))) est = (double)(o->max_tokens - n_tok0);
        prog.total = est;
        ms_progress_update(&prog, (double)(n_tok - n_tok0), NULL);
    }
    ms_progress_finish(&prog);
    if (n_seq == 0) {
        ms_error("%s: empty input: no token sequences to capture", o->input_path);
        goto out;
    }
    for (int i = 0; i < n_hooks; i++) set_rows(h[i].ds, (hsize_t)n_seq);
    set_rows(tokens_ds, (hsize_t)n_seq);
    {
        double el = ms_now() - t0;
        long long nt = n_tok - n_tok0;
        fprintf(stderr, "monoscope: captured %lld sequences (%lld tokens) in %.2f s: %.0f tokens/s; forward %.2f s, "
                        "hdf5 %.2f s (%.1f%%)\n", n_seq - n_seq0, nt, el, el > 0 ? nt / el : 0.0, t_fwd, t_write,
                el > 0 ? 100.0 * t_write / el : 0.0);
    }
    for (int i = 0; i < n_hooks; i++) { H5Dclose(h[i].ds); h[i].ds = -1; }
    H5Dclose(tokens_ds);
    tokens_ds = -1;
    if (H5Fclose(f) < 0) { f = -1; ms_error("%s: closing the HDF5 file failed", tmp); goto out; }
    f = -1;
    if (ms_atomic_commit(tmp, o->out_path)) goto out;
    rc = 0;
out:
    if (f16t >= 0) H5Tclose(f16t);
    if (tokens_ds >= 0) H5Dclose(tokens_ds);
    if (h) free_hooks(h, n_hooks);
    if (f >= 0) H5Fclose(f);
    if (rc && fresh && n_seq == 0) unlink(tmp); // nothing worth resuming
    ms_observer_free(obs);
    ms_state_free(st);
    ms_input_close(in);
    ms_model_free(m);
    free(tmp); free(hook_list); free(key); free(tok); free(seq); free(lens); free(half); free(fwd_tok);
    return rc;
}
