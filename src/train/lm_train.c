// lm_train.c: the training run behind `monoscope train-lm` (see lm_train.h).
#include "train/lm_train.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/h5util.h"
#include "train/ckpt.h"
#include "train/lm_data.h"
#include "train/ngram.h"
#include "train/schedule.h"
#include "train/train_log.h"
#include "util/util.h"

static const char *const LOG_COLS[] = {"step", "lr", "train_loss", "val_loss", "grad_norm", "tokens_per_s"};
enum { LOG_NCOLS = 6 };

void ms_lm_train_defaults(ms_lm_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch = 8;
    o->lr = 3e-4;
    o->warmup_frac = 0.05;
    o->min_lr_frac = 0.1;
    o->weight_decay = 0.1;
    o->clip = 1.0;
    o->beta1 = 0.9;
    o->beta2 = 0.95;
    o->eps = 1e-8;
    o->val_every = 100;
    o->val_batches = 8;
    o->ckpt_every = 100;
    o->seed = 1337;
    o->threads = 1;
}

// Everything the result depends on: a checkpoint of other settings is refused on resume.
static char *fingerprint(const ms_lm_train_opts *o, const ms_lm *m, int64_t steps) {
    char buf[512];
    snprintf(buf, sizeof buf, "train-lm v1 B=%d steps=%lld lr=%.9g warmup=%.9g min=%.9g wd=%.9g clip=%.9g b=%.9g,%.9g,%.9g "
             "seed=%llu threads=%d", o->batch, (long long)steps, o->lr, o->warmup_frac, o->min_lr_frac, o->weight_decay,
             o->clip, o->beta1, o->beta2, o->eps, (unsigned long long)o->seed, o->threads);
    return ms_params_describe(&m->P, ms_strdup(buf));
}

static double val_loss(ms_lm *m, const ms_token_stream *val, int64_t n_batches, int32_t *in, int32_t *tg) {
    double sum = 0;
    for (int64_t i = 0; i < n_batches; i++) {
        ms_lm_batch_seq(val, i, m->B, m->T, in, tg);
        sum += ms_lm_forward(m, in, tg, m->B, m->T);
    }
    return sum / (double)n_batches;
}

static int write_ckpt(const char *path, const char *fp, int64_t step, const ms_lm *m, const ms_train_log *log) {
    ms_ckpt c;
    if (ms_ckpt_begin(&c, path, step, 0, fp) < 0) return -1;
    int ok = ms_params_write(c.file, &m->P) == 0 && ms_train_log_write(c.file, "training_log", log) == 0;
    return ms_ckpt_end(&c, ok);
}

// Resumes from path when it exists: parameters, moments, log; *step = the next step to run.
static int read_ckpt(const char *path, const char *fp, int64_t *step, ms_lm *m, ms_train_log *log) {
    *step = 0;
    if (!ms_file_exists(path)) return 0;
    int64_t pos;
    hid_t f = ms_ckpt_open(path, fp, step, &pos);
    if (f < 0) return -1;
    int rc = ms_params_read(f, path, &m->P) | ms_train_log_read(f, path, "training_log", log);
    H5Fclose(f);
    return rc ? ms_ckpt_damaged(path) : 0;
}

// The model directory: HF GPT-2 files with the tokenizer's vocabulary, and training_log.h5.
// With a validation set, the n-gram baselines of the same windows (ngram.h) are attributes
// val_loss_unigram / val_loss_bigram of training_log.h5.
// The Hugging Face directory: training_log.h5 first, then ms_checkpoint_save_hf (config and
// tokenizer, then model.safetensors last), so a run killed while saving never leaves weights that
// look finished beside a missing file; the caller removes the checkpoint after this returns.
static int save_model(const ms_lm_train_opts *o, const ms_lm *m, const ms_tokenizer *tok, const ms_train_log *log,
                      const ms_ngram_loss *base) {
    char *path = ms_path_join(o->out, "training_log.h5");
    ms_h5_atomic out;
    int rc = ms_h5_atomic_begin(&out, path);
    if (!rc) {
        rc = ms_train_log_write(out.f, "training_log", log) | ms_h5_attr_strs(out.f, "columns", LOG_COLS, LOG_NCOLS) |
             ms_h5_attr_str(out.f, "command", ms_command_line());
        if (!rc && base)
            rc = ms_h5_attr_float(out.f, "val_loss_unigram", base->unigram) |
                 ms_h5_attr_float(out.f, "val_loss_bigram", base->bigram);
        rc = ms_h5_atomic_end(&out, !rc);
    }
    free(path);
    if (rc) return -1;
    ms_checkpoint *ck = ms_lm_to_checkpoint(m);
    ck->bos_id = ck->eos_id = ms_tokenizer_eos(tok);
    rc = ms_lm_read_vocab(o->tokenizer, ck->vocab, &ck->tokens, &ck->merges, &ck->n_merges);
    if (rc == 0) rc = ms_checkpoint_save_hf(ck, o->out, MS_DT_F32);
    ms_checkpoint_free(ck);
    return rc ? -1 : 0;
}

typedef struct {
    const ms_lm_train_opts *o;
    ms_lm *m;
    const ms_token_stream *train, *val;
    int32_t *in, *tg;   // (B,T) batch buffers, allocated once
    int64_t steps;
    char *fp, *ckpt_path;
    ms_train_log log;
    ms_ngram_loss base; // n-gram baselines on the validation windows, when there is a validation set
} lm_run;

// One optimizer step t: batch, forward, backward, clip, AdamW; appends its log row.
static void train_step(lm_run *r, int64_t t, double *loss_out) {
    const ms_lm_train_opts *o = r->o;
    ms_lm *m = r->m;
    const double t0 = ms_now();
    ms_lm_batch(r->train, o->seed, t, m->B, m->T, r->in, r->tg);
    float loss = ms_lm_forward(m, r->in, r->tg, m->B, m->T);
    ms_lm_backward(m, r->in, m->B, m->T);
    double norm = ms_lm_grad_norm(m);
    float gscale = o->clip > 0 && norm > o->clip ? (float)(o->clip / norm) : 1.0f;
    int64_t warmup = (int64_t)ceil(o->warmup_frac * (double)r->steps);
    double lr = ms_lr_cosine_at(o->lr, t, r->steps, warmup, o->min_lr_frac);
    ms_lm_update(m, lr, o->beta1, o->beta2, o->eps, o->weight_decay, gscale, t);
    const double tok_per_s = (double)m->B * m->T / (ms_now() - t0); // training only, validation apart
    double vl = NAN;
    if (r->val && o->val_every > 0 && ((t + 1) % o->val_every == 0 || t + 1 == r->steps))
        vl = val_loss(m, r->val, o->val_batches, r->in, r->tg);
    const double row[LOG_NCOLS] = {(double)t, lr, loss, vl, norm, tok_per_s};
    ms_train_log_append(&r->log, row);
    *loss_out = loss;
}

// Testing hook (--dump-grads): step 0 of the run (validation off), written to one HDF5 file: the
// batch, the parameters before ("<name>") and after ("p1<name>") the AdamW update, every gradient
// ("g<name>", unclipped), and the loss, grad norm and learning rate as attributes.
static int dump_grads(const char *path, lm_run *r) {
    ms_lm *m = r->m;
    const ms_params *P = &m->P;
    float *p0 = ms_malloc(P->count * sizeof *p0);
    memcpy(p0, P->p, P->count * sizeof *p0);
    double loss;
    r->val = NULL;
    ms_train_log_reserve(&r->log, 1);
    train_step(r, 0, &loss);
    const double *row = ms_train_log_last(&r->log);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) { free(p0); ms_error("%s: cannot create", path); return -1; }
    const int64_t bt[2] = {m->B, m->T};
    int rc = ms_h5_write(f, "inputs", H5T_NATIVE_INT32, 2, bt, r->in) |
             ms_h5_write(f, "targets", H5T_NATIVE_INT32, 2, bt, r->tg) | ms_h5_attr_float(f, "loss", loss) |
             ms_h5_attr_float(f, "grad_norm", row[4]) | ms_h5_attr_float(f, "lr", row[1]) |
             ms_h5_attr_int(f, "n_head", m->cfg.n_head);
    for (int i = 0; i < P->n && rc == 0; i++) {
        const ms_param_spec *s = &P->spec[i];
        char g[MS_PARAM_NAME + 2], p1[MS_PARAM_NAME + 3];
        snprintf(g, sizeof g, "g%s", s->name);
        snprintf(p1, sizeof p1, "p1%s", s->name);
        rc = ms_h5_write(f, s->name, H5T_NATIVE_FLOAT, s->ndim, s->shape, p0 + P->off[i]) |
             ms_h5_write(f, g, H5T_NATIVE_FLOAT, s->ndim, s->shape, ms_param_at(P, P->g, i)) |
             ms_h5_write(f, p1, H5T_NATIVE_FLOAT, s->ndim, s->shape, ms_param_at(P, P->p, i));
    }
    H5Fclose(f);
    free(p0);
    return rc ? -1 : 0;
}

// Unigram and bigram losses on the windows val_loss scores, printed and kept for training_log.h5: a
// trained model's validation loss means something only below them.
static int baselines(lm_run *r) {
    const ms_lm *m = r->m;
    if (ms_ngram_val_loss(r->train, r->val, m->cfg.vocab, r->o->val_batches, m->B, m->T, &r->base) < 0) return -1;
    fprintf(stderr, "train-lm: validation baselines (%lld targets): unigram %.4f, bigram %.4f nats/token\n",
            (long long)r->base.n_targets, r->base.unigram, r->base.bigram);
    return 0;
}

static int train_loop(lm_run *r, int64_t start) {
    const ms_lm_train_opts *o = r->o;
    ms_progress pr;
    const double tok_per_step = (double)r->m->B * r->m->T;
    ms_progress_start(&pr, "train-lm", (double)r->steps * tok_per_step, "tok");
    for (int64_t t = start; t < r->steps; t++) {
        double loss;
        train_step(r, t, &loss);
        const double *last = ms_train_log_last(&r->log);
        char extra[96];
        if (isnan(last[3])) snprintf(extra, sizeof extra, "loss %.4f", loss);
        else snprintf(extra, sizeof extra, "loss %.4f val %.4f", loss, last[3]);
        ms_progress_update(&pr, (double)(t + 1) * tok_per_step, extra);
        if (o->ckpt_every > 0 && (t + 1) % o->ckpt_every == 0 && t + 1 < r->steps &&
            write_ckpt(r->ckpt_path, r->fp, t + 1, r->m, &r->log) < 0) {
            ms_progress_finish(&pr);
            return -1;
        }
    }
    ms_progress_finish(&pr);
    return 0;
}

// The corpus (and validation set) as token streams and the model; the vocabulary size is the tokenizer's.
static int setup(const ms_lm_train_opts *o, ms_tokenizer **tok, ms_token_stream *train, ms_token_stream *val,
                 ms_lm *m) {
    *tok = ms_tokenizer_load_hf(o->tokenizer);
    if (!*tok) return -1;
    ms_lm_config c = o->cfg;
    c.vocab = ms_tokenizer_vocab_size(*tok);
    if (ms_tokenizer_eos(*tok) < 0) { ms_error("%s: tokenizer has no <|endoftext|>", o->tokenizer); return -1; }
    if (ms_lm_config_check(&c) < 0) return -1;
    if (o->batch < 1) { ms_error("train-lm: --batch must be >= 1"); return -1; }
    if (ms_token_stream_load(train, o->corpus, *tok) < 0) return -1;
    if (o->val && ms_token_stream_load(val, o->val, *tok) < 0) return -1;
    return ms_lm_init(m, &c, o->batch, c.n_ctx, o->seed, o->threads);
}

int ms_lm_train(const ms_lm_train_opts *o) {
    ms_tokenizer *tok = NULL;
    ms_token_stream train = {0}, val = {0};
    ms_lm m = {0};
    lm_run r = {.o = o, .m = &m, .train = &train, .val = o->val ? &val : NULL};
    ms_train_log_init(&r.log, LOG_NCOLS, LOG_COLS);
    int rc = setup(o, &tok, &train, &val, &m);
    if (rc == 0) {
        r.in = ms_malloc((size_t)m.B * m.T * sizeof *r.in);
        r.tg = ms_malloc((size_t)m.B * m.T * sizeof *r.tg);
        r.steps = o->steps > 0 ? o->steps : o->tokens / ((int64_t)m.B * m.T);
        if (r.steps < 1) r.steps = 1;
    }
    if (rc == 0 && o->dump_grads) {
        rc = dump_grads(o->dump_grads, &r);
    } else if (rc == 0) {
        rc = ms_mkdir(o->out);
        r.fp = fingerprint(o, &m, r.steps);
        r.ckpt_path = ms_path_join(o->out, "checkpoint.h5");
        int64_t start = 0;
        if (rc == 0 && o->resume) rc = read_ckpt(r.ckpt_path, r.fp, &start, &m, &r.log);
        if (rc == 0 && o->resume) ms_state_weights_changed(m.state); // the parameters were read in place
        ms_train_log_reserve(&r.log, r.steps); // no allocation in the step loop
        if (rc == 0 && r.val) rc = baselines(&r);
        if (rc == 0) rc = train_loop(&r, start);
        if (rc == 0) rc = save_model(o, &m, tok, &r.log, r.val ? &r.base : NULL);
        if (rc == 0) remove(r.ckpt_path); // finished: the model directory replaces the checkpoint
    }
    free(r.in); free(r.tg); free(r.fp); free(r.ckpt_path);
    ms_train_log_free(&r.log);
    ms_lm_free(&m);
    ms_token_stream_free(&train);
    ms_token_stream_free(&val);
    ms_tokenizer_free(tok);
    return rc;
}
