"""A global context in exact integer arithmetic: linear attention over every latent position.

MLIC++ (Jiang et al. 2023) adds to the local (checkerboard) and channel contexts a *global*
one: each position attends over the whole latent of the slices already decoded, and for the
first slice over the hyperprior ("hyperprior-guided global correlation"). Softmax attention
has no exact integer form, so this module uses linear attention with ReLU features
(Katharopoulos et al. 2020), whose every step is a sum of products or one division:

    q, k, v = proj(ctx)                    ctx (B, C, h, w) -> 3 x (B, D, h, w); q, k >= 0
    KV  = mean_p k(p) v(p)^T               (B, D, D)   summary of all P = h*w positions
    ks  = mean_p k(p)                      (B, D)
    out(p) = q(p)^T KV / (q(p)^T ks + eps) (B, D, h, w) a convex mixture of the values

In the coding path (:meth:`GlobalContext.exact`) q, k, v are int64 on the 2**-ACT_BITS grid,
bounded by ``VALUE_LIMIT``; sums of products are computed in float64 on integers whose partial
sums stay below 2**53 (exact in any order and on any device), means and the final division are
integer divisions rounded half up. The training path (``forward``) is the same computation in
float with straight-through rounding at the same places.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .exact import ACT_BITS, ExactStack, fake_quant

VALUE_LIMIT = (1 << 12) - 1     # |q|, |k|, |v| < 16 in real units (2**12 on the grid)
EPS = 1 << 10                   # eps of the denominator on the 2**-2*ACT_BITS grid (2**-6 real)
MAX_POSITIONS = 1 << 28         # keeps every float64 partial sum below 2**53


def round_div(a: torch.Tensor, b: torch.Tensor | int) -> torch.Tensor:
    """``round_half_up(a / b)`` for int64 ``a`` and positive int64 ``b``, exact on any device."""
    return torch.div(2 * a + b, 2 * b, rounding_mode="floor")


def _exact_sum_of_products(equation: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """einsum of two int64 tensors through float64 (exact while partial sums stay below 2**53)."""
    return torch.round(torch.einsum(equation, a.double(), b.double())).long()


class GlobalContext(nn.Module):
    """``(B, cin, h, w)`` context -> ``(B, dim, h, w)`` global features (see module docstring)."""

    def __init__(self, cin: int, dim: int = 16):
        super().__init__()
        self.dim = dim
        self.proj = ExactStack([(cin, 3 * dim, 1, 1, False)])

    def forward(self, ctx: torch.Tensor) -> torch.Tensor:
        """Training twin (float, fake-quantized)."""
        lim = VALUE_LIMIT / (1 << ACT_BITS)
        q, k, v = self.proj(ctx).chunk(3, 1)
        q, k, v = F.relu(q).clamp(max=lim), F.relu(k).clamp(max=lim), v.clamp(-lim, lim)
        big = 1 << 40
        kv = fake_quant(torch.einsum("bip,bjp->bij", k.flatten(2), v.flatten(2)) / k[0, 0].numel(), ACT_BITS, big)
        ks = fake_quant(k.flatten(2).mean(-1), ACT_BITS, big)
        num = torch.einsum("bip,bij->bjp", q.flatten(2), kv)
        den = torch.einsum("bip,bi->bp", q.flatten(2), ks)[:, None] + EPS / (1 << 2 * ACT_BITS)
        return fake_quant(num / den, ACT_BITS, VALUE_LIMIT).view_as(v)

    @torch.no_grad()
    def exact(self, ctx_int: torch.Tensor) -> torch.Tensor:
        """int64 ``(B, cin, h, w)`` on the 2**-ACT_BITS grid -> int64 ``(B, dim, h, w)``, bit-exact."""
        b, _, h, w = ctx_int.shape
        positions = h * w
        if positions > MAX_POSITIONS:
            raise ValueError(f"global context over {positions} positions exceeds {MAX_POSITIONS}")
        q, k, v = self.proj.exact(ctx_int).chunk(3, 1)
        q, k = q.clamp(0, VALUE_LIMIT).flatten(2), k.clamp(0, VALUE_LIMIT).flatten(2)
        v = v.clamp(-VALUE_LIMIT, VALUE_LIMIT).flatten(2)
        kv = round_div(_exact_sum_of_products("bip,bjp->bij", k, v), positions << ACT_BITS)  # 2**-8 grid
        ks = round_div(k.sum(-1), positions)                                                  # 2**-8 grid
        num = _exact_sum_of_products("bip,bij->bjp", q, kv)                                   # 2**-16 grid
        den = _exact_sum_of_products("bip,bi->bp", q, ks)[:, None] + EPS                      # 2**-16 grid
        out = round_div(num << ACT_BITS, den)
        return out.clamp(-VALUE_LIMIT, VALUE_LIMIT).view(b, self.dim, h, w)
