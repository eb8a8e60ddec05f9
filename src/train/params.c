// params.c: flat parameter buffers from a name table (see params.h).
#include "train/params.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/h5util.h"
#include "util/util.h"

size_t ms_param_numel(const ms_param_spec *s) {
    size_t n = 1;
    for (int j = 0; j < s->ndim; j++) n *= (size_t)s->shape[j];
    return n;
}

void ms_params_init(ms_params *P, const ms_param_spec *spec, int n, int with_grads) {
    memset(P, 0, sizeof *P);
    if (n > MS_PARAMS_MAX) n = MS_PARAMS_MAX;
    P->n = n;
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        P->spec[i] = spec[i];
        P->off[i] = o;
        o += (ms_param_numel(&spec[i]) + 15) / 16 * 16; // every tensor starts on a cache line
    }
    P->count = o;
    const size_t bytes = (o ? o : 1) * sizeof(float);
    P->p = ms_aligned_alloc(bytes);
    P->m = ms_aligned_alloc(bytes);
    P->v = ms_aligned_alloc(bytes);
    if (with_grads) P->g = ms_aligned_alloc(bytes);
}

void ms_params_free(ms_params *P) {
    free(P->p); free(P->g); free(P->m); free(P->v);
    memset(P, 0, sizeof *P);
}

// Calls fn(loc, name, spec, buffer) for the parameters and both moments of every tensor.
static int each_dataset(const ms_params *P, int (*fn)(hid_t, const char *, const ms_param_spec *, float *, const char *),
                        hid_t loc, const char *file) {
    float *bufs[3] = {P->p, P->m, P->v};
    const char *prefix[3] = {"", "m", "v"};
    for (int i = 0; i < P->n; i++)
        for (int b = 0; b < 3; b++) {
            char name[MS_PARAM_NAME + 2];
            snprintf(name, sizeof name, "%s%s", prefix[b], P->spec[i].name);
            if (fn(loc, name, &P->spec[i], bufs[b] + P->off[i], file) < 0) return -1;
        }
    return 0;
}

static int write_one(hid_t loc, const char *name, const ms_param_spec *s, float *x, const char *file) {
    (void)file;
    return ms_h5_write(loc, name, H5T_NATIVE_FLOAT, s->ndim, s->shape, x);
}
static int read_one(hid_t loc, const char *name, const ms_param_spec *s, float *x, const char *file) {
    return ms_h5_read(loc, file, name, H5T_NATIVE_FLOAT, s->ndim, s->shape, x);
}

int ms_params_write(hid_t loc, const ms_params *P) { return each_dataset(P, write_one, loc, NULL); }
int ms_params_read(hid_t loc, const char *file, ms_params *P) { return each_dataset(P, read_one, loc, file); }

char *ms_params_describe(const ms_params *P, char *fp) {
    size_t n = strlen(fp), cap = n + 16 + (size_t)P->n * (MS_PARAM_NAME + 48);
    fp = ms_realloc(fp, cap);
    n += snprintf(fp + n, cap - n, " params=");
    for (int i = 0; i < P->n; i++) {
        const ms_param_spec *s = &P->spec[i];
        n += snprintf(fp + n, cap - n, "%s%s[%lld", i ? "," : "", s->name, (long long)s->shape[0]);
        if (s->ndim == 2) n += snprintf(fp + n, cap - n, ",%lld", (long long)s->shape[1]);
        n += snprintf(fp + n, cap - n, "]");
    }
    return fp;
}
