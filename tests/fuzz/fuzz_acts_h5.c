// fuzz_acts_h5.c: bytes as an activations file (acts.h5) through the one reader, src/io/acts.c.
// Byte mutation of HDF5 mostly trips checksums; fuzz_h5_struct.c mutates the format's semantics.
#include "fuzz_h5_use.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_use_acts(fuzz_put(0, "acts/acts.h5", data, size));
    return 0;
}
