// eval_run.h: `monoscope sae eval` as one library call: load the SAE, evaluate it on an activations
// file, optionally run the downstream metrics on a model (token rows from the activations file or a
// corpus read like capture's --input), optionally store /eval in the SAE file.
#ifndef MS_SAE_EVAL_RUN_H
#define MS_SAE_EVAL_RUN_H
#include <stdint.h>
#include "capture/input.h"
#include "sae/eval.h"

typedef struct {
    const char *sae_path, *acts_path;
    ms_sae_eval_opts eval;          // hook, max_tokens, batch of the activation metrics
    int store;                      // write /eval into the SAE file
    // downstream metrics (model_path NULL: none)
    const char *model_path;
    const char *input_path;         // NULL: the /tokens rows of the activations file
    ms_input_format input_format;
    int ctx;                        // tokens per sequence; 0: the activations' ctx (input: 128)
    int64_t max_seqs;               // at most this many sequences; 0: all
    int prepend_bos;                // start every input window with BOS
    int model_batch;                // sequences per forward pass (0: 4)
    int compute;                    // an ms_compute (backend.h): bf16 holds the model's matrices in bf16
} ms_sae_eval_run_opts;

// Fills r (free with ms_sae_eval_result_free). Returns 0, or -1 + ms_error with r already freed.
int ms_sae_eval_run(const ms_sae_eval_run_opts *o, ms_sae_eval_result *r);
#endif
