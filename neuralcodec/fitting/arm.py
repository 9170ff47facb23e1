"""The autoregressive context model (ARM) of overfitted codecs: a small MLP over causal neighbours.

Each latent ``y[i, j]`` of an integer grid (or ``y[t, i, j]`` of a grid of frames) gets a Laplace
mean and log-scale from

    inputs = y at the causal offsets around it  [+ the co-located latent of the coarser grid]
    mu, log_scale = MLP(inputs)              (ReLU between layers, not after the last)

Images use :data:`OFFSETS` (9 neighbours above and to the left); clips use :data:`OFFSETS_3D`,
which adds the 3x3 around the same place in the previous frame. A 2-D grid is a 3-D grid of one
frame, and its offsets ``(di, dj)`` are ``(0, di, dj)``.

Training runs the float MLP (:class:`Arm`); coding runs the same MLP in integer arithmetic
(:func:`arm_int`) on weights quantised to ``W / 2**k``, so encoder and decoder derive the same
table rows and means on any machine. Decoding is a wavefront: every latent of step
``t = j + SLOPE * i`` has all its neighbours in earlier steps, so one step is one vectorised MLP
call and one rANS group, and a grid of ``h x w`` takes ``w + SLOPE * (h - 1)`` steps. In a grid of
frames the step is ``j + SLOPE * i + TSLOPE * t``, so all its frames decode together in
``w + SLOPE * (h - 1) + TSLOPE * (t - 1)`` steps.

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
from ..kernels.context import int_linear

OFFSETS = ((-2, -1), (-2, 0), (-2, 1), (-1, -2), (-1, -1), (-1, 0), (-1, 1), (0, -2), (0, -1))
OFFSETS_3D = tuple((0, di, dj) for di, dj in OFFSETS) + tuple((-1, di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1))
PAD = 2                                    # rows and columns either side the offsets reach
TPAD = 1                                   # frames before
SLOPE = 1 + max(dj // -di for di, dj in OFFSETS if di < 0)   # 2: (i-1, j+1) precedes (i, j)
TSLOPE = 1 + max(dj + SLOPE * di for dt, di, dj in OFFSETS_3D if dt < 0)   # 4: (t-1, i+1, j+1) precedes
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


def offsets_3d(offsets: tuple) -> tuple[tuple[int, int, int], ...]:
    """Offsets as ``(dt, di, dj)``; checked causal and within :data:`PAD` / :data:`TPAD`."""
    out = tuple(tuple(o) if len(o) == 3 else (0, *o) for o in offsets)
    for dt, di, dj in out:
        if not (-TPAD <= dt <= 0 and abs(di) <= PAD and abs(dj) <= PAD) or (dt == 0 and (di, dj) >= (0, 0)) \
                or (dt == 0 and dj + SLOPE * di >= 0) or (dt < 0 and dj + SLOPE * di + TSLOPE * dt >= 0):
            raise ValueError(f"offset {(dt, di, dj)} is not causal in the wavefront")
    return out


def _as_3d(grid, coarser):
    """``(h, w)`` grids as one frame ``(1, h, w)``; 3-D grids unchanged."""
    if grid.ndim == 2:
        return grid[None], (coarser[None] if coarser is not None else None)
    return grid, coarser


def _neighbours(g, offsets, t: int, h: int, w: int) -> list:
    """Slices of a padded grid ``g (TPAD + t, h + 2 PAD, w + 2 PAD)``, one per offset, each ``(t, h, w)``."""
    return [g[TPAD + dt: TPAD + dt + t, PAD + di: PAD + di + h, PAD + dj: PAD + dj + w] for dt, di, dj in offsets]


class Arm(nn.Module):
    """Float twin of the coded ARM. ``coarse``: also read the co-located coarser latent;
    ``offsets``: the causal neighbours read (:data:`OFFSETS` or :data:`OFFSETS_3D`)."""

    def __init__(self, hidden: int = 16, layers: int = 2, coarse: bool = True, offsets: tuple = OFFSETS):
        super().__init__()
        self.offsets = offsets_3d(offsets)
        self.inputs = len(self.offsets) + int(coarse)
        widths = [self.inputs] + [hidden] * layers + [2]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.coarse = coarse
        nn.init.zeros_(self.linears[-1].weight)
        nn.init.zeros_(self.linears[-1].bias)

    def context(self, grid: torch.Tensor, coarser: torch.Tensor | None, frames: torch.Tensor | None = None
                ) -> torch.Tensor:
        """``grid (h, w)`` or ``(t, h, w)``, ``coarser`` of half its size (rounded up) or None
        -> inputs ``(numel, inputs)``; with ``frames`` (an index of the grid's frames) only theirs."""
        grid, coarser = _as_3d(grid, coarser)
        t, h, w = grid.shape
        g = F.pad(grid[None, None], (PAD, PAD, PAD, PAD, TPAD, 0))[0, 0]
        if frames is None:
            cols = _neighbours(g, self.offsets, t, h, w)
        else:
            cols = [g[TPAD + dt + frames, PAD + di: PAD + di + h, PAD + dj: PAD + dj + w] for dt, di, dj in self.offsets]
        if self.coarse:
            up = upsample_nearest(coarser, grid.shape) if coarser is not None else torch.zeros_like(grid)
            cols.append(up if frames is None else up[frames])
        return torch.stack(cols, -1).reshape(-1, len(cols))

    def forward(self, grid: torch.Tensor, coarser: torch.Tensor | None, frames: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantised ``grid (h, w)`` or ``(t, h, w)`` -> ``(mu, log_scale)``, each flat ``(numel,)``
        (of the ``frames`` asked, if any)."""
        x = self.context(grid, coarser, frames)
        for i, lin in enumerate(self.linears):
            x = lin(x)
            if i < len(self.linears) - 1:
                x = F.relu(x)
        return x[:, 0], x[:, 1]

    def bits(self, grid: torch.Tensor, coarser: torch.Tensor | None, frames: torch.Tensor | None = None
             ) -> torch.Tensor:
        """Total bits of the quantised ``grid`` (noisy or rounded) under the model; with ``frames``,
        of those frames only."""
        mu, ls = self(grid, coarser, frames)
        mu = quarter_mean(mu)
        scale = torch.exp(ls.clamp(LS_MIN / (1 << FRAC), (LS_MIN + LEVELS * LS_STEP) / (1 << FRAC)))
        y = grid.reshape(-1) if frames is None else _as_3d(grid, None)[0][frames].reshape(-1)
        p = likelihood(y, scale, mu, "laplace", SCALE_BOUND)
        return -torch.log2(p).sum()


def upsample_nearest(coarser, shape: tuple[int, ...]):
    """A grid of half ``shape`` (each side rounded up) -> ``shape``, every latent repeated twice
    along each axis (torch or numpy)."""
    for axis in range(coarser.ndim):
        coarser = coarser.repeat(2, axis) if isinstance(coarser, np.ndarray) else coarser.repeat_interleave(2, axis)
    return coarser[tuple(slice(0, n) for n in shape)]


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
    table rows and the integer part of the quarter-rounded means (values are coded as y - base).

    Integer arithmetic, the same on every machine: each layer is the shared kernel
    :func:`~neuralcodec.kernels.context.int_linear` (exact float64 BLAS where no sum can reach
    2**53, int64 otherwise)."""
    a = np.minimum(np.maximum(x, -LATENT_LIMIT), LATENT_LIMIT) << FRAC
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        a = int_linear(a, layer.w, layer.b, layer.k, ACT_LIMIT, relu=i < last)
    q = (a[:, 0] + (1 << (FRAC - 3))) >> (FRAC - 2)          # mean in quarters, rounded
    rows = np.clip((a[:, 1] - LS_MIN) // LS_STEP, 0, LEVELS - 1) * MEAN_BINS + (q & (MEAN_BINS - 1))
    return rows, q >> 2


def context_int(grid: np.ndarray, coarser: np.ndarray | None, coarse: bool, offsets: tuple = OFFSETS) -> np.ndarray:
    """Integer twin of :meth:`Arm.context` for a whole known grid (the encoder's view)."""
    grid, coarser = _as_3d(grid, coarser)
    t, h, w = grid.shape
    g = np.pad(grid, ((TPAD, 0), (PAD, PAD), (PAD, PAD)))
    cols = _neighbours(g, offsets_3d(offsets), t, h, w)
    if coarse:
        cols.append(upsample_nearest(coarser, grid.shape) if coarser is not None else np.zeros_like(grid))
    return np.stack(cols, -1).reshape(t * h * w, -1)


@lru_cache(maxsize=16)
def wavefront(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(order, bounds)``: flat positions of a ``(h, w)`` or ``(t, h, w)`` grid sorted by step
    ``j + SLOPE*i + TSLOPE*t``, and int64 ``(steps + 1,)`` where each step's positions start and
    end in ``order``."""
    t, h, w = (1, *shape) if len(shape) == 2 else shape
    f, rest = np.divmod(np.arange(t * h * w), h * w)
    i, j = np.divmod(rest, w)
    s = j + SLOPE * i + TSLOPE * f
    order = np.argsort(s, kind="stable")
    bounds = np.searchsorted(s[order], np.arange(w + SLOPE * (h - 1) + TSLOPE * (t - 1) + 1))
    return order, bounds


def grid_groups(grid: np.ndarray, coarser: np.ndarray | None, layers: list[IntLayer], coarse: bool,
                offsets: tuple = OFFSETS) -> list[tuple[np.ndarray, np.ndarray]]:
    """The rANS groups ``[(values, rows)]`` of one integer grid, one per wavefront step."""
    rows, mean = arm_int(context_int(grid, coarser, coarse, offsets), layers)
    values = grid.reshape(-1) - mean
    order, bounds = wavefront(grid.shape)
    v, r = values[order], rows[order]
    return [(v[a:b], r[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def grid_bits(grid: np.ndarray, coarser: np.ndarray | None, layers: list[IntLayer], coarse: bool,
              offsets: tuple = OFFSETS) -> float:
    """Ideal bits of ``grid`` under the integer ARM (the coded rate, up to rANS overhead and escapes)."""
    rows, mean = arm_int(context_int(grid, coarser, coarse, offsets), layers)
    return symbol_bits(grid.reshape(-1) - mean, rows, latent_table())


def symbol_bits(values: np.ndarray, rows: np.ndarray, table: CdfTable) -> float:
    """Ideal bits of int64 ``values (n,)`` coded with ``rows (n,)`` of ``table``, escapes included."""
    _, escaped = to_symbols(table, values, rows)
    return float(table.symbol_bits(values, rows).sum()) + 8.0 * len(encode_varints(values[escaped]))


def decode_grid(dec: rans.GroupDecoder, shape: tuple[int, ...], coarser: np.ndarray | None,
                layers: list[IntLayer], coarse: bool, offsets: tuple = OFFSETS) -> np.ndarray:
    """Decode one grid of ``shape`` (``(h, w)`` or ``(t, h, w)``) from ``dec``, wavefront by
    wavefront -> int64 ``shape``."""
    t, h, w = (1, *shape) if len(shape) == 2 else shape
    hp, wp = h + 2 * PAD, w + 2 * PAD
    g = np.zeros((t + TPAD) * hp * wp, np.int64)
    pos = ((np.arange(t)[:, None, None] + TPAD) * hp + np.arange(h)[None, :, None] + PAD) * wp \
        + np.arange(w)[None, None, :] + PAD                                       # (t, h, w) in g
    offs = np.array([(dt * hp + di) * wp + dj for dt, di, dj in offsets_3d(offsets)], np.int64)
    extra = np.zeros((t, h, w), np.int64) if coarser is None else \
        upsample_nearest(coarser if coarser.ndim == 3 else coarser[None], (t, h, w))
    extra = extra.reshape(-1)
    order, bounds = wavefront(tuple(shape))
    flat = pos.reshape(-1)
    for a, b in zip(bounds[:-1], bounds[1:]):
        at = order[a:b]
        p = flat[at]
        x = g[p[:, None] + offs[None, :]]
        if coarse:
            x = np.concatenate([x, extra[at, None]], 1)
        rows, mean = arm_int(x, layers)
        g[p] = dec.next(rows) + mean
    return g[flat].reshape(shape)
