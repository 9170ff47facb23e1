"""Bit-exact networks for everything that decides a CDF (docs/codecs.md, "Bit-exact on every device").

A decoder must derive exactly the table indexes and means its encoder used, on any device,
thread count or batch size; float convolutions do not (CompressAI issues #279, #320). Here the
entropy-parameter network runs in fixed point:

    activations  a = A / 2**ACT_BITS      integers A, |A| < 2**20
    weights      w = W / 2**W_BITS        integers W, |W| < 2**15
    layer        A' = round_half_up((conv(A, W) + B) / 2**W_BITS), then ReLU

Each conv is computed in float64 on integer values whose every partial sum stays below 2**53,
so the result is the exact integer in any summation order, on CPU or CUDA (FFT and Winograd
algorithms are switched off: their intermediates are not integers; float64 has no TF32). Training uses the
same quantization through straight-through rounding (:class:`FakeQuantConv`), so the float
network the optimizer sees is the integer network the coder runs, up to rounding noise.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...kernels.context import int_conv2d

ACT_BITS, W_BITS = 8, 10
ACT_LIMIT = (1 << 20) - 1        # |A| bound (activations up to 4096 in real units)
W_LIMIT = (1 << 15) - 1          # |W| bound (weights up to 32)


def ste_round(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.floor(x + 0.5) - x).detach()


def fake_quant(x: torch.Tensor, bits: int, limit: int) -> torch.Tensor:
    """Round to the 2**-bits grid and clamp to ±limit/2**bits, with an identity gradient."""
    s = float(1 << bits)
    return torch.clamp(ste_round(x * s), -limit, limit) / s


class FakeQuantConv(nn.Module):
    """A conv (or transposed conv) whose weights, bias and output live on the fixed-point grids."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, transposed: bool):
        super().__init__()
        cls = nn.ConvTranspose2d if transposed else nn.Conv2d
        extra = {"output_padding": stride - 1} if transposed else {}
        self.conv = cls(cin, cout, k, stride, k // 2, **extra)
        self.transposed = transposed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = fake_quant(self.conv.weight, W_BITS, W_LIMIT)
        b = fake_quant(self.conv.bias, ACT_BITS + W_BITS, 1 << 40)
        c = self.conv
        if self.transposed:
            y = F.conv_transpose2d(x, w, b, c.stride, c.padding, c.output_padding)
        else:
            y = F.conv2d(x, w, b, c.stride, c.padding)
        return fake_quant(y, ACT_BITS, ACT_LIMIT)

    def integer_params(self) -> tuple[torch.Tensor, torch.Tensor]:
        """int64 weights ``W`` and bias ``B`` (bias on the 2**-(ACT_BITS+W_BITS) grid)."""
        w = torch.clamp(torch.floor(self.conv.weight.detach().double() * (1 << W_BITS) + 0.5), -W_LIMIT, W_LIMIT)
        b = torch.floor(self.conv.bias.detach().double() * (1 << (ACT_BITS + W_BITS)) + 0.5)
        return w.long(), b.long()


def exact_layer(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int, transposed: bool,
                relu: bool) -> torch.Tensor:
    """One layer in exact integer arithmetic. ``x``: int64 ``(B, C, H, W)`` on any device."""
    if not transposed:  # the shared kernel (Triton on CUDA)
        return int_conv2d(x, w, b, stride, W_BITS, ACT_LIMIT, relu)
    k = w.shape[-1]
    # plain im2col + GEMM only: FFT/Winograd algorithms (cuDNN) leave the integers
    with torch.backends.cudnn.flags(enabled=False):  # (oneDNN has no float64 conv: CPU is native)
        acc = F.conv_transpose2d(x.double(), w.double().to(x.device), None, stride, k // 2, stride - 1)
    acc = torch.round(acc).long() + b.to(x.device).view(1, -1, 1, 1)
    out = torch.div(acc + (1 << (W_BITS - 1)), 1 << W_BITS, rounding_mode="floor")
    out = out.clamp(-ACT_LIMIT, ACT_LIMIT)
    return out.clamp(min=0) if relu else out


class ExactStack(nn.Module):
    """Layers ``[(cin, cout, k, stride, transposed)]`` with ReLU between them (not after the last).

    ``forward`` trains (fake-quantized float); ``exact`` codes (int64 in, int64 out).
    """

    def __init__(self, spec: list[tuple[int, int, int, int, bool]]):
        super().__init__()
        self.spec = spec
        self.layers = nn.ModuleList(FakeQuantConv(*s) for s in spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = fake_quant(x, ACT_BITS, ACT_LIMIT)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x

    @torch.no_grad()
    def exact(self, x_int: torch.Tensor) -> torch.Tensor:
        """int64 activations (units of 2**-ACT_BITS) -> int64 outputs, bit-exact everywhere."""
        x = x_int.clamp(-ACT_LIMIT, ACT_LIMIT)
        for i, (layer, (_, _, _, stride, transposed)) in enumerate(zip(self.layers, self.spec)):
            w, b = layer.integer_params()
            x = exact_layer(x, w, b, stride, transposed, relu=i < len(self.layers) - 1)
        return x
