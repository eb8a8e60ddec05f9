"""bench_sae_torch.py: the PyTorch CPU reference of one SAE training step, timed, for
scripts/bench_sae.sh. Same algorithm as `monoscope sae train`, PyTorch given its best:

  topk-sparse  TopK (k) with the decoder as a gather of the k active rows per token
               (F.embedding_bag with per-sample weights, mode="sum": the CPU form of the sparse
               decoder of OpenAI's TopK training code); pre-encoder b_dec; MSE loss; Adam; unit-norm
               decoder rows with the parallel gradient component removed (as OpenAI does)
  topk-dense   the same with a dense decoder (scatter the k codes into (B, d_sae), then a GEMM)
  relu-dense   ReLU + L1 weighted by decoder row norms (Anthropic's 2024 update), dense throughout
  gemm         just the encoder GEMM (B, d_in) x (d_in, d_sae) through torch.mm

Prints one JSON line: variant, threads, batch, step times (s) and the median tokens/s.
Run with /usr/bin/python3 (Debian's torch); set OMP_WAIT_POLICY=PASSIVE in the environment.
"""
import argparse, json, statistics, time
import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", required=True, choices=["topk-sparse", "topk-dense", "relu-dense", "gemm"])
    ap.add_argument("--d-in", type=int, default=768)
    ap.add_argument("--d-sae", type=int, default=24576)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=4, help="timed steps")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--l1", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    B, D, S, k = a.batch, a.d_in, a.d_sae, a.k

    # synthetic batches: sparse combinations of random unit directions plus noise (values only
    # matter for the topk selection pattern, not for the cost of a step)
    dirs = F.normalize(torch.randn(4 * D, D), dim=1)
    def batch():
        c = torch.rand(B, 4 * D) * (torch.rand(B, 4 * D) < 16.0 / (4 * D))
        return c @ dirs + 0.01 * torch.randn(B, D)

    if a.variant == "gemm":
        x = batch()
        W = torch.randn(D, S) / D ** 0.5
        times = []
        for i in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            torch.mm(x, W)
            dt = time.perf_counter() - t0
            if i >= a.warmup:
                times.append(dt)
        report(a, times)
        return

    W_dec = torch.randn(S, D)
    W_dec = W_dec / W_dec.norm(dim=1, keepdim=True) * (0.1 if a.variant == "relu-dense" else 1.0)
    W_dec = W_dec.requires_grad_()
    W_enc = W_dec.detach().t().contiguous().requires_grad_()
    b_enc = torch.zeros(S, requires_grad=True)
    b_dec = torch.zeros(D, requires_grad=True)
    params = [W_enc, b_enc, W_dec, b_dec]
    opt = torch.optim.Adam(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, foreach=True)
    unit_norm = a.variant.startswith("topk")

    def step(x):
        pre = torch.addmm(b_enc, x - b_dec, W_enc)                       # (B, S)
        if a.variant == "relu-dense":
            f = torch.relu(pre)
            recon = torch.addmm(b_dec, f, W_dec)
            l1 = (f * W_dec.norm(dim=1)).sum(-1).mean()
            loss = (recon - x).pow(2).sum(-1).mean() + a.l1 * l1 / D
        else:
            vals, idx = pre.topk(k, dim=-1, sorted=False)
            vals = torch.relu(vals)
            if a.variant == "topk-sparse":
                recon = F.embedding_bag(idx, W_dec, per_sample_weights=vals, mode="sum") + b_dec
            else:
                f = torch.zeros_like(pre).scatter(-1, idx, vals)
                recon = torch.addmm(b_dec, f, W_dec)
            loss = (recon - x).pow(2).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if unit_norm:  # keep |W_dec rows| = 1: drop the gradient component along each row
            with torch.no_grad():
                g = W_dec.grad
                g -= (g * W_dec).sum(1, keepdim=True) * W_dec
        opt.step()
        if unit_norm:
            with torch.no_grad():
                W_dec.div_(W_dec.norm(dim=1, keepdim=True))
        return loss

    xs = [batch() for _ in range(2)]
    times = []
    for i in range(a.warmup + a.steps):
        x = xs[i % 2]
        t0 = time.perf_counter()
        step(x)
        dt = time.perf_counter() - t0
        if i >= a.warmup:
            times.append(dt)
    report(a, times)


def report(a, times):
    med = statistics.median(times)
    print(json.dumps({"variant": a.variant, "threads": a.threads, "batch": a.batch, "d_in": a.d_in,
                      "d_sae": a.d_sae, "k": a.k, "step_s": [round(t, 4) for t in times],
                      "median_step_s": med, "tokens_per_s": a.batch / med, "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
