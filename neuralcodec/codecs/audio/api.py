"""Tokens for language models, from the shipped tokenizer (or any weights file)::

    from neuralcodec.codecs.audio import encode_tokens, decode_tokens
    tokens = encode_tokens(wave, 16_000)   # wave (B, N) or (N,) -> LongTensor (B, T), 40 tokens/s
    wave24 = decode_tokens(tokens)         # -> FloatTensor (B, T * 600) at 24 kHz
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .tokenizer import SAMPLE_RATE, AudioTokenizer

_LOADED: dict[str, AudioTokenizer] = {}


def tokenizer(weights: str | Path | None = None) -> AudioTokenizer:
    """The model of ``weights`` (default: the shipped wavtok40 weights), cached."""
    from ..zoo import shipped_weights
    from .codec import load_tokenizer
    path = str(Path(weights) if weights else shipped_weights("wavtok40"))
    if path not in _LOADED:
        _LOADED[path] = load_tokenizer(Path(path))[0]
    return _LOADED[path]


def encode_tokens(wave, sample_rate: int, weights: str | Path | AudioTokenizer | None = None) -> torch.Tensor:
    """``wave`` float ``(B, N)`` or ``(N,)`` in [-1, 1] at ``sample_rate`` -> int64 ``(B, T)``,
    ``T = ceil(N * 24000 / sample_rate / hop)``. Long rows are encoded in chunks."""
    from .stream import encode_stream, to_mono_24k
    model = weights if isinstance(weights, AudioTokenizer) else tokenizer(weights)
    x = torch.as_tensor(wave).detach().float().cpu()
    x = x[None] if x.ndim == 1 else x
    if x.ndim != 2:
        raise ValueError(f"wave must be (B, N) or (N,), got {tuple(x.shape)}")
    rows = [encode_stream(model, to_mono_24k([r[None].numpy()], sample_rate)) for r in x]
    return torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, 0, dtype=torch.long)


def decode_tokens(tokens, weights: str | Path | AudioTokenizer | None = None) -> torch.Tensor:
    """int64 ``(B, T)`` or ``(T,)`` -> float32 ``(B, T * hop)`` at 24 kHz."""
    from .stream import decode_stream
    model = weights if isinstance(weights, AudioTokenizer) else tokenizer(weights)
    t = torch.as_tensor(tokens).long().cpu()
    t = t[None] if t.ndim == 1 else t
    rows = [np.concatenate(list(decode_stream(model, r.numpy())) or [np.zeros(0, np.float32)]) for r in t]
    return torch.from_numpy(np.stack(rows))


__all__ = ["SAMPLE_RATE", "decode_tokens", "encode_tokens", "tokenizer"]
