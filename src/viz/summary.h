// summary.h: paper figures across several dictionaries (`monoscope viz summary`).
#ifndef MS_VIZ_SUMMARY_H
#define MS_VIZ_SUMMARY_H
#include <stdint.h>

typedef struct {
    const char *const *files; // SAE files
    int n_files;
    const char *acts;         // activations file to evaluate files without /eval (may be NULL)
    int64_t max_tokens;       // for that evaluation (0: all)
    const char *out_dir;      // existing directory
    double scale;             // dpi / 100
    const char *inputs;       // provenance text for the PNGs
} ms_summary_opts;

// Writes density.png, l0_ev.png, dead.png and training.png (figures with no data are skipped,
// with a note on stderr). Returns 0 / -1 with ms_error().
int ms_viz_summary(const ms_summary_opts *o);

#endif
