"""Quantise and code a fitted network's parameters (shared by the overfitted codecs).

A tensor ``w`` is sent as the integers ``W = round(w * 2**k)``; tensors are quantised in groups
(e.g. the ARM's weights, the ARM's biases) that share a step ``2**-k``, searched for the lowest
total cost. Each tensor's integers are coded with the zero-mean Laplace row nearest their spread:

    stream = varint k per group | u8 row per tensor | rANS blob of every tensor's integers
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
import torch

from ..entropy import rans
from ..entropy.escape import decode_varints, encode_varints
from ..entropy.families import default_scale_table, scale_table_cdfs
from ..entropy.tables import CdfTable
from ..errors import FormatError
from .arm import symbol_bits

STEPS = tuple(range(3, 15))     # candidate k: steps 1/8 .. 1/16384
K_LIMIT = 24


@lru_cache(maxsize=1)
def weight_table() -> tuple[CdfTable, np.ndarray]:
    scales = default_scale_table()
    return scale_table_cdfs("laplace", scales), scales


def quantize(t: torch.Tensor, k: int) -> np.ndarray:
    """int64 ``W = round(t * 2**k)`` (flattened)."""
    return torch.round(t.detach().double().cpu() * (1 << k)).long().reshape(-1).numpy()


def dequantize(ints: np.ndarray, k: int, shape) -> torch.Tensor:
    return torch.from_numpy(ints.astype(np.float64) / (1 << k)).float().reshape(shape)


def row_for(ints: np.ndarray) -> int:
    """The table row whose Laplace scale is nearest the integers' spread (mean |W| * sqrt 2)."""
    _, scales = weight_table()
    spread = max(float(np.abs(ints).mean()) if ints.size else 0.0, 1e-3) * np.sqrt(2)
    return int(np.searchsorted(scales[:-1], spread))


def tensor_bits(ints: np.ndarray) -> float:
    """Bits of one tensor's integers under its row (as :func:`encode` codes them)."""
    table, _ = weight_table()
    return symbol_bits(ints, np.full(ints.shape, row_for(ints), np.int64), table)


def encode(groups: list[list[np.ndarray]], ks: list[int]) -> bytes:
    """Integers of each tensor, tensors grouped as their steps ``ks`` are -> one stream."""
    table, _ = weight_table()
    tensors = [t for g in groups for t in g]
    rows = [row_for(t) for t in tensors]
    values = np.concatenate([t for t in tensors]) if tensors else np.zeros(0, np.int64)
    indexes = np.concatenate([np.full(t.shape, r, np.int64) for t, r in zip(tensors, rows)]) \
        if tensors else np.zeros(0, np.int64)
    return encode_varints(np.array(ks, np.int64)) + bytes(rows) + rans.encode(values, indexes, table)


def decode(blob: bytes, sizes: list[list[int]]) -> tuple[list[list[np.ndarray]], list[int]]:
    """Inverse of :func:`encode` for groups of tensors of ``sizes`` (element counts)."""
    table, _ = weight_table()
    ks, at = decode_varints(blob, len(sizes))
    if np.any(ks < 0) or np.any(ks > K_LIMIT):
        raise FormatError("weights stream has an invalid quantisation step")
    flat = [n for g in sizes for n in g]
    rows = np.frombuffer(blob, np.uint8, len(flat), at).astype(np.int64)
    if rows.size and rows.max() >= table.rows:
        raise FormatError("weights stream names a table row that does not exist")
    body = blob[at + len(flat):]
    indexes = np.repeat(rows, flat)
    rans.check_room(body, len(indexes), table, "weights")
    values = rans.decode(body, indexes, table)
    out, start = [], 0
    for g in sizes:
        group = []
        for n in g:
            group.append(values[start:start + n])
            start += n
        out.append(group)
    return out, [int(k) for k in ks]


def search_steps(n_groups: int, cost: Callable[[list[int]], float], start: int = 8) -> list[int]:
    """Per group in turn, with the others at their current choice: from ``start``, step ``k`` in
    :data:`STEPS` downhill on ``cost(ks)`` (the codec's rate + lambda * distortion) until neither
    neighbour is lower. The cost is near unimodal in ``k`` (coarser steps: fewer weight bits, more
    distortion), so this finds the grid's minimum in a handful of evaluations instead of all."""
    ks = [start] * n_groups
    memo: dict[tuple[int, ...], float] = {}

    def at(g: int, k: int) -> float:
        key = tuple(ks[:g] + [k] + ks[g + 1:])
        if key not in memo:
            memo[key] = cost(list(key))
        return memo[key]
    for g in range(n_groups):
        k = ks[g]
        while True:
            better = [n for n in (k - 1, k + 1) if n in STEPS and at(g, n) < at(g, k)]
            if not better:
                break
            k = min(better, key=lambda n: at(g, n))
        ks[g] = k
    return ks
