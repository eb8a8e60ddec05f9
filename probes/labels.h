// labels.h: the concept labels file (README "Probes and concepts"): its one reader and its one writer.
//
//   /tokens            int32 [n_seq, ctx]   the token ids, -1 past a sequence's end (as a capture's /tokens)
//   /concepts/<name>   uint8 [n_seq, ctx]   1 where the token carries the concept
//   root attributes: n_seq, ctx, model, input, input_format, prepend_bos, rules
//
// Written by `monoscope concepts label`; read by `monoscope probe train`, which checks /tokens against
// the activations file's /tokens row by row so labels and activations line up.
#ifndef MS_PROBES_LABELS_H
#define MS_PROBES_LABELS_H
#include <stdint.h>

typedef struct {
    int64_t n_seq;
    int ctx;
    int32_t *tokens;   // (n_seq, ctx)
    int n_concepts;
    char **names;      // (n_concepts), sorted by name
    uint8_t **labels;  // (n_concepts) arrays of (n_seq, ctx)
} ms_labels;

// Loads /tokens and the named concept (name NULL: every concept). NULL + ms_error
// ("labels.h5: no /concepts/<name> (the file has: ...)").
ms_labels *ms_labels_load(const char *path, const char *name);
void ms_labels_free(ms_labels *l);

typedef struct { // provenance written as root attributes
    const char *model, *input, *input_format, *rules;
    int prepend_bos;
} ms_labels_meta;
// Writes the file atomically. 0 / -1 + ms_error.
int ms_labels_save(const char *path, const ms_labels *l, const ms_labels_meta *meta);

#endif
