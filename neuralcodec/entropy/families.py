"""Quantized continuous families over a fixed scale table: integer tables and their training twins.

Coding ``y`` with mean ``mu`` and scale ``s`` (Ballé et al. 2018; Minnen et al. 2018):

    symbol = round(y - mu)                 value coded by the table
    index  = scale_indexes(s, scale_table)  which row (smallest table scale >= s)
    p(k)   = F((k + 1/2) / s') - F((k - 1/2) / s')   with s' = scale_table[index]

The training twin :func:`likelihood` uses the same ``F`` on the continuous ``y - mu`` under
additive uniform noise (or straight-through rounding), so a codec trains against what it codes.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from ..kernels.quantize import center_round, ste_round, table_index
from .tables import MAX_PRECISION, CdfTable, from_pmfs

Family = Literal["gaussian", "laplace", "logistic"]
FAMILIES = ("gaussian", "laplace", "logistic")
SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 64
TAIL_MASS = 1e-9
LIKELIHOOD_BOUND = 1e-9
MIN_UNITS = 0.125  # see scale_table_cdfs


def default_scale_table(lo: float = SCALE_MIN, hi: float = SCALE_MAX, levels: int = SCALE_LEVELS) -> np.ndarray:
    """float64 ``(levels,)`` scales spaced log-uniformly from ``lo`` to ``hi`` (CompressAI's)."""
    return np.exp(np.linspace(math.log(lo), math.log(hi), levels))


def _cdf_np(family: str, x: np.ndarray) -> np.ndarray:
    """Unit-scale CDF in float64."""
    if family == "gaussian":
        from scipy.special import ndtr  # cephes: a portable float64 implementation
        return ndtr(x)
    if family == "laplace":
        return np.where(x < 0, 0.5 * np.exp(np.minimum(x, 0)), 1 - 0.5 * np.exp(-np.maximum(x, 0)))
    if family == "logistic":
        return 1 / (1 + np.exp(-x))
    raise ValueError(f"unknown family {family!r}; choose one of {FAMILIES}")


def _tail_bound(family: str, tail_mass: float) -> float:
    """z with F(-z) = tail_mass / 2 for the unit-scale family."""
    q = tail_mass / 2
    if family == "gaussian":
        from scipy.special import ndtri
        return float(-ndtri(q))
    if family == "laplace":
        return float(-math.log(2 * q))
    if family == "logistic":
        return float(math.log((1 - q) / q))
    raise ValueError(f"unknown family {family!r}; choose one of {FAMILIES}")


def scale_table_cdfs(family: Family = "gaussian", scales: np.ndarray | None = None,
                     tail_mass: float = TAIL_MASS, precision: int = MAX_PRECISION) -> CdfTable:
    """One row per scale: zero-mean ``family`` quantized to integers ``-c..c``, ``c = ceil(z*s)``.

    The mass beyond ``±(c + 1/2)`` goes to the escape symbol. float64 throughout, then
    :func:`quantize_pmf`; the table's fingerprint is pinned by a golden test.
    """
    scales = default_scale_table() if scales is None else np.asarray(scales, dtype=np.float64)
    if scales.ndim != 1 or len(scales) == 0 or np.any(scales <= 0):
        raise ValueError("scales must be a non-empty 1-D array of positive values")
    z = _tail_bound(family, tail_mass)
    pmfs, offsets, tails = [], [], []
    for s in scales:
        c = max(1, int(math.ceil(z * s)))
        k = np.arange(0, c + 1, dtype=np.float64)
        right = _cdf_np(family, (k + 0.5) / s) - _cdf_np(family, (k - 0.5) / s)   # p(0..c)
        # end the support where a symbol's mass falls below MIN_UNITS of a frequency unit:
        # every symbol costs at least one unit, so rarer ones are cheaper through the escape
        c = max(1, int(np.count_nonzero(right * (1 << precision) >= MIN_UNITS)) - 1)
        pmfs.append(np.concatenate([right[c:0:-1], right[: c + 1]]))
        offsets.append(-c)
        tails.append(max(0.0, 2 * float(_cdf_np(family, np.array([(-c - 0.5) / s]))[0])))
    return from_pmfs(pmfs, np.array(offsets), np.array(tails), precision)


def scale_indexes(scale: torch.Tensor, scales: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Row of the smallest table scale ``>= scale`` (the last row for larger scales).

    Args:
        scale: any shape, float. Returns int64 of the same shape.
    """
    table = torch.as_tensor(np.asarray(scales), dtype=scale.dtype, device=scale.device)
    return table_index(scale, table[:-1])


def _cdf_torch(family: str, x: torch.Tensor) -> torch.Tensor:
    if family == "gaussian":
        return 0.5 * torch.erfc(-x * (2 ** -0.5))
    if family == "laplace":
        return torch.where(x < 0, 0.5 * torch.exp(x.clamp(max=0)), 1 - 0.5 * torch.exp(-x.clamp(min=0)))
    if family == "logistic":
        return torch.sigmoid(x)
    raise ValueError(f"unknown family {family!r}; choose one of {FAMILIES}")


def likelihood(y: torch.Tensor, scale: torch.Tensor, mean: torch.Tensor | None = None,
               family: Family = "gaussian", scale_bound: float = SCALE_MIN) -> torch.Tensor:
    """Probability of the unit bin around ``y`` under ``family(mean, scale)``, same shape as ``y``.

    Uses the symmetric form ``F((1/2 - |v|)/s) - F((-1/2 - |v|)/s)`` for accuracy in the tails,
    and lower-bounds the result by ``LIKELIHOOD_BOUND`` (with a straight-through gradient).
    """
    v = (y - mean) if mean is not None else y
    s = scale.clamp(min=scale_bound)
    a = v.abs()
    p = _cdf_torch(family, (0.5 - a) / s) - _cdf_torch(family, (-0.5 - a) / s)
    return p + (p.clamp(min=LIKELIHOOD_BOUND) - p).detach()


def quantize(y: torch.Tensor, mode: Literal["noise", "ste", "symbols"], mean: torch.Tensor | None = None) -> torch.Tensor:
    """Training/inference quantization around ``mean``.

    ``noise``: ``y + U(-1/2, 1/2)``; ``ste``: ``round(y - mean) + mean`` with identity gradient;
    ``symbols``: the int64 symbols ``round(y - mean)`` that the coder receives.
    """
    if mode == "noise":
        return y + torch.empty_like(y).uniform_(-0.5, 0.5)
    v = (y - mean) if mean is not None else y
    if mode == "symbols":
        return center_round(v)
    if mode == "ste":
        r = ste_round(v)
        return (r + mean) if mean is not None else r
    raise ValueError(f"unknown quantization mode {mode!r}")
