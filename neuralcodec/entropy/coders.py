"""Coders behind one interface: ``encode(values, indexes, table) -> bytes`` and its inverse.

Codecs hand the entropy layer integer values, table row indexes and a :class:`CdfTable`; which
coder turns them into bytes is a one-line choice (constriction keeps models and coders apart in
the same way). :class:`RansCoder` is ours (interleaved, vectorised, CPU == CUDA bytes);
:class:`ConstrictionCoder` reaches constriction's range and ANS coders, and
:class:`AdaptiveEncoder` / :class:`AdaptiveDecoder` its range coder for sequential models whose
next distribution depends on what was decoded so far.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from ..errors import FormatError
from . import rans
from .escape import decode_varints, encode_varints
from .tables import CdfTable, to_symbols


class Coder(Protocol):
    """What every coder offers. ``values``/``indexes``: int ``(N,)``; returns int64 ``(N,)``."""

    name: str

    def encode(self, values: np.ndarray, indexes: np.ndarray, table: CdfTable) -> bytes: ...

    def decode(self, data: bytes, indexes: np.ndarray, table: CdfTable) -> np.ndarray: ...


@dataclass(frozen=True)
class RansCoder:
    """Interleaved rANS (:mod:`neuralcodec.entropy.rans`). ``lanes=None`` picks by size."""

    lanes: int | None = None
    backend: str = "auto"
    device: str = "cpu"
    name: str = "rans"

    def encode(self, values: np.ndarray, indexes: np.ndarray, table: CdfTable) -> bytes:
        return rans.encode(values, indexes, table, self.lanes, self.backend, self.device)

    def decode(self, data: bytes, indexes: np.ndarray, table: CdfTable) -> np.ndarray:
        return rans.decode(data, indexes, table, self.backend, self.device)


def _probabilities(table: CdfTable, row: int) -> np.ndarray:
    """float64 probabilities of one row: our integers divided by 2**precision (exact)."""
    return table.freqs(row).astype(np.float64) / (1 << table.precision)


def _constriction():
    import constriction  # imported on use: the rANS path does not need it
    return constriction


@dataclass(frozen=True)
class ConstrictionCoder:
    """constriction's ``RangeEncoder`` (queue) or ``AnsCoder`` (stack) over our tables.

    Symbols are grouped by table row (one vectorised call per row used, never per symbol);
    constriction re-quantizes each row to its own fixed point, identically on both sides.
    Layout: ``varint escape_bytes | escapes | u32 words``.
    """

    kind: Literal["range", "ans"] = "range"

    @property
    def name(self) -> str:
        return f"constriction-{self.kind}"

    def _groups(self, indexes: np.ndarray) -> list[tuple[int, np.ndarray]]:
        order = np.argsort(indexes, kind="stable")
        rows, starts = np.unique(indexes[order], return_index=True)
        return list(zip(rows.tolist(), np.split(order, starts[1:]))) if len(order) else []

    def encode(self, values: np.ndarray, indexes: np.ndarray, table: CdfTable) -> bytes:
        c = _constriction()
        values = np.asarray(values, dtype=np.int64).reshape(-1)
        indexes = np.asarray(indexes, dtype=np.int64).reshape(-1)
        sym, escaped = to_symbols(table, values, indexes)
        groups = self._groups(indexes)
        if self.kind == "range":
            coder = c.stream.queue.RangeEncoder()
            for row, where in groups:
                coder.encode(sym[where].astype(np.int32), c.stream.model.Categorical(_probabilities(table, row), perfect=False))
        else:
            coder = c.stream.stack.AnsCoder()
            for row, where in reversed(groups):
                coder.encode_reverse(sym[where].astype(np.int32), c.stream.model.Categorical(_probabilities(table, row), perfect=False))
        esc = encode_varints(values[escaped])
        return rans._varint(len(esc)) + esc + coder.get_compressed().astype("<u4").tobytes()

    def decode(self, data: bytes, indexes: np.ndarray, table: CdfTable) -> np.ndarray:
        c = _constriction()
        indexes = np.asarray(indexes, dtype=np.int64).reshape(-1)
        esc_len, at = rans._read_varint(data, 0)
        if (len(data) - at - esc_len) < 0 or (len(data) - at - esc_len) % 4:
            raise FormatError("constriction stream is truncated or its lengths disagree")
        words = np.frombuffer(data, "<u4", offset=at + esc_len).astype(np.uint32)
        try:
            coder = c.stream.queue.RangeDecoder(words) if self.kind == "range" else c.stream.stack.AnsCoder(words)
            sym = np.empty(len(indexes), dtype=np.int64)
            for row, where in self._groups(indexes):
                model = c.stream.model.Categorical(_probabilities(table, row), perfect=False)
                sym[where] = coder.decode(model, len(where))
        except (ValueError, RuntimeError, AssertionError) as e:  # constriction's own complaints
            raise FormatError(f"constriction stream is corrupt: {e}") from None
        if np.any((sym < 0) | (sym >= table.length[indexes])):
            raise FormatError("constriction stream is corrupt (symbol out of range)")
        values = sym + table.offset[indexes]
        escaped = sym == table.escape[indexes]
        if np.any(escaped):
            vals, used = decode_varints(memoryview(data)[at:at + esc_len], int(np.count_nonzero(escaped)))
            if used != esc_len:
                raise FormatError("escape section length disagrees with the stream")
            values[escaped] = vals
        return values


class AdaptiveEncoder:
    """Sequential coding with distributions that change as symbols are coded (range coder).

    >>> enc = AdaptiveEncoder(); enc.push(np.array([2, 0]), np.full((2, 4), 0.25)); data = enc.finish()
    >>> AdaptiveDecoder(data).pull(np.full((2, 4), 0.25)).tolist()
    [2, 0]

    ``probs``: float64 ``(n, K)``, one distribution per symbol; the decoder must be given the
    bit-identical array (compute it with integer or otherwise deterministic arithmetic).
    """

    def __init__(self) -> None:
        self._coder = _constriction().stream.queue.RangeEncoder()

    def push(self, symbols: np.ndarray, probs: np.ndarray) -> None:
        fam = _constriction().stream.model.Categorical(perfect=False)
        self._coder.encode(np.asarray(symbols, dtype=np.int32).reshape(-1), fam,
                           np.asarray(probs, dtype=np.float64).reshape(len(symbols), -1))

    def finish(self) -> bytes:
        return self._coder.get_compressed().astype("<u4").tobytes()


class AdaptiveDecoder:
    """Mirror of :class:`AdaptiveEncoder`."""

    def __init__(self, data: bytes) -> None:
        if len(data) % 4:
            raise FormatError("range-coded stream length is not a multiple of 4 bytes")
        self._coder = _constriction().stream.queue.RangeDecoder(np.frombuffer(data, "<u4").astype(np.uint32))

    def pull(self, probs: np.ndarray) -> np.ndarray:
        probs = np.asarray(probs, dtype=np.float64)
        fam = _constriction().stream.model.Categorical(perfect=False)
        try:
            return self._coder.decode(fam, probs).astype(np.int64)
        except (ValueError, RuntimeError, AssertionError) as e:
            raise FormatError(f"range-coded stream is corrupt: {e}") from None


CODERS = {"rans": RansCoder, "constriction-range": lambda: ConstrictionCoder("range"),
          "constriction-ans": lambda: ConstrictionCoder("ans")}


def get_coder(name: str) -> Coder:
    """A coder by its stable name (the name goes into container headers)."""
    if name not in CODERS:
        raise ValueError(f"unknown coder {name!r}; choose one of {sorted(CODERS)}")
    return CODERS[name]()
