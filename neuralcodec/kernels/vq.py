"""Nearest-codeword search for vector quantisers with large codebooks.

    nearest(x (n, d), codebook (K, d), metric) -> (n,) int64
        "l2":  argmin_j ||c_j||^2 - 2 <x, c_j>     (the Euclidean nearest; ||x||^2 is common)
        "dot": argmax_j <x, c_j>                   (cosine similarity for normalised codes)

Ties go to the lowest index. Inputs are float32, so each product of two of them is exact in
float64. :func:`nearest_reference` and the Triton kernel sum every score over ``d`` in
ascending order in float64, so each score is one well-defined number and both pick the same
code (the kernel never holds more than a block of the ``(n, K)`` scores). On the torch backend
:func:`nearest` takes the scores from a float64 GEMM instead (BLAS sums in its own order), which
picks the same code except where two scores agree to float64 rounding (about 1e-16 relative):
an encoder's choice, never a decoder's, so streams stay decodable everywhere.
"""
from __future__ import annotations

from typing import Literal

import torch

from .dispatch import use_triton

Metric = Literal["l2", "dot"]
ROW_CHUNK = 1 << 12


def _scores(x: torch.Tensor, c: torch.Tensor, metric: Metric) -> torch.Tensor:
    """float64 ``(n, K)`` scores to minimise, summed over ``d`` in order."""
    acc = x.new_zeros(x.shape[0], c.shape[0])
    for k in range(x.shape[1]):
        acc += x[:, k:k + 1] * c[:, k][None]
    if metric == "dot":
        return -acc
    norm = c.new_zeros(c.shape[0])
    for k in range(c.shape[1]):
        norm += c[:, k] * c[:, k]
    return norm[None] - 2 * acc


def _gemm_scores(x: torch.Tensor, c: torch.Tensor, metric: Metric) -> torch.Tensor:
    """The same scores from one float64 GEMM (exact products, BLAS's summation order)."""
    acc = x @ c.T
    return -acc if metric == "dot" else (c * c).sum(1)[None] - 2 * acc


def _argmin_rows(x: torch.Tensor, codebook: torch.Tensor, metric: Metric, scores) -> torch.Tensor:
    xd, cd = x.float().double(), codebook.float().double().to(x.device)
    out = [scores(xd[i:i + ROW_CHUNK], cd, metric).argmin(1) for i in range(0, len(xd), ROW_CHUNK)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.int64, device=x.device)


@torch.no_grad()
def nearest_reference(x: torch.Tensor, codebook: torch.Tensor, metric: Metric = "l2") -> torch.Tensor:
    """The kernel's arithmetic in torch: scores summed over ``d`` in order (slow; for tests)."""
    return _argmin_rows(x, codebook, metric, _scores)


@torch.no_grad()
def nearest(x: torch.Tensor, codebook: torch.Tensor, metric: Metric = "l2") -> torch.Tensor:
    """Index of the best code for each row of ``x (n, d)`` among ``codebook (K, d)`` -> int64 ``(n,)``."""
    if metric not in ("l2", "dot"):
        raise ValueError(f"unknown metric {metric!r}; choose 'l2' or 'dot'")
    if x.dim() != 2 or codebook.dim() != 2 or x.shape[1] != codebook.shape[1] or codebook.shape[0] == 0:
        raise ValueError(f"x (n, d) and a non-empty codebook (K, d) expected, got {tuple(x.shape)} and "
                         f"{tuple(codebook.shape)}")
    if use_triton(x):
        from .triton.vq import nearest as triton_nearest
        return triton_nearest(x.float(), codebook.float().to(x.device), metric)
    return _argmin_rows(x, codebook, metric, _gemm_scores)
