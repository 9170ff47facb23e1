"""Exact coding of escaped values: zigzag + LEB128 varints, vectorised with numpy.

Values outside a table row's support are coded as that row's escape symbol by the entropy coder;
their exact values follow as varints (7 bits a byte, high bit = "more"). Any int64 fits.
"""
from __future__ import annotations

import numpy as np

from ..errors import FormatError

_MAX_BYTES = 10  # ceil(64 / 7)


def zigzag(v: np.ndarray) -> np.ndarray:
    """int64 -> uint64: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ..."""
    v = np.asarray(v, dtype=np.int64)
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


def unzigzag(u: np.ndarray) -> np.ndarray:
    u = np.asarray(u, dtype=np.uint64)
    return ((u >> np.uint64(1)).astype(np.int64)) ^ -((u & np.uint64(1)).astype(np.int64))


def encode_varints(values: np.ndarray) -> bytes:
    """Signed int64 ``(N,)`` -> bytes."""
    u = zigzag(np.asarray(values).reshape(-1))
    if u.size == 0:
        return b""
    shifts = (np.arange(_MAX_BYTES, dtype=np.uint64) * np.uint64(7))
    groups = (u[:, None] >> shifts[None, :]) & np.uint64(0x7F)          # (N, 10)
    limits = np.uint64(1) << (np.arange(1, _MAX_BYTES, dtype=np.uint64) * np.uint64(7))
    nbytes = 1 + (u[:, None] >= limits[None, :]).sum(1)                  # exact, (N,)
    cols = np.arange(_MAX_BYTES)[None, :]
    keep = cols < nbytes[:, None]
    more = cols < (nbytes[:, None] - 1)
    out = (groups | (more.astype(np.uint64) << np.uint64(7))).astype(np.uint8)
    return out[keep].tobytes()


def decode_varints(data: bytes | memoryview, count: int) -> tuple[np.ndarray, int]:
    """Read ``count`` varints from the start of ``data``; returns (int64 values, bytes used)."""
    if count == 0:
        return np.zeros(0, dtype=np.int64), 0
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf < 0x80)
    if len(ends) < count:
        raise FormatError("escape section is truncated")
    ends = ends[:count]
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _MAX_BYTES:
        raise FormatError("escape value longer than 64 bits")
    used = int(ends[-1]) + 1
    body = buf[:used].astype(np.uint64) & np.uint64(0x7F)
    which = np.repeat(np.arange(count), lengths)
    pos = np.arange(used) - np.repeat(starts, lengths)
    if np.any(lengths == _MAX_BYTES) and np.any(buf[ends[lengths == _MAX_BYTES]] > 1):
        raise FormatError("escape value longer than 64 bits")
    u = np.zeros(count, dtype=np.uint64)
    np.bitwise_or.at(u, which, body << (pos.astype(np.uint64) * np.uint64(7)))
    return unzigzag(u), used
