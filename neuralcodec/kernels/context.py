"""The integer layer of the exact context models, shared by every codec whose CDFs depend on it.

    int_linear:  y = clip((x @ w.T + b + 2**(k-1)) >> k, -limit, limit), then ReLU if asked
    int_conv2d:  the same layer as a convolution (im2col, then int_linear)

Inputs are integers with ``|x| <= limit``; ``w`` is the weight times ``2**k`` and ``b`` the bias
on the grid of ``x`` times ``2**k``, so the shift puts ``y`` back on ``x``'s grid, rounding half
up. ``mref``'s entropy parameters (its checkerboard context and its aggregation of slice, global
and checkerboard features) and the overfitted codecs' ARM run these layers: the table rows and
means they produce must be the same integers on every device.

The reference computes in float64 when no sum can reach 2**53 (then any summation order, BLAS
included, gives the exact integer) and in int64 otherwise; the Triton kernel accumulates in
int64. Both accept numpy arrays or torch tensors (numpy stays on the CPU reference).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .dispatch import use_triton

EXACT_FLOAT = 1 << 53
Array = np.ndarray | torch.Tensor


def exact_in_float(w: Array, b: Array, k: int, limit: int) -> bool:
    """Whether every partial sum of the layer stays below 2**53 for any input with ``|x| <= limit``."""
    row = int(abs(w).sum(1).max()) if w.shape[0] else 0
    bias = int(abs(b).max()) if b.shape[0] else 0
    return limit * row + bias + (1 << k) < EXACT_FLOAT


def _reference(x: Array, w: Array, b: Array, k: int, limit: int, relu: bool) -> Array:
    half = (1 << (k - 1)) if k else 0
    lo = 0 if relu else -limit
    if isinstance(x, np.ndarray):
        if exact_in_float(w, b, k, limit):
            acc = x.astype(np.float64) @ w.T.astype(np.float64)
            acc += b.astype(np.float64) + half
            acc *= 1.0 / (1 << k)
            np.floor(acc, out=acc)
            return np.clip(acc, lo, limit, out=acc).astype(np.int64)
        return np.clip((x @ w.T + b + half) >> k, lo, limit)
    if exact_in_float(w, b, k, limit):
        acc = torch.addmm(b.double() + half, x.double(), w.double().T)
        return torch.floor(acc * (1.0 / (1 << k))).clamp(lo, limit).long()
    if x.device.type == "cpu":
        acc = x @ w.T
    else:  # no int64 GEMM off the CPU: exact broadcast products
        acc = (x[:, None, :] * w[None]).sum(-1)
    return ((acc + b + half) >> k).clamp(lo, limit)


def int_linear(x: Array, w: Array, b: Array, k: int, limit: int, relu: bool) -> Array:
    """int64 ``x (n, cin)``, ``w (cout, cin)``, ``b (cout,)`` -> int64 ``(n, cout)``."""
    if isinstance(x, torch.Tensor) and use_triton(x):
        from .triton.context import int_linear as triton_int_linear
        return triton_int_linear(x, w.to(x.device), b.to(x.device), k, limit, relu)
    return _reference(x, w, b, k, limit, relu)


def int_conv2d(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int, k: int, limit: int,
               relu: bool) -> torch.Tensor:
    """The layer as a 'same' convolution: int64 ``x (B, C, H, W)``, ``w (O, C, s, s)`` (odd ``s``),
    ``b (O,)`` -> int64 ``(B, O, ceil(H / stride), ceil(W / stride))``.

    The reference convolves in float64 where that is exact (plain GEMM: cuDNN's FFT and Winograd
    algorithms leave the integers, so they are switched off); the Triton path is im2col and
    :func:`int_linear`."""
    w, b = w.to(x.device), b.to(x.device)
    s = w.shape[-1]
    w2 = w.reshape(w.shape[0], -1)
    if not use_triton(x) and exact_in_float(w2, b, k, limit):
        with torch.backends.cudnn.flags(enabled=False):
            acc = F.conv2d(x.double(), w.double(), None, stride, s // 2)
        half = (1 << (k - 1)) if k else 0
        y = torch.div(torch.round(acc).long() + b.view(1, -1, 1, 1) + half, 1 << k, rounding_mode="floor")
        return y.clamp(0 if relu else -limit, limit)
    bsz, _, h, wd = x.shape
    ho, wo = (h - 1) // stride + 1, (wd - 1) // stride + 1
    if s == 1 and stride == 1:
        cols = x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])
    else:  # im2col on integer-valued float64 (exact below 2**53), back to int64
        cols = F.unfold(x.double(), s, padding=s // 2, stride=stride).transpose(1, 2).reshape(bsz * ho * wo, -1).long()
    y = int_linear(cols, w2, b, k, limit, relu)
    return y.view(bsz, ho, wo, -1).permute(0, 3, 1, 2)
