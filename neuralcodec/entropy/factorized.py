"""Non-parametric per-channel densities: the factorized prior of Ballé et al. 2018 (appendix 6.1).

Each channel ``c`` has a learned monotone CDF ``F_c = sigmoid(f_c)``, where ``f_c`` is a small
chain of 1-D "dense" layers with softplus-positive matrices and tanh-gated residuals::

    x --[H1 b1 a1]--> 3 --[H2 b2 a2]--> 3 --[H3 b3 a3]--> 3 --[H4 b4]--> logit

Training: ``likelihood(y)`` = ``F(y + 1/2) - F(y - 1/2)`` (computed on the side of the median
where it is accurate). Coding: :meth:`FactorizedDensity.to_table` evaluates the same function at
integers around each channel's learned median and quantizes it to a :class:`CdfTable`; the
quantiles that bound the support are learned with :meth:`aux_loss`. Ship the integer table
beside the weights, so decoding never depends on re-evaluating floats on another machine.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .families import LIKELIHOOD_BOUND
from .tables import MAX_PRECISION, CdfTable, from_pmfs


class FactorizedDensity(nn.Module):
    """Learned density per channel over inputs ``(B, C, *)``.

    Args:
        channels: ``C``. filters: hidden widths. init_scale: initial support ``±init_scale``.
        tail_mass: probability left outside the learned quantiles (coded through the escape).
    """

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0,
                 tail_mass: float = 1e-9):
        super().__init__()
        self.channels, self.tail_mass = int(channels), float(tail_mass)
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices, self.biases, self.factors = nn.ParameterList(), nn.ParameterList(), nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))
        target = math.log(2 / tail_mass - 1)
        self.register_buffer("target", torch.tensor([-target, 0.0, target]), persistent=False)

    def logits_cumulative(self, x: torch.Tensor) -> torch.Tensor:
        """``f_c(x)`` for ``x (C, 1, N)`` -> ``(C, 1, N)``."""
        for i, m in enumerate(self.matrices):
            x = torch.matmul(F.softplus(m), x) + self.biases[i]
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
        return x

    def _per_channel(self, y: torch.Tensor) -> torch.Tensor:
        return y.transpose(0, 1).reshape(self.channels, 1, -1)

    def likelihood(self, y: torch.Tensor) -> torch.Tensor:
        """Probability of the unit bin around each value of ``y (B, C, *)``, same shape."""
        v = self._per_channel(y)
        lower, upper = self.logits_cumulative(v - 0.5), self.logits_cumulative(v + 0.5)
        sign = -torch.sign(lower + upper).detach()
        p = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        p = p + (p.clamp(min=LIKELIHOOD_BOUND) - p).detach()
        shape = (y.shape[1], y.shape[0], *y.shape[2:])
        return p.reshape(shape).transpose(0, 1)

    @property
    def medians(self) -> torch.Tensor:
        """``(C,)`` the learned medians: symbols are ``round(y - median)``."""
        return self.quantiles[:, 0, 1].detach()

    def aux_loss(self) -> torch.Tensor:
        """Pulls the quantiles to ``F = tail/2, 1/2, 1 - tail/2`` (train with its own optimiser)."""
        return (self.logits_cumulative(self.quantiles) - self.target).abs().sum()

    @torch.no_grad()
    def to_table(self, precision: int = MAX_PRECISION, max_length: int = 4096) -> CdfTable:
        """Integer table, one row per channel, over ``round(y - median)``; evaluated in float64."""
        q = self.quantiles.detach().double()
        med = q[:, 0, 1]
        lo = torch.ceil(med - q[:, 0, 0]).clamp(min=0, max=max_length // 2).long()
        hi = torch.ceil(q[:, 0, 2] - med).clamp(min=0, max=max_length // 2).long()
        width = int((lo + hi).max()) + 1
        k = torch.arange(width, dtype=torch.float64)[None, None, :] - lo[:, None, None] + med[:, None, None]
        module = self.double()
        try:
            lower, upper = module.logits_cumulative(k - 0.5), module.logits_cumulative(k + 0.5)
            sign = -torch.sign(lower + upper)
            pmf = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()[:, 0, :]
            tail = torch.sigmoid(lower[:, 0, 0]) + torch.sigmoid(-upper[:, 0, -1])
        finally:
            self.float()
        lengths = (lo + hi + 1).tolist()
        pmfs = [pmf[c, :n].numpy() for c, n in enumerate(lengths)]
        return from_pmfs(pmfs, (-lo).numpy().astype(np.int64), tail.numpy(), precision)
