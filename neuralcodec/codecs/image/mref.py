"""``mref``: a multi-reference entropy model after MLIC++ / MLICv2 (Jiang et al. 2023, 2024).

The latent is split into S channel slices; each slice is coded in two checkerboard passes
(anchors, then non-anchors conditioned on the anchors, He et al. 2021), with parameters from
the hyperprior and a channel context over the slices already decoded (Minnen & Singh 2020);
latent residual prediction (LRP) refines the reconstruction of each slice; an optional global
context (``gc_s``, linear attention over every position of ``ctx``, see global_context.py)
joins the channel context::

    for slice s:   ctx = [hyper, ŷ_0 .. ŷ_{s-1}];  c = cc_s(ctx);  g = gc_s(ctx)
        anchors:      (σ, μ) = agg_s([c, ck_s(0), g])
        non-anchors:  (σ, μ) = agg_s([c, ck_s(ŷ_s on anchors), g])
        ŷ_s = sym + μ  (exact, the context of later slices);  ŷ_s + lrp_s([ctx, ŷ_s]) -> g_s

Everything that decides a CDF (h_s, cc_s, gc_s, ck_s, agg_s) runs in exact fixed point; LRP
touches only the reconstruction and stays float. MLIC++'s softmax attention has no exact
integer form, so the global context is linear attention with ReLU features.

``quality_scales`` gives g_a and g_s a per-quality channel scale after each GDN (``a_scale``,
``s_scale``, ``(Q, 3, N)``, 1 at init): on top of the latent's gain vectors, each quality
gets transforms of its own for 6·N numbers (variable-rate modulation of the transforms, as in
Song et al. 2021's spatially-adaptive feature transform, per channel only). ``res_blocks``
gives each transform two residual bottleneck blocks (layers.py), identity at init; one stage of
the shipped weights' recipe trains with them and the export drops them (scripts/pack_weights.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ...entropy.factorized import FactorizedDensity
from ...entropy.families import likelihood
from .exact import ACT_BITS, ExactStack, fake_quant, ste_round
from .global_context import GlobalContext
from .layers import analysis, conv, synthesis


@dataclass(frozen=True)
class MrefConfig:
    n: int = 128
    m: int = 192
    slices: int = 4
    width: int = 96    # hidden width of the per-slice context networks
    checkerboard: bool = True     # ablation switches: two passes per slice, or one
    channel_context: bool = True  # slices see the slices already decoded, or only the hyperprior
    lrp: bool = True              # latent residual prediction on the reconstruction
    global_context: bool = False  # linear attention over all positions of the context
    global_dim: int = 16          # its feature width
    lambdas: tuple[float, ...] = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483)
    transform_n: int = 0   # channels inside g_a and g_s (0 = n, the hyperprior's width)
    quality_scales: bool = False  # per-quality channel scales on every GDN output of g_a and g_s
    res_blocks: bool = False      # residual bottleneck blocks at 1/4 and 1/8 resolution in g_a and g_s

    @property
    def qualities(self) -> int:
        return len(self.lambdas)

    @property
    def slice_channels(self) -> int:
        if self.m % self.slices:
            raise ValueError("m must be a multiple of slices")
        return self.m // self.slices


def anchor_mask(h: int, w: int, device=None) -> torch.Tensor:
    """bool ``(1, 1, h, w)``: True on anchors ((i + j) even), coded first."""
    i = torch.arange(h, device=device)[:, None]
    j = torch.arange(w, device=device)[None, :]
    return ((i + j) % 2 == 0)[None, None]


class MrefModel(nn.Module):
    def __init__(self, cfg: MrefConfig = MrefConfig()):
        super().__init__()
        n, m, k, wd, q = cfg.n, cfg.m, cfg.slice_channels, cfg.width, cfg.qualities
        self.cfg = cfg
        g = cfg.transform_n or n
        self.g_a = analysis(g, m, cfg.res_blocks)
        self.g_s = synthesis(g, m, cfg.res_blocks)
        self.h_a = nn.Sequential(conv(m, n, 3, 1), nn.LeakyReLU(), conv(n, n), nn.LeakyReLU(), conv(n, n))
        self.h_s = ExactStack([(n, m, 5, 2, True), (m, m * 3 // 2, 5, 2, True), (m * 3 // 2, m, 3, 1, False)])
        ctx = [m + (s * k if cfg.channel_context else 0) for s in range(cfg.slices)]
        self.cc = nn.ModuleList(ExactStack([(ctx[s], wd, 3, 1, False), (wd, wd, 3, 1, False),
                                            (wd, 2 * k, 3, 1, False)]) for s in range(cfg.slices))
        self.ck = nn.ModuleList(ExactStack([(k, 2 * k, 5, 1, False)]) for _ in range(cfg.slices))
        g = cfg.global_dim if cfg.global_context else 0
        self.gc = nn.ModuleList(GlobalContext(ctx[s], g) for s in range(cfg.slices) if g)
        self.agg = nn.ModuleList(ExactStack([(4 * k + g, 3 * k, 1, 1, False), (3 * k, 2 * k, 1, 1, False)])
                                 for _ in range(cfg.slices))
        self.lrp = nn.ModuleList(nn.Sequential(conv(ctx[s] + k, wd, 3, 1), nn.GELU(), conv(wd, k, 3, 1))
                                 for s in range(cfg.slices) if cfg.lrp)
        self.z_density = FactorizedDensity(n)
        spread = torch.exp(torch.linspace(np.log(0.5), np.log(2.0), q))[:, None]
        self.gain = nn.Parameter(spread.repeat(1, m))
        self.inv_gain = nn.Parameter((1 / spread).repeat(1, m))
        if cfg.quality_scales:   # 1 at init: the plain transforms (weights without them warm-start exactly)
            g = cfg.transform_n or n
            self.a_scale = nn.Parameter(torch.ones(q, 3, g))
            self.s_scale = nn.Parameter(torch.ones(q, 3, g))

    def transform_scales(self, quality: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``quality (B,)`` -> the scales of g_a and g_s, ``(B, 3, N_a)`` and ``(B, 3, N)``, or (None, None)."""
        if not self.cfg.quality_scales:
            return None, None
        return self.a_scale[quality], self.s_scale[quality]

    def context(self, hyper: torch.Tensor, decoded: list[torch.Tensor]) -> torch.Tensor:
        """What slice ``len(decoded)`` is conditioned on (same rule in training and coding)."""
        return torch.cat([hyper, *decoded], 1) if self.cfg.channel_context else hyper

    def refine(self, s: int, ctx: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
        """Latent residual prediction (float; reconstruction only)."""
        if not self.cfg.lrp:
            return y_hat
        return y_hat + 0.5 * torch.tanh(self.lrp[s](torch.cat([ctx, y_hat], 1)))

    def slice_context(self, s: int, ctx: torch.Tensor) -> torch.Tensor:
        """Training twin: what both passes of slice ``s`` share, ``[cc_s(ctx), gc_s(ctx)]``."""
        cc = self.cc[s](ctx)
        return torch.cat([cc, self.gc[s](ctx)], 1) if self.cfg.global_context else cc

    def slice_params(self, s: int, cc: torch.Tensor, anchors: torch.Tensor | None) -> torch.Tensor:
        """Training twin of the exact path: ``(B, 2K, h, w)`` (scales, means) of slice ``s`` from its
        shared context ``cc = self.slice_context(s, ctx)``; ``anchors`` None = anchor pass."""
        k = self.cfg.slice_channels
        ck = self.ck[s](anchors if anchors is not None else cc.new_zeros(cc.shape[0], k, *cc.shape[2:]))
        return self.agg[s](torch.cat([cc[:, : 2 * k], ck, cc[:, 2 * k:]], 1))  # global features last

    def forward(self, x: torch.Tensor, quality: torch.Tensor) -> dict[str, torch.Tensor]:
        """Args: x ``(B, 3, H, W)`` in [0, 1] (H, W multiples of 64), quality ``(B,)`` in 0..Q-1."""
        y = self.g_a(x, self.transform_scales(quality)[0])
        return self.latent_forward(y * self.gain[quality][:, :, None, None], quality)

    def latent_forward(self, y_s: torch.Tensor, quality: torch.Tensor, noise: bool = True) -> dict[str, torch.Tensor]:
        """:meth:`forward` from the scaled latent ``y_s (B, M, H/16, W/16)`` on (what the encoder
        codes; :mod:`.refine` optimises it). ``noise=False`` takes the rates at the rounded
        values, as the coder would (deterministic)."""
        z = self.h_a(y_s)
        med = self.z_density.medians.view(1, -1, 1, 1)
        z_hat = ste_round(z - med) + med
        z_lik = self.z_density.likelihood(z + torch.empty_like(z).uniform_(-0.5, 0.5) if noise else z_hat)
        hyper = self.h_s(z_hat)
        mask = anchor_mask(*y_s.shape[-2:], device=y_s.device)
        decoded, liks, recon = [], [], []
        if not self.cfg.checkerboard:
            mask = torch.ones_like(mask)  # every position is an "anchor": one pass per slice
        # (the second pass below then selects nothing; it keeps one code path for both settings)
        for s, y_slice in enumerate(y_s.chunk(self.cfg.slices, 1)):
            ctx = self.context(hyper, decoded)
            cc = self.slice_context(s, ctx)
            scales_a, means_a = self.slice_params(s, cc, None).chunk(2, 1)
            y_hat_a = (ste_round(y_slice - means_a) + means_a) * mask
            scales_n, means_n = self.slice_params(s, cc, fake_quant(y_hat_a, ACT_BITS, 1 << 20)).chunk(2, 1)
            scales, means = torch.where(mask, scales_a, scales_n), torch.where(mask, means_a, means_n)
            y_hat = ste_round(y_slice - means) + means
            liks.append(likelihood(y_slice + torch.empty_like(y_slice).uniform_(-0.5, 0.5) if noise else y_hat,
                                   scales, means))
            decoded.append(y_hat)
            recon.append(self.refine(s, ctx, y_hat))
        y_rec = torch.cat(recon, 1) * self.inv_gain[quality][:, :, None, None]
        x_hat = self.g_s(y_rec, self.transform_scales(quality)[1])
        return {"x_hat": x_hat, "y_likelihoods": torch.cat(liks, 1), "z_likelihoods": z_lik}
