"""Quantisation: coded rounding, its training surrogates, and the fused path to table rows.

    center_round(y, mean)               symbols = round(y - mean)              int64, half to even
    table_index(scale, thresholds)      rows = #{thresholds < scale}           int64 (bucketize)
    quantize_index(y, mean, s, thr)     both in one pass                       Quantized
    round_channels(x, offset, scale)    round((x - offset[c]) * (1 / scale[c])) int64, per channel
    ste_round(x)                        round, identity gradient               (training)
    noise(x, seed)                      x + U[-1/2, 1/2) from a counter hash   (training)
    soft_round(x, alpha)                Agustsson & Theis 2020                 (training)

Each has a plain-torch reference here and a Triton kernel in :mod:`.triton.quantize` that gives
the same bits (rounding, comparisons and the integer hash are exact IEEE / integer operations;
``soft_round`` uses ``exp``, whose last bit differs between libraries, so it matches to a few
ulps and is a training-only surrogate). Inputs are finite; rounding is half to even, as
``torch.round``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .dispatch import use_triton

M32 = 0xFFFFFFFF
HASH_SEED, HASH_A, HASH_B = 0x27D4EB2D, 0x7FEB352D, 0x346CA68B   # all < 2**31: products fit int64


class Quantized(NamedTuple):
    symbols: torch.Tensor   # int64, shape of y: round(y - mean)
    indexes: torch.Tensor   # int64, shape of y: table row of the scale


def _triton():
    from .triton import quantize as tq
    return tq


def center_round(y: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """int64 ``round(y - mean)`` (``mean`` broadcast to ``y``), computed in ``y``'s dtype."""
    mean = torch.zeros((), dtype=y.dtype, device=y.device) if mean is None else mean
    if use_triton(y):
        return _triton().center_round(y, mean.to(y.dtype).expand_as(y))
    return torch.round(y - mean).long()


def table_index(scale: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """int64 row of each ``scale``: how many of the sorted ``thresholds (S-1,)`` lie below it (the
    smallest table scale >= ``scale``, as ``torch.bucketize(right=False)``). Same dtype for both."""
    thresholds = thresholds.to(device=scale.device, dtype=scale.dtype)
    if use_triton(scale):
        return _triton().table_index(scale, thresholds)
    return torch.bucketize(scale.contiguous(), thresholds, right=False)


def quantize_index(y: torch.Tensor, mean: torch.Tensor | None, scale: torch.Tensor, thresholds: torch.Tensor
                   ) -> Quantized:
    """Fused :func:`center_round` and :func:`table_index` over tensors of one shape: what the
    entropy layer takes from a mean-scale model."""
    mean = torch.zeros((), dtype=y.dtype, device=y.device) if mean is None else mean
    thresholds = thresholds.to(device=scale.device, dtype=scale.dtype)
    if use_triton(y):
        return Quantized(*_triton().quantize_index(y, mean.to(y.dtype).expand_as(y), scale.expand_as(y), thresholds))
    return Quantized(center_round(y, mean), table_index(scale.expand_as(y), thresholds))


def round_channels(x: torch.Tensor, offset: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """int64 ``round((x - offset[c]) * (1 / scale[c]))`` for ``x (B, C, ...)``, ``offset, scale (C,)``.
    The reciprocal is taken once per channel (IEEE, on any device) so every element is one
    subtraction and one multiplication, exact to the bit on every backend."""
    off = offset.to(device=x.device, dtype=x.dtype)
    inv = 1 / scale.to(device=x.device, dtype=x.dtype)
    if use_triton(x):
        return _triton().round_channels(x, off, inv)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return torch.round((x - off.view(shape)) * inv.view(shape)).long()


def hash_uniform(index: torch.Tensor, seed: int) -> torch.Tensor:
    """float32 uniform in ``[-1/2, 1/2)`` from int64 element indexes and a seed: a 32-bit integer
    hash, so every device draws the same noise."""
    h = (index & M32) ^ (((seed & M32) * HASH_SEED) & M32)
    h = h ^ (h >> 16)
    h = (h * HASH_A) & M32
    h = h ^ (h >> 15)
    h = (h * HASH_B) & M32
    h = h ^ (h >> 16)
    return (h >> 8).float() * (2.0 ** -24) - 0.5


class _SteRound(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return _triton().round_float(x) if use_triton(x) else torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class _Noise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, seed):
        if use_triton(x):
            return _triton().noise(x, seed)
        index = torch.arange(x.numel(), device=x.device).view(x.shape)
        return x + hash_uniform(index, seed).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` forward, identity backward (straight-through)."""
    return _SteRound.apply(x)


def noise(x: torch.Tensor, seed: int) -> torch.Tensor:
    """``x + u``, ``u ~ U[-1/2, 1/2)`` drawn by :func:`hash_uniform` of each element's flat index
    (``x`` contiguous) and ``seed``; identity backward."""
    return _Noise.apply(x.contiguous(), int(seed))


def soft_round_reference(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """``m + tanh(alpha r) / (2 tanh(alpha / 2))`` with ``m = floor(x) + 1/2``, ``r = x - m``;
    tanh written as ``1 - 2 / (exp(2z) + 1)`` as the kernel computes it."""
    m = torch.floor(x) + 0.5
    th = 1 - 2 / (torch.exp((2 * alpha) * (x - m)) + 1)
    return m + th * (1 / (2 * math.tanh(alpha / 2)))


class _SoftRound(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return _triton().soft_round(x, alpha) if use_triton(x) else soft_round_reference(x, alpha)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        a = ctx.alpha
        r = x - torch.floor(x) - 0.5
        d = a * (1 - torch.tanh(a * r) ** 2) / (2 * math.tanh(a / 2))
        return grad * d, None


def soft_round(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """Differentiable rounding (Agustsson & Theis, "Universally Quantized Neural Compression",
    2020): the identity as ``alpha -> 0``, ``round`` as ``alpha -> inf``."""
    return _SoftRound.apply(x.contiguous(), float(alpha))
