"""The network a ``nerv`` file describes for one group of frames: hierarchical latent grids over
time and space, their ARM, trilinear upsampling and a per-pixel synthesis.

    grids     y_k  (ceil(T / 2**k), ceil(H / 2**k), ceil(W / 2**k)), k = 0 .. n-1, one channel each:
              a HiNeRV-style hierarchy whose finest level has a grid per frame and whose coarser
              levels are shared by 2**k frames; integers once coded
    static    s_j  (1, ceil(H / 2**j), ceil(W / 2**j)), j = 0 .. m-1: a pyramid shared by every
              frame of the group, where what does not move costs its bits once
    rate      sum of ARM bits of each grid given its causal neighbours in its frame, the 3x3 around
              the same place in the previous frame, and its parent, the next coarser grid of its
              pyramid (fitting/arm.py, OFFSETS_3D)
    upsample  per pyramid, coarsest first: x <- trilinear(x) to the next grid's size, x <- [x, y_k];
              the static channels repeated over time -> (T, n + m, H, W)
    synthesis per frame: 1x1 MLP (n -> 40 -> 3), then two residual 3x3 convs (codecs/image/overfit.py)
    frame     synthesis + 1/2, clamped to [0, 1] when decoded

A clip is coded as groups of frames, each group a network of its own (codecs/video/nerv_codec.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...fitting.arm import OFFSETS_3D, Arm
from ..image.overfit import OverfitConfig, Synthesis, grid_count, quantize_latents


@dataclass(frozen=True)
class NervConfig(OverfitConfig):
    """The image codec's network sizes (grids: levels of the time pyramid), and the static pyramid."""

    static: int = 3             # levels of the pyramid shared by all frames of a group

    def check(self) -> bool:
        return super().check() and 0 <= self.static <= 16


def group_shapes(t: int, h: int, w: int, cfg: NervConfig) -> tuple[list[tuple[int, int, int]], list[int | None]]:
    """``(shapes, parents)`` of the grids of a group of ``t`` frames of ``h x w``: the time
    pyramid finest first, then the static one finest first; ``parents[k]`` is the index of the
    grid whose latents grid ``k``'s ARM reads (always a later index), or None."""
    n, m = grid_count(h, w, cfg.grids), min(cfg.static, grid_count(h, w, cfg.static))
    shapes = [(-(-t // (1 << k)), -(-h // (1 << k)), -(-w // (1 << k))) for k in range(n)]
    shapes += [(1, -(-h // (1 << j)), -(-w // (1 << j))) for j in range(m)]
    parents = [k + 1 if k + 1 < n else None for k in range(n)] + [n + j + 1 if j + 1 < m else None for j in range(m)]
    return shapes, parents


class NervGroup(nn.Module):
    """Everything fitted to one group of ``t`` frames of ``h x w``."""

    def __init__(self, t: int, h: int, w: int, cfg: NervConfig = NervConfig()):
        super().__init__()
        self.t, self.h, self.w, self.cfg = t, h, w, cfg
        self.shapes, self.parents = group_shapes(t, h, w, cfg)
        self.n_time = grid_count(h, w, cfg.grids)
        self.latents = nn.ParameterList(nn.Parameter(torch.zeros(s)) for s in self.shapes)
        self.arm = Arm(cfg.arm_hidden, cfg.arm_layers, coarse=True, offsets=OFFSETS_3D)
        self.synthesis = Synthesis(len(self.shapes), cfg.synth_hidden, cfg.synth_layers, cfg.residual_convs)

    def quantized(self, mode: str, temperature: float = 0.3) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The grids as ``(rate input, synthesis input)`` (codecs/image/overfit.py, quantize_latents)."""
        return quantize_latents(list(self.latents), mode, temperature)

    def parent(self, grids: list, k: int):
        """The grid that grid ``k``'s ARM reads as its coarser context (None for a pyramid's top)."""
        return grids[self.parents[k]] if self.parents[k] is not None else None

    def rate_bits(self, grids: list[torch.Tensor], frames: torch.Tensor | None = None) -> torch.Tensor:
        """Bits of all grids under the float ARM. ``frames``: an index of the finest grid's frames
        to count, scaled up to all of them (an unbiased estimate that costs a fraction of the whole)."""
        total = 0.0
        for k, g in enumerate(grids):
            if k == 0 and frames is not None and len(frames) < g.shape[0]:
                total = total + self.arm.bits(g, self.parent(grids, k), frames) * (g.shape[0] / len(frames))
            else:
                total = total + self.arm.bits(g, self.parent(grids, k))
        return total

    def upsample(self, grids: list[torch.Tensor], frames: torch.Tensor | None = None) -> torch.Tensor:
        """Grids -> ``(T', n + m, H, W)`` (each pyramid coarsest channel first) for the ``frames``
        asked (all by default)."""
        out = []
        for pyramid in (grids[:self.n_time], grids[self.n_time:]):
            if not pyramid:
                continue
            x = pyramid[-1][None, None]
            for g in reversed(pyramid[:-1]):
                x = F.interpolate(x, size=g.shape, mode="trilinear", align_corners=False)
                x = torch.cat([x, g[None, None]], 1)
            out.append(x[0].transpose(0, 1).expand(self.t, -1, -1, -1))
        x = torch.cat(out, 1)
        return x if frames is None else x[frames]

    def frames(self, grids: list[torch.Tensor], frames: torch.Tensor | None = None) -> torch.Tensor:
        """``(T', 3, H, W)`` reconstruction in [0, 1] units (not clamped), a frame at a time."""
        x = self.upsample(grids, frames)
        return torch.cat([self.synthesis(x[i: i + 1]) for i in range(x.shape[0])]) + 0.5

    def macs_per_pixel(self) -> float:
        """Decoder multiplications per pixel: ARM on every latent, trilinear taps, synthesis."""
        arm = sum(lin.in_features * lin.out_features for lin in self.arm.linears)
        size = [a * b * c for a, b, c in self.shapes]
        pixels = self.t * self.h * self.w
        trilinear = 0
        for pyramid in (size[:self.n_time], size[self.n_time:]):
            trilinear += sum(8 * (len(pyramid) - 1 - k) * s for k, s in enumerate(pyramid[:-1]))   # 8 taps a channel
        synth = sum(lin.in_features * lin.out_features for lin in self.synthesis.mlp) + 27 * len(self.synthesis.convs)
        return (arm * sum(size) + trilinear) / pixels + synth
