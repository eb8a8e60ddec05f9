// train_log.h: the training log, one row of float64 per logged step, fixed named columns; kept in
// checkpoints and written to the trained model's file (the SAE's /training_log).
#ifndef MS_TRAIN_LOG_H
#define MS_TRAIN_LOG_H
#include <hdf5.h>
#include <stdint.h>

typedef struct {
    int cols;
    const char *const *names; // (cols) column names
    double *rows;             // (n, cols) row-major
    int64_t n, cap;
} ms_train_log;

void ms_train_log_init(ms_train_log *l, int cols, const char *const *names);
void ms_train_log_free(ms_train_log *l);
void ms_train_log_append(ms_train_log *l, const double *row); // cols values
// Room for n rows in all, so a training loop that appends at most n rows allocates nothing.
void ms_train_log_reserve(ms_train_log *l, int64_t n);
// The last row, NULL when empty.
static inline const double *ms_train_log_last(const ms_train_log *l) {
    return l->n > 0 ? l->rows + (l->n - 1) * l->cols : NULL;
}
// As a (n, cols) dataset of loc; read replaces the rows (a dataset of other width is ignored).
int ms_train_log_write(hid_t loc, const char *name, const ms_train_log *l);
int ms_train_log_read(hid_t loc, const char *file, const char *name, ms_train_log *l);

#endif
