"""Quantisation kernels in Triton (elementwise, one block of elements per program)."""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

BLOCK = 1024


@triton.jit
def _round_even(v):
    """Round half to even, exactly: ``v - floor(v)`` is exact for every finite float."""
    r = tl.floor(v)
    d = v - r
    odd = (r - 2.0 * tl.floor(r * 0.5)) == 1.0
    return tl.where((d > 0.5) | ((d == 0.5) & odd), r + 1.0, r)


@triton.jit
def _count_below(s, thr_ptr, n_thr):
    idx = tl.zeros(s.shape, tl.int64)
    for j in range(n_thr):
        idx += (tl.load(thr_ptr + j) < s).to(tl.int64)
    return idx


@triton.jit
def _quantize_index_kernel(y_ptr, mean_ptr, s_ptr, thr_ptr, sym_ptr, idx_ptr, n, n_thr,
                           ROUND: tl.constexpr, INDEX: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    live = offs < n
    if ROUND:
        v = tl.load(y_ptr + offs, mask=live, other=0) - tl.load(mean_ptr + offs, mask=live, other=0)
        tl.store(sym_ptr + offs, _round_even(v).to(tl.int64), mask=live)
    if INDEX:
        s = tl.load(s_ptr + offs, mask=live, other=0)
        tl.store(idx_ptr + offs, _count_below(s, thr_ptr, n_thr), mask=live)


@triton.jit
def _round_channels_kernel(x_ptr, off_ptr, inv_ptr, out_ptr, n, channels, inner, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    live = offs < n
    c = (offs // inner) % channels
    v = (tl.load(x_ptr + offs, mask=live, other=0) - tl.load(off_ptr + c, mask=live, other=0)) \
        * tl.load(inv_ptr + c, mask=live, other=1)
    tl.store(out_ptr + offs, _round_even(v).to(tl.int64), mask=live)


@triton.jit
def _round_float_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    live = offs < n
    tl.store(out_ptr + offs, _round_even(tl.load(x_ptr + offs, mask=live, other=0)), mask=live)


@triton.jit
def _noise_kernel(x_ptr, out_ptr, n, seed_mix, A: tl.constexpr, B: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    live = offs < n
    h = (offs & 4294967295) ^ seed_mix
    h = h ^ (h >> 16)
    h = (h * A) & 4294967295
    h = h ^ (h >> 15)
    h = (h * B) & 4294967295
    h = h ^ (h >> 16)
    u = (h >> 8).to(tl.float32) * 5.9604644775390625e-08 - 0.5
    x = tl.load(x_ptr + offs, mask=live, other=0)
    tl.store(out_ptr + offs, x + u.to(x.dtype), mask=live)


@triton.jit
def _soft_round_kernel(x_ptr, out_ptr, n, two_alpha, inv_den, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    live = offs < n
    x = tl.load(x_ptr + offs, mask=live, other=0)
    m = tl.floor(x) + 0.5
    th = 1 - 2 / (tl.exp(two_alpha * (x - m)) + 1)
    tl.store(out_ptr + offs, m + th * inv_den, mask=live)


def _grid(n: int):
    return (max(1, triton.cdiv(n, BLOCK)),)


def quantize_index(y, mean, scale, thresholds):
    y, mean, scale = y.contiguous(), mean.contiguous(), scale.contiguous()
    sym = torch.empty(y.shape, dtype=torch.int64, device=y.device)
    idx = torch.empty(y.shape, dtype=torch.int64, device=y.device)
    if y.numel():
        _quantize_index_kernel[_grid(y.numel())](y, mean, scale, thresholds, sym, idx, y.numel(), thresholds.numel(),
                                                 ROUND=True, INDEX=True, BLOCK=BLOCK)
    return sym, idx


def center_round(y, mean):
    y, mean = y.contiguous(), mean.contiguous()
    sym = torch.empty(y.shape, dtype=torch.int64, device=y.device)
    if y.numel():
        _quantize_index_kernel[_grid(y.numel())](y, mean, y, y, sym, sym, y.numel(), 0,
                                                 ROUND=True, INDEX=False, BLOCK=BLOCK)
    return sym


def table_index(scale, thresholds):
    scale = scale.contiguous()
    idx = torch.empty(scale.shape, dtype=torch.int64, device=scale.device)
    if scale.numel():
        _quantize_index_kernel[_grid(scale.numel())](scale, scale, scale, thresholds, idx, idx, scale.numel(),
                                                     thresholds.numel(), ROUND=False, INDEX=True, BLOCK=BLOCK)
    return idx


def round_channels(x, offset, inv):
    x = x.contiguous()
    out = torch.empty(x.shape, dtype=torch.int64, device=x.device)
    if x.numel():
        inner = math.prod(x.shape[2:])
        _round_channels_kernel[_grid(x.numel())](x, offset.contiguous(), inv.contiguous(), out, x.numel(),
                                                 x.shape[1], inner, BLOCK=BLOCK)
    return out


def round_float(x):
    x = x.contiguous()
    out = torch.empty_like(x)
    if x.numel():
        _round_float_kernel[_grid(x.numel())](x, out, x.numel(), BLOCK=BLOCK)
    return out


def noise(x, seed: int):
    from ..quantize import HASH_A, HASH_B, HASH_SEED, M32
    out = torch.empty_like(x)
    if x.numel():
        _noise_kernel[_grid(x.numel())](x, out, x.numel(), ((seed & M32) * HASH_SEED) & M32, A=HASH_A, B=HASH_B,
                                        BLOCK=BLOCK)
    return out


def soft_round(x, alpha: float):
    out = torch.empty_like(x)
    if x.numel():
        _soft_round_kernel[_grid(x.numel())](x, out, x.numel(), 2 * alpha, 1 / (2 * math.tanh(alpha / 2)), BLOCK=BLOCK)
    return out
