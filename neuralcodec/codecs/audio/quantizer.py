"""Single-codebook quantizers of the audio tokenizer.

``VectorQuantizer``: K codes on the unit sphere of a low-dimensional projection (factorized,
l2-normalised codes as in DAC / ViT-VQGAN; batch-normalised first, since an untrained
encoder's frames share one dominant direction and collapse onto one code), k-means initialisation on the first batch, EMA
updates and dead-code restarts (WavTokenizer's recipe). ``FSQ``: finite scalar quantization
(Mentzer 2023) with ``prod(levels)`` implicit codes and no codebook to collapse.

Both map features ``(B, D, T)`` to a :class:`Quantized` and tokens ``(B, T)`` back to features.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ...kernels import vq
from ...kernels.quantize import ste_round


@dataclass
class Quantized:
    """``features`` ``(B, D, T)`` (straight-through), ``tokens`` int64 ``(B, T)``, ``commit``
    the commitment loss (scalar), ``usage`` the fraction of codes used in this batch."""

    features: torch.Tensor
    tokens: torch.Tensor
    commit: torch.Tensor
    usage: float


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t)
    return t


class VectorQuantizer(nn.Module):
    def __init__(self, dim: int, codes: int, code_dim: int = 8, decay: float = 0.99, dead_after: float = 0.01):
        super().__init__()
        self.codes, self.decay, self.dead_after = codes, decay, dead_after
        self.proj_in, self.proj_out = nn.Conv1d(dim, code_dim, 1), nn.Conv1d(code_dim, dim, 1)
        self.norm = nn.BatchNorm1d(code_dim)   # centres the projections: no shared direction to collapse on
        self.register_buffer("embed", F.normalize(torch.randn(codes, code_dim), dim=1))
        self.register_buffer("embed_sum", self.embed.clone())
        self.register_buffer("count", torch.ones(codes))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, D, T)`` -> unit vectors ``(B*T, code_dim)``."""
        return F.normalize(self.norm(self.proj_in(x)).transpose(1, 2).reshape(-1, self.embed.shape[1]), dim=1)

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Index of the most similar code for each row of ``z`` ``(n, code_dim)`` -> ``(n,)``."""
        return vq.nearest(z, self.embed, "dot")

    def lookup(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, T)`` -> features ``(B, D, T)``."""
        return self.proj_out(F.embedding(tokens, self.embed).transpose(1, 2))

    @torch.no_grad()
    def _kmeans_init(self, z: torch.Tensor, iters: int = 10) -> None:
        g = torch.Generator(device="cpu").manual_seed(0)
        pick = torch.randint(len(z), (self.codes,), generator=g).to(z.device)
        centers = F.normalize(z[pick] + 0.01 * torch.randn(self.codes, z.shape[1], generator=g).to(z.device), dim=1)
        for _ in range(iters):
            onehot = F.one_hot(vq.nearest(z, centers, "dot"), self.codes).type_as(z)
            sums, counts = onehot.t() @ z, onehot.sum(0)
            centers = torch.where(counts[:, None] > 0, F.normalize(sums, dim=1), centers)
        self.embed.copy_(_all_reduce(centers) / (dist.get_world_size() if dist.is_initialized() else 1))
        self.embed.copy_(F.normalize(self.embed, dim=1))
        self.count.fill_(len(z) / self.codes)   # the expected use of a code per batch
        self.embed_sum.copy_(self.embed * self.count[:, None])
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, z: torch.Tensor, tokens: torch.Tensor) -> None:
        onehot = F.one_hot(tokens, self.codes).type_as(z)
        counts, sums = _all_reduce(onehot.sum(0)), _all_reduce(onehot.t() @ z)
        self.count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        self.embed.copy_(F.normalize(self.embed_sum, dim=1))
        dead = self.count < self.dead_after
        n_dead = int(dead.sum())
        if n_dead:  # restart dead codes on random vectors of this batch (the same on every rank)
            g = torch.Generator(device="cpu").manual_seed(int(self.count.sum().item() * 1000) % (2**31))
            pick = torch.randint(len(z), (n_dead,), generator=g).to(z.device)
            fresh = _all_reduce(z[pick].clone()) / (dist.get_world_size() if dist.is_initialized() else 1)
            self.embed[dead] = F.normalize(fresh, dim=1)
            self.count[dead] = len(z) / self.codes
            self.embed_sum[dead] = self.embed[dead] * self.count[dead, None]

    def forward(self, x: torch.Tensor) -> Quantized:
        b, _, t = x.shape
        z = self.project(x)
        if self.training and not bool(self.initialized):
            self._kmeans_init(z.detach())
        tokens = self.nearest(z.detach())
        q = self.embed[tokens]
        commit = F.mse_loss(z, q.detach())
        if self.training:
            self._ema_update(z.detach(), tokens)
        q = z + (q - z).detach()                            # straight-through
        usage = tokens.unique().numel() / self.codes
        feats = self.proj_out(q.view(b, t, -1).transpose(1, 2))
        return Quantized(feats, tokens.view(b, t), commit, usage)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(B, D, T)`` -> tokens ``(B, T)``."""
        return self.nearest(self.project(x)).view(x.shape[0], x.shape[2])


class FSQ(nn.Module):
    """Finite scalar quantization: ``len(levels)`` bounded scalars, each rounded to its levels.

    Scalar ``i`` takes the integer values ``-(L_i // 2) .. (L_i - 1) // 2``; the token is their
    mixed-radix number."""

    def __init__(self, dim: int, levels: tuple[int, ...] = (8, 8, 8, 8)):
        super().__init__()
        self.codes = int(math.prod(levels))
        self.proj_in, self.proj_out = nn.Conv1d(dim, len(levels), 1), nn.Conv1d(len(levels), dim, 1)
        self.norm = nn.BatchNorm1d(len(levels))   # unit-variance scalars from the first step on
        lv = torch.tensor(levels, dtype=torch.float32)
        self.register_buffer("lv", lv, persistent=False)
        self.register_buffer("radix", torch.cumprod(torch.tensor((1,) + tuple(levels[:-1])), 0), persistent=False)
        self.register_buffer("low", -(lv // 2), persistent=False)

    def _levels(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, D, T)`` -> rounded scalars ``(B, T, d)`` (straight-through)."""
        half = (self.lv - 1) * (1 - 1e-3) / 2
        offset = (self.lv % 2 == 0).float() * 0.5
        shift = torch.atanh(offset / half)
        z = torch.tanh(self.norm(self.proj_in(x)).transpose(1, 2) + shift) * half - offset
        return ste_round(z)

    def _tokens(self, q: torch.Tensor) -> torch.Tensor:
        return ((torch.round(q) - self.low).long() * self.radix).sum(-1)

    def _features(self, q: torch.Tensor) -> torch.Tensor:
        return self.proj_out((q / (self.lv // 2)).transpose(1, 2))

    def forward(self, x: torch.Tensor) -> Quantized:
        q = self._levels(x)
        tokens = self._tokens(q.detach())
        usage = tokens.unique().numel() / self.codes
        return Quantized(self._features(q), tokens, q.new_zeros(()), usage)

    def lookup(self, tokens: torch.Tensor) -> torch.Tensor:
        digits = (tokens[..., None] // self.radix) % self.lv.long()
        return self._features(digits.float() + self.low)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._tokens(self._levels(x))
