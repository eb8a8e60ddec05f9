// act_stream.c: see act_stream.h.
#include "sae/act_stream.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "io/h5util.h"
#include "train/rng.h"
#include "util/util.h"

typedef struct { int file; int64_t seq0, nseq, tokens; } block;

typedef struct {
    char *path;
    hid_t fid;
    hid_t *ds;        // per hook
    int *esize;       // per hook: bytes per stored element (2, 4, 8)
    int64_t n_seq, ctx;
} afile;

struct ms_act_stream {
    int n_files, n_hooks;
    afile *files;
    char **hooks;
    int *d_in;            // per hook
    char *model;
    uint64_t seed;
    int64_t cap;          // buffer capacity in tokens
    block *blocks;
    int64_t n_blocks, epoch_tokens;
    // epoch state
    int64_t epoch;
    int64_t *order;       // (n_blocks) block visiting order of this epoch
    int64_t *round_first; // (n_rounds + 1) first position in `order` of each round
    int64_t n_rounds;
    // round state
    int64_t round, round_tokens, offset, pos;
    float **buf;          // per hook (cap, d_in)
    int32_t *perm;        // (cap) token order within the round
    void *scratch;        // raw block read (float16/float64 conversion)
    size_t scratch_bytes;
};

static int64_t trailing_elems(const int64_t *dims, int nd) {
    int64_t d = 1;
    for (int i = 2; i < nd; i++) d *= dims[i];
    return d;
}

typedef struct { char **names; int n; const char *pattern; } match_ctx;
static herr_t match_cb(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)g; (void)info;
    match_ctx *m = op;
    if (!m->pattern || ms_glob_match(m->pattern, name)) {
        m->names = ms_realloc(m->names, (size_t)(m->n + 1) * sizeof(char *));
        m->names[m->n++] = ms_strdup(name);
    }
    return 0;
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int ms_acts_match_hooks(const char *file, const char *pattern, char ***names) {
    ms_h5_quiet();
    *names = NULL;
    if (!ms_file_exists(file)) { ms_error("%s: no such file", file); return -1; }
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) { ms_error("%s: not an HDF5 file", file); return -1; }
    if (H5Lexists(f, "acts", H5P_DEFAULT) <= 0) {
        ms_error("%s: no /acts group (not an activations file from monoscope capture)", file);
        H5Fclose(f); return -1;
    }
    hid_t g = H5Gopen2(f, "acts", H5P_DEFAULT);
    match_ctx all = {0}, m = {0};
    m.pattern = pattern;
    hsize_t idx = 0;
    H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, match_cb, &all);
    idx = 0;
    H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, match_cb, &m);
    H5Gclose(g);
    H5Fclose(f);
    if (m.n == 0) {
        char have[512] = "";
        for (int i = 0; i < all.n && strlen(have) < 400; i++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", i ? ", " : "", all.names[i]);
        ms_error("%s: no hook matches '%s' (file has: %s)", file, pattern, all.n ? have : "none");
    }
    for (int i = 0; i < all.n; i++) free(all.names[i]);
    free(all.names);
    if (m.n == 0) return -1;
    qsort(m.names, (size_t)m.n, sizeof(char *), cmp_str);
    *names = m.names;
    return m.n;
}

static int read_n_seq_attr(hid_t f, int64_t *v) {
    if (H5Aexists(f, "n_seq") <= 0) return -1;
    hid_t a = H5Aopen(f, "n_seq", H5P_DEFAULT);
    int rc = H5Aread(a, H5T_NATIVE_INT64, v) >= 0 ? 0 : -1;
    H5Aclose(a);
    return rc;
}

void ms_act_stream_close(ms_act_stream *s) {
    if (!s) return;
    for (int i = 0; i < s->n_files; i++) {
        afile *f = &s->files[i];
        for (int h = 0; f->ds && h < s->n_hooks; h++) if (f->ds[h] > 0) H5Dclose(f->ds[h]);
        if (f->fid > 0) H5Fclose(f->fid);
        free(f->ds); free(f->esize); free(f->path);
    }
    for (int h = 0; h < s->n_hooks; h++) { free(s->hooks[h]); if (s->buf) free(s->buf[h]); }
    free(s->files); free(s->hooks); free(s->d_in); free(s->model); free(s->blocks); free(s->order);
    free(s->round_first); free(s->buf); free(s->perm); free(s->scratch);
    free(s);
}

ms_act_stream *ms_act_stream_open(const ms_act_stream_cfg *cfg) {
    ms_h5_quiet();
    if (cfg->n_files <= 0 || cfg->n_hooks <= 0) { ms_error("activation stream: no files or no hooks"); return NULL; }
    ms_act_stream *s = ms_calloc(1, sizeof *s);
    s->n_files = cfg->n_files;
    s->n_hooks = cfg->n_hooks;
    s->seed = cfg->seed;
    s->files = ms_calloc((size_t)s->n_files, sizeof(afile));
    s->hooks = ms_calloc((size_t)s->n_hooks, sizeof(char *));
    s->d_in = ms_calloc((size_t)s->n_hooks, sizeof(int));
    for (int h = 0; h < s->n_hooks; h++) s->hooks[h] = ms_strdup(cfg->hooks[h]);
    int64_t (*hdims)[8] = ms_calloc((size_t)s->n_hooks, sizeof *hdims); // trailing dims of file 0
    int *hnd = ms_calloc((size_t)s->n_hooks, sizeof(int));
    int64_t max_block_elems = 0;
    for (int fi = 0; fi < s->n_files; fi++) {
        afile *f = &s->files[fi];
        f->path = ms_strdup(cfg->files[fi]);
        f->ds = ms_calloc((size_t)s->n_hooks, sizeof(hid_t));
        f->esize = ms_calloc((size_t)s->n_hooks, sizeof(int));
        if (!ms_file_exists(f->path)) { ms_error("%s: no such file", f->path); goto fail; }
        f->fid = H5Fopen(f->path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f->fid < 0) { ms_error("%s: not an HDF5 file", f->path); goto fail; }
        if (fi == 0) s->model = ms_h5_read_attr_str(f->fid, "model");
        int64_t attr_n_seq = -1;
        read_n_seq_attr(f->fid, &attr_n_seq);
        f->n_seq = -1;
        for (int h = 0; h < s->n_hooks; h++) {
            char name[1024];
            snprintf(name, sizeof name, "acts/%s", s->hooks[h]);
            int64_t dims[8];
            int nd = H5Lexists(f->fid, "acts", H5P_DEFAULT) > 0 ? ms_h5_shape(f->fid, name, dims) : -1;
            if (nd < 0) { ms_error("%s: missing hook '/acts/%s'", f->path, s->hooks[h]); goto fail; }
            if (nd < 3) { ms_error("%s: /acts/%s has %d dims, expected [n_seq, ctx, ...]", f->path, s->hooks[h], nd); goto fail; }
            f->ds[h] = H5Dopen2(f->fid, name, H5P_DEFAULT);
            hid_t t = H5Dget_type(f->ds[h]);
            int cls = H5Tget_class(t);
            size_t es = H5Tget_size(t);
            H5Tclose(t);
            if (cls != H5T_FLOAT || (es != 2 && es != 4 && es != 8)) {
                ms_error("%s: /acts/%s is not float16/float32/float64", f->path, s->hooks[h]); goto fail;
            }
            f->esize[h] = (int)es;
            int64_t n_seq = dims[0];
            if (attr_n_seq >= 0 && attr_n_seq < n_seq) n_seq = attr_n_seq; // only complete rows
            if (f->n_seq < 0) { f->n_seq = n_seq; f->ctx = dims[1]; }
            else if (n_seq != f->n_seq || dims[1] != f->ctx) {
                ms_error("%s: /acts/%s has [%lld, %lld] sequences x ctx, other hooks [%lld, %lld]", f->path,
                         s->hooks[h], (long long)n_seq, (long long)dims[1], (long long)f->n_seq, (long long)f->ctx);
                goto fail;
            }
            int64_t d = trailing_elems(dims, nd);
            if (fi == 0) {
                memcpy(hdims[h], dims, sizeof dims);
                hnd[h] = nd;
                if (d <= 0 || d > (1 << 24)) { ms_error("%s: /acts/%s: bad site size %lld", f->path, s->hooks[h], (long long)d); goto fail; }
                s->d_in[h] = (int)d;
            } else {
                int same = nd == hnd[h];
                for (int i = 2; same && i < nd; i++) same = dims[i] == hdims[h][i];
                if (!same) {
                    ms_error("%s: /acts/%s has site shape of %lld values, %s has %d (files must match)", f->path,
                             s->hooks[h], (long long)d, s->files[0].path, s->d_in[h]);
                    goto fail;
                }
            }
        }
        if (f->n_seq <= 0 || f->ctx <= 0) { ms_error("%s: no complete sequences", f->path); goto fail; }
    }
    // Buffer capacity and block size: blocks of whole sequences, ~32 blocks per buffer so a round
    // mixes sequences from 32 random places.
    int64_t dsum = 0, max_ctx = 0;
    for (int h = 0; h < s->n_hooks; h++) dsum += s->d_in[h];
    for (int fi = 0; fi < s->n_files; fi++) if (s->files[fi].ctx > max_ctx) max_ctx = s->files[fi].ctx;
    int64_t cap = cfg->buffer_tokens;
    if (cap <= 0) { // default: 2^18 tokens, at most ~512 MiB of float32 over all hooks
        cap = (int64_t)1 << 18;
        int64_t lim = ((int64_t)512 << 20) / (4 * dsum);
        if (cap > lim) cap = lim;
    }
    if (cap < max_ctx) cap = max_ctx;
    int64_t seq_per_block = cap / max_ctx / 32;
    if (seq_per_block < 1) seq_per_block = 1;
    s->cap = 0;
    for (int fi = 0; fi < s->n_files; fi++) {
        afile *f = &s->files[fi];
        for (int64_t q = 0; q < f->n_seq; q += seq_per_block) {
            block b = {fi, q, f->n_seq - q < seq_per_block ? f->n_seq - q : seq_per_block, 0};
            b.tokens = b.nseq * f->ctx;
            s->blocks = ms_realloc(s->blocks, (size_t)(s->n_blocks + 1) * sizeof(block));
            s->blocks[s->n_blocks++] = b;
            s->epoch_tokens += b.tokens;
            if (b.tokens > s->cap) s->cap = b.tokens;
            for (int h = 0; h < s->n_hooks; h++)
                if (b.tokens * s->d_in[h] * f->esize[h] > max_block_elems) max_block_elems = b.tokens * s->d_in[h] * f->esize[h];
        }
    }
    int64_t max_block = s->cap;
    s->cap = cap < s->epoch_tokens ? cap : s->epoch_tokens;
    if (s->cap < max_block) s->cap = max_block;
    s->buf = ms_calloc((size_t)s->n_hooks, sizeof(float *));
    for (int h = 0; h < s->n_hooks; h++) s->buf[h] = ms_aligned_alloc((size_t)s->cap * s->d_in[h] * sizeof(float));
    s->perm = ms_malloc((size_t)s->cap * sizeof(int32_t));
    s->scratch_bytes = (size_t)max_block_elems;
    s->scratch = ms_malloc(s->scratch_bytes + 16);
    s->order = ms_malloc((size_t)s->n_blocks * sizeof(int64_t));
    s->round_first = ms_malloc((size_t)(s->n_blocks + 1) * sizeof(int64_t));
    free(hdims); free(hnd);
    s->epoch = -1;
    if (ms_act_stream_seek(s, 0) < 0) { ms_act_stream_close(s); return NULL; }
    return s;
fail:
    free(hdims); free(hnd);
    ms_act_stream_close(s);
    return NULL;
}

int ms_act_stream_d_in(const ms_act_stream *s, int hook) { return s->d_in[hook]; }
int64_t ms_act_stream_tokens(const ms_act_stream *s) { return s->epoch_tokens; }
int64_t ms_act_stream_buffer_tokens(const ms_act_stream *s) { return s->cap; }
const char *ms_act_stream_model(const ms_act_stream *s) { return s->model ? s->model : ""; }
int64_t ms_act_stream_pos(const ms_act_stream *s) { return s->pos; }

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { // subnormal: normalise
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | man << 13;
    else bits = sign | (exp + 127 - 15) << 23 | man << 13;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// Reads one block of one hook into dst (tokens, d_in) float32, checking every value is finite.
static int read_block(ms_act_stream *s, const block *b, int h, float *dst) {
    afile *f = &s->files[b->file];
    hid_t ds = f->ds[h];
    hid_t fsp = H5Dget_space(ds);
    int nd = H5Sget_simple_extent_ndims(fsp);
    hsize_t dims[8], start[8] = {0}, count[8];
    H5Sget_simple_extent_dims(fsp, dims, NULL);
    for (int i = 0; i < nd; i++) count[i] = dims[i];
    start[0] = (hsize_t)b->seq0;
    count[0] = (hsize_t)b->nseq;
    H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL);
    int64_t n = b->tokens * s->d_in[h];
    hsize_t mn = (hsize_t)n;
    hid_t msp = H5Screate_simple(1, &mn, NULL);
    herr_t rc;
    if (f->esize[h] == 4) rc = H5Dread(ds, H5T_NATIVE_FLOAT, msp, fsp, H5P_DEFAULT, dst);
    else if (f->esize[h] == 8) rc = H5Dread(ds, H5T_NATIVE_DOUBLE, msp, fsp, H5P_DEFAULT, s->scratch);
    else { // float16: read the raw little-endian halves and convert here (HDF5 1.10 has no native half)
        hid_t ft = H5Dget_type(ds);
        rc = H5Dread(ds, ft, msp, fsp, H5P_DEFAULT, s->scratch);
        H5Tclose(ft);
    }
    H5Sclose(msp);
    H5Sclose(fsp);
    if (rc < 0) { ms_error("%s: /acts/%s: read error in sequences %lld..%lld", f->path, s->hooks[h], (long long)b->seq0, (long long)(b->seq0 + b->nseq - 1)); return -1; }
    if (f->esize[h] == 8) { const double *src = s->scratch; for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i]; }
    else if (f->esize[h] == 2) { const uint16_t *src = s->scratch; for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(src[i]); }
    int64_t bad = -1;
    #pragma omp parallel for schedule(static) reduction(max : bad)
    for (int64_t i = 0; i < n; i++) if (!isfinite(dst[i])) { int64_t q = i; if (q > bad) bad = q; }
    if (bad >= 0) {
        int64_t per_seq = f->ctx * s->d_in[h];
        ms_error("%s: /acts/%s: non-finite value (NaN or Inf) in sequence %lld", f->path, s->hooks[h], (long long)(b->seq0 + bad / per_seq));
        return -1;
    }
    return 0;
}

static void start_epoch(ms_act_stream *s, int64_t e) {
    s->epoch = e;
    for (int64_t i = 0; i < s->n_blocks; i++) s->order[i] = i;
    ms_rng r = ms_rng_from(s->seed, (uint64_t)e, 0x5EED5EEDull);
    ms_rng_shuffle_i64(&r, s->order, s->n_blocks);
    // Greedy packing of consecutive blocks (in visiting order) into rounds of at most cap tokens.
    s->n_rounds = 0;
    int64_t used = 0;
    for (int64_t i = 0; i < s->n_blocks; i++) {
        int64_t t = s->blocks[s->order[i]].tokens;
        if (i == 0 || used + t > s->cap) { s->round_first[s->n_rounds++] = i; used = 0; }
        used += t;
    }
    s->round_first[s->n_rounds] = s->n_blocks;
}

static int64_t round_tokens(const ms_act_stream *s, int64_t r) {
    int64_t t = 0;
    for (int64_t i = s->round_first[r]; i < s->round_first[r + 1]; i++) t += s->blocks[s->order[i]].tokens;
    return t;
}

static int load_round(ms_act_stream *s, int64_t r) {
    s->round = r;
    int64_t off = 0;
    for (int64_t i = s->round_first[r]; i < s->round_first[r + 1]; i++) {
        const block *b = &s->blocks[s->order[i]];
        for (int h = 0; h < s->n_hooks; h++)
            if (read_block(s, b, h, s->buf[h] + off * s->d_in[h]) < 0) return -1;
        off += b->tokens;
    }
    s->round_tokens = off;
    for (int64_t i = 0; i < off; i++) s->perm[i] = (int32_t)i;
    ms_rng g = ms_rng_from(s->seed, (uint64_t)s->epoch, (uint64_t)r + 1);
    ms_rng_shuffle_i32(&g, s->perm, off);
    s->offset = 0;
    return 0;
}

int ms_act_stream_seek(ms_act_stream *s, int64_t pos) {
    int64_t e = pos / s->epoch_tokens, rem = pos % s->epoch_tokens;
    start_epoch(s, e);
    int64_t r = 0;
    for (;;) {
        int64_t t = round_tokens(s, r);
        if (rem < t || r == s->n_rounds - 1) break;
        rem -= t;
        r++;
    }
    if (load_round(s, r) < 0) return -1;
    s->offset = rem;
    s->pos = pos;
    return 0;
}

int ms_act_stream_next(ms_act_stream *s, int64_t n, float *const *out) {
    int64_t done = 0;
    while (done < n) {
        if (s->offset >= s->round_tokens) {
            if (s->round + 1 < s->n_rounds) { if (load_round(s, s->round + 1) < 0) return -1; }
            else { start_epoch(s, s->epoch + 1); if (load_round(s, 0) < 0) return -1; }
        }
        int64_t m = s->round_tokens - s->offset;
        if (m > n - done) m = n - done;
        for (int h = 0; h < s->n_hooks; h++) {
            const int64_t d = s->d_in[h];
            const float *src = s->buf[h];
            float *dst = out[h] + done * d;
            const int32_t *p = s->perm + s->offset;
            #pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < m; i++) memcpy(dst + i * d, src + (int64_t)p[i] * d, (size_t)d * sizeof(float));
        }
        s->offset += m;
        s->pos += m;
        done += m;
    }
    return 0;
}
