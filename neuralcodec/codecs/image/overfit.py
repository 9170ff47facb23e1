"""The network an ``overfit`` file describes: latent grids, their ARM, upsampling and synthesis.

    grids   y_k  (ceil(H / 2**k), ceil(W / 2**k)), k = 0 .. n-1, one channel each, integers once coded
    rate    sum_k ARM bits of y_k given its causal neighbours and y_{k+1} (fitting/arm.py)
    upsample  coarsest first: x <- bicubic(x) to grid k's size, then x <- [x, y_k]   -> (n, H, W)
    synthesis 1x1 MLP (n -> 40 -> 3), then two residual 3x3 convs (3 -> 3)
    image     synthesis + 1/2, clamped to [0, 1] when decoded

Multiplications per pixel (:meth:`OverfitImage.macs_per_pixel`) count the ARM over every latent,
the upsampling taps and the synthesis. Everything is fitted to one image (codecs/image/overfit_codec.py).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...fitting.arm import Arm
from ...kernels import quantize as kq


@dataclass(frozen=True)
class OverfitConfig:
    grids: int = 7
    arm_hidden: int = 16
    arm_layers: int = 2
    synth_hidden: int = 40
    synth_layers: int = 1       # 1x1 hidden layers
    residual_convs: int = 2     # 3x3 (3 -> 3) layers after the MLP

    def spec(self) -> list[int]:
        return list(asdict(self).values())

    @classmethod
    def from_spec(cls, spec: list[int]) -> "OverfitConfig":
        return cls(*spec)

    def check(self) -> bool:
        """Sizes a decoder accepts from a file."""
        return (1 <= self.grids <= 16 and 1 <= self.arm_hidden <= 64 and 0 <= self.arm_layers <= 4
                and 1 <= self.synth_hidden <= 128 and 0 <= self.synth_layers <= 4 and 0 <= self.residual_convs <= 4)


def grid_count(h: int, w: int, wanted: int) -> int:
    """Grids down to one latent (at most ``wanted``)."""
    return max(1, min(wanted, math.ceil(math.log2(max(h, w))) + 1))


def grid_shapes(h: int, w: int, n: int) -> list[tuple[int, int]]:
    return [(-(-h // (1 << k)), -(-w // (1 << k))) for k in range(n)]


def soft_round(y: torch.Tensor, temperature: float) -> torch.Tensor:
    """Differentiable rounding (Agustsson and Theis 2020): hard rounding as ``temperature -> 0``."""
    return kq.soft_round(y, 1.0 / temperature)


def quantize_latents(latents: list[torch.Tensor], mode: str, temperature: float = 0.3
                     ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Latent grids as ``(rate input, synthesis input)``.

    ``soft``: C3's proxy, ``s(y) + u`` for the rate and ``s(s(y) + u)`` for the synthesis, with
    ``s`` soft rounding at ``temperature`` and ``u ~ U(-1/2, 1/2)``; ``ste``: rounded, identity
    gradient; ``round``: rounded.
    """
    if mode == "soft":
        noisy = [soft_round(y, temperature) + torch.empty_like(y).uniform_(-0.5, 0.5) for y in latents]
        return noisy, [soft_round(n, temperature) for n in noisy]
    if mode == "ste":
        q = [kq.ste_round(y) for y in latents]
    else:
        q = [torch.round(y) for y in latents]
    return q, q


CHUNK = 1 << 16      # pixels per MLP call when decoding


class Synthesis(nn.Module):
    """``(1, n, H, W)`` upsampled latents -> ``(1, 3, H, W)`` image minus 1/2."""

    def __init__(self, cin: int, hidden: int, layers: int, residual_convs: int):
        super().__init__()
        widths = [cin] + [hidden] * layers + [3]
        self.mlp = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.convs = nn.ModuleList(nn.Conv2d(3, 3, 3, padding=1, padding_mode="replicate")
                                   for _ in range(residual_convs))
        for c in self.convs:
            nn.init.zeros_(c.weight)
            nn.init.zeros_(c.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, c, h, w = x.shape
        flat = x[0].reshape(c, h * w).T
        # without autograd (decoding), pixels go through the MLP a chunk at a time: bounded memory
        chunk = flat.shape[0] if torch.is_grad_enabled() else CHUNK
        y = torch.cat([self._mlp(flat[i:i + chunk]) for i in range(0, flat.shape[0], chunk)]).T.reshape(1, 3, h, w)
        for conv in self.convs:
            y = y + conv(y)
        return y

    def _mlp(self, a: torch.Tensor) -> torch.Tensor:
        for i, lin in enumerate(self.mlp):
            a = lin(a)
            if i < len(self.mlp) - 1:
                a = F.relu(a)
        return a


class OverfitImage(nn.Module):
    """Everything fitted to one ``h x w`` image."""

    def __init__(self, h: int, w: int, cfg: OverfitConfig = OverfitConfig()):
        super().__init__()
        self.h, self.w, self.cfg = h, w, cfg
        self.shapes = grid_shapes(h, w, grid_count(h, w, cfg.grids))
        self.latents = nn.ParameterList(nn.Parameter(torch.zeros(s)) for s in self.shapes)
        self.arm = Arm(cfg.arm_hidden, cfg.arm_layers, coarse=True)
        self.synthesis = Synthesis(len(self.shapes), cfg.synth_hidden, cfg.synth_layers, cfg.residual_convs)

    def quantized(self, mode: str, temperature: float = 0.3) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The grids as ``(rate input, synthesis input)`` (:func:`quantize_latents`)."""
        return quantize_latents(list(self.latents), mode, temperature)

    def rate_bits(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """Bits of all grids under the float ARM (grid k reads grid k+1)."""
        return sum(self.arm.bits(g, grids[k + 1] if k + 1 < len(grids) else None) for k, g in enumerate(grids))

    def upsample(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """Grids -> ``(1, n, H, W)``, coarsest channel first."""
        x = grids[-1][None, None]
        for g in reversed(grids[:-1]):
            x = F.interpolate(x, size=g.shape, mode="bicubic", align_corners=False)
            x = torch.cat([x, g[None, None]], 1)
        return x

    def image(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """``(1, 3, H, W)`` reconstruction in [0, 1] units (not clamped)."""
        return self.synthesis(self.upsample(grids)) + 0.5

    def macs_per_pixel(self) -> float:
        """Decoder multiplications per pixel: ARM on every latent, bicubic taps, synthesis."""
        arm = sum(lin.in_features * lin.out_features for lin in self.arm.linears)
        latents = sum(a * b for a, b in self.shapes)
        n, pixels = len(self.shapes), self.h * self.w
        bicubic = sum(16 * (n - 1 - k) * a * b for k, (a, b) in enumerate(self.shapes[:-1]))  # 16 taps a channel
        synth = sum(lin.in_features * lin.out_features for lin in self.synthesis.mlp) + 27 * len(self.synthesis.convs)
        return (arm * latents + bicubic) / pixels + synth
