// fuzz_labels_h5.c: bytes as a concept labels file (labels.h5, `concepts label`'s output) through its
// one reader, probes/labels.c (fuzz_h5_use.h). fuzz_h5_struct.c mutates the format's semantics.
#include "fuzz_h5_use.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_use_labels(fuzz_put(0, "labels/labels.h5", data, size));
    return 0;
}
