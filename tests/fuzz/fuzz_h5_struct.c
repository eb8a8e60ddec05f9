// fuzz_h5_struct.c: structure-aware fuzzing of the four HDF5 formats monoscope reads (activations,
// SAE, probe and concept labels files). Byte mutation of an HDF5 file
// mostly breaks checksums, so here the fuzzer's bytes drive a writer instead: for every object an
// activations, SAE, probe or labels file holds (README "On-disk formats") they choose whether it exists, its
// type (float16/32/64, integers, fixed or variable strings), its rank and dims (small, the expected
// value, 0 or huge with no storage behind it), its values (including NaN, inf, negative and huge
// numbers) and every attribute's type and size. The file is built in memory with HDF5's core driver,
// written out once, and opened by the readers the commands use (fuzz_h5_use.h).
//
// Input layout (consumed front to back, zeros past the end): byte 0 picks the format (% 4: 0
// activations, 1 SAE, 2 probe, 3 labels), then each object reads its choices in the order the
// builders ask.
#include <math.h>
#include "fuzz_h5_use.h"

typedef struct {
    const uint8_t *p;
    size_t n, i;
} fuzz_bytes;

static unsigned next_u8(fuzz_bytes *b) { return b->i < b->n ? b->p[b->i++] : 0; }

// Element types the builder can give a dataset or attribute.
typedef enum { T_F32, T_F64, T_F16, T_I32, T_I64, T_U8, T_STR_FIXED, T_STR_VLEN, T_COUNT } elem_type;

static hid_t file_type(elem_type t) {
    hid_t h;
    switch (t) {
    case T_F32: return H5Tcopy(H5T_IEEE_F32LE);
    case T_F64: return H5Tcopy(H5T_IEEE_F64LE);
    case T_F16: // IEEE half, as the capture writer declares it
        h = H5Tcopy(H5T_IEEE_F32LE);
        H5Tset_fields(h, 15, 10, 5, 0, 10);
        H5Tset_size(h, 2);
        H5Tset_ebias(h, 15);
        return h;
    case T_I32: return H5Tcopy(H5T_STD_I32LE);
    case T_I64: return H5Tcopy(H5T_STD_I64LE);
    case T_U8: return H5Tcopy(H5T_STD_U8LE);
    case T_STR_FIXED: h = H5Tcopy(H5T_C_S1); H5Tset_size(h, 8); return h;
    default: h = H5Tcopy(H5T_C_S1); H5Tset_size(h, H5T_VARIABLE); return h;
    }
}

// One number from the input: small, the expected value, or an edge case.
static double pick_value(fuzz_bytes *b, double expected) {
    static const double edge[] = {0, 1, -1, 2, 0.5, -3, 255, 65536, 2147483647.0, -2147483648.0,
                                  4294967296.0, 9.2e18, -9.2e18, 1e300, -1e300};
    unsigned c = next_u8(b);
    if (c < 128) return expected;
    if (c < 160) return c - 128;
    if (c == 250) return NAN;
    if (c == 251) return INFINITY;
    if (c == 252) return -INFINITY;
    return edge[c % (sizeof edge / sizeof edge[0])];
}

// n elements of type t holding values from the input (strings: "topk" or a few printable input
// bytes), in one malloc'ed block returned through *block; returns the data to write and sets its
// memory type.
static void *make_values(fuzz_bytes *b, elem_type t, size_t n, double expected, hid_t *mem_type, void **block) {
    size_t m = n ? n : 1;
    if (t == T_STR_FIXED || t == T_STR_VLEN) { // block: char[m][8], then m pointers into it
        char (*s)[8] = calloc(1, m * 8 + m * sizeof(char *));
        char **ptrs = (char **)(s + m);
        for (size_t i = 0; i < n; i++) {
            unsigned c = next_u8(b);
            if (c < 128) memcpy(s[i], "topk", 5);
            else for (int j = 0; j < 7 && (c & (1u << j)); j++) s[i][j] = (char)(0x20 + next_u8(b) % 95);
            ptrs[i] = s[i];
        }
        *mem_type = file_type(t);
        *block = s;
        return t == T_STR_FIXED ? (void *)s : (void *)ptrs;
    }
    double *v = malloc(m * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = pick_value(b, expected);
    *block = v;
    if (t == T_F32 || t == T_F64 || t == T_F16) { *mem_type = H5Tcopy(H5T_NATIVE_DOUBLE); return v; }
    int64_t *iv = (int64_t *)v; // integers: converted in place (same size)
    for (size_t i = 0; i < n; i++) iv[i] = isfinite(v[i]) && fabs(v[i]) < 9e18 ? (int64_t)v[i] : 0;
    *mem_type = H5Tcopy(H5T_NATIVE_INT64);
    return v;
}

// A type for an object that should be `want`: usually that, sometimes any other.
static elem_type pick_type(fuzz_bytes *b, elem_type want) {
    unsigned c = next_u8(b);
    return c < 160 ? want : (elem_type)(c % T_COUNT);
}

// An attribute that should be a scalar of type `want` with value `expected`: absent, scalar, a
// 1-element or n-element array, or a null dataspace; of the wanted or another type.
static void put_attr(fuzz_bytes *b, hid_t loc, const char *name, elem_type want, double expected) {
    unsigned shape = next_u8(b);
    if (shape >= 224) return; // absent
    elem_type t = pick_type(b, want);
    hsize_t n = shape < 160 ? 1 : 1 + shape % 4;
    hid_t sp = shape < 160 ? H5Screate(H5S_SCALAR) : shape < 216 ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_NULL);
    hid_t ft = file_type(t), mt;
    void *block, *v = make_values(b, t, (size_t)n, expected, &mt, &block);
    hid_t a = H5Acreate2(loc, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        if (shape < 216) H5Awrite(a, mt, v);
        H5Aclose(a);
    }
    free(block);
    H5Tclose(mt);
    H5Tclose(ft);
    H5Sclose(sp);
}

// A dataset that should be `want` with dims `expected[rank]`: absent, or of a chosen type and rank
// whose dims are each the expected one, small, 0 or huge. Huge or large datasets are chunked and
// left unwritten (no storage: they read as fill values); small ones hold input-chosen values.
static hid_t put_dataset(fuzz_bytes *b, hid_t loc, const char *name, elem_type want, int rank, const hsize_t *expected) {
    unsigned c = next_u8(b);
    if (c >= 232) return -1; // absent
    elem_type t = pick_type(b, want);
    int r = c < 200 ? rank : (int)(c % 5);
    hsize_t dims[8] = {0}, total = 1;
    int huge = 0;
    for (int i = 0; i < r; i++) {
        unsigned d = next_u8(b);
        dims[i] = i < rank && d < 160 ? expected[i] : d < 240 ? d % 9 : ((hsize_t)1 << (20 + d % 24));
        huge |= dims[i] > 4096;
        total *= dims[i] ? dims[i] : 1;
        if (total > ((hsize_t)1 << 40)) huge = 1;
    }
    hid_t sp = H5Screate_simple(r, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (r > 0 && (huge || total > 4096)) {
        hsize_t chunk[8];
        for (int i = 0; i < r; i++) chunk[i] = dims[i] ? (dims[i] < 4 ? dims[i] : 4) : 1;
        H5Pset_chunk(dcpl, r, chunk);
    }
    hid_t ft = file_type(t);
    hid_t ds = H5Dcreate2(loc, name, ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (ds >= 0 && !huge && total <= 4096) {
        hid_t mt;
        void *block, *v = make_values(b, t, (size_t)total, 0.25, &mt, &block);
        H5Dwrite(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        free(block);
        H5Tclose(mt);
    }
    H5Tclose(ft);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return ds;
}

static void close_ds(hid_t ds) { if (ds >= 0) H5Dclose(ds); }

// A dimension of the file as a whole (rows, ctx, d_in, d_sae ...): usually 1..range, sometimes huge
// (the datasets then have no storage behind them: a reader must not allocate what the dims claim).
static hsize_t pick_dim(fuzz_bytes *b, unsigned range) {
    static const hsize_t huge[] = {(hsize_t)1 << 20, (hsize_t)1 << 28, 2147483647u, (hsize_t)1 << 31, (hsize_t)1 << 40};
    unsigned c = next_u8(b);
    return c < 240 ? 1 + c % range : huge[c % 5];
}

// An activations file: up to 3 hooks [n, ctx, d], /tokens [n, ctx], /vocab, the root attributes.
static void build_acts(fuzz_bytes *b, hid_t f) {
    hsize_t n = pick_dim(b, 4), ctx = pick_dim(b, 6), d = pick_dim(b, 8);
    put_attr(b, f, "n_seq", T_I64, (double)n);
    put_attr(b, f, "model", T_STR_VLEN, 0);
    put_attr(b, f, "ctx", T_I64, (double)ctx);
    put_attr(b, f, "padding", T_I64, 1);
    put_attr(b, f, "separator_id", T_I64, 3);
    hid_t g = H5Gcreate2(f, "acts", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int n_hooks = next_u8(b) % 4;
    static const char *hooks[] = {"blocks.0.hook_resid_post", "blocks.0.attn.hook_pattern", "blocks.1.hook_mlp_out"};
    for (int h = 0; h < n_hooks; h++) {
        hsize_t dims[4] = {n, ctx, d, d};
        int rank = h == 1 ? 4 : 3;
        if (h == 1) { dims[1] = 2; dims[2] = ctx; dims[3] = ctx; }
        close_ds(put_dataset(b, g, hooks[h], T_F32, rank, dims));
    }
    H5Gclose(g);
    hsize_t tdims[2] = {n, ctx};
    close_ds(put_dataset(b, f, "tokens", T_I32, 2, tdims));
    hsize_t vdims[1] = {8};
    close_ds(put_dataset(b, f, "vocab", T_STR_VLEN, 1, vdims));
}

// An SAE file: the weights for (d_in, d_sae), threshold, root attributes, /training_log with its
// columns, and an /eval group.
static void build_sae(fuzz_bytes *b, hid_t f) {
    hsize_t di = pick_dim(b, 6), ds = pick_dim(b, 10);
    hsize_t enc[2] = {di, ds}, dec[2] = {ds, di};
    close_ds(put_dataset(b, f, "W_enc", T_F32, 2, enc));
    close_ds(put_dataset(b, f, "W_dec", T_F32, 2, dec));
    close_ds(put_dataset(b, f, "b_enc", T_F32, 1, &ds));
    close_ds(put_dataset(b, f, "b_dec", T_F32, 1, &di));
    close_ds(put_dataset(b, f, "threshold", T_F32, 1, &ds));
    static const char *archs[] = {"topk", "batchtopk", "jumprelu", "relu"};
    unsigned a = next_u8(b);
    if (a < 240) { // the architecture as a valid string; put_attr covers the other shapes
        hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
        H5Tset_size(t, strlen(archs[a % 4]) + 1);
        hid_t at = H5Acreate2(f, "architecture", t, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(at, t, archs[a % 4]);
        H5Aclose(at);
        H5Sclose(sp);
        H5Tclose(t);
    } else put_attr(b, f, "architecture", T_STR_FIXED, 0);
    put_attr(b, f, "k", T_I64, 2);
    put_attr(b, f, "d_in", T_I64, (double)di);
    put_attr(b, f, "d_sae", T_I64, (double)ds);
    put_attr(b, f, "hook", T_STR_VLEN, 0);
    put_attr(b, f, "tokens_seen", T_I64, 1000);
    put_attr(b, f, "lr", T_F64, 1e-3);
    hsize_t log[2] = {3, 2};
    hid_t lg = put_dataset(b, f, "training_log", T_F64, 2, log);
    if (lg >= 0) { put_attr(b, lg, "columns", T_STR_VLEN, 0); H5Dclose(lg); }
    if (next_u8(b) < 200) {
        hid_t g = H5Gcreate2(f, "eval", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        static const char *nums[] = {"l0", "explained_variance", "mse", "n_tokens", "dead_frac", "ce_recovered",
                                     "ce_clean", "ce_zero", "ce_splice", "kl_score"};
        for (int i = 0; i < 10; i++) put_attr(b, g, nums[i], i == 3 ? T_I64 : T_F64, 0.5);
        put_attr(b, g, "hook", T_STR_VLEN, 0);
        close_ds(put_dataset(b, g, "feature_density", T_F64, 1, &ds));
        hsize_t bins = MS_EVAL_HIST_BINS;
        close_ds(put_dataset(b, g, "density_hist", T_I64, 1, &bins));
        H5Gclose(g);
    }
}

// A string attribute that should be one of `choices`: usually a valid one, else put_attr's shapes.
static void put_choice_attr(fuzz_bytes *b, hid_t loc, const char *name, const char *const *choices, int n) {
    unsigned a = next_u8(b);
    if (a >= 240) { put_attr(b, loc, name, T_STR_VLEN, 0); return; }
    const char *v = choices[a % n];
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, strlen(v) + 1);
    hid_t at = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(at, t, v);
    H5Aclose(at);
    H5Sclose(sp);
    H5Tclose(t);
}

// Extra names in group g for the object `target` (a name in g): none, a second hard link to it, a
// soft link, or an external link into another file; a reader must not take any of them as a new object.
static void put_alias(fuzz_bytes *b, hid_t g, const char *target, const char *alias) {
    unsigned c = next_u8(b);
    if (c < 200) return;
    if (c < 220) H5Lcreate_hard(g, target, g, alias, H5P_DEFAULT, H5P_DEFAULT);
    else if (c < 240) H5Lcreate_soft(target, g, alias, H5P_DEFAULT, H5P_DEFAULT);
    else H5Lcreate_external("elsewhere.h5", "/x", g, alias, H5P_DEFAULT, H5P_DEFAULT);
}

// A probe file (probes/probe.h): /mean, /std [d], /split [n_seq], /probes/<concept> groups with
// weight, weight_std [d] and the fit's attributes, the root attributes.
static void build_probe(fuzz_bytes *b, hid_t f) {
    hsize_t d = pick_dim(b, 6), n = pick_dim(b, 5);
    static const char *kinds[] = {"ridge", "logistic", "lasso"};
    put_choice_attr(b, f, "kind", kinds, 3);
    put_attr(b, f, "hook", T_STR_VLEN, 0);
    put_attr(b, f, "d", T_I64, (double)d);
    put_attr(b, f, "n_seq", T_I64, (double)n);
    put_attr(b, f, "lambda", T_F64, 0.01);
    put_attr(b, f, "test_frac", T_F64, 0.2);
    put_attr(b, f, "seed", T_I64, 1);
    put_attr(b, f, "n_train_tokens", T_I64, 10);
    put_attr(b, f, "n_test_tokens", T_I64, 3);
    close_ds(put_dataset(b, f, "mean", T_F64, 1, &d));
    close_ds(put_dataset(b, f, "std", T_F64, 1, &d));
    close_ds(put_dataset(b, f, "split", T_U8, 1, &n));
    if (next_u8(b) >= 240) return; // no /probes
    hid_t g = H5Gcreate2(f, "probes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    static const char *names[] = {"caps", "digit", "name"};
    static const char *solvers[] = {"dposv", "dgelsd"};
    int n_fits = next_u8(b) % 4;
    for (int k = 0; k < n_fits; k++) {
        hid_t p = H5Gcreate2(g, names[k], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        close_ds(put_dataset(b, p, "weight", T_F64, 1, &d));
        close_ds(put_dataset(b, p, "weight_std", T_F64, 1, &d));
        static const char *nums[] = {"bias", "bias_std", "accuracy", "auc", "f1"};
        for (int i = 0; i < 5; i++) put_attr(b, p, nums[i], T_F64, 0.5);
        static const char *ints[] = {"n_pos_train", "n_pos_test", "iterations", "converged"};
        for (int i = 0; i < 4; i++) put_attr(b, p, ints[i], T_I64, 1);
        put_choice_attr(b, p, "solver", solvers, 2);
        H5Gclose(p);
        put_alias(b, g, names[k], k == 0 ? "caps_again" : k == 1 ? "digit_again" : "name_again");
    }
    H5Gclose(g);
}

// A concept labels file (probes/labels.h): /tokens [n_seq, ctx] int32, /concepts/<name> uint8
// [n_seq, ctx], the root attributes.
static void build_labels(fuzz_bytes *b, hid_t f) {
    hsize_t n = pick_dim(b, 4), ctx = pick_dim(b, 6), dims[2] = {n, ctx};
    put_attr(b, f, "n_seq", T_I64, (double)n);
    put_attr(b, f, "ctx", T_I64, (double)ctx);
    put_attr(b, f, "model", T_STR_VLEN, 0);
    put_attr(b, f, "rules", T_STR_VLEN, 0);
    put_attr(b, f, "prepend_bos", T_I64, 0);
    close_ds(put_dataset(b, f, "tokens", T_I32, 2, dims));
    if (next_u8(b) >= 240) return; // no /concepts
    hid_t g = H5Gcreate2(f, "concepts", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    static const char *names[] = {"caps", "digit", "name"};
    int n_concepts = next_u8(b) % 4;
    for (int k = 0; k < n_concepts; k++) {
        close_ds(put_dataset(b, g, names[k], T_U8, 2, dims));
        put_alias(b, g, names[k], k == 0 ? "caps_again" : k == 1 ? "digit_again" : "name_again");
    }
    H5Gclose(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_bytes b = {data, size, 0};
    static char *path;
    if (!path) {
        char *dir = fuzz_path("h5struct");
        mkdir(dir, 0700);
        free(dir);
        path = fuzz_path("h5struct/file.h5");
    }
    // built in memory, written to path once at close (backing store)
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 16, 1);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) abort();
    const unsigned format = next_u8(&b) % 4;
    void (*build[4])(fuzz_bytes *, hid_t) = {build_acts, build_sae, build_probe, build_labels};
    void (*use[4])(const char *) = {fuzz_use_acts, fuzz_use_sae, fuzz_use_probe, fuzz_use_labels};
    build[format](&b, f);
    H5Fclose(f);
    use[format](path);
    return 0;
}
