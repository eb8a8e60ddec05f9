"""PyTorch CPU reference for the capture benchmark: a GPT-2-shaped random-weight model run over
batches of token ids, capturing every block's resid_post into NumPy (what a TransformerLens
run_with_cache over those hooks does). Prints tokens/s as the median of --repeats runs.

usage: capture_torch.py --layers 12 --d-model 768 --heads 12 --d-mlp 3072 --vocab 50257
                        --ctx 256 --batch 4 --batches 4 --threads 2 [--upto-layer L]
"""
import argparse, math, statistics, time
import torch

p = argparse.ArgumentParser()
for name, default in [("layers", 12), ("d-model", 768), ("heads", 12), ("d-mlp", 3072),
                      ("vocab", 50257), ("ctx", 256), ("batch", 4), ("batches", 4),
                      ("threads", 2), ("repeats", 5), ("upto-layer", -1)]:
    p.add_argument("--" + name, type=int, default=default)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
C, H, L = a.d_model, a.heads, a.layers
Dh = C // H


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(C, eps=1e-5)
        self.qkv = torch.nn.Linear(C, 3 * C)
        self.o = torch.nn.Linear(C, C)
        self.ln2 = torch.nn.LayerNorm(C, eps=1e-5)
        self.fc = torch.nn.Linear(C, a.d_mlp)
        self.proj = torch.nn.Linear(a.d_mlp, C)

    def forward(self, x):
        B, T, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, k, v = (t.view(B, T, H, Dh).transpose(1, 2) for t in (q, k, v))
        z = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True) \
            if hasattr(torch.nn.functional, "scaled_dot_product_attention") else \
            torch.softmax((q @ k.transpose(-1, -2) / math.sqrt(Dh)).masked_fill(
                torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")), -1) @ v
        x = x + self.o(z.transpose(1, 2).reshape(B, T, C))
        x = x + self.proj(torch.nn.functional.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return x


wte = torch.nn.Embedding(a.vocab, C)
wpe = torch.nn.Embedding(a.ctx, C)
blocks = torch.nn.ModuleList(Block() for _ in range(L))
for prm in list(wte.parameters()) + list(wpe.parameters()) + list(blocks.parameters()):
    torch.nn.init.normal_(prm, std=0.02)
last = L - 1 if a.upto_layer < 0 else a.upto_layer
ids = torch.randint(0, a.vocab, (a.batches, a.batch, a.ctx))
pos = torch.arange(a.ctx)


def run():
    cache = []
    with torch.inference_mode():
        for b in range(a.batches):
            x = wte(ids[b]) + wpe(pos)
            for l in range(last + 1):  # a capture of early layers stops early, as ours does
                x = blocks[l](x)
                cache.append(x.numpy().copy())
    return cache


run()  # warm-up
rates = []
for _ in range(a.repeats):
    t0 = time.perf_counter()
    run()
    rates.append(a.batches * a.batch * a.ctx / (time.perf_counter() - t0))
print(f"torch_tokens_per_s {statistics.median(rates):.1f}")
