// capture.h: run a model over a corpus and write hook-site activations to an HDF5 file
// (layout: README "Activations file"), batch by batch, resumable after a crash.
#ifndef MS_CAPTURE_H
#define MS_CAPTURE_H
#include "capture/input.h"

typedef struct {
    const char *model_path, *input_path, *out_path;
    const char *hooks;          // comma-separated hook names or globs
    ms_input_format input_format;
    int ctx;                    // row length of /tokens and /acts/*
    int batch;                  // sequences per forward pass (0: default 4, or the file's on resume)
    long long max_tokens;       // 0: no limit
    int f16;                    // store activations as float16
    int prepend_bos;
    int pack;                   // join documents with EOS into full ctx windows (no padding)
    int resume;                 // continue <out>.partial (or start it when absent)
    int overwrite;              // replace an existing <out>
    int compress;               // deflate level 0..9 (0: none); -1: default
    int compute;                // precision of the weight products: an ms_compute (backend.h), 0 = f32
} ms_capture_opts;

#define MS_CAPTURE_DEFAULT_COMPRESS 0

// Returns 0, or -1 with ms_error() set. Progress on stderr when it is a terminal.
int ms_capture(const ms_capture_opts *o);
#endif
