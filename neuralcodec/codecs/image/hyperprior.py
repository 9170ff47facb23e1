"""``hyperprior``: mean-scale hyperprior (Ballé et al. 2018; Minnen et al. 2018, without the serial
context), variable-rate through per-quality gain vectors (as in DCVC-FM), bit-exact decoding.

    x ─g_a─> y ─×gain[q]─> y_s ─h_a─> z ─Q─> z_sym ──────────── factorized table ──> "z"
                              │                 └─(int)─ h_s (exact) ─> means, scale rows
                              └───── round(y_s - mean) ── Gaussian scale table ──────> "y"
    decoder: ŷ_s = y_sym + mean ─×inv_gain[q]─> g_s ─> x̂

``h_s`` runs in fixed point (:mod:`.exact`), and the z table is integers shipped with the
weights, so the table rows and means are bitwise identical on every device and thread count.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...entropy.factorized import FactorizedDensity
from ...entropy.families import SCALE_MIN, default_scale_table, likelihood
from .exact import ACT_BITS, ExactStack, ste_round
from .layers import analysis, conv, synthesis

STRIDE = 64  # g_a downsamples 16x, h_a 4x more


@dataclass(frozen=True)
class HyperpriorConfig:
    """Architecture and rate points. ``lambdas[q-1]`` weighs 255²·MSE against bits per pixel."""

    n: int = 128
    m: int = 192
    lambdas: tuple[float, ...] = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483)
    transform_n: int = 0   # channels inside g_a and g_s (0 = n, the hyperprior's width)

    @property
    def qualities(self) -> int:
        return len(self.lambdas)


class HyperpriorModel(nn.Module):
    """The trainable network. ``forward`` returns what the loss needs (named, not a tuple)."""

    def __init__(self, cfg: HyperpriorConfig = HyperpriorConfig()):
        super().__init__()
        n, m, q = cfg.n, cfg.m, cfg.qualities
        self.cfg = cfg
        g = cfg.transform_n or n
        self.g_a, self.g_s = analysis(g, m), synthesis(g, m)
        self.h_a = nn.Sequential(conv(m, n, 3, 1), nn.LeakyReLU(), conv(n, n), nn.LeakyReLU(), conv(n, n))
        self.h_s = ExactStack([(n, m, 5, 2, True), (m, m * 3 // 2, 5, 2, True), (m * 3 // 2, 2 * m, 3, 1, False)])
        self.z_density = FactorizedDensity(n)
        spread = torch.exp(torch.linspace(np.log(0.5), np.log(2.0), q))[:, None]
        self.gain = nn.Parameter(spread.repeat(1, m))
        self.inv_gain = nn.Parameter((1 / spread).repeat(1, m))

    def forward(self, x: torch.Tensor, quality: torch.Tensor) -> dict[str, torch.Tensor]:
        """Args: x ``(B, 3, H, W)`` in [0, 1], H and W multiples of 64; quality ``(B,)`` in 0..Q-1.

        Returns ``x_hat (B,3,H,W)``, ``y_likelihoods (B,M,H/16,W/16)``, ``z_likelihoods (B,N,H/64,W/64)``.
        Rate under additive noise; the decoder path under straight-through rounding.
        """
        return self.latent_forward(self.g_a(x) * self.gain[quality][:, :, None, None], quality)

    def latent_forward(self, y_s: torch.Tensor, quality: torch.Tensor, noise: bool = True) -> dict[str, torch.Tensor]:
        """:meth:`forward` from the scaled latent ``y_s (B, M, H/16, W/16)`` on (what the encoder
        codes; :mod:`.refine` optimises it). ``noise=False`` takes the rates at the rounded
        values, as the coder would (deterministic)."""
        z = self.h_a(y_s)
        med = self.z_density.medians.view(1, -1, 1, 1)
        z_hat = ste_round(z - med) + med
        z_lik = self.z_density.likelihood(z + torch.empty_like(z).uniform_(-0.5, 0.5) if noise else z_hat)
        scales, means = self.h_s(z_hat).chunk(2, dim=1)
        y_hat = ste_round(y_s - means) + means
        y_lik = likelihood(y_s + torch.empty_like(y_s).uniform_(-0.5, 0.5) if noise else y_hat, scales, means)
        y_rec = y_hat * self.inv_gain[quality][:, :, None, None]
        return {"x_hat": self.g_s(y_rec), "y_likelihoods": y_lik, "z_likelihoods": z_lik}


@dataclass
class CodingTables:
    """Everything integer that encoder and decoder must share, derived once from the weights."""

    z_table: object                 # CdfTable, one row per z channel
    z_median_int: torch.Tensor      # int64 (N,), medians in units of 2**-ACT_BITS
    scale_thresholds: torch.Tensor  # int64 (S-1,), scale table in units of 2**-ACT_BITS
    y_table: object                 # CdfTable over the Gaussian scale table


def coding_tables(model: HyperpriorModel) -> CodingTables:
    from ...entropy.families import scale_table_cdfs
    scales = default_scale_table()
    unit = float(1 << ACT_BITS)
    med = torch.floor(model.z_density.medians.double() * unit + 0.5).long()
    thr = torch.from_numpy(np.floor(scales[:-1] * unit + 0.5).astype(np.int64))
    return CodingTables(model.z_density.to_table(), med, thr, scale_table_cdfs("gaussian", scales))


def pad(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % STRIDE, (-w) % STRIDE
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


__all__ = ["HyperpriorConfig", "HyperpriorModel", "CodingTables", "coding_tables", "pad", "SCALE_MIN"]
