// capture.c: corpus -> activations HDF5, batch by batch (see capture.h, README "Activations file").
//
// Crash safety: a run writes "<out>.partial". After every batch the datasets are extended, the batch
// is written, the root attribute n_seq is set to the number of complete rows and the file is flushed,
// so a crash or Ctrl-C loses at most the batch in flight. --resume reopens the partial file, checks
// that model, hooks, ctx, dtype, input format and batch size are the same (attribute resume_key),
// re-reads the input up to n_seq rows checking they equal /tokens, and continues. At the end the
// partial file is fsynced and renamed to <out>. The file format itself (layout, attributes, the
// batch-by-batch writer) is owned by io/acts.h.
//
// Rows are ctx tokens long. A shorter sequence (the last window of a document, a short ids line)
// is padded: token -1, activations 0 (attention scores: -inf in the masked columns, 0 in padded rows).
#include "capture/capture.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backend/backend.h"
#include "io/acts.h"
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
} cap_hook;

// /vocab: the bytes of every token id (NUL-terminated copies; the writer stores them as strings).
static char **vocab_strings(const ms_model *m) {
    const int V = m->cfg.vocab_size, tv = ms_tokenizer_vocab_size(m->tok);
    char **strs = ms_malloc((size_t)V * sizeof(char *));
    for (int i = 0; i < V; i++) {
        size_t len = 0;
        const char *b = i < tv ? ms_tokenizer_token_bytes(m->tok, i, &len) : "";
        strs[i] = ms_malloc(len + 1);
        memcpy(strs[i], b, len);
        strs[i][len] = 0;
    }
    return strs;
}

// ---- hooks: expand the user's patterns to this model's concrete sites
// Layers a hook list needs loaded, read from the names alone so the model is loaded once: the
// highest "blocks.N." any pattern names, plus one; 0 (= every layer) when a pattern could reach
// further (a glob over the layer, ln_final, logits). Pre-block sites alone need one layer.
static int layers_needed(const char *list) {
    int need = 1, seen = 0;
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        size_t len = strcspn(p, ",");
        int layer, used = 0;
        seen = 1;
        if (sscanf(p, "blocks.%d.%n", &layer, &used) == 1 && used > 0 && (size_t)used <= len) {
            if (layer + 1 > need) need = layer + 1;
        } else if (strncmp(p, "hook_embed", 10) && strncmp(p, "hook_pos_embed", 14)) {
            return 0;
        }
        p += len;
    }
    return seen ? need : 0;
}

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
            int ka = a->layer < 0 ? (a->site > MS_SITE_RESID_POST ? 1 << 20 : -1) : a->layer;
            int kb = b->layer < 0 ? (b->site > MS_SITE_RESID_POST ? 1 << 20 : -1) : b->layer;
            if (ka < kb || (ka == kb && a->site <= b->site)) break;
            cap_hook t = *a; *a = *b; *b = t;
        }
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)batch * h[i].row * sizeof(float);
        if (bytes > ((size_t)1 << 34)) {
            ms_error("--hooks: %s needs %zu MiB per batch; lower --batch or --ctx", h[i].name, bytes >> 20);
            goto done;
        }
        h[i].buf = ms_aligned_alloc(bytes + MS_ACTS_ROWS_SLACK); // the writer's checksum room (acts.h)
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
    for (int i = 0; i < n; i++) free(h[i].buf);
    free(h);
}

static const char *format_name(ms_input_format f) {
    return f == MS_INPUT_TEXT ? "text" : f == MS_INPUT_JSONL ? "jsonl" : "ids";
}

// The token capture --pack puts between documents: EOS, or BOS for a model without one; -1: none.
static int pack_separator(const ms_model *m) { return m->cfg.eos_id >= 0 ? m->cfg.eos_id : m->cfg.bos_id; }

// Everything that must match for --resume to continue a file, as "key=value;" pairs. The token
// budget is not part of it: --resume may continue a run to a larger --max-tokens.
static char *resume_key(const ms_model *m, const ms_capture_opts *o, const char *hooks, int batch) {
    const ms_config *c = &m->cfg;
    size_t n = strlen(hooks) + strlen(o->input_path) + 1024;
    char *k = ms_malloc(n);
    snprintf(k, n,
             "architecture=%s;n_layer=%d;d_model=%d;n_head=%d;n_kv_head=%d;d_head=%d;d_mlp=%d;vocab_size=%d;"
             "parameters=%zu;hooks=%s;ctx=%d;dtype=%s;input_format=%s;prepend_bos=%d;batch=%d;%s%s",
             ms_arch_name(c->arch), c->n_layer, c->d_model, c->n_head, c->n_kv_head, c->d_head, c->d_mlp,
             c->vocab_size, m->n_params, hooks, o->ctx, o->f16 ? "f16" : "f32", format_name(o->input_format),
             o->prepend_bos, batch, o->pack ? "pack=1;" : "", o->compute ? "compute=bf16;" : "");
    return k;
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

static ms_acts_writer *create_file(const char *tmp, const ms_model *m, const ms_capture_opts *o, const ms_acts_site *sites,
                                   int n_hooks, const char *hook_list, const char *key, int batch, int compress) {
    // probe with stdio first: HDF5 reports no errno
    FILE *probe = fopen(tmp, "wb");
    if (!probe) {
        ms_error("%s: cannot write output: %s", o->out_path, strerror(errno));
        return NULL;
    }
    fclose(probe);
    const ms_config *c = &m->cfg;
    ms_acts_header hd = {
        .model = m->path, .architecture = ms_arch_name(c->arch), .source_format = c->source_format,
        .source_dtype = c->source_dtype, .n_layer = c->n_layer, .d_model = c->d_model, .n_head = c->n_head,
        .n_kv_head = c->n_kv_head, .d_head = c->d_head, .d_mlp = c->d_mlp, .vocab_size = c->vocab_size,
        .n_ctx = c->n_ctx, .n_params = (int64_t)m->n_params, .hooks = hook_list, .ctx = o->ctx, .f16 = o->f16,
        .input = o->input_path, .input_format = format_name(o->input_format), .prepend_bos = o->prepend_bos,
        .batch = batch, .compress = compress, .max_tokens = o->max_tokens,
        .padding = o->pack ? "none: packed rows are full windows"
                           : "positions past a sequence's end: token -1, activations 0 (attn scores -inf)",
        .packing = o->pack ? "documents joined by an EOS separator into full ctx windows; the final partial window dropped"
                           : NULL,
        .separator_id = pack_separator(m),
        .resume_key = key,
        .vocab_note = "the model has no tokenizer: /vocab omitted"};
    char **vocab = m->tok ? vocab_strings(m) : NULL;
    hd.vocab = (const char *const *)vocab;
    hd.n_vocab = vocab ? c->vocab_size : 0;
    ms_acts_writer *w = ms_acts_writer_create(tmp, &hd, sites, n_hooks);
    for (int i = 0; vocab && i < c->vocab_size; i++) free(vocab[i]);
    free(vocab);
    return w;
}

// Tokens of a stored row (ctx ids, padded with -1) when it is a proper prefix of the input's window
// (seq, len): a row that --max-tokens cut short; else 0.
static int cut_row_tokens(const int32_t *row, const int32_t *seq, int len, int ctx) {
    int n = 0;
    while (n < ctx && row[n] >= 0) n++;
    if (n == 0 || n >= len) return 0;
    for (int i = 0; i < ctx; i++)
        if (row[i] != (i < n ? seq[i] : -1)) return 0;
    return n;
}

// Real tokens of a stored row (ids >= 0).
static int row_tokens(const int32_t *row, int ctx) {
    int n = 0;
    for (int i = 0; i < ctx; i++) n += row[i] >= 0;
    return n;
}

// --resume: re-reads the input up to the file's *n_seq rows, checking it still produces /tokens. A
// last row that a smaller --max-tokens cut short is kept when this run's budget ends there too;
// otherwise its whole batch is dropped (*n_seq, *n_tok lowered) and captured again, the rows in the
// same batches as one run with the larger budget has them, so the file ends byte for byte that run's.
static int check_resumed_rows(const ms_capture_opts *o, ms_input *in, ms_acts_writer *w, int batch, long long *n_seq,
                              long long *n_tok, int32_t *seq) {
    const int ctx = o->ctx;
    int32_t *row = ms_malloc((size_t)ctx * sizeof(int32_t));
    int rc = 0;
    const long long rows = *n_seq;
    ms_input_set_history(in, batch);
    long long batch_tokens = 0; // tokens of the stored rows of the last (possibly partial) batch
    for (long long r = 0; r < rows && !rc; r++) {
        int len = ms_input_next(in, seq);
        if (len < 0 || ms_acts_writer_token_row(w, r, row)) { rc = -1; break; }
        if (r % batch == 0) batch_tokens = 0;
        batch_tokens += row_tokens(row, ctx);
        int same = len > 0;
        for (int i = 0; i < ctx && same; i++) same = row[i] == (i < len ? seq[i] : -1);
        int cut = !same && r == rows - 1 ? cut_row_tokens(row, seq, len, ctx) : 0;
        if (cut && (o->max_tokens == 0 || o->max_tokens > *n_tok)) {
            const int back = (int)(r % batch) + 1; // the rows of the last batch
            rc = ms_input_unread(in, back);
            *n_seq -= back;
            *n_tok -= batch_tokens;
        }
        if (!same && !cut) {
            ms_error("%s: --resume: the input no longer produces row %lld of the partial file", o->input_path, r);
            rc = -1;
        }
    }
    free(row);
    if (!rc) rc = ms_acts_writer_rewind(w, *n_seq, o->max_tokens);
    return rc;
}

// Reads up to `batch` sequences into tok (batch, ctx) with their lengths; T gets the longest, *done
// is set at the end of the input or of --max-tokens. Returns the count, -1 on an input error.
static int gather_batch(const ms_capture_opts *o, ms_input *in, int batch, int32_t *seq, int32_t *tok, int *lens,
                        long long *n_tok, int *T, int *done) {
    int B = 0;
    while (B < batch) {
        if (o->max_tokens > 0 && *n_tok >= o->max_tokens) { *done = 1; break; }
        int len = ms_input_next(in, seq);
        if (len < 0) return -1;
        if (len == 0) { *done = 1; break; }
        if (o->max_tokens > 0 && *n_tok + len > o->max_tokens) {
            if (o->pack) { *done = 1; break; } // packed rows stay full: the budget ends at a whole window
            len = (int)(o->max_tokens - *n_tok);
        }
        lens[B] = len;
        *n_tok += len;
        memcpy(tok + (size_t)B * o->ctx, seq, (size_t)len * sizeof(int32_t));
        if (len > *T) *T = len;
        B++;
    }
    return B;
}

// An existing <out>: 0 when already complete and --resume (nothing to do), -1 without --overwrite;
// 1: go on; 2: --resume of a complete file captured with a smaller --max-tokens: extend it.
static int output_state(const ms_capture_opts *o, const char *tmp) {
    if (!ms_file_exists(o->out_path) || o->overwrite) return 1;
    if (o->resume && !ms_file_exists(tmp)) {
        char *key = NULL;
        int64_t have = 0, budget = 0;
        if (ms_acts_capture_extent(o->out_path, &key, &have, &budget)) return -1;
        free(key);
        if (budget > 0 && (o->max_tokens == 0 || o->max_tokens > have)) return 2;
        fprintf(stderr, "monoscope: %s is already complete; nothing to resume\n", o->out_path);
        return 0;
    }
    if (!o->resume) {
        ms_error("%s: output exists (use --overwrite to replace it, or another --out)", o->out_path);
        return -1;
    }
    return 1;
}

// --resume of a complete file to a larger --max-tokens: once its settings are checked against this
// run's, it becomes the partial file again (its rows stay; an interruption leaves <out>.partial,
// which --resume continues).
static int extend_file(const ms_capture_opts *o, const char *tmp, const char *key) {
    char *have = NULL;
    int64_t n_tok = 0, budget = 0;
    if (ms_acts_capture_extent(o->out_path, &have, &n_tok, &budget)) return -1;
    int rc = ms_acts_check_key(have, key, o->out_path);
    free(have);
    if (rc) return -1;
    if (rename(o->out_path, tmp)) {
        ms_error("%s: cannot rename to %s: %s", o->out_path, tmp, strerror(errno));
        return -1;
    }
    char budget_s[32];
    snprintf(budget_s, sizeof budget_s, "%lld", (long long)o->max_tokens);
    fprintf(stderr, "monoscope: extending %s (%lld tokens, captured with --max-tokens %lld) to %s; it is %s until "
                    "this run ends\n", o->out_path, (long long)n_tok, (long long)budget,
            o->max_tokens ? budget_s : "the whole input", tmp);
    return 0;
}

// The partial file of an interrupted run, reopened after checking that its rows are the input's
// first ones; *n_seq, *n_tok: what it holds. NULL + ms_error.
static ms_acts_writer *resume_file(const ms_capture_opts *o, const char *tmp, const char *key, ms_input *in,
                                   const ms_acts_site *sites, int n_hooks, int batch, int32_t *seq, long long *n_seq,
                                   long long *n_tok) {
    int64_t done_seq = 0, done_tok = 0;
    ms_acts_writer *w = ms_acts_writer_resume(tmp, o->out_path, key, o->ctx, o->f16, batch, sites, n_hooks, &done_seq, &done_tok);
    if (!w) return NULL;
    *n_seq = done_seq;
    *n_tok = done_tok;
    if (check_resumed_rows(o, in, w, batch, n_seq, n_tok, seq)) { ms_acts_writer_abort(w); return NULL; }
    fprintf(stderr, "monoscope: resuming %s after %lld sequences\n", tmp, *n_seq);
    return w;
}

// The observer copying every hook site's rows into its cap_hook buffer.
static ms_observer *open_observer(const ms_model *m, const cap_hook *h, int n_hooks, int ctx) {
    const char **names = ms_malloc((size_t)n_hooks * sizeof *names);
    float **bufs = ms_malloc((size_t)n_hooks * sizeof *bufs);
    for (int i = 0; i < n_hooks; i++) { names[i] = h[i].name; bufs[i] = h[i].buf; }
    ms_observer *obs = ms_observer_new(m, names, n_hooks, ctx, bufs);
    free(names);
    free(bufs);
    return obs;
}

// The summary line after a run: sequences, tokens, rate, how the time split, and the rate after the
// first batch (steady tokens over steady seconds), which alone pays for laying the weights out for
// the GEMM kernel and first-touching the buffers: what a long capture runs at.
static void report_rate(long long n_seq, long long n_tok, double seconds, double t_fwd, double t_write,
                        long long steady_tok, double steady_s) {
    fprintf(stderr, "monoscope: captured %lld sequences (%lld tokens) in %.2f s: %.0f tokens/s; forward %.2f s, "
                    "hdf5 %.2f s (%.1f%%)", n_seq, n_tok, seconds, seconds > 0 ? n_tok / seconds : 0.0, t_fwd, t_write,
            seconds > 0 ? 100.0 * t_write / seconds : 0.0);
    if (steady_tok > 0 && steady_s > 0) fprintf(stderr, "; after the first batch %.0f tokens/s", steady_tok / steady_s);
    fprintf(stderr, "\n");
}

// The corpus reader for the model's tokenizer, packed with its separator for --pack.
static ms_input *open_input(const ms_model *m, const ms_capture_opts *o) {
    const ms_config *c = &m->cfg;
    ms_input *in = ms_input_open(o->input_path, o->input_format, m->tok, o->ctx, o->prepend_bos, c->bos_id, c->vocab_size);
    if (!in || !o->pack) return in;
    if (pack_separator(m) < 0) ms_error("%s: --pack needs an EOS or BOS token; the model has neither", o->model_path);
    else if (!ms_input_set_packing(in, pack_separator(m))) return in;
    ms_input_close(in);
    return NULL;
}

int ms_capture(const ms_capture_opts *o) {
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
    ms_acts_site *sites = NULL;
    float **rows = NULL;
    ms_acts_writer *w = NULL;
    int32_t *fwd_tok = NULL;
    long long n_seq = 0, n_tok = 0;
    int fresh = 0;

    if (o->ctx < 1) { ms_error("--ctx must be at least 1"); return -1; }
    if (!o->out_path || !*o->out_path) { ms_error("--out is required"); return -1; }
    size_t tl = strlen(o->out_path) + 16;
    tmp = ms_malloc(tl);
    snprintf(tmp, tl, "%s.partial", o->out_path);
    int state = output_state(o, tmp);
    if (state <= 0) { free(tmp); return state; }
    // bf16 products: the weight matrices are held in bf16 from the load on, not beside float32
    // copies (half the memory: an 8B model's whole pass fits in 24 GB)
    m = ms_model_load_opts(o->model_path, &(ms_load_opts){.layers_needed = layers_needed(o->hooks),
                                                          .hold_bf16 = o->compute == MS_COMPUTE_BF16});
    if (!m) goto out;
    const ms_config *c = &m->cfg;
    if (o->ctx > c->n_ctx) {
        ms_error("--ctx %d exceeds the model's context of %d tokens", o->ctx, c->n_ctx);
        goto out;
    }
    int batch = o->batch > 0 ? o->batch : 4;
    if (o->resume && o->batch <= 0 && ms_file_exists(tmp)) { // take the partial file's batch size
        int b = ms_acts_partial_batch(tmp);
        if (b > 0) batch = b;
    }
    const int compress = o->compress >= 0 ? o->compress : MS_CAPTURE_DEFAULT_COMPRESS;
    if (compress > 9) { ms_error("--compress expects 0..9, got %d", compress); goto out; }
    if (expand_hooks(m, o->hooks ? o->hooks : "", o->ctx, batch, &h, &n_hooks)) goto out;
    hook_list = join_names(h, n_hooks);
    sites = ms_malloc((size_t)n_hooks * sizeof *sites);
    rows = ms_malloc((size_t)n_hooks * sizeof *rows);
    for (int i = 0; i < n_hooks; i++) {
        sites[i] = (ms_acts_site){.name = h[i].name, .ndim = h[i].ndim, .shape = h[i].shape};
        rows[i] = h[i].buf;
    }
    key = resume_key(m, o, hook_list, batch);
    if (state == 2 && extend_file(o, tmp, key)) goto out;
    in = open_input(m, o);
    if (!in) goto out;

    const int ctx = o->ctx;
    tok = ms_malloc((size_t)batch * ctx * sizeof(int32_t));
    seq = ms_malloc((size_t)ctx * sizeof(int32_t));
    lens = ms_calloc((size_t)batch, sizeof(int));
    const int resuming = o->resume && ms_file_exists(tmp);
    w = resuming ? resume_file(o, tmp, key, in, sites, n_hooks, batch, seq, &n_seq, &n_tok)
                 : create_file(tmp, m, o, sites, n_hooks, hook_list, key, batch, compress);
    if (!w) goto out;
    fresh = !resuming;

    obs = open_observer(m, h, n_hooks, ctx);
    if (!obs) goto out;
    st = ms_state_new(m, batch, ctx);
    if (!st || (o->compute && ms_state_set_compute(st, o->compute) < 0)) goto out;
    fwd_tok = ms_malloc((size_t)batch * ctx * sizeof(int32_t));

    ms_progress prog;
    ms_progress_start(&prog, "capture", 0, "tok");
    double t0 = ms_now(), t_write = 0, t_fwd = 0, t_first = 0;
    long long n_seq0 = n_seq, n_tok0 = n_tok, tok_first = -1;
    int done = 0;
    while (!done) {
        int T = 0, B = gather_batch(o, in, batch, seq, tok, lens, &n_tok, &T, &done);
        if (B < 0) goto out;
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
        n_seq += B;
        if (ms_acts_writer_append(w, B, tok, rows, n_tok)) goto out;
        t_write += ms_now() - tb;
        if (tok_first < 0) tok_first = n_tok, t_first = ms_now(); // the first batch ends here
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
    const double t_end = ms_now();
    report_rate(n_seq - n_seq0, n_tok - n_tok0, t_end - t0, t_fwd, t_write, n_tok - tok_first, t_end - t_first);
    int closed = ms_acts_writer_finish(w);
    w = NULL;
    if (closed) goto out;
    if (ms_atomic_commit(tmp, o->out_path)) goto out;
    rc = 0;
out:
    ms_acts_writer_abort(w);
    if (h) free_hooks(h, n_hooks);
    if (rc && fresh && n_seq == 0) unlink(tmp); // nothing worth resuming
    ms_observer_free(obs);
    ms_state_free(st);
    ms_input_close(in);
    ms_model_free(m);
    free(tmp); free(hook_list); free(key); free(tok); free(seq); free(lens); free(fwd_tok);
    free(sites); free(rows);
    return rc;
}
