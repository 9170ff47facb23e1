"""Integer CDF tables: the contract between entropy models and coders.

A :class:`CdfTable` holds ``R`` rows (one per distribution, e.g. one per scale of a Gaussian
scale table, one per channel of a factorized prior, one for a token prior). Row ``r`` codes the
integer values ``offset[r] .. offset[r] + length[r] - 2`` directly; the last symbol of every row
(index ``length[r] - 1``) is the *escape*: a value outside the row's support is coded as the
escape and then exactly through :mod:`neuralcodec.entropy.escape`. Nothing is ever clamped.

Every symbol has a frequency of at least 1, and every row sums to ``2**precision``.
Building a table from probabilities is deterministic integer work once the float64 pmf is fixed
(:func:`quantize_pmf`), and :meth:`CdfTable.fingerprint` lets a stream record which table it
was coded with, so a decoder that derived other integers refuses instead of producing garbage.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

MAX_PRECISION = 16  # the rANS coder keeps 32-bit states and emits 16-bit words


@dataclass(frozen=True, eq=False)
class CdfTable:
    """``R`` integer CDFs with a shared precision.

    Attributes:
        cdf: int64 ``(R, W)``; row ``r`` is ``0 = cdf[r,0] < ... < cdf[r,length[r]] = 2**precision``
            and is padded with ``2**precision`` after ``length[r]``. ``W = max(length) + 1``.
        length: int64 ``(R,)`` number of symbols of each row, escape included (>= 2).
        offset: int64 ``(R,)`` the value coded by symbol 0 of each row.
        precision: bits of the total frequency.
    """

    cdf: np.ndarray
    length: np.ndarray
    offset: np.ndarray
    precision: int = MAX_PRECISION

    def __post_init__(self) -> None:
        cdf, length, offset = self.cdf, self.length, self.offset
        if not 1 <= self.precision <= MAX_PRECISION:
            raise ValueError(f"precision must be in 1..{MAX_PRECISION}, got {self.precision}")
        if cdf.ndim != 2 or length.shape != (cdf.shape[0],) or offset.shape != length.shape:
            raise ValueError("cdf must be (R, W) with length and offset of shape (R,)")
        if cdf.dtype != np.int64 or length.dtype != np.int64 or offset.dtype != np.int64:
            raise ValueError("cdf, length and offset must be int64 arrays")
        if length.min(initial=2) < 2 or length.max(initial=0) + 1 > cdf.shape[1]:
            raise ValueError("every row needs 2..W-1 symbols (values plus the escape)")
        total = 1 << self.precision
        cols = np.arange(cdf.shape[1])
        inside = cols[None, :] <= length[:, None]
        if np.any(cdf[:, 0] != 0) or np.any(cdf[inside[:, :]] > total):
            raise ValueError("cdf rows must start at 0 and stay within 2**precision")
        if np.any(cdf[np.arange(len(length)), length] != total) or np.any(cdf[~inside] != total):
            raise ValueError("cdf rows must end (and be padded) with 2**precision")
        steps = np.diff(cdf, axis=1)
        if np.any(steps[inside[:, 1:]] <= 0):
            raise ValueError("every symbol needs a frequency of at least 1")

    @property
    def rows(self) -> int:
        return int(self.cdf.shape[0])

    @property
    def escape(self) -> np.ndarray:
        """int64 ``(R,)`` the escape symbol of each row."""
        return self.length - 1

    def fingerprint(self) -> int:
        """CRC32 of the integers that define the table (same value on every machine)."""
        crc = zlib.crc32(np.int64(self.precision).tobytes())
        for a in (self.length, self.offset, self.cdf):
            crc = zlib.crc32(np.ascontiguousarray(a, dtype="<i8").tobytes(), crc)
        return crc

    def min_bits(self) -> float:
        """The fewest bits any one symbol can cost under this table: -log2 of its largest
        probability. ``n`` symbols need at least ``n * min_bits()`` bits of stream."""
        largest = int(np.diff(self.cdf, axis=1).max(initial=1))
        return float(self.precision - np.log2(largest))

    def freqs(self, row: int) -> np.ndarray:
        """int64 ``(length[row],)`` the frequencies of one row."""
        n = int(self.length[row])
        return np.diff(self.cdf[row, : n + 1])

    def symbol_bits(self, symbols: np.ndarray, indexes: np.ndarray) -> np.ndarray:
        """-log2 p of each *symbol* (escape symbol for out-of-range values), float64 ``(N,)``.

        This is the ideal cost of the coded symbols under these integers; escaped values add
        their raw bytes on top (see :func:`neuralcodec.entropy.escape.escape_bits`).
        """
        sym, _ = to_symbols(self, symbols, indexes)
        idx = np.asarray(indexes, dtype=np.int64)
        freq = self.cdf[idx, sym + 1] - self.cdf[idx, sym]
        return self.precision - np.log2(freq.astype(np.float64))


def to_symbols(table: CdfTable, values: np.ndarray, indexes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map integer values to row symbols.

    Returns ``(symbols, escaped)``: int64 ``(N,)`` symbol per value (the row's escape where the
    value is outside the row's support) and bool ``(N,)`` which values were escaped.
    """
    values = np.asarray(values, dtype=np.int64)
    idx = np.asarray(indexes, dtype=np.int64)
    if values.shape != idx.shape:
        raise ValueError(f"values {values.shape} and indexes {idx.shape} differ in shape")
    if idx.size and (idx.min() < 0 or idx.max() >= table.rows):
        raise ValueError(f"table indexes must be in 0..{table.rows - 1}")
    sym = values - table.offset[idx]
    esc = table.escape[idx]
    escaped = (sym < 0) | (sym >= esc)
    return np.where(escaped, esc, sym), escaped


def quantize_pmf(pmf: np.ndarray, precision: int = MAX_PRECISION) -> np.ndarray:
    """Integer frequencies summing to ``2**precision`` with every symbol at least 1.

    Args:
        pmf: float64 ``(R, n)`` non-negative masses per row (need not be normalised).
    Returns:
        int64 ``(R, n)`` frequencies. Rounds ``p * 2**precision`` (at least 1), then gives the
        surplus to, or takes the deficit from, the largest frequencies: integer work only,
        so the same pmf gives the same integers everywhere.
    """
    pmf = np.asarray(pmf, dtype=np.float64)
    if pmf.ndim != 2 or pmf.shape[1] < 1:
        raise ValueError("pmf must be (R, n) with n >= 1")
    total = 1 << precision
    if pmf.shape[1] > total:
        raise ValueError(f"{pmf.shape[1]} symbols do not fit a {precision}-bit table")
    if not np.all(np.isfinite(pmf)) or np.any(pmf < 0) or np.any(pmf.sum(1) <= 0):
        raise ValueError("pmf rows must be finite, non-negative and not all zero")
    p = pmf / pmf.sum(1, keepdims=True)
    freq = np.maximum(1, np.rint(p * total)).astype(np.int64)
    for r in range(freq.shape[0]):  # rows are few; the symbols of a row are vectorised
        _fix_sum(freq[r], total)
    return freq


def _fix_sum(f: np.ndarray, total: int) -> None:
    """Make ``f`` (int64, each >= 1) sum to ``total`` in place, changing the largest entries."""
    over = int(f.sum()) - total
    while over > 0:  # take from the largest frequencies, spread evenly, never below 1
        order = np.argsort(-f, kind="stable")
        room = f[order] - 1
        share = np.minimum(room, max(1, over // max(1, int(np.count_nonzero(room)))))
        capped = np.minimum(np.cumsum(share), over)
        f[order] -= np.diff(capped, prepend=0)
        over = int(f.sum()) - total
    if over < 0:
        f[int(np.argmax(f))] -= over


def from_freqs(freqs: list[np.ndarray] | np.ndarray, offsets: np.ndarray, precision: int = MAX_PRECISION) -> CdfTable:
    """Build a table from per-row integer frequencies (escape symbol last in each row)."""
    rows = [np.asarray(f, dtype=np.int64) for f in freqs]
    length = np.array([len(f) for f in rows], dtype=np.int64)
    width = int(length.max()) + 1
    cdf = np.full((len(rows), width), 1 << precision, dtype=np.int64)
    for r, f in enumerate(rows):
        cdf[r, : len(f) + 1] = np.concatenate(([0], np.cumsum(f)))
    return CdfTable(cdf, length, np.asarray(offsets, dtype=np.int64).reshape(-1), precision)


def from_pmfs(pmfs: list[np.ndarray], offsets: np.ndarray, escape_mass: float | np.ndarray = 0.0,
              precision: int = MAX_PRECISION) -> CdfTable:
    """Build a table from float pmfs over each row's values; the escape gets ``escape_mass``.

    Rows may have different lengths; each is quantized by :func:`quantize_pmf`.
    """
    esc = np.broadcast_to(np.asarray(escape_mass, dtype=np.float64), (len(pmfs),))
    freqs = [quantize_pmf(np.concatenate([np.asarray(p, np.float64), [e]])[None], precision)[0]
             for p, e in zip(pmfs, esc)]
    return from_freqs(freqs, offsets, precision)


def categorical(probs: np.ndarray, precision: int = MAX_PRECISION) -> CdfTable:
    """Tables over values ``0..K-1`` from probabilities or counts ``(R, K)`` (or ``(K,)``).

    Counts of zero still get frequency 1 (every symbol stays codable).
    """
    probs = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    r, k = probs.shape
    freqs = quantize_pmf(np.concatenate([probs, np.zeros((r, 1))], axis=1), precision)
    return from_freqs(list(freqs), np.zeros(r, dtype=np.int64), precision)
