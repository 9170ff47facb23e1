"""rANS lanes in Triton: one lane per element of a block, the steps looped inside the kernel.

Encode: lanes are independent, so programs of ``BLOCK`` lanes walk the steps backwards and write
each step's candidate word and whether it was emitted; ``words[emit]`` (row-major, one device
compaction) is the stream. Decode: which word a lane reads depends on how many lanes before it
renormalised in this step and all earlier ones, so one program holds every lane and advances a
shared pointer by a block-wide prefix sum each step.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..rans import RANS_L, Decoded, Encoded


@triton.jit
def _encode_kernel(val_ptr, idx_ptr, cdf_ptr, off_ptr, len_ptr, words_ptr, emit_ptr, esc_ptr, state_ptr,
                   steps, lanes, width, PREC: tl.constexpr, BLOCK: tl.constexpr):
    lane = (tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)).to(tl.int64)
    live = lane < lanes
    stride = lane * 0 + lanes                      # int64 lane count (step offsets exceed 2**31)
    x = tl.full((BLOCK,), 2147483648, tl.int64)    # RANS_L
    for s in range(steps):
        i = (steps - 1 - s) * stride + lane
        r = tl.load(idx_ptr + i, mask=live, other=-1)
        ok = r >= 0
        row = tl.where(ok, r, 0)
        sym = tl.load(val_ptr + i, mask=live, other=0) - tl.load(off_ptr + row, mask=ok, other=0)
        esc_sym = tl.load(len_ptr + row, mask=ok, other=1) - 1
        esc = ok & ((sym < 0) | (sym >= esc_sym))
        sym = tl.where(esc, esc_sym, sym)
        at = row * width + tl.where(ok, sym, 0)
        start = tl.load(cdf_ptr + at, mask=ok, other=0)
        freq = tl.load(cdf_ptr + at + 1, mask=ok, other=1 << PREC) - start
        m = ok & ((x >> 1) >= (freq << (62 - PREC)))
        tl.store(words_ptr + i, x & 4294967295, mask=live)
        tl.store(emit_ptr + i, m.to(tl.int8), mask=live)
        tl.store(esc_ptr + i, esc.to(tl.int8), mask=live)
        x = tl.where(m, x >> 32, x)
        q = x // freq
        x = tl.where(ok, (q << PREC) + (x - q * freq) + start, x)
    tl.store(state_ptr + lane, x, mask=live)


@triton.jit
def _decode_kernel(state_ptr, words_ptr, idx_ptr, lut_ptr, cdf_ptr, off_ptr, len_ptr, out_ptr, esc_ptr,
                   ptr_ptr, steps, lanes, nwords, width, PREC: tl.constexpr, BLOCK: tl.constexpr):
    lane = tl.arange(0, BLOCK).to(tl.int64)
    live = lane < lanes
    stride = lane * 0 + lanes
    x = tl.load(state_ptr + lane, mask=live, other=2147483648)
    ptr = tl.load(ptr_ptr)
    for t in range(steps):
        i = t * stride + lane
        r = tl.load(idx_ptr + i, mask=live, other=-1)
        ok = r >= 0
        row = tl.where(ok, r, 0)
        slot = x & ((1 << PREC) - 1)
        pos = tl.load(lut_ptr + (row << PREC) + slot, mask=ok, other=0).to(tl.int64)
        start = tl.load(cdf_ptr + pos, mask=ok, other=0)
        freq = tl.load(cdf_ptr + pos + 1, mask=ok, other=1 << PREC) - start
        sym = pos - row * width
        value = sym + tl.load(off_ptr + row, mask=ok, other=0)
        esc = ok & (sym == tl.load(len_ptr + row, mask=ok, other=0) - 1)
        tl.store(out_ptr + i, tl.where(ok, value, 0), mask=live)
        tl.store(esc_ptr + i, esc.to(tl.int8), mask=live)
        x = tl.where(ok, freq * (x >> PREC) + slot - start, x)
        m = ok & (x < 2147483648)
        at = ptr + tl.cumsum(m.to(tl.int64), 0) - 1
        w = tl.load(words_ptr + at, mask=m & (at < nwords), other=0)
        x = tl.where(m, (x << 32) | w, x)
        ptr += tl.sum(m.to(tl.int64), 0)
    tl.store(state_ptr + lane, x, mask=live)
    tl.store(ptr_ptr, ptr)


def _block(lanes: int) -> int:
    return max(16, triton.next_power_of_2(lanes))


def encode(values, idx, cdf_flat, offset, length, width: int, precision: int, lanes: int) -> Encoded:
    """See :func:`neuralcodec.kernels.rans.encode`."""
    n = values.numel()
    steps = n // lanes
    words = torch.empty(n, dtype=torch.int64, device=values.device)
    emit = torch.empty(n, dtype=torch.int8, device=values.device)
    esc = torch.empty(n, dtype=torch.int8, device=values.device)
    states = torch.empty(lanes, dtype=torch.int64, device=values.device)
    block = min(_block(lanes), 256)
    if n:
        _encode_kernel[(triton.cdiv(lanes, block),)](values, idx, cdf_flat, offset, length, words, emit, esc,
                                                     states, steps, lanes, width, PREC=precision, BLOCK=block)
    else:
        states.fill_(RANS_L)
    return Encoded(states, words[emit.bool()], esc.bool())


def decode(states, words, idx, lut, cdf_flat, offset, length, width: int, precision: int, ptr: int) -> Decoded:
    """See :func:`neuralcodec.kernels.rans.decode` (at most ``TRITON_MAX_LANES`` lanes)."""
    lanes, n = states.numel(), idx.numel()
    x = states.clone()
    out = torch.empty(n, dtype=torch.int64, device=states.device)
    esc = torch.empty(n, dtype=torch.int8, device=states.device)
    at = torch.full((1,), ptr, dtype=torch.int64, device=states.device)
    block, nwords = _block(lanes), words.numel()
    if nwords == 0:  # a stream of no words still needs a valid pointer
        words = torch.zeros(1, dtype=torch.int64, device=states.device)
    if n:
        _decode_kernel[(1,)](x, words, idx, lut, cdf_flat, offset, length, out, esc, at, n // lanes, lanes,
                             nwords, width, PREC=precision, BLOCK=block,
                             num_warps=max(1, min(32, block // 128)))
    return Decoded(out, esc.bool(), x, int(at.item()))
