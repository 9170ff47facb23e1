"""Interleaved rANS lanes on tensors: the reference arithmetic (numpy or torch, any device) and
the dispatch to the Triton lanes (:mod:`.triton.rans`), which write and read the same bytes.

The stream layout is :mod:`neuralcodec.entropy.rans`'s: symbol ``i`` of ``N`` goes to lane
``i % L`` at step ``i // L``; a lane's state lives in ``[2**31, 2**63)`` and moves one 32-bit
word at a time; words are stored in the decoder's read order (step ascending, lane ascending).
Table index ``-1`` marks padding (a no-op), so sequential groups share one stream.

Tables come as flat arrays (this package never imports the entropy layer):

    cdf_flat  int64 (R' * width,)  the rows' cdfs; R' = R + 1, the last an identity row
                                   (one symbol of frequency 2**p) that decodes padding
    offset    int64 (R,)           value of each row's symbol 0
    length    int64 (R,)           symbols per row, escape (the last) included
    lut       int32 (R' * 2**p,)   slot -> flat position in cdf_flat of the symbol holding it
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..errors import FormatError
from .dispatch import use_triton

RANS_L = 1 << 31          # lower bound of a lane's state; the decoder must end here
WORD = 32                 # bits per emitted word
WORD_MASK = (1 << WORD) - 1
TRITON_MAX_LANES = 1 << 14   # the decoder runs all lanes in one program; more go to the reference
Array = np.ndarray | torch.Tensor


class Encoded(NamedTuple):
    states: torch.Tensor    # int64 (L,) final lane states
    words: torch.Tensor     # int64 (W,) 32-bit words in read order
    escaped: torch.Tensor   # bool (N,) which values were coded as their row's escape


class Decoded(NamedTuple):
    values: torch.Tensor    # int64 (N,) symbol + row offset (0 for padding)
    escaped: torch.Tensor   # bool (N,) which symbols are their row's escape
    states: torch.Tensor    # int64 (L,) lane states after the last step
    ptr: int                # words consumed so far


# ---- reference lanes (numpy or torch, any device) ----------------------------------------------
def _where(m: Array, a: Array, b: Array) -> Array:
    return torch.where(m, a, b) if isinstance(m, torch.Tensor) else np.where(m, a, b)


def _decode_symbols(x: Array, lut: Array, cdf_flat: Array, lut_base: Array, row_base: Array,
                    precision: int) -> tuple[Array, Array]:
    """One decoding step of every lane, before renormalisation: ``(symbols (L,), states (L,))``."""
    slot = x & ((1 << precision) - 1)
    pos = lut[lut_base + slot]
    start = cdf_flat[pos]
    return pos - row_base, (cdf_flat[pos + 1] - start) * (x >> precision) + slot - start


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
                 row_base: Array, precision: int, ptr: int = 0) -> tuple[Array, Array, int]:
    """Core decoder (numpy, or torch on any device), resumable: decodes ``T`` steps from word ``ptr``.

    Args:
        state: int64 ``(L,)`` lane states (the encoder's final states at the start).
        words: int64 ``(W,)`` all words in read order.
        lut, cdf_flat: the flat tables (module docstring), lut as int64.
        lut_base, row_base: int64 ``(T, L)`` ``row * 2**p`` and ``row * width`` per symbol.
    Returns:
        ``(symbols (T, L), states (L,), ptr)``.
    """
    if isinstance(state, torch.Tensor):
        return _decode_lanes_torch(state, words, lut, cdf_flat, lut_base, row_base, precision, ptr)
    steps = row_base.shape[0]
    x = state.copy()
    out = np.empty_like(row_base)
    total = int(words.shape[0])
    for t in range(steps):
        out[t], x = _decode_symbols(x, lut, cdf_flat, lut_base[t], row_base[t], precision)
        m = x < RANS_L
        k = int(np.count_nonzero(m))
        if ptr + k > total:
            raise FormatError("rANS stream is truncated or corrupt (ran out of words)")
        x[m] = (x[m] << WORD) | words[ptr:ptr + k]
        ptr += k
    return out, x, ptr


def _decode_lanes_torch(state, words, lut, cdf_flat, lut_base, row_base, precision: int, ptr: int):
    """:func:`decode_lanes` without a host sync per step (for GPUs): each lane that renormalises
    reads the word at ``ptr + cumsum(m) - 1``, and the word pointer stays on the device. Running
    out of words shows up as a final pointer past the end (the pointer only grows)."""
    steps, total = row_base.shape[0], int(words.shape[0])
    x, out = state.clone(), torch.empty_like(row_base)
    pos = torch.full((), ptr, dtype=torch.int64, device=state.device)
    padded = torch.cat([words, words.new_zeros(1)])  # reads past the end land here, then raise
    for t in range(steps):
        out[t], x = _decode_symbols(x, lut, cdf_flat, lut_base[t], row_base[t], precision)
        m = x < RANS_L
        at = (pos + torch.cumsum(m, 0) - 1).clamp(0, total)
        x = torch.where(m, (x << WORD) | padded[at], x)
        pos = pos + m.sum()
    end = int(pos)
    if end > total:
        raise FormatError("rANS stream is truncated or corrupt (ran out of words)")
    return out, x, end


# ---- fused entry points: values and table rows in, stream out (and back) -----------------------
def encode(values: torch.Tensor, idx: torch.Tensor, cdf_flat: torch.Tensor, offset: torch.Tensor,
           length: torch.Tensor, width: int, precision: int, lanes: int) -> Encoded:
    """Code int64 ``values (N,)`` with table rows ``idx (N,)`` (``-1`` = padding), ``N`` a
    multiple of ``lanes``, on the tensors' device: each value is mapped to its row's symbol (the
    escape where it is outside the row's support), then coded."""
    if values.numel() % lanes:
        raise ValueError("pad the symbols to a whole number of steps")
    if use_triton(values):
        from .triton.rans import encode as triton_encode
        return triton_encode(values, idx, cdf_flat, offset, length, width, precision, lanes)
    valid = idx >= 0
    row = idx.clamp(min=0)
    sym = values - offset[row]
    esc_sym = length[row] - 1
    escaped = valid & ((sym < 0) | (sym >= esc_sym))
    sym = torch.where(escaped, esc_sym, sym)
    at = torch.where(valid, row * width + sym, 0)   # padding reads entry 0, then is overridden
    start = torch.where(valid, cdf_flat[at], 0)
    freq = torch.where(valid, cdf_flat[at + 1] - start, 1 << precision)
    steps = values.numel() // lanes
    words, emit, states = encode_lanes(start.view(steps, lanes), freq.view(steps, lanes), precision)
    return Encoded(states, words[emit], escaped)


def decode(states: torch.Tensor, words: torch.Tensor, idx: torch.Tensor, lut: torch.Tensor,
           cdf_flat: torch.Tensor, offset: torch.Tensor, length: torch.Tensor, width: int,
           precision: int, ptr: int = 0) -> Decoded:
    """Decode ``idx.numel()`` values (a whole number of steps of ``L = states.numel()`` lanes)
    from word ``ptr``; the inverse of :func:`encode`, resumable across sequential groups.
    Raises :class:`FormatError` when the words run out."""
    lanes = states.numel()
    if idx.numel() % lanes:
        raise ValueError("pad the table rows to a whole number of steps")
    if use_triton(states) and lanes <= TRITON_MAX_LANES:
        from .triton.rans import decode as triton_decode
        out = triton_decode(states, words, idx, lut, cdf_flat, offset, length, width, precision, ptr)
        if out.ptr > words.numel():
            raise FormatError("rANS stream is truncated or corrupt (ran out of words)")
        return out
    valid = idx >= 0
    identity = offset.numel()
    rows = torch.where(valid, idx, identity).view(-1, lanes)
    sym, x, ptr = decode_lanes(states, words, lut.long(), cdf_flat, rows << precision, rows * width, precision, ptr)
    sym, row = sym.reshape(-1), idx.clamp(min=0)
    values = torch.where(valid, sym + offset[row], 0)
    return Decoded(values, valid & (sym == length[row] - 1), x, ptr)
