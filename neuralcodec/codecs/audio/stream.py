"""Chunked audio processing with bounded memory: a long input is cut into chunks with enough
context on each side that every token (and every decoded sample) comes out as in one pass.

    file blocks ─ downmix ─ soxr stream to 24 kHz ─ windows(size, ctx) ─ encoder ─ tokens
    tokens ─ windows of tokens ─ decoder ─ cores ─ soxr stream to the file's rate ─ writer
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import torch

from .tokenizer import SAMPLE_RATE, AudioTokenizer

CHUNK_TOKENS = 1200      # 30 s at 40 tokens/s: peak memory of a chunk stays well under 1 GiB


def to_mono_24k(blocks: Iterable[np.ndarray], sample_rate: int) -> Iterator[np.ndarray]:
    """Blocks ``(C, n)`` at ``sample_rate`` -> 1-D float32 blocks at 24 kHz (channel mean)."""
    return to_mono(blocks, sample_rate, SAMPLE_RATE)


def to_mono(blocks: Iterable[np.ndarray], sample_rate: int, rate: int) -> Iterator[np.ndarray]:
    """Blocks ``(C, n)`` at ``sample_rate`` -> 1-D float32 blocks at ``rate`` (channel mean)."""
    import soxr
    rs = None if sample_rate == rate else soxr.ResampleStream(sample_rate, rate, 1, dtype="float32")
    for b in blocks:
        mono = np.ascontiguousarray(np.asarray(b, np.float32).mean(0))
        out = mono if rs is None else rs.resample_chunk(mono)
        if len(out):
            yield out
    if rs is not None:
        tail = rs.resample_chunk(np.zeros(0, np.float32), last=True)
        if len(tail):
            yield tail


def from_24k(blocks: Iterable[np.ndarray], sample_rate: int, frames: int) -> Iterator[np.ndarray]:
    """1-D blocks at 24 kHz -> blocks at ``sample_rate`` totalling exactly ``frames`` samples."""
    return from_rate(blocks, SAMPLE_RATE, sample_rate, frames)


def from_rate(blocks: Iterable[np.ndarray], rate: int, sample_rate: int, frames: int) -> Iterator[np.ndarray]:
    """1-D blocks at ``rate`` -> blocks at ``sample_rate`` totalling exactly ``frames`` samples."""
    import soxr
    rs = None if sample_rate == rate else soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")
    left = frames

    def emit(x: np.ndarray):
        nonlocal left
        x = x[:left]
        left -= len(x)
        return x

    for b in blocks:
        out = emit(b if rs is None else rs.resample_chunk(np.ascontiguousarray(b, np.float32)))
        if len(out):
            yield out
    if rs is not None:
        out = emit(rs.resample_chunk(np.zeros(0, np.float32), last=True))
        if len(out):
            yield out
    if left > 0:
        yield np.zeros(left, np.float32)


def windows(blocks: Iterable[np.ndarray], size: int, ctx: int) -> Iterator[tuple[np.ndarray, int, int]]:
    """Cut a stream of 1-D blocks into cores of ``size`` samples with up to ``ctx`` samples of
    context on each side. Yields ``(window, offset, core)``: the core starts at ``window[offset]``
    and is ``core`` samples long (shorter only at the end). Holds at most one window in memory."""
    it = iter(blocks)
    buf, base, start, done = np.zeros(0, np.float32), 0, 0, False
    while True:
        need = start + size + ctx
        parts = [buf]
        have = base + len(buf)
        while not done and have < need:
            b = next(it, None)
            if b is None:
                done = True
            else:
                parts.append(np.asarray(b, np.float32))
                have += len(b)
        buf = np.concatenate(parts) if len(parts) > 1 else buf
        end = base + len(buf)
        if start >= end:
            return
        lo, hi = max(0, start - ctx), min(end, need)
        yield buf[lo - base:hi - base], start - lo, min(size, end - start)
        start += size
        drop = max(0, start - ctx) - base
        buf, base = buf[drop:], base + drop


@torch.no_grad()
def encode_stream(model: AudioTokenizer, samples: Iterable[np.ndarray], chunk_tokens: int = CHUNK_TOKENS,
                  progress=None) -> np.ndarray:
    """1-D 24 kHz blocks -> int64 tokens ``(ceil(N / hop),)``, chunk by chunk."""
    hop, ctx = model.cfg.hop, model.context()[0]
    out, device = [], next(model.parameters()).device
    for window, offset, core in windows(samples, chunk_tokens * hop, ctx * hop):
        tokens = model.encode_tokens(torch.from_numpy(np.ascontiguousarray(window))[None].to(device))[0]
        first = offset // hop
        out.append(tokens[first:first + -(-core // hop)].cpu().numpy())
        if progress is not None:
            progress.update(core)
    return np.concatenate(out) if out else np.zeros(0, np.int64)


@torch.no_grad()
def decode_stream(model: AudioTokenizer, tokens: np.ndarray, chunk_tokens: int = CHUNK_TOKENS) -> Iterator[np.ndarray]:
    """int64 tokens ``(T,)`` -> 1-D 24 kHz blocks totalling ``T * hop`` samples."""
    hop, ctx = model.cfg.hop, model.context()[1]
    device = next(model.parameters()).device
    t = torch.from_numpy(np.asarray(tokens, np.int64))
    for s in range(0, len(t), chunk_tokens):
        lo, hi = max(0, s - ctx), min(len(t), s + chunk_tokens + ctx)
        wave = model.decode_tokens(t[lo:hi][None].to(device))[0].float().cpu().numpy()
        n = min(chunk_tokens, len(t) - s)
        yield wave[(s - lo) * hop:(s - lo + n) * hop]
