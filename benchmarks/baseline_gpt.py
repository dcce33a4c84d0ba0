"""A machine-speed reference for the char-LM benchmark: nanoGPT's published CPU recipe for
Shakespeare characters, re-implemented here in plain PyTorch (written for rnnlab, not copied).

The issue's targets were measured on another machine, where this recipe "reaches 1.886 in about
80 s". Timing the same recipe here says how fast this machine is relative to that one, so the
char-LM targets can be read in this machine's seconds.

The recipe (nanoGPT README, "I only have a macbook"): a decoder-only transformer with 4 layers,
4 heads, 128-dim embeddings, context 64, no dropout, no biases, tied input/output embeddings,
learned positions; batches of 12 random windows; AdamW (lr 1e-3, betas 0.9/0.99, weight decay
0.1 on matrices only), 100 warm-up iterations then cosine to 1e-4 at 2,000 iterations; gradient
clipping at 1.0; fp32 on the CPU; 2,000 iterations.

Shapes: ids (B, T) -> logits (B, T, V); T ≤ 64.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn
from torch.nn import functional as F

RECIPE = dict(layers=4, heads=4, width=128, context=64, batch=12, iterations=2000, lr=1e-3,
              min_lr=1e-4, warmup=100, weight_decay=0.1, betas=(0.9, 0.99), clip=1.0)


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, bias=False)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.proj = nn.Linear(width, width, bias=False)
        self.norm2 = nn.LayerNorm(width, bias=False)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width, bias=False), nn.GELU(),
                                 nn.Linear(4 * width, width, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)     # (B, h, T, C/h)
        x = x + self.proj(attended.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp(self.norm2(x))


class TinyGPT(nn.Module):
    def __init__(self, vocab: int, layers: int, heads: int, width: int, context: int):
        super().__init__()
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width, bias=False)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.tokens.weight
        for name, p in self.named_parameters():
            if p.dim() == 2:
                # GPT-2 style: N(0, 0.02²), residual projections scaled by depth.
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("proj.weight", "mlp.2.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        x = self.tokens(ids) + self.positions(torch.arange(T, device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def learning_rate(iteration: int, r: dict) -> float:
    if iteration < r["warmup"]:
        return r["lr"] * (iteration + 1) / (r["warmup"] + 1)
    progress = (iteration - r["warmup"]) / (r["iterations"] - r["warmup"])
    return r["min_lr"] + 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))) * (r["lr"] - r["min_lr"])


@torch.no_grad()
def validation_loss(model: TinyGPT, val: torch.Tensor, context: int, batch: int = 256) -> float:
    """Mean nats/char over the whole validation split in consecutive windows of `context`
    (each window read from its start, as training windows are)."""
    model.eval()
    usable = (len(val) - 1) // context * context
    x = val[:usable].view(-1, context)
    y = val[1:usable + 1].view(-1, context)
    total = 0.0
    for start in range(0, len(x), batch):
        logits = model(x[start:start + batch])
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                 y[start:start + batch].reshape(-1), reduction="sum").item()
    model.train()
    return total / y.numel()


def run_recipe(train: torch.Tensor, val: torch.Tensor, vocab_size: int, seed: int = 0,
               recipe: dict = RECIPE) -> tuple[float, float]:
    """Train the recipe on int64 id tensors; returns (training seconds, validation nats/char)."""
    r = recipe
    torch.manual_seed(seed)
    model = TinyGPT(vocab_size, r["layers"], r["heads"], r["width"], r["context"])
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": matrices, "weight_decay": r["weight_decay"]},
                                   {"params": others, "weight_decay": 0.0}],
                                  lr=r["lr"], betas=r["betas"])
    generator = torch.Generator().manual_seed(seed)
    offsets = torch.arange(r["context"])
    spent = 0.0
    for iteration in range(r["iterations"]):
        t0 = time.perf_counter()
        starts = torch.randint(len(train) - r["context"] - 1, (r["batch"], 1), generator=generator)
        x, y = train[starts + offsets], train[starts + offsets + 1]
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(iteration, r)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), r["clip"])
        optimizer.step()
        spent += time.perf_counter() - t0
    return spent, validation_loss(model, val, r["context"])
