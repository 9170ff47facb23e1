"""The integer context layer in Triton: a block of rows times every output, int64 accumulation."""
from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK_N = 64


@triton.jit
def _int_linear_kernel(x_ptr, w_ptr, b_ptr, y_ptr, n, cin, cout, half, limit,
                       K: tl.constexpr, RELU: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_O: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    outs = tl.arange(0, BLOCK_O)
    live_r, live_o = rows < n, outs < cout
    acc = tl.zeros((BLOCK_N, BLOCK_O), tl.int64)
    for c in range(cin):
        xc = tl.load(x_ptr + rows * cin + c, mask=live_r, other=0)
        wc = tl.load(w_ptr + outs * cin + c, mask=live_o, other=0)
        acc += xc[:, None] * wc[None, :]
    acc += tl.load(b_ptr + outs, mask=live_o, other=0)[None, :] + half
    y = tl.minimum(tl.maximum(acc >> K, -limit), limit)
    if RELU:
        y = tl.maximum(y, 0)
    tl.store(y_ptr + rows[:, None] * cout + outs[None, :], y, mask=live_r[:, None] & live_o[None, :])


def int_linear(x, w, b, k: int, limit: int, relu: bool):
    """See :func:`neuralcodec.kernels.context.int_linear`."""
    x, w, b = x.contiguous(), w.contiguous(), b.contiguous()
    n, cin = x.shape
    cout = w.shape[0]
    y = torch.empty((n, cout), dtype=torch.int64, device=x.device)
    if n and cout:
        _int_linear_kernel[(triton.cdiv(n, BLOCK_N),)](x, w, b, y, n, cin, cout, (1 << (k - 1)) if k else 0, limit,
                                                       K=k, RELU=relu, BLOCK_N=BLOCK_N,
                                                       BLOCK_O=max(16, triton.next_power_of_2(cout)))
    return y
