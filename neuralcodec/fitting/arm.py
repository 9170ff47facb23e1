"""The autoregressive context model (ARM) of overfitted codecs: a small MLP over causal neighbours.

Each latent ``y[i, j]`` of an integer grid gets a Laplace mean and log-scale from

    inputs = y at the causal OFFSETS around (i, j)  [+ the co-located latent of the coarser grid]
    mu, log_scale = MLP(inputs)              (ReLU between layers, not after the last)

Training runs the float MLP (:class:`Arm`); coding runs the same MLP in integer arithmetic
(:func:`arm_int`) on weights quantised to ``W / 2**k``, so encoder and decoder derive the same
table rows and means on any machine. Decoding is a wavefront: every latent of step
``t = j + SLOPE * i`` has all its neighbours in earlier steps, so one step is one vectorised MLP
call and one rANS group, and a grid of ``h x w`` takes ``w + SLOPE * (h - 1)`` steps.

    mu to quarters:  mu = base + f / 4  (f in 0..3)
    coded value = y - base,   table row = MEAN_BINS * clip((log_scale - LS_MIN) // LS_STEP, 0, LEVELS - 1) + f

(each row a Laplace of its bin's scale centred at f / 4). Training sees the same quarter-rounded
mean (straight-through), so the float rate is the coded rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..entropy import rans
from ..entropy.families import MIN_UNITS, _cdf_np, likelihood
from ..entropy.escape import encode_varints
from ..entropy.tables import MAX_PRECISION, CdfTable, from_pmfs, to_symbols

OFFSETS = ((-2, -1), (-2, 0), (-2, 1), (-1, -2), (-1, -1), (-1, 0), (-1, 1), (0, -2), (0, -1))
PAD = 2                                    # rows above and columns either side the offsets reach
SLOPE = 1 + max(dj // -di for di, dj in OFFSETS if di < 0)   # 2: (i-1, j+1) precedes (i, j)
FRAC = 8                                   # fraction bits of the integer MLP's activations
ACT_LIMIT = (1 << 24) - 1
LATENT_LIMIT = 1 << 12                     # |latent| a decoder accepts as context (a clamp)
LS_MIN, LS_STEP, LEVELS = -768, 30, 64     # log-scale bins in units of 2**-FRAC: -3.0 .. 4.5
MEAN_BINS = 4                              # the mean is coded to quarters
TAIL_MASS = 1e-9
SCALE_BOUND = math.exp(LS_MIN / (1 << FRAC))


def table_scales() -> np.ndarray:
    """float64 ``(LEVELS,)``: the Laplace scale of each log bin (its centre)."""
    centres = (LS_MIN + (np.arange(LEVELS) + 0.5) * LS_STEP) / (1 << FRAC)
    return np.exp(centres)


@lru_cache(maxsize=1)
def latent_table() -> CdfTable:
    """``LEVELS * MEAN_BINS`` rows: Laplace(f / MEAN_BINS, scale) over the integers, float64 then
    :func:`quantize_pmf`; symbols rarer than MIN_UNITS of a frequency unit go to the escape."""
    pmfs, offsets, tails = [], [], []
    for s in table_scales():
        c = int(math.ceil(-math.log(TAIL_MASS) * s)) + 1
        k = np.arange(-c, c + 2, dtype=np.float64)
        for f in range(MEAN_BINS):
            m = f / MEAN_BINS
            p = _cdf_np("laplace", (k + 0.5 - m) / s) - _cdf_np("laplace", (k - 0.5 - m) / s)
            keep = np.flatnonzero(p * (1 << MAX_PRECISION) >= MIN_UNITS)
            lo, hi = keep.min(), keep.max()
            pmfs.append(p[lo: hi + 1])
            offsets.append(int(k[lo]))
            tails.append(max(0.0, 1.0 - float(p[lo: hi + 1].sum())))
    return from_pmfs(pmfs, np.array(offsets), np.array(tails))


def quarter_mean(mu: torch.Tensor) -> torch.Tensor:
    """``mu`` rounded to 1/MEAN_BINS with an identity gradient (what the coder's rows are centred on)."""
    return mu + (torch.round(mu * MEAN_BINS) / MEAN_BINS - mu).detach()


class Arm(nn.Module):
    """Float twin of the coded ARM. ``coarse``: also read the co-located coarser latent."""

    def __init__(self, hidden: int = 16, layers: int = 2, coarse: bool = True):
        super().__init__()
        self.inputs = len(OFFSETS) + int(coarse)
        widths = [self.inputs] + [hidden] * layers + [2]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.coarse = coarse
        nn.init.zeros_(self.linears[-1].weight)
        nn.init.zeros_(self.linears[-1].bias)

    def context(self, grid: torch.Tensor, coarser: torch.Tensor | None) -> torch.Tensor:
        """``grid (h, w)``, ``coarser (ceil(h/2), ceil(w/2))`` or None -> inputs ``(h*w, inputs)``."""
        h, w = grid.shape
        g = F.pad(grid[None, None], (PAD, PAD, PAD, 0))[0, 0]
        cols = [g[PAD + di: PAD + di + h, PAD + dj: PAD + dj + w] for di, dj in OFFSETS]
        if self.coarse:
            cols.append(upsample_nearest(coarser, h, w) if coarser is not None else grid.new_zeros(h, w))
        return torch.stack(cols, -1).reshape(h * w, -1)

    def forward(self, grid: torch.Tensor, coarser: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantised ``grid (h, w)`` -> ``(mu, log_scale)``, each ``(h, w)``."""
        x = self.context(grid, coarser)
        for i, lin in enumerate(self.linears):
            x = lin(x)
            if i < len(self.linears) - 1:
                x = F.relu(x)
        return x[:, 0].view_as(grid), x[:, 1].view_as(grid)

    def bits(self, grid: torch.Tensor, coarser: torch.Tensor | None) -> torch.Tensor:
        """Total bits of the quantised ``grid`` (noisy or rounded) under the model."""
        mu, ls = self(grid, coarser)
        mu = quarter_mean(mu)
        scale = torch.exp(ls.clamp(LS_MIN / (1 << FRAC), (LS_MIN + LEVELS * LS_STEP) / (1 << FRAC)))
        p = likelihood(grid, scale, mu, "laplace", SCALE_BOUND)
        return -torch.log2(p).sum()


def upsample_nearest(coarser: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``(ceil(h/2), ceil(w/2))`` -> ``(h, w)`` by repeating each latent 2x2 (torch or numpy)."""
    if isinstance(coarser, np.ndarray):
        return coarser.repeat(2, 0).repeat(2, 1)[:h, :w]
    return coarser.repeat_interleave(2, 0).repeat_interleave(2, 1)[:h, :w]


# ---- integer twin ------------------------------------------------------------------------------
@dataclass(frozen=True)
class IntLayer:
    """``y = (x @ w.T + b) / 2**k`` on integers: ``w`` int64 ``(out, in)`` is the weight times
    ``2**k``; ``b`` int64 ``(out,)`` is the bias times ``2**(FRAC + k)``."""

    w: np.ndarray
    b: np.ndarray
    k: int


def int_layers(weights: list[tuple[np.ndarray, int, np.ndarray, int]]) -> list[IntLayer]:
    """Quantised ``[(w_int, kw, b_int, kb)]`` (value = int / 2**k) -> the integer MLP's layers."""
    out = []
    for w, kw, b, kb in weights:
        shift = FRAC + kw - kb
        b = b << shift if shift >= 0 else (b + (1 << (-shift - 1))) >> -shift
        out.append(IntLayer(np.asarray(w, np.int64), np.asarray(b, np.int64), kw))
    return out


def arm_int(x: np.ndarray, layers: list[IntLayer]) -> tuple[np.ndarray, np.ndarray]:
    """int64 latent context ``(n, inputs)`` (integer latents) -> ``(rows, bases)``: int64 ``(n,)``
    table rows and the integer part of the quarter-rounded means (values are coded as y - base). Pure integer numpy: the same on every machine."""
    a = np.clip(x, -LATENT_LIMIT, LATENT_LIMIT) << FRAC
    for i, layer in enumerate(layers):
        acc = a @ layer.w.T + layer.b
        half = (1 << (layer.k - 1)) if layer.k else 0
        a = np.clip((acc + half) >> layer.k, -ACT_LIMIT, ACT_LIMIT)
        if i < len(layers) - 1:
            a = np.maximum(a, 0)
    q = (a[:, 0] + (1 << (FRAC - 3))) >> (FRAC - 2)          # mean in quarters, rounded
    rows = np.clip((a[:, 1] - LS_MIN) // LS_STEP, 0, LEVELS - 1) * MEAN_BINS + (q & (MEAN_BINS - 1))
    return rows, q >> 2


def context_int(grid: np.ndarray, coarser: np.ndarray | None, coarse: bool) -> np.ndarray:
    """Integer twin of :meth:`Arm.context` for a whole known grid (the encoder's view)."""
    h, w = grid.shape
    g = np.pad(grid, ((PAD, 0), (PAD, PAD)))
    cols = [g[PAD + di: PAD + di + h, PAD + dj: PAD + dj + w] for di, dj in OFFSETS]
    if coarse:
        cols.append(upsample_nearest(coarser, h, w) if coarser is not None else np.zeros_like(grid))
    return np.stack(cols, -1).reshape(h * w, -1)


@lru_cache(maxsize=16)
def wavefront(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """``(order, bounds)``: flat positions of an ``h x w`` grid sorted by step ``j + SLOPE*i``,
    and int64 ``(steps + 1,)`` where each step's positions start and end in ``order``."""
    i, j = np.divmod(np.arange(h * w), w)
    t = j + SLOPE * i
    order = np.argsort(t, kind="stable")
    bounds = np.searchsorted(t[order], np.arange(w + SLOPE * (h - 1) + 1))
    return order, bounds


def grid_groups(grid: np.ndarray, coarser: np.ndarray | None, layers: list[IntLayer], coarse: bool
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The rANS groups ``[(values, rows)]`` of one integer grid, one per wavefront step."""
    rows, mean = arm_int(context_int(grid, coarser, coarse), layers)
    values = grid.reshape(-1) - mean
    order, bounds = wavefront(*grid.shape)
    v, r = values[order], rows[order]
    return [(v[a:b], r[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def grid_bits(grid: np.ndarray, coarser: np.ndarray | None, layers: list[IntLayer], coarse: bool) -> float:
    """Ideal bits of ``grid`` under the integer ARM (the coded rate, up to rANS overhead and escapes)."""
    rows, mean = arm_int(context_int(grid, coarser, coarse), layers)
    return symbol_bits(grid.reshape(-1) - mean, rows, latent_table())


def symbol_bits(values: np.ndarray, rows: np.ndarray, table: CdfTable) -> float:
    """Ideal bits of int64 ``values (n,)`` coded with ``rows (n,)`` of ``table``, escapes included."""
    _, escaped = to_symbols(table, values, rows)
    return float(table.symbol_bits(values, rows).sum()) + 8.0 * len(encode_varints(values[escaped]))


def decode_grid(dec: rans.GroupDecoder, h: int, w: int, coarser: np.ndarray | None,
                layers: list[IntLayer], coarse: bool) -> np.ndarray:
    """Decode one ``h x w`` grid from ``dec``, wavefront by wavefront -> int64 ``(h, w)``."""
    wp = w + 2 * PAD
    g = np.zeros((h + PAD) * wp, np.int64)
    pos = (np.arange(h)[:, None] + PAD) * wp + np.arange(w)[None, :] + PAD        # (h, w) in g
    offs = np.array([di * wp + dj for di, dj in OFFSETS], np.int64)
    extra = (upsample_nearest(coarser, h, w) if coarser is not None else np.zeros((h, w), np.int64)).reshape(-1)
    order, bounds = wavefront(h, w)
    flat = pos.reshape(-1)
    for a, b in zip(bounds[:-1], bounds[1:]):
        at = order[a:b]
        p = flat[at]
        x = g[p[:, None] + offs[None, :]]
        if coarse:
            x = np.concatenate([x, extra[at, None]], 1)
        rows, mean = arm_int(x, layers)
        g[p] = dec.next(rows) + mean
    return g[flat].reshape(h, w)
