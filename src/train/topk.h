// topk.h: top-k selection within one row of values (used by encode and the trainer).
#ifndef MS_TRAIN_TOPK_H
#define MS_TRAIN_TOPK_H
#include <stdint.h>

// Selects the k largest of row[0..n) (ties: the lower index wins). Writes their indices in
// ascending index order to idx[0..m) and values to val[0..m); returns m = min(k, n).
// idx and val need room for k entries. Deterministic, O(n + k log k) typical.
int ms_topk_row(const float *row, int n, int k, int32_t *idx, float *val);

// Same as ms_topk_row, but only over the candidate indices cand[0..nc) (e.g. dead latents for AuxK).
int ms_topk_subset(const float *row, const int32_t *cand, int nc, int k, int32_t *idx, float *val);

#endif
