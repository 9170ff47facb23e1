"""Interleaved rANS, vectorised across lanes: C or numpy on the CPU, the same arithmetic on any
torch device through :mod:`neuralcodec.kernels.rans` (Triton lanes on CUDA).

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
from ..kernels import rans as lanes_k
from ..kernels.rans import RANS_L, decode_lanes, encode_lanes  # noqa: F401 (the reference lanes)
from .escape import decode_varints, encode_varints
from .tables import CdfTable, to_symbols

try:  # the C lanes (setup.py); numpy is the fallback and the reference
    from . import _ransc
except ImportError:  # pragma: no cover - only where the extension could not be built
    _ransc = None

BACKENDS = ("auto", "c", "numpy", "torch")

MAX_LANES = 1 << 16


def default_lanes(n: int) -> int:
    """Lanes for ``n`` symbols: one per 32768 symbols, 1 to 32. Each lane costs about 33 bits
    (its 64-bit final state less the information it carries), so the flush stays under 0.1% of
    a stream of 1-bit symbols (0.03% at the 4.6 bits/symbol of ``bench entropy``); more lanes
    pay off only on a GPU, where the caller picks them."""
    return int(min(32, max(1, n // 32768)))


def _varint(n: int) -> bytes:
    return encode_varints(np.array([n], dtype=np.int64))


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
    return encode_groups([(values, indexes)], table, lanes, backend, device)


def check_room(blob: bytes, count: int, table: CdfTable, what: str = "stream") -> None:
    """Refuse, before anything is allocated for them, ``count`` symbols that ``blob`` is too short to
    hold: each costs at least ``table.min_bits()``, and a stream carries at most 8 bits a byte (the
    final states' headroom over their start included)."""
    if count * table.min_bits() > 8 * len(blob) + 64:
        raise FormatError(f"{what}: {len(blob)} bytes cannot hold the {count} symbols the header declares")


def decode(blob: bytes, indexes: np.ndarray, table: CdfTable, backend: str = "auto",
           device: str | torch.device = "cpu") -> np.ndarray:
    """Inverse of :func:`encode`: int64 values ``(N,)`` for the given ``indexes (N,)``."""
    dec = GroupDecoder(blob, table, backend, device)
    values = dec.next(indexes)
    dec.finish()
    return values


def encode_groups(groups: list[tuple[np.ndarray, np.ndarray]], table: CdfTable, lanes: int | None = None,
                  backend: str = "auto", device: str | torch.device = "cpu") -> bytes:
    """Code sequential groups ``[(values, indexes), ...]`` into one blob.

    For models whose later table rows depend on earlier decoded values (channel slices,
    checkerboard passes): each group is padded with no-op entries to a whole number of steps, so
    :class:`GroupDecoder` can decode group by group, carrying lane states. One lane count, one
    flush and one escape section for the whole blob.
    """
    vals, idxs = [], []
    for v, ix in groups:
        v = np.ascontiguousarray(v, dtype=np.int64).reshape(-1)
        ix = np.ascontiguousarray(ix, dtype=np.int64).reshape(-1)
        if v.shape != ix.shape:
            raise ValueError(f"values {v.shape} and indexes {ix.shape} differ in shape")
        vals.append(v)
        idxs.append(ix)
    n = sum(len(v) for v in vals)
    lanes = default_lanes(n) if lanes is None else int(lanes)
    if not 1 <= lanes <= MAX_LANES:
        raise ValueError(f"lanes must be in 1..{MAX_LANES}")
    for ix in idxs:
        if ix.size and (ix.min() < 0 or ix.max() >= table.rows):
            raise ValueError(f"table indexes must be in 0..{table.rows - 1}")
    pads = [(-len(v)) % lanes for v in vals]
    val = np.concatenate([a for v, pad in zip(vals, pads) for a in (v, np.zeros(pad, np.int64))])
    idx = np.concatenate([a for ix, pad in zip(idxs, pads) for a in (ix, np.full(pad, -1, np.int64))])
    p, backend = table.precision, _backend(backend)
    if backend == "c":  # symbols and escapes are mapped inside the C loop
        escaped = np.zeros(len(val), dtype=np.uint8)
        state_b, words_b = _ransc.encode(val, idx, np.ascontiguousarray(table.cdf).reshape(-1), table.offset,
                                         table.length, table.cdf.shape[1], p, lanes, escaped)
        escaped_values = [val[escaped.view(bool)]]
    elif backend == "torch":  # the kernels' lanes on `device` (Triton on CUDA)
        dev = [torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in
               (val, idx, table.cdf.reshape(-1), table.offset, table.length)]
        out = lanes_k.encode(*dev, table.cdf.shape[1], p, lanes)
        escaped_values = [val[out.escaped.cpu().numpy()]]
        state_b = out.states.cpu().numpy().astype("<u8").tobytes()
        words_b = out.words.cpu().numpy().astype("<u4").tobytes()
    else:
        sym, esc = to_symbols(table, val, np.maximum(idx, 0))
        esc &= idx >= 0
        escaped_values = [val[esc]]
        valid = idx >= 0
        start = np.where(valid, table.cdf[np.maximum(idx, 0), sym], 0)
        freq = np.where(valid, table.cdf[np.maximum(idx, 0), sym + 1] - start, 1 << p)
        steps = len(sym) // lanes
        w, e, state = encode_lanes(start.reshape(steps, lanes), freq.reshape(steps, lanes), p)
        state_b, words_b = state.astype("<u8").tobytes(), w[e].astype("<u4").tobytes()
    esc = encode_varints(np.concatenate(escaped_values))
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


class GroupDecoder:
    """Decodes a blob of :func:`encode_groups` one group at a time (or all of :func:`encode`)."""

    def __init__(self, blob: bytes, table: CdfTable, backend: str = "auto", device: str | torch.device = "cpu"):
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
        self.table, self.lanes, self.backend, self.device = table, lanes, _backend(backend), device
        self.state = state.astype(np.uint64)                 # writable copy, carried across groups
        self.words = np.frombuffer(blob, "<u4", body // 4, at + 8 * lanes)
        self.escapes = memoryview(blob)[len(blob) - esc_len:]
        self.ptr, self.esc_ptr = 0, 0
        self._dev: dict | None = None

    def _device_arrays(self, dt: "_DecodeTables") -> dict:
        """The stream and tables on the device, moved once per blob (the state stays there)."""
        if self._dev is None:
            t = self.table
            arrays = {"state": self.state.astype(np.int64), "words": self.words.astype(np.int64), "lut": dt.lut,
                      "cdf": dt.cdf_flat, "offset": t.offset, "length": t.length}
            self._dev = {k: torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for k, a in arrays.items()}
        return self._dev

    def next(self, indexes: np.ndarray) -> np.ndarray:
        """int64 values ``(n,)`` of the next group, coded with table rows ``indexes (n,)``."""
        table, lanes, p = self.table, self.lanes, self.table.precision
        indexes = np.ascontiguousarray(indexes, dtype=np.int64).reshape(-1)
        if indexes.size and (indexes.min() < 0 or indexes.max() >= table.rows):
            raise ValueError(f"table indexes must be in 0..{table.rows - 1}")
        n, dt = len(indexes), _decode_tables(table)
        idx = np.concatenate([indexes, np.full((-n) % lanes, -1, np.int64)])
        if self.backend == "c":  # values and escape flags come straight from the C loop
            values, escaped = np.empty(len(idx), dtype=np.int64), np.empty(len(idx), dtype=np.uint8)
            err, self.ptr = _ransc.decode_steps(self.state, self.words, idx, dt.lut, dt.cdf_flat, table.offset,
                                                table.length, dt.width, p, values, escaped, self.ptr)
            if err:
                raise FormatError("rANS stream is truncated or corrupt (ran out of words)")
            values, escaped = values[:n], escaped[:n].view(bool)
        elif self.backend == "torch":  # the kernels' lanes on the device (Triton on CUDA)
            dev = self._device_arrays(dt)
            out = lanes_k.decode(dev["state"], dev["words"], torch.from_numpy(idx).to(self.device), dev["lut"],
                                 dev["cdf"], dev["offset"], dev["length"], dt.width, p, self.ptr)
            dev["state"], self.ptr = out.states, out.ptr
            self.state = out.states.cpu().numpy().astype(np.uint64)
            values, escaped = out.values.cpu().numpy()[:n], out.escaped.cpu().numpy()[:n]
        else:
            rows = np.where(idx < 0, dt.identity_row, idx).reshape(-1, lanes)
            sym, x, self.ptr = decode_lanes(self.state.astype(np.int64), self.words.astype(np.int64),
                                            dt.lut.astype(np.int64), dt.cdf_flat, rows << p, rows * dt.width,
                                            precision=p, ptr=self.ptr)
            self.state = x.astype(np.uint64)
            sym = sym.reshape(-1)[:n]
            values = sym + table.offset[indexes]
            escaped = sym == table.escape[indexes]
        if np.any(escaped):
            esc, used = decode_varints(self.escapes[self.esc_ptr:], int(np.count_nonzero(escaped)))
            self.esc_ptr += used
            values[escaped] = esc
        return values

    def finish(self) -> None:
        """Check that the blob was consumed exactly: every word, every escape, initial states."""
        if self.ptr != len(self.words):
            raise FormatError("rANS stream is corrupt (words left over)")
        if self.esc_ptr != len(self.escapes):
            raise FormatError("escape section length disagrees with the stream")
        if np.any(self.state != RANS_L):
            raise FormatError("rANS stream is corrupt (lanes did not end in the initial state)")
