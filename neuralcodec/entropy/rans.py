"""Interleaved rANS, vectorised across lanes; numpy on the CPU, the same arithmetic in torch.

Symbol ``i`` of ``N`` goes to lane ``i % L`` at step ``i // L``. Each lane is a classic rANS
(Duda 2013; Giesen's ryg_rans) with a state ``x`` in ``[2**31, 2**63)``, 32-bit words and a
table precision ``p <= 16``: one symbol emits or reads at most one word, every intermediate fits
a signed int64 (so torch runs it on any device), and ``L / 2**p >= 2**15`` keeps the coding
loss negligible. One Python iteration moves *all* lanes one step (no per-symbol loop); the C
lanes in ``_ransc.c`` run the same arithmetic in a compiled loop.

Stream order (what makes the vectorised decoder possible): the encoder walks the steps
backwards and records, per step, the word each lane would emit and whether it did, in ``(T, L)``
arrays. ``words[emit]`` in row-major order is exactly the order in which the forward decoder
reads them: step 0 first, lanes ascending within a step. So the decoder reads the ``k`` words of
a step as one slice::

    blob = varint L | varint escape_bytes | L x u64 final states | u32 words ... | escapes

Everything is little-endian integers; the decoder checks that it consumes every word and that
every lane ends in the initial state, so a corrupt blob raises instead of decoding garbage.
"""
from __future__ import annotations

import sys

import numpy as np
import torch

from ..errors import FormatError
from .escape import decode_varints, encode_varints
from .tables import CdfTable, to_symbols

try:  # the C lanes (setup.py); numpy is the fallback and the reference
    from . import _ransc
except ImportError:  # pragma: no cover - only where the extension could not be built
    _ransc = None

BACKENDS = ("auto", "c", "numpy", "torch")

RANS_L = 1 << 31          # lower bound of a lane's state; the decoder must end here
WORD = 32                 # bits per emitted word
WORD_MASK = (1 << WORD) - 1
MAX_LANES = 1 << 16
Array = np.ndarray | torch.Tensor


def _where(m: Array, a: Array, b: Array) -> Array:
    return torch.where(m, a, b) if isinstance(m, torch.Tensor) else np.where(m, a, b)


def _count(m: Array) -> int:
    return int(m.sum()) if isinstance(m, torch.Tensor) else int(np.count_nonzero(m))


def encode_lanes(start: Array, freq: Array, precision: int) -> tuple[Array, Array, Array]:
    """Core encoder, backend-agnostic (numpy or torch, any device).

    Args:
        start, freq: int64 ``(T, L)`` cumulative start and frequency of each symbol; padding
            entries use ``start=0, freq=2**precision`` (a no-op).
    Returns:
        ``(words, emit, state)``: int64 ``(T, L)`` candidate words, bool ``(T, L)`` which were
        emitted, int64 ``(L,)`` final states.
    """
    steps, lanes = start.shape
    like = freq
    x = (torch.full((lanes,), RANS_L, dtype=torch.int64, device=like.device)
         if isinstance(like, torch.Tensor) else np.full(lanes, RANS_L, dtype=np.int64))
    words = (torch.empty_like(freq) if isinstance(like, torch.Tensor) else np.empty_like(freq))
    emit = (torch.empty(freq.shape, dtype=torch.bool, device=like.device)
            if isinstance(like, torch.Tensor) else np.empty(freq.shape, dtype=bool))
    # emit when x >= freq * 2**(63-p); compared at half scale so freq = 2**p (padding) cannot
    # overflow int64: x >= 2K  <=>  x >> 1 >= K
    half_max = freq << (62 - precision)
    for t in range(steps - 1, -1, -1):
        m = (x >> 1) >= half_max[t]
        words[t] = x & WORD_MASK
        emit[t] = m
        x = _where(m, x >> WORD, x)
        f = freq[t]
        q = x // f
        x = (q << precision) + (x - q * f) + start[t]
    return words, emit, x


def decode_lanes(state: Array, words: Array, lut: Array, cdf_flat: Array, lut_base: Array,
                 row_base: Array, precision: int) -> Array:
    """Core decoder, backend-agnostic. Returns int64 ``(T, L)`` symbols.

    Args:
        state: int64 ``(L,)`` the encoder's final states.
        words: int64 ``(W,)`` all words in read order.
        lut: int64 flat table: ``lut[row * 2**p + slot]`` = flat position in ``cdf_flat`` of the
            symbol whose interval holds ``slot``.
        cdf_flat: int64 ``(R * width,)`` the table's cdf rows, flattened.
        lut_base, row_base: int64 ``(T, L)`` ``row * 2**p`` and ``row * width`` per symbol.
    """
    steps = row_base.shape[0]
    x = state.clone() if isinstance(state, torch.Tensor) else state.copy()
    out = (torch.empty_like(row_base) if isinstance(state, torch.Tensor) else np.empty_like(row_base))
    mask, ptr, total = (1 << precision) - 1, 0, int(words.shape[0])
    for t in range(steps):
        slot = x & mask
        pos = lut[lut_base[t] + slot]
        start = cdf_flat[pos]
        out[t] = pos - row_base[t]
        x = (cdf_flat[pos + 1] - start) * (x >> precision) + slot - start
        m = x < RANS_L
        k = _count(m)
        if ptr + k > total:
            raise FormatError("rANS stream is truncated or corrupt (ran out of words)")
        x[m] = (x[m] << WORD) | words[ptr:ptr + k]
        ptr += k
    if ptr != total:
        raise FormatError("rANS stream is corrupt (words left over)")
    if _count(x != RANS_L):
        raise FormatError("rANS stream is corrupt (lanes did not end in the initial state)")
    return out


def default_lanes(n: int) -> int:
    """Lanes for ``n`` symbols: one per 32768 symbols, 1 to 32. Each lane costs about 33 bits
    (its 64-bit final state less the information it carries), so the flush stays under 0.1% of
    a stream of 1-bit symbols (0.03% at the 4.6 bits/symbol of ``bench entropy``); more lanes
    pay off only on a GPU, where the caller picks them."""
    return int(min(32, max(1, n // 32768)))


def _varint(n: int) -> bytes:
    return encode_varints(np.array([n], dtype=np.int64))


def _layout(n: int, lanes: int) -> tuple[int, int]:
    steps = -(-n // lanes) if n else 0
    return steps, steps * lanes - n


def _pad(a: np.ndarray, pad: int, value: int, steps: int, lanes: int) -> np.ndarray:
    return np.concatenate([a, np.full(pad, value, dtype=np.int64)]).reshape(steps, lanes)


def _backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown rANS backend {backend!r}; choose one of {BACKENDS}")
    if backend == "auto":
        return "c" if _ransc is not None and sys.byteorder == "little" else "numpy"
    if backend == "c" and _ransc is None:
        raise RuntimeError("the C rANS extension is not built; reinstall with a C compiler")
    return backend


def encode(values: np.ndarray, indexes: np.ndarray, table: CdfTable, lanes: int | None = None,
           backend: str = "auto", device: str | torch.device = "cpu") -> bytes:
    """Code int values ``(N,)`` with table rows ``indexes (N,)`` into one blob.

    ``backend``: ``"c"`` (CPU fast path), ``"numpy"`` (reference), ``"torch"`` (on ``device``,
    e.g. CUDA) or ``"auto"``. Every backend writes the same bytes for the same lane count.
    """
    values = np.ascontiguousarray(values, dtype=np.int64).reshape(-1)
    indexes = np.ascontiguousarray(indexes, dtype=np.int64).reshape(-1)
    sym, escaped = to_symbols(table, values, indexes)
    n = len(sym)
    lanes = default_lanes(n) if lanes is None else int(lanes)
    if not 1 <= lanes <= MAX_LANES:
        raise ValueError(f"lanes must be in 1..{MAX_LANES}")
    p, backend = table.precision, _backend(backend)
    if backend == "c":
        state_b, words_b = _ransc.encode(sym, indexes, np.ascontiguousarray(table.cdf).reshape(-1),
                                         table.cdf.shape[1], p, lanes)
    else:
        steps, pad = _layout(n, lanes)
        start = table.cdf[indexes, sym]
        freq = table.cdf[indexes, sym + 1] - start
        start, freq = _pad(start, pad, 0, steps, lanes), _pad(freq, pad, 1 << p, steps, lanes)
        if backend == "torch":
            tw, te, tx = encode_lanes(torch.from_numpy(start).to(device), torch.from_numpy(freq).to(device), p)
            words, state = tw[te].cpu().numpy(), tx.cpu().numpy()
        else:
            w, e, state = encode_lanes(start, freq, p)
            words = w[e]
        state_b, words_b = state.astype("<u8").tobytes(), words.astype("<u4").tobytes()
    esc = encode_varints(values[escaped])
    return _varint(lanes) + _varint(len(esc)) + state_b + words_b + esc


def _read_varint(buf: bytes, at: int) -> tuple[int, int]:
    vals, used = decode_varints(memoryview(buf)[at:at + 10], 1)
    v = int(vals[0])
    if v < 0:
        raise FormatError("negative length in rANS stream header")
    return v, at + used


class _DecodeTables:
    """Per-table decoding arrays (slot -> symbol lookup), built once and cached on the table."""

    def __init__(self, table: CdfTable):
        p, rows, width = table.precision, table.rows, table.cdf.shape[1]
        # an extra identity row (one symbol of frequency 2**p) decodes the padding entries
        cdf = np.concatenate([table.cdf, np.full((1, width), 1 << p, dtype=np.int64)])
        cdf[rows, 0] = 0
        self.cdf_flat = cdf.reshape(-1)
        freqs = np.diff(cdf, axis=1)                                   # (R+1, width-1)
        flat_pos = np.arange(rows + 1)[:, None] * width + np.arange(width - 1)[None, :]
        self.lut = np.repeat(flat_pos.reshape(-1).astype(np.int32), freqs.reshape(-1))  # (R+1)*2**p
        self.identity_row, self.width = rows, width


def _decode_tables(table: CdfTable) -> _DecodeTables:
    cached = table.__dict__.get("_rans_decode")
    if cached is None:
        cached = _DecodeTables(table)
        object.__setattr__(table, "_rans_decode", cached)
    return cached


def decode(blob: bytes, indexes: np.ndarray, table: CdfTable, backend: str = "auto",
           device: str | torch.device = "cpu") -> np.ndarray:
    """Inverse of :func:`encode`: int64 values ``(N,)`` for the given ``indexes (N,)``."""
    indexes = np.ascontiguousarray(indexes, dtype=np.int64).reshape(-1)
    if indexes.size and (indexes.min() < 0 or indexes.max() >= table.rows):
        raise ValueError(f"table indexes must be in 0..{table.rows - 1}")
    lanes, at = _read_varint(blob, 0)
    esc_len, at = _read_varint(blob, at)
    if not 1 <= lanes <= MAX_LANES:
        raise FormatError(f"rANS stream claims {lanes} lanes")
    body = len(blob) - at - 8 * lanes - esc_len
    if body < 0 or body % 4:
        raise FormatError("rANS stream is truncated or its lengths disagree")
    state = np.frombuffer(blob, "<u8", lanes, at)
    if np.any(state >= np.uint64(1 << 63)) or np.any(state < RANS_L):
        raise FormatError("rANS stream is corrupt (lane state out of range)")
    words = np.frombuffer(blob, "<u4", body // 4, at + 8 * lanes)
    n, p, dt, backend = len(indexes), table.precision, _decode_tables(table), _backend(backend)
    if backend == "c":
        sym = np.empty(n, dtype=np.int64)
        err = _ransc.decode(state, words, indexes, dt.lut, dt.cdf_flat, dt.width, p, sym)
        if err:
            raise FormatError(("", "rANS stream is truncated or corrupt (ran out of words)",
                               "rANS stream is corrupt (words left over)",
                               "rANS stream is corrupt (lanes did not end in the initial state)")[err])
    else:
        steps, pad = _layout(n, lanes)
        rows = _pad(indexes, pad, dt.identity_row, steps, lanes)
        args = (state.astype(np.int64), words.astype(np.int64), dt.lut.astype(np.int64),
                dt.cdf_flat, rows << p, rows * dt.width)
        if backend == "torch":
            sym = decode_lanes(*[torch.from_numpy(a).to(device) for a in args], precision=p).cpu().numpy()
        else:
            sym = decode_lanes(*args, precision=p)
        sym = sym.reshape(-1)[:n]
    values = sym + table.offset[indexes]
    escaped = sym == table.escape[indexes]
    if np.any(escaped):
        esc, used = decode_varints(memoryview(blob)[len(blob) - esc_len:], int(np.count_nonzero(escaped)))
        if used != esc_len:
            raise FormatError("escape section length disagrees with the stream")
        values[escaped] = esc
    elif esc_len:
        raise FormatError("escape section present but no escape symbol decoded")
    return values
