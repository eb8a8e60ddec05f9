// act_stream.c: see act_stream.h.
#include "sae/act_stream.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "io/acts.h"
#include "train/rng.h"
#include "util/util.h"

typedef struct { int file; int64_t seq0, nseq, tokens; } block;

typedef struct {
    ms_acts *a;       // the file, opened and validated by the one reader (io/acts.h)
    int *hook;        // per stream hook: its index in the file
    int64_t n_seq, ctx;
    int32_t *n_real;  // (n_seq) real tokens (id >= 0) per row; NULL when no row holds padding
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
    // padded files: a block is read whole into these, then its real tokens are moved into buf
    float *pad_x;         // (max padded block tokens, max d_in)
    int32_t *pad_ids;     // (max padded block tokens)
};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int ms_acts_match_hooks(const char *file, const char *pattern, char ***names) {
    *names = NULL;
    ms_acts *a = ms_acts_open(file);
    if (!a) return -1;
    int n = 0;
    char **m = NULL;
    for (int i = 0; i < ms_acts_n_hooks(a); i++) {
        const char *name = ms_acts_hook_name(a, i);
        if (pattern && !ms_glob_match(pattern, name)) continue;
        m = ms_realloc(m, (size_t)(n + 1) * sizeof(char *));
        m[n++] = ms_strdup(name);
    }
    if (n == 0) {
        char *have = ms_acts_hook_list(a, 400);
        ms_error("%s: no hook matches '%s' (file has: %s)", file, pattern, have);
        free(have);
        ms_acts_close(a);
        return -1;
    }
    ms_acts_close(a);
    qsort(m, (size_t)n, sizeof(char *), cmp_str);
    *names = m;
    return n;
}

void ms_act_stream_close(ms_act_stream *s) {
    if (!s) return;
    for (int i = 0; i < s->n_files; i++) {
        ms_acts_close(s->files[i].a);
        free(s->files[i].hook);
        free(s->files[i].n_real);
    }
    for (int h = 0; h < s->n_hooks; h++) { free(s->hooks[h]); if (s->buf) free(s->buf[h]); }
    free(s->files); free(s->hooks); free(s->d_in); free(s->model); free(s->blocks); free(s->order);
    free(s->round_first); free(s->buf); free(s->perm); free(s->pad_x); free(s->pad_ids);
    free(s);
}

// Padding is never data: for a file whose /tokens mark positions past a sequence's end with -1,
// f->n_real gets each row's real-token count (read in chunks of rows); NULL when there is no
// padding (or no /tokens to tell), so such files stream exactly as before.
static int count_real_tokens(afile *f) {
    if (!ms_acts_has_tokens(f->a) || ms_acts_tokens_ctx(f->a) != f->ctx) return 0;
    const int64_t chunk = 4096;
    int32_t *ids = ms_malloc((size_t)chunk * f->ctx * sizeof(int32_t));
    f->n_real = ms_malloc((size_t)f->n_seq * sizeof(int32_t));
    int any_padding = 0;
    for (int64_t q = 0; q < f->n_seq; q += chunk) {
        const int64_t ns = f->n_seq - q < chunk ? f->n_seq - q : chunk;
        if (ms_acts_read_ids(f->a, q, ns, 0, f->ctx, ids)) { free(ids); return -1; }
        for (int64_t r = 0; r < ns; r++) {
            int32_t n = 0;
            for (int64_t t = 0; t < f->ctx; t++) n += ids[r * f->ctx + t] >= 0;
            f->n_real[q + r] = n;
            any_padding |= n < f->ctx;
        }
    }
    free(ids);
    if (!any_padding) { free(f->n_real); f->n_real = NULL; }
    return 0;
}

// Opens file fi and finds every stream hook in it: same ctx for all hooks of the file, and the
// same site shape as in file 0 (dims0[h], rank nd0[h], filled from file 0).
static int open_file(ms_act_stream *s, int fi, const char *path, int64_t (*dims0)[8], int *nd0) {
    afile *f = &s->files[fi];
    f->a = ms_acts_open(path);
    if (!f->a) return -1;
    f->hook = ms_calloc((size_t)s->n_hooks, sizeof(int));
    if (fi == 0) s->model = ms_strdup(ms_acts_model(f->a));
    f->n_seq = ms_acts_n_seq(f->a);
    f->ctx = -1;
    for (int h = 0; h < s->n_hooks; h++) {
        if ((f->hook[h] = ms_acts_find_hook(f->a, s->hooks[h])) < 0) return -1;
        int64_t dims[8];
        int nd = ms_acts_dims(f->a, f->hook[h], dims);
        if (f->ctx < 0) f->ctx = dims[1];
        else if (dims[1] != f->ctx) {
            ms_error("%s: /acts/%s has ctx %lld, other hooks %lld", path, s->hooks[h], (long long)dims[1], (long long)f->ctx);
            return -1;
        }
        if (fi == 0) {
            memcpy(dims0[h], dims, sizeof dims);
            nd0[h] = nd;
            s->d_in[h] = (int)ms_acts_d(f->a, f->hook[h]);
            continue;
        }
        int same = nd == nd0[h];
        for (int i = 2; same && i < nd; i++) same = dims[i] == dims0[h][i];
        if (!same) {
            ms_error("%s: /acts/%s has site shape of %lld values, %s has %d (files must match)", path, s->hooks[h],
                     (long long)ms_acts_d(f->a, f->hook[h]), ms_acts_path(s->files[0].a), s->d_in[h]);
            return -1;
        }
    }
    if (f->n_seq <= 0 || f->ctx <= 0) { ms_error("%s: no complete sequences", path); return -1; }
    return count_real_tokens(f);
}

ms_act_stream *ms_act_stream_open(const ms_act_stream_cfg *cfg) {
    if (cfg->n_files <= 0 || cfg->n_hooks <= 0) { ms_error("activation stream: no files or no hooks"); return NULL; }
    ms_act_stream *s = ms_calloc(1, sizeof *s);
    s->n_files = cfg->n_files;
    s->n_hooks = cfg->n_hooks;
    s->seed = cfg->seed;
    s->files = ms_calloc((size_t)s->n_files, sizeof(afile));
    s->hooks = ms_calloc((size_t)s->n_hooks, sizeof(char *));
    s->d_in = ms_calloc((size_t)s->n_hooks, sizeof(int));
    for (int h = 0; h < s->n_hooks; h++) s->hooks[h] = ms_strdup(cfg->hooks[h]);
    int64_t (*dims0)[8] = ms_calloc((size_t)s->n_hooks, sizeof *dims0); // dims of file 0
    int *nd0 = ms_calloc((size_t)s->n_hooks, sizeof(int));
    for (int fi = 0; fi < s->n_files; fi++)
        if (open_file(s, fi, cfg->files[fi], dims0, nd0)) goto fail;
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
    int64_t max_padded = 0, max_d = 0; // the largest block of a padded file, read whole before compaction
    for (int h = 0; h < s->n_hooks; h++) if (s->d_in[h] > max_d) max_d = s->d_in[h];
    for (int fi = 0; fi < s->n_files; fi++) {
        afile *f = &s->files[fi];
        for (int64_t q = 0; q < f->n_seq; q += seq_per_block) {
            block b = {fi, q, f->n_seq - q < seq_per_block ? f->n_seq - q : seq_per_block, 0};
            b.tokens = b.nseq * f->ctx;
            if (f->n_real) {
                if (b.tokens > max_padded) max_padded = b.tokens;
                b.tokens = 0;
                for (int64_t r = 0; r < b.nseq; r++) b.tokens += f->n_real[q + r];
                if (!b.tokens) continue; // all padding
            }
            s->blocks = ms_realloc(s->blocks, (size_t)(s->n_blocks + 1) * sizeof(block));
            s->blocks[s->n_blocks++] = b;
            s->epoch_tokens += b.tokens;
            if (b.tokens > s->cap) s->cap = b.tokens;
        }
    }
    if (!s->epoch_tokens) { ms_error("%s: no real tokens (every position is padding)", cfg->files[0]); goto fail; }
    if (max_padded) {
        s->pad_x = ms_aligned_alloc((size_t)max_padded * max_d * sizeof(float));
        s->pad_ids = ms_malloc((size_t)max_padded * sizeof(int32_t));
    }
    int64_t max_block = s->cap;
    s->cap = cap < s->epoch_tokens ? cap : s->epoch_tokens;
    if (s->cap < max_block) s->cap = max_block;
    s->buf = ms_calloc((size_t)s->n_hooks, sizeof(float *));
    for (int h = 0; h < s->n_hooks; h++) s->buf[h] = ms_aligned_alloc((size_t)s->cap * s->d_in[h] * sizeof(float));
    s->perm = ms_malloc((size_t)s->cap * sizeof(int32_t));
    s->order = ms_malloc((size_t)s->n_blocks * sizeof(int64_t));
    s->round_first = ms_malloc((size_t)(s->n_blocks + 1) * sizeof(int64_t));
    free(dims0); free(nd0);
    s->epoch = -1;
    if (ms_act_stream_seek(s, 0) < 0) { ms_act_stream_close(s); return NULL; }
    return s;
fail:
    free(dims0); free(nd0);
    ms_act_stream_close(s);
    return NULL;
}

int ms_act_stream_d_in(const ms_act_stream *s, int hook) { return s->d_in[hook]; }
int64_t ms_act_stream_tokens(const ms_act_stream *s) { return s->epoch_tokens; }
int64_t ms_act_stream_buffer_tokens(const ms_act_stream *s) { return s->cap; }
const char *ms_act_stream_model(const ms_act_stream *s) { return s->model ? s->model : ""; }
int ms_act_stream_context_size(const ms_act_stream *s) {
    for (int i = 1; i < s->n_files; i++)
        if (s->files[i].ctx != s->files[0].ctx) return 0;
    return s->n_files ? (int)s->files[0].ctx : 0;
}
int ms_act_stream_prepend_bos(const ms_act_stream *s) {
    const int b = s->n_files ? ms_acts_prepend_bos(s->files[0].a) : -1;
    for (int i = 1; i < s->n_files; i++)
        if (ms_acts_prepend_bos(s->files[i].a) != b) return -1;
    return b;
}
int64_t ms_act_stream_pos(const ms_act_stream *s) { return s->pos; }

// Reads the block's rows of hook h into dst (positions, d_in) float32: directly, or for a padded
// file whole into pad_x, then its real positions (id >= 0) moved, in order, into dst.
static int read_block_rows(ms_act_stream *s, const block *b, int h, float *dst) {
    afile *f = &s->files[b->file];
    if (!f->n_real) return ms_acts_read(f->a, f->hook[h], b->seq0, b->nseq, 0, f->ctx, dst);
    const int64_t d = s->d_in[h], n = b->nseq * f->ctx;
    if (ms_acts_read(f->a, f->hook[h], b->seq0, b->nseq, 0, f->ctx, s->pad_x) ||
        ms_acts_read_ids(f->a, b->seq0, b->nseq, 0, f->ctx, s->pad_ids))
        return -1;
    int64_t out = 0;
    for (int64_t i = 0; i < n; i++)
        if (s->pad_ids[i] >= 0) memcpy(dst + out++ * d, s->pad_x + i * d, (size_t)d * sizeof(float));
    return 0;
}

// The row of a block that holds its token-th streamed token.
static int64_t row_of_token(const ms_act_stream *s, const block *b, int64_t token) {
    const afile *f = &s->files[b->file];
    if (!f->n_real) return b->seq0 + token / f->ctx;
    int64_t r = b->seq0;
    while (r + 1 < b->seq0 + b->nseq && token >= f->n_real[r]) token -= f->n_real[r++];
    return r;
}

// Reads one block of one hook into dst (tokens, d_in) float32, checking every value is finite.
static int read_block(ms_act_stream *s, const block *b, int h, float *dst) {
    afile *f = &s->files[b->file];
    if (read_block_rows(s, b, h, dst)) return -1;
    const int64_t n = b->tokens * s->d_in[h];
    int64_t bad = -1;
    #pragma omp parallel for schedule(static) reduction(max : bad)
    for (int64_t i = 0; i < n; i++) if (!isfinite(dst[i])) { int64_t q = i; if (q > bad) bad = q; }
    if (bad >= 0) {
        ms_error("%s: /acts/%s: non-finite value (NaN or Inf) in sequence %lld", ms_acts_path(f->a), s->hooks[h],
                 (long long)row_of_token(s, b, bad / s->d_in[h]));
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
