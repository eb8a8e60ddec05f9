"""PyTorch CPU reference for the generation benchmark: greedy decoding on a GPT-2-shaped random-weight
model with PyTorch's cached generation written out (a past_key_values loop: each step runs the new
token only, its keys/values appended to the per-layer cache). Checks the cached logits of the last
step against a full forward pass over the whole sequence, then prints new tokens/s (prefill
included) as the median of --repeats runs.

usage: generate_torch.py --layers 12 --d-model 768 --heads 12 --d-mlp 3072 --vocab 50257
                         --prompt 16 --new 256 --threads 2 --repeats 1
"""
import argparse, math, statistics, time
import torch

p = argparse.ArgumentParser()
for name, default in [("layers", 12), ("d-model", 768), ("heads", 12), ("d-mlp", 3072), ("vocab", 50257),
                      ("ctx", 1024), ("prompt", 16), ("new", 256), ("threads", 2), ("repeats", 1)]:
    p.add_argument("--" + name, type=int, default=default)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
C, H, L = a.d_model, a.heads, a.layers
Dh = C // H
F = torch.nn.functional


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(C, eps=1e-5)
        self.qkv = torch.nn.Linear(C, 3 * C)
        self.o = torch.nn.Linear(C, C)
        self.ln2 = torch.nn.LayerNorm(C, eps=1e-5)
        self.fc = torch.nn.Linear(C, a.d_mlp)
        self.proj = torch.nn.Linear(a.d_mlp, C)

    def forward(self, x, past):
        """x (B, T, C) at the positions after past = (k, v) each (B, H, P, Dh) or None; returns x, (k, v)"""
        B, T, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, k, v = (t.view(B, T, H, Dh).transpose(1, 2) for t in (q, k, v))
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        # a prefill is causal; one new token sees every cached key (this Debian torch predates
        # scaled_dot_product_attention, hence the explicit softmax, as in capture_torch.py)
        s = q @ k.transpose(-1, -2) / math.sqrt(Dh)
        if T > 1:
            s = s.masked_fill(torch.ones(T, k.shape[2], dtype=torch.bool).triu(k.shape[2] - T + 1), float("-inf"))
        z = torch.softmax(s, -1) @ v
        x = x + self.o(z.transpose(1, 2).reshape(B, T, C))
        x = x + self.proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return x, (k, v)


wte = torch.nn.Embedding(a.vocab, C)
wpe = torch.nn.Embedding(a.ctx, C)
blocks = torch.nn.ModuleList(Block() for _ in range(L))
lnf = torch.nn.LayerNorm(C, eps=1e-5)
for prm in list(wte.parameters()) + list(wpe.parameters()) + list(blocks.parameters()):
    torch.nn.init.normal_(prm, std=0.02)
prompt = torch.randint(0, a.vocab, (1, a.prompt))


def logits(ids, pos0, past):
    x = wte(ids) + wpe(torch.arange(pos0, pos0 + ids.shape[1]))
    new = []
    for l, blk in enumerate(blocks):
        x, kv = blk(x, past[l] if past else None)
        new.append(kv)
    return lnf(x[:, -1]) @ wte.weight.T, new  # (1, V) the last position's


def generate():
    with torch.inference_mode():
        ids, past, lg = prompt, None, None
        for _ in range(a.new):
            pos0 = 0 if past is None else ids.shape[1] - 1
            lg, past = logits(ids[:, pos0:], pos0, past)
            ids = torch.cat([ids, lg.argmax(-1, keepdim=True)], 1)
        return ids, lg


ids, lg = generate()  # warm-up, and the check: the cached last step equals a full pass
with torch.inference_mode():
    full, _ = logits(ids[:, :-1], 0, None)
err = (full - lg).abs().max().item()
assert err < 1e-3 * (1 + full.abs().max().item()), f"cached logits off by {err}"
rates = []
for _ in range(a.repeats):
    t0 = time.perf_counter()
    generate()
    rates.append(a.new / (time.perf_counter() - t0))
print(f"torch_tokens_per_s {statistics.median(rates):.1f} max_abs_err_vs_full {err:.2e}")
