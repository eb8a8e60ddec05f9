#!/usr/bin/env bash
# torch_blas_env.sh [threads]: prints the OpenBLAS setting under which PyTorch runs its f32 products
# fastest on this machine, as env arguments for the reference command ("" = OpenBLAS' own choice, or
# "OPENBLAS_CORETYPE=<type>"), so the benchmark scripts give PyTorch its best (each runs it once, before its rounds).
# Why: OpenBLAS picks its kernels from the CPU model, and a VM may report a model it does not know.
# On 2026-12-06 this VM's Intel Xeon (AMX, reported as "Intel(R) Xeon(R) Processor") left Debian's
# PyTorch at 189 tokens/s on the GPT-2-small capture with OpenBLAS' own choice, 748 with SkylakeX and
# 516 with Haswell: the environment's Haswell pin, and removing it, were both handicaps there. A
# 1024 x 768 x 3072 product is timed under each candidate; each candidate's result is checked against
# float64 before it may win.
T=${1:-${OMP_NUM_THREADS:-$(nproc)}}
best="" best_t=1e9
for ct in "" SkylakeX Haswell; do
    t=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ${ct:+OPENBLAS_CORETYPE=$ct} OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -c "
import time, torch
torch.set_num_threads($T); torch.manual_seed(0)
a, b = torch.randn(1024, 768), torch.randn(768, 3072)
ref = (a.double() @ b.double())
c = a @ b
assert torch.allclose(c.double(), ref, rtol=1e-4, atol=1e-3), 'wrong products'
ts = []
for _ in range(7):
    t0 = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t0)
print(sorted(ts)[3])" 2>/dev/null) || continue
    if awk -v a="$t" -v b="$best_t" 'BEGIN {exit !(a < b)}'; then best=${ct:+OPENBLAS_CORETYPE=$ct} best_t=$t; fi
done
echo "$best"
