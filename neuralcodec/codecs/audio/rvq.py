"""Residual vector quantisation with quantiser dropout (SoundStream, EnCodec): one set of
codebooks, several rates.

Book ``i`` quantises what books ``0..i-1`` left of the input, so decoding the first ``n`` books
gives a coarser reconstruction at ``n / books`` of the full rate. Training draws ``n`` per batch,
so every prefix is a codec of its own. Codebooks are Euclidean, started by k-means on the first
batch, updated by exponential moving averages, and restarted from the batch when unused. Nearest
codes come from :func:`neuralcodec.kernels.vq.nearest`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...kernels import vq


@dataclass
class RvqOutput:
    """``features (B, D, T)`` quantised (straight-through), ``tokens (B, T, n)``, ``commit``."""

    features: torch.Tensor
    tokens: torch.Tensor
    commit: torch.Tensor


class ResidualVQ(nn.Module):
    """``books`` codebooks of ``codes`` vectors of ``dim``."""

    def __init__(self, dim: int, books: int, codes: int, decay: float = 0.95, dead_after: float = 0.1):
        super().__init__()
        self.books, self.codes, self.dim, self.decay, self.dead_after = books, codes, dim, decay, dead_after
        self.register_buffer("embed", torch.randn(books, codes, dim) * 0.1)
        self.register_buffer("ema_sum", self.embed.clone(), persistent=False)
        self.register_buffer("ema_count", torch.ones(books, codes), persistent=False)
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def _kmeans(self, r: torch.Tensor, iters: int = 10) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        pick = torch.randint(len(r), (self.codes,), generator=g).to(r.device)
        centers = r[pick].clone()
        for _ in range(iters):
            onehot = F.one_hot(vq.nearest(r, centers), self.codes).type_as(r)
            counts = onehot.sum(0)
            centers = torch.where(counts[:, None] > 0, onehot.t() @ r / counts.clamp(min=1)[:, None], centers)
        return centers

    @torch.no_grad()
    def _start(self, r: torch.Tensor) -> None:
        """Every book by k-means on what the books before it leave of the first batch."""
        for b in range(self.books):
            self.embed[b].copy_(self._kmeans(r))
            self.ema_sum[b].copy_(self.embed[b])
            r = r - self.embed[b][vq.nearest(r, self.embed[b])]
        self.initialised.fill_(True)

    @torch.no_grad()
    def _update(self, b: int, r: torch.Tensor, idx: torch.Tensor) -> None:
        onehot = F.one_hot(idx, self.codes).type_as(r)
        self.ema_count[b].mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.ema_sum[b].mul_(self.decay).add_(onehot.t() @ r, alpha=1 - self.decay)
        n = self.ema_count[b].sum()
        count = (self.ema_count[b] + 1e-5) / (n + self.codes * 1e-5) * n
        self.embed[b].copy_(self.ema_sum[b] / count[:, None])
        dead = self.ema_count[b] < self.dead_after * n / self.codes
        if dead.any():   # restart unused codes on random residuals of this batch
            pick = torch.randint(len(r), (int(dead.sum()),), device=r.device)
            self.embed[b][dead] = r[pick]
            self.ema_sum[b][dead] = r[pick]
            self.ema_count[b][dead] = 1.0

    def forward(self, z: torch.Tensor, n: int | None = None) -> RvqOutput:
        """``z (B, D, T)`` through the first ``n`` books (all by default)."""
        n = self.books if n is None else n
        flat = z.transpose(1, 2).reshape(-1, self.dim)
        if self.training and not bool(self.initialised):
            self._start(flat.detach())
        residual, out, tokens, commit = flat, torch.zeros_like(flat), [], flat.new_zeros(())
        for b in range(n):
            r = residual.detach()
            idx = vq.nearest(r, self.embed[b])
            q = self.embed[b][idx]
            if self.training:
                self._update(b, r, idx)
            commit = commit + F.mse_loss(residual, q.detach())
            out = out + q
            residual = residual - q.detach()
            tokens.append(idx)
        features = flat + (out - flat).detach()
        bsz, _, t = z.shape
        return RvqOutput(features.view(bsz, t, self.dim).transpose(1, 2),
                         torch.stack(tokens, -1).view(bsz, t, n) if tokens else z.new_zeros(bsz, t, 0).long(),
                         commit / max(n, 1))

    @torch.no_grad()
    def encode(self, z: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """``z (B, D, T)`` -> int64 tokens ``(B, T, n)``."""
        return self.forward(z, n).tokens

    def lookup(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 ``(B, T, n)`` -> ``(B, D, T)``, the sum of the first ``n`` books' codes."""
        out = sum(self.embed[b][tokens[..., b]] for b in range(tokens.shape[-1]))
        if not isinstance(out, torch.Tensor):
            out = self.embed.new_zeros(*tokens.shape[:2], self.dim)
        return out.transpose(1, 2)
