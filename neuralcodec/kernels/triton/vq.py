"""Nearest codeword in Triton: each program takes a block of rows and walks the codebook a block
of codes at a time, keeping a running best; the ``(n, K)`` scores are never stored."""
from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK_N, BLOCK_K = 32, 64


@triton.jit
def _nearest_kernel(x_ptr, c_ptr, out_ptr, n, codes, dim, L2: tl.constexpr,
                    BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    live = rows < n
    best = tl.full((BLOCK_N,), float("inf"), tl.float64)
    best_at = tl.zeros((BLOCK_N,), tl.int64)
    for k0 in range(0, codes, BLOCK_K):
        cols = k0 + tl.arange(0, BLOCK_K).to(tl.int64)
        real = cols < codes
        acc = tl.zeros((BLOCK_N, BLOCK_K), tl.float64)
        norm = tl.zeros((BLOCK_K,), tl.float64)
        for d in range(dim):
            xd = tl.load(x_ptr + rows * dim + d, mask=live, other=0).to(tl.float64)
            cd = tl.load(c_ptr + cols * dim + d, mask=real, other=0).to(tl.float64)
            acc += xd[:, None] * cd[None, :]
            norm += cd * cd
        if L2:
            score = norm[None, :] - 2 * acc
        else:
            score = -acc
        score = tl.where(real[None, :], score, float("inf"))
        at = tl.argmin(score, 1, tie_break_left=True)
        val = tl.min(score, 1)
        better = val < best
        best = tl.where(better, val, best)
        best_at = tl.where(better, k0 + at.to(tl.int64), best_at)
    tl.store(out_ptr + rows, best_at, mask=live)


def nearest(x, codebook, metric: str):
    """See :func:`neuralcodec.kernels.vq.nearest` (float32 inputs)."""
    x, codebook = x.contiguous(), codebook.contiguous()
    out = torch.empty(x.shape[0], dtype=torch.int64, device=x.device)
    if x.shape[0]:
        _nearest_kernel[(triton.cdiv(x.shape[0], BLOCK_N),)](x, codebook, out, x.shape[0], codebook.shape[0],
                                                            x.shape[1], L2=metric == "l2", BLOCK_N=BLOCK_N,
                                                            BLOCK_K=BLOCK_K)
    return out
