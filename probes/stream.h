// stream.h: internal to probes/: one hook's token rows streamed from an activations file in blocks
// of whole sequences (probe.c, pca.c). Not installed API.
#ifndef MS_PROBES_STREAM_H
#define MS_PROBES_STREAM_H
#include <stdint.h>
#include "io/acts.h"
#include "probes/labels.h"

// The streamed data: one hook's token rows of one split, standardised, in blocks of whole sequences.
typedef struct {
    ms_acts *a;
    int h, ctx, d;
    int64_t n_seq, cap;   // sequences used; rows per block (>= ctx)
    const ms_labels *lab; // NULL: no labels (no /tokens check)
    const uint8_t *split; // (n_seq) 1 = test; NULL: every sequence
    float *xseq;          // (ctx, d) one sequence as read
    int32_t *ids;         // (ctx)
    int64_t cursor;       // next sequence to look at
} ms_probe_src;

// Opens hook (NULL: the only one) of the activations file: a token site whose dim 1 is /tokens' ctx;
// block: rows per block (<= 0: 4096; at least ctx). 0 / -1 + ms_error (s may be half-open: close it).
int ms_probe_src_open(ms_probe_src *s, const char *acts, const char *hook, int64_t block);
void ms_probe_src_close(ms_probe_src *s);

// Next block of the split `want` into Z (cap, d): real tokens only (id >= 0: padding is never data;
// switch to the reader's real-token mask when src/io/acts.h has one), (x - mean) / std when mean is
// given, else x. flat[i] = seq·ctx + pos of row i (the label index). Returns the rows, 0 at the end, -1.
int64_t ms_probe_next_block(ms_probe_src *s, int want, const double *mean, const double *std, double *Z, int64_t *flat);

#endif
