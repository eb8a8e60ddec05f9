// fuzz_sae_h5.c: bytes as an SAE file (sae.h5) through its owner, sae/sae_io.c (ms_sae_load and the
// /eval reader).
#include "fuzz_h5_use.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_use_sae(fuzz_put(0, "sae/sae.h5", data, size));
    return 0;
}
