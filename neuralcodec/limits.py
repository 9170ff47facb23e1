"""How much memory one encode or decode may take, checked before the work starts.

Each image codec states its cost as ``BASE_BYTES + bytes_per_pixel * height * width`` (measured
peak RSS, with headroom; see ``neuralcodec bench memory``), and a file or input whose cost is
over the limit is refused with one line before anything is allocated. The limit is 8 GB, or
``NEURALCODEC_MAX_MEMORY`` (in GB). Audio is coded in chunks and needs no such limit; its symbol
count is bounded by the stream's bytes instead (``rans.check_room``).
"""
from __future__ import annotations

import os

from .errors import NeuralCodecError

DEFAULT_GB = 8.0
BASE_BYTES = 1_000_000_000   # interpreter, torch, weights


def memory_limit() -> float:
    """Bytes one coding run may take."""
    raw = os.environ.get("NEURALCODEC_MAX_MEMORY", "")
    try:
        gb = float(raw) if raw else DEFAULT_GB
    except ValueError:
        raise NeuralCodecError(f"NEURALCODEC_MAX_MEMORY={raw!r}: give a number of GB") from None
    return gb * 1e9


def check_image_memory(codec: str, bytes_per_pixel: int, height: int, width: int) -> None:
    """One-line error when coding ``height x width`` pixels with ``codec`` would exceed the limit."""
    need = BASE_BYTES + bytes_per_pixel * height * width
    limit = memory_limit()
    if need > limit:
        largest = max(0, int((limit - BASE_BYTES) / bytes_per_pixel))
        raise NeuralCodecError(f"{width}x{height} pixels with {codec} need about {need / 1e9:.1f} GB, over the "
                               f"limit of {limit / 1e9:.1f} GB ({largest / 1e6:.0f} megapixels; "
                               "NEURALCODEC_MAX_MEMORY=GB sets it)")
