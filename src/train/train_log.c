// train_log.c: the training log (see train_log.h).
#include "train/train_log.h"
#include <stdlib.h>
#include <string.h>
#include "io/h5util.h"
#include "util/util.h"

void ms_train_log_init(ms_train_log *l, int cols, const char *const *names) {
    memset(l, 0, sizeof *l);
    l->cols = cols;
    l->names = names;
}

void ms_train_log_free(ms_train_log *l) {
    free(l->rows);
    l->rows = NULL;
    l->n = l->cap = 0;
}

void ms_train_log_append(ms_train_log *l, const double *row) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->rows = ms_realloc(l->rows, (size_t)l->cap * l->cols * sizeof(double));
    }
    memcpy(l->rows + l->n * l->cols, row, (size_t)l->cols * sizeof(double));
    l->n++;
}

int ms_train_log_write(hid_t loc, const char *name, const ms_train_log *l) {
    const int64_t shape[2] = {l->n, l->cols};
    const double none = 0;
    return ms_h5_write(loc, name, H5T_NATIVE_DOUBLE, 2, shape, l->rows ? l->rows : &none);
}

void ms_train_log_reserve(ms_train_log *l, int64_t n) {
    if (n <= l->cap) return;
    l->cap = n;
    l->rows = ms_realloc(l->rows, (size_t)l->cap * l->cols * sizeof(double));
}

int ms_train_log_read(hid_t loc, const char *file, const char *name, ms_train_log *l) {
    int64_t shape[8];
    if (ms_h5_shape(loc, name, shape) != 2 || shape[1] != l->cols) return 0;
    l->n = 0;
    double *tmp = ms_malloc((size_t)(shape[0] + 1) * l->cols * sizeof(double));
    int rc = shape[0] > 0 ? ms_h5_read(loc, file, name, H5T_NATIVE_DOUBLE, 2, shape, tmp) : 0;
    for (int64_t r = 0; r < shape[0] && !rc; r++) ms_train_log_append(l, tmp + r * l->cols);
    free(tmp);
    return rc;
}
