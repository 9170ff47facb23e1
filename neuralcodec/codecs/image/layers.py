"""Transforms of learned image codecs (Ballé et al. 2018), without importing compressai.

    g_a: x (B,3,H,W) --conv5/2,GDN x3, conv5/2--> y (B,M,H/16,W/16)
    g_s: y --deconv5/2,IGDN x3, deconv5/2--> x_hat (B,3,H,W)

Both take optional per-sample channel scales ``(B, 3, N)``, one row per GDN, applied to the
GDN's output (a variable-rate model's per-quality modulation of its transforms; pointwise,
so banded inference is unchanged). ``blocks=True`` adds a residual bottleneck block (as in
ELIC / MLIC++) at 1/4 and 1/8 resolution of each: after g_a's GDNs 2 and 3, after g_s's
IGDNs 1 and 2. Each starts as the identity, so weights without them warm-start exactly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


BAND_ELEMENTS = 1 << 24  # GDN at inference works in place on bands of rows of at most this many elements
SYNTH_ELEMENTS = 1 << 25  # g_a, g_s at inference: above this many elements at half resolution, bands of rows
SYNTH_HALO = 2  # latent rows a band reads beyond each edge (the deconvolutions reach 15 and 30 pixel rows)
ANALYSIS_HALO = 2  # latent rows (of 16 pixel rows) a band of g_a reads beyond each edge (it needs 30 and 14)
GAMMA_SEED = 2.0 ** -10  # GDN's off-diagonal parameter at init (gamma = its square, about 1e-6)


class GDN(nn.Module):
    """Generalized divisive normalization (Ballé 2016): ``x / sqrt(beta + gamma @ x^2)``.

    ``inverse=True`` multiplies instead (IGDN). beta and gamma are kept non-negative by
    squaring reparametrised values, as in the paper's implementation. A squared parameter at
    exactly 0 has a zero gradient and never moves, so the off-diagonal of ``gamma`` (the
    cross-channel part of the normalization) starts at :data:`GAMMA_SEED`, not 0; weights
    trained before that fix have an all-zero off-diagonal, which :meth:`thaw_` reopens.
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse, self.beta_min = inverse, beta_min
        self.beta = nn.Parameter(torch.ones(channels).sqrt())
        self.gamma = nn.Parameter((gamma_init * torch.eye(channels)).sqrt())
        self.thaw_()

    @torch.no_grad()
    def thaw_(self) -> int:
        """Set every exactly-zero entry of the gamma parameter to :data:`GAMMA_SEED` (gamma changes
        by ``GAMMA_SEED**2``, about 1e-6, per entry); returns how many entries it set."""
        dead = self.gamma == 0
        self.gamma[dead] = GAMMA_SEED
        return int(dead.sum())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, C, H, W)``; at inference (no grad) in place on ``x``."""
        c = x.shape[1]
        beta = self.beta.pow(2) + self.beta_min
        gamma = self.gamma.pow(2).view(c, c)
        if not torch.is_grad_enabled():
            return self._inplace_(x, gamma, beta)
        norm = torch.sqrt(F.conv2d(x * x, gamma.view(c, c, 1, 1), beta))
        return x * norm if self.inverse else x / norm

    def _inplace_(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """Inference: in place, one image and a band of rows at a time, the 1x1 convolution as
        one matrix product ``gamma @ x^2`` over the band's pixels (about 40% faster here than
        conv2d and its temporaries). GDN is spatially pointwise, so bands give the same values
        (up to float summation order) while memory stays at one copy of ``x``."""
        b, c, h, w = x.shape
        rows = max(1, BAND_ELEMENTS // (c * w))
        for i in range(b):
            for top in range(0, h, rows):
                band = x[i, :, top:top + rows]
                flat = band.reshape(c, -1)
                norm = torch.addmm(beta.view(c, 1), gamma, flat * flat).sqrt_().view_as(band)
                band.mul_(norm) if self.inverse else band.div_(norm)
        return x


class Bottleneck(nn.Module):
    """Residual bottleneck block: ``x + c(act(b(act(a(x)))))``, 1x1 C->C/2, 3x3 C/2->C/2, 1x1
    C/2->C; ``(B, C, H, W) -> (B, C, H, W)``. The last convolution starts at zero, so a new
    block is exactly the identity (a trained transform gains it without changing at step 0)."""

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.a, self.b, self.c = nn.Conv2d(channels, half, 1), nn.Conv2d(half, half, 3, 1, 1), nn.Conv2d(half, channels, 1)
        nn.init.zeros_(self.c.weight)
        nn.init.zeros_(self.c.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.c(F.gelu(self.b(F.gelu(self.a(x)))))


class Transform(nn.Sequential):
    """A transform whose GDN outputs may be scaled per sample and channel, and followed by blocks.

    ``forward(x, scales=None)``: ``scales (B, G, C)``, G = the number of GDN layers, scales the
    output of the g-th GDN by ``scales[:, g]``; None leaves the plain Sequential. ``blocks``
    ``{g: module}`` runs ``module`` after the g-th GDN (1-based) and its scale, registered as
    ``res{g}``. The layers keep the Sequential's parameter names (``g_a.0.weight`` ...), so
    weights without scales or blocks still load."""

    def __init__(self, *layers: nn.Module, blocks: dict[int, nn.Module] | None = None):
        super().__init__(*layers)
        for g, block in (blocks or {}).items():
            self.add_module(f"res{g}", block)

    @property
    def blocks(self) -> int:
        """How many blocks the transform has (each reaches one row further: see the halos)."""
        return sum(name.startswith("res") for name in self._modules)

    def forward(self, x: torch.Tensor, scales: torch.Tensor | None = None) -> torch.Tensor:
        g = 0
        for name, layer in self._modules.items():
            if name.startswith("res"):
                continue
            x = layer(x)
            if isinstance(layer, GDN):
                if scales is not None:
                    s = scales[:, g, :, None, None]
                    x = x * s if torch.is_grad_enabled() else x.mul_(s)
                g += 1
                block = self._modules.get(f"res{g}")
                if block is not None:
                    x = block(x)
        return x


def conv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, k // 2)


def deconv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride, k // 2, output_padding=stride - 1)


def analysis(n: int, m: int, blocks: bool = False) -> Transform:
    return Transform(conv(3, n), GDN(n), conv(n, n), GDN(n), conv(n, n), GDN(n), conv(n, m),
                     blocks={2: Bottleneck(n), 3: Bottleneck(n)} if blocks else None)


def synthesis(n: int, m: int, blocks: bool = False) -> Transform:
    return Transform(deconv(m, n), GDN(n, True), deconv(n, n), GDN(n, True), deconv(n, n), GDN(n, True),
                     deconv(n, 3), blocks={1: Bottleneck(n), 2: Bottleneck(n)} if blocks else None)


def synthesize(g_s: Transform, y: torch.Tensor, scales: torch.Tensor | None = None) -> torch.Tensor:
    """``g_s(y)`` at inference in bounded memory: ``y (B, M, h, w) -> (B, 3, 16h, 16w)``.

    When ``g_s``'s widest activation (its n channels at half resolution) would pass
    :data:`SYNTH_ELEMENTS`, it runs on bands of latent rows, each reading :data:`SYNTH_HALO` rows
    (one more per residual block: a block's 3x3 reaches 8 or 4 pixel rows further)
    more on both sides. A 5x5 stride-2 deconvolution reads one input row beyond each output row,
    and GDN none, so a band's wrong edge (zeros beyond its rows) spoils at most its first 15 and
    last 30 pixel rows: the halo's 32 rows are cut off, and what is kept is ``g_s(y)`` up to
    float summation order. Small inputs and training take the plain path. ``scales``: as
    :class:`Transform`'s."""
    b, _, h, w = y.shape
    n = g_s[0].out_channels
    stride = 1 << sum(isinstance(layer, nn.ConvTranspose2d) for layer in g_s)
    per_row = b * n * (stride // 2) ** 2 * w   # elements of the widest activation per latent row
    if torch.is_grad_enabled() or per_row * h <= SYNTH_ELEMENTS:
        return g_s(y, scales)
    return _in_bands(lambda band: g_s(band, scales), y, h, max(1, SYNTH_ELEMENTS // per_row), SYNTH_HALO + g_s.blocks, 1, stride)


def analyse(g_a: Transform, x: torch.Tensor, scales: torch.Tensor | None = None) -> torch.Tensor:
    """``g_a(x)`` at inference in bounded memory: ``x (B, 3, 16h, 16w) -> (B, M, h, w)``.

    When ``g_a``'s widest activation (its n channels at half resolution) would pass
    :data:`SYNTH_ELEMENTS`, it runs on bands of latent rows. Latent row ``o`` reads pixel rows
    ``16o - 30 .. 16o + 30`` through four 5x5 stride-2 convolutions, so each band reads
    :data:`ANALYSIS_HALO` latent rows (32 pixel rows, keeping the stride grid), one more per residual
    block, beyond its edges,
    and what it keeps is ``g_a(x)`` up to float summation order. ``scales``: as :class:`Transform`'s."""
    b, _, height, width = x.shape
    n = g_a[0].out_channels
    stride = 1 << sum(isinstance(layer, nn.Conv2d) and layer.stride[0] == 2 for layer in g_a)
    h = height // stride
    per_row = b * n * (stride // 2) ** 2 * (width // stride)
    if torch.is_grad_enabled() or per_row * h <= SYNTH_ELEMENTS:
        return g_a(x, scales)
    return _in_bands(lambda band: g_a(band, scales), x, h, max(1, SYNTH_ELEMENTS // per_row), ANALYSIS_HALO + g_a.blocks, stride, 1)


def _in_bands(net, x: torch.Tensor, h: int, rows: int, halo: int, row_in: int, row_out: int):
    """``net(x)`` assembled from bands of ``rows`` latent rows (``h`` in all), each read with
    ``halo`` latent rows more on both sides; a latent row is ``row_in`` rows of ``x`` and
    ``row_out`` rows of the output."""
    out = None
    for top in range(0, h, rows):
        bottom = min(h, top + rows)
        lo, hi = max(0, top - halo), min(h, bottom + halo)
        band = net(x[:, :, lo * row_in:hi * row_in])[:, :, (top - lo) * row_out:(bottom - lo) * row_out]
        if out is None:
            out = band.new_empty(*band.shape[:2], h * row_out, band.shape[3])
        out[:, :, top * row_out:bottom * row_out] = band
    return out
