"""PyTorch reference for scripts/bench_train_lm.sh: the model `monoscope train-lm` trains (GPT-2
architecture: wte + wpe, pre-LN blocks with causal self-attention and a GELU-tanh MLP, ln_f, tied
unembedding, mean cross-entropy), trained with AdamW (decoupled weight decay 0.1 on matrices, betas
0.9/0.95 as train-lm), global-norm clipping 1.0, on random token batches (the rate does not depend on
the data). PyTorch at its best: foreach AdamW, the thread count given (Debian's torch 1.13 has no
scaled_dot_product_attention; attention is the masked-softmax form). Prints one line: the median tokens/s over the steps after the first
few, and the first and last losses (a check that it trains: the first is ~ln V, the last lower).
usage: train_lm_torch.py LAYERS D_MODEL HEADS D_MLP VOCAB CTX BATCH STEPS THREADS"""
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

L, C, H, FF, V, T, B, STEPS, THREADS = map(int, sys.argv[1:10])
torch.set_num_threads(THREADS)
torch.manual_seed(0)
MASK = torch.ones(T, T, dtype=torch.bool).triu(1)  # Debian's torch 1.13 has no fused attention


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.ln_2 = torch.nn.LayerNorm(C), torch.nn.LayerNorm(C)
        self.c_attn, self.c_proj = torch.nn.Linear(C, 3 * C), torch.nn.Linear(C, C)
        self.c_fc, self.mlp_proj = torch.nn.Linear(C, FF), torch.nn.Linear(FF, C)

    def forward(self, x):
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // H))
        att = F.softmax(att.masked_fill(MASK, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = torch.nn.Embedding(V, C), torch.nn.Embedding(T, C)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(L))
        self.ln_f = torch.nn.LayerNorm(C)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.blocks:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.T
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))


model = GPT()
for m in model.modules():  # GPT-2's initialisation, as train-lm's
    if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    if isinstance(m, torch.nn.Linear):
        torch.nn.init.zeros_(m.bias)
decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=3e-3, betas=(0.9, 0.95), eps=1e-8, foreach=True)
g = torch.Generator().manual_seed(1)
rates, losses = [], []
for step in range(STEPS):
    idx = torch.randint(V, (B, T), generator=g)
    tgt = torch.randint(V, (B, T), generator=g)
    t0 = time.perf_counter()
    loss = model(idx, tgt)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    rates.append(B * T / (time.perf_counter() - t0))
    losses.append(loss.item())
assert abs(losses[0] - math.log(V)) < 1.0 and math.isfinite(losses[-1]), losses
print(f"{statistics.median(rates[3:]):.1f} {losses[0]:.3f} {losses[-1]:.3f}")
