// params.h: a model's trainable tensors laid out by one pass over a name table, as llm.c's
// ParameterTensors: parameters, gradients and the two Adam moments are each one flat buffer with
// the same layout, so the optimizer, checkpoints and resume checks are each one loop over the
// table (or one loop over the buffer) instead of one line per tensor.
#ifndef MS_TRAIN_PARAMS_H
#define MS_TRAIN_PARAMS_H
#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

enum { MS_PARAMS_MAX = 32, MS_PARAM_NAME = 32 };

typedef struct {
    const char *name;   // checkpoint dataset name; the moments are "m<name>" and "v<name>"
    int ndim;           // 1 or 2
    int64_t shape[2];
} ms_param_spec;

typedef struct {
    int n;
    ms_param_spec spec[MS_PARAMS_MAX];
    size_t off[MS_PARAMS_MAX];   // each tensor's offset in floats, a multiple of 16 (64-byte aligned)
    size_t count;                // floats per buffer, padding included
    float *p, *g, *m, *v;        // (count) parameters, gradients (NULL without), Adam moments; zeroed
} ms_params;

size_t ms_param_numel(const ms_param_spec *s);
// Lays out and allocates the n tensors of spec (names must outlive P). with_grads: allocate g.
void ms_params_init(ms_params *P, const ms_param_spec *spec, int n, int with_grads);
void ms_params_free(ms_params *P);
// Tensor i of a buffer (P->p, P->g, P->m or P->v).
static inline float *ms_param_at(const ms_params *P, float *buf, int i) { return buf ? buf + P->off[i] : NULL; }

// Parameters and moments of every tensor as datasets of group loc (names as above).
int ms_params_write(hid_t loc, const ms_params *P);
// Reads what ms_params_write wrote, shapes checked; -1 + ms_error naming file.
int ms_params_read(hid_t loc, const char *file, ms_params *P);
// Appends " params=name[S,d],..." to a fingerprint (so a checkpoint of other shapes is refused).
char *ms_params_describe(const ms_params *P, char *fp); // fp malloc'ed, returned realloc'ed

#endif
