// fuzz_probe_h5.c: bytes as a probe file (probe.h5, `probe train`'s output) through its one reader,
// probes/probe_io.c, and applied (fuzz_h5_use.h). fuzz_h5_struct.c mutates the format's semantics.
#include "fuzz_h5_use.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_use_probe(fuzz_put(0, "probe/probe.h5", data, size));
    return 0;
}
