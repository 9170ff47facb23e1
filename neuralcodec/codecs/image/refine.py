"""Encoder-side latent refinement: a slower encode, the same decoder and file format.

``g_a`` is an amortised guess at the latent that minimises bits + λ·255²·MSE; for a given image
a few gradient steps on the latent itself do better (Campos et al. 2019, Yang et al. 2020). The
decoder never knows: it decodes whatever symbols it is sent.

    y_s = g_a(x)·gain[q];  repeat N times:  loss = bpp(y_s) + λ·255²·MSE(g_s(ŷ), x) -> Adam on y_s
    every CHECK steps and at the end: the same loss with the coder's rounding (no noise);
    the latent with the lowest such loss is kept, so by that measure refinement never does worse
    than g_a (per tile, for images larger than one).

The rate is the training proxy (additive noise), the reconstruction straight-through rounding.
Adam steps in units of the unscaled latent (``lr`` times the quality's gain on the coding grid),
so one ``lr`` suits every quality. Large images are refined in tiles of latent rows and columns
with a halo, so memory stays bounded; each tile sees the latent its neighbours left.
"""
from __future__ import annotations

import torch
from torch import nn

LR = 0.01          # Adam step, in units of the unscaled latent g_a(x)
CHECK = 5          # steps between checks of the coder-rounded loss
TILE = 48          # latent positions per tile side (768 pixels) for images larger than one tile
HALO = 4           # latent positions each tile reads beyond its edges (64 pixels)
ALIGN = 4          # tiles start on multiples of h_a's stride, so z stays on its grid
SEED = 0
MAX_STEPS = 1000   # more steps than this is a typo, not a setting


def check_steps(steps: int) -> int:
    """``steps`` if it is a usable step count (0 = off), else a one-line error."""
    from ...errors import NeuralCodecError
    if not 0 <= steps <= MAX_STEPS:
        raise NeuralCodecError(f"--refine takes 0..{MAX_STEPS} steps, got {steps}")
    return steps


def _loss(model: nn.Module, y_s: torch.Tensor, x: torch.Tensor, q: torch.Tensor, lam: float,
          valid: tuple[int, int], noise: bool) -> torch.Tensor:
    """bits per valid pixel + λ·255²·MSE over the valid ``(h, w)`` corner of ``x (1, 3, H, W)``."""
    out = model.latent_forward(y_s, q, noise=noise)
    h, w = valid
    bits = -torch.log2(out["y_likelihoods"]).sum() - torch.log2(out["z_likelihoods"]).sum()
    x_hat = out["x_hat"][..., :h, :w]
    if not noise:
        x_hat = x_hat.clamp(0, 1)
    mse = (x_hat - x[..., :h, :w]).square().mean()
    return bits / (h * w) + lam * 255 ** 2 * mse


def _refine_whole(model: nn.Module, x: torch.Tensor, y_s: torch.Tensor, q: int, steps: int,
                  valid: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    """One region: ``x (1, 3, 16h, 16w)``, ``y_s (1, M, h, w)`` -> the refined ``y_s``."""
    gain = model.gain[q].detach().view(1, -1, 1, 1)
    qt = torch.tensor([q], device=x.device)
    lam = float(model.cfg.lambdas[q])
    y = (y_s / gain).detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([y], lr=LR)
    with torch.no_grad():
        best, best_loss = y_s.detach().clone(), float(_loss(model, y_s, x, qt, lam, valid, noise=False))
    for i in range(steps):
        for group in opt.param_groups:
            group["lr"] = LR * (1 - i / steps)
        torch.manual_seed(int(torch.randint(1 << 30, (1,), generator=gen)))  # the proxy's noise
        loss = _loss(model, y * gain, x, qt, lam, valid, noise=True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (i + 1) % CHECK == 0 or i + 1 == steps:
            with torch.no_grad():
                cand = y.detach() * gain
                value = float(_loss(model, cand, x, qt, lam, valid, noise=False))
            if value < best_loss:
                best, best_loss = cand.clone(), value
    return best


def _starts(n: int) -> list[int]:
    return list(range(0, n, TILE)) if n > TILE else [0]


def refine_latent(model: nn.Module, x: torch.Tensor, y_s: torch.Tensor, quality: int, steps: int,
                  valid: tuple[int, int]) -> torch.Tensor:
    """``steps`` Adam steps on ``y_s (1, M, h, w)``, the scaled latent of ``x (1, 3, 16h, 16w)``
    (padded; ``valid`` = the image's own ``(height, width)``) at 0-based ``quality``.
    Returns the refined ``y_s``, never worse than the input under the coder-rounded loss."""
    if steps <= 0:
        return y_s
    params = list(model.parameters())
    was = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(SEED)
    try:   # fork_rng: the caller's random streams (CPU, and the CUDA device in use) come back as they were
        with torch.random.fork_rng(devices=[x.device] if x.is_cuda else []), torch.enable_grad():
            _, _, h, w = y_s.shape
            y_s = y_s.detach().clone()
            for r0 in _starts(h):
                for c0 in _starts(w):
                    r1, c1 = min(h, r0 + TILE), min(w, c0 + TILE)
                    a0, b0 = max(0, r0 - HALO) // ALIGN * ALIGN, max(0, c0 - HALO) // ALIGN * ALIGN
                    a1, b1 = min(h, -(-(r1 + HALO) // ALIGN) * ALIGN), min(w, -(-(c1 + HALO) // ALIGN) * ALIGN)
                    vh = max(0, min(valid[0] - 16 * a0, 16 * (a1 - a0)))
                    vw = max(0, min(valid[1] - 16 * b0, 16 * (b1 - b0)))
                    if not vh or not vw:
                        continue
                    x_t = x[..., 16 * a0:16 * a1, 16 * b0:16 * b1]
                    out = _refine_whole(model, x_t, y_s[..., a0:a1, b0:b1], quality, steps, (vh, vw), gen)
                    y_s[..., r0:r1, c0:c1] = out[..., r0 - a0:r1 - a0, c0 - b0:c1 - b0]
    finally:
        for p, w in zip(params, was):
            p.requires_grad_(w)
    return y_s
