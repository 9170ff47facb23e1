"""``lossless``: exact RGB coding through the shared entropy layer (no learning, no weights).

    RGB --RCT--> Y,Cb,Cr --planar residual--> r --per-block Laplace scale--> rANS
    r[i,j] = x[i,j] - x[i-1,j] - x[i,j-1] + x[i-1,j-1]   (zero outside the image)

The planar residual is the 2-D finite difference, so the decoder inverts it with two cumsums
(fully vectorised). Each 16x16 block of each plane gets the Laplace table whose scale is
nearest its mean |r| (side stream, coded with a uniform table); residuals beyond a table's
support are escaped, never clamped. A reference point for the learned codecs and the simplest
complete user of the container, the registry and the coders.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...entropy import rans
from ...entropy.container import Container
from ...entropy.families import default_scale_table, scale_table_cdfs
from ...entropy.tables import CdfTable, categorical
from ...errors import FormatError
from ...media import Image
from ..base import Codec, CodecInfo, register

BLOCK = 16


@lru_cache(maxsize=1)
def _tables() -> tuple[CdfTable, CdfTable, np.ndarray]:
    scales = default_scale_table()
    return scale_table_cdfs("laplace", scales), categorical(np.ones(len(scales))), scales


def rct_forward(x: np.ndarray) -> np.ndarray:
    """Reversible colour transform (JPEG 2000): int64 ``(H, W, 3)`` RGB -> Y, Cb, Cr."""
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return np.stack([(r + 2 * g + b) >> 2, b - g, r - g], axis=-1)


def rct_inverse(y: np.ndarray) -> np.ndarray:
    g = y[..., 0] - ((y[..., 1] + y[..., 2]) >> 2)
    return np.stack([y[..., 2] + g, g, y[..., 1] + g], axis=-1)


def _block_indexes(r: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """int64 ``(3, Hb, Wb)`` scale row per block of each plane of ``r (H, W, 3)``."""
    h, w, _ = r.shape
    hb, wb = -(-h // BLOCK), -(-w // BLOCK)
    a = np.zeros((hb * BLOCK, wb * BLOCK, 3))
    a[:h, :w] = np.abs(r)
    n = np.zeros((hb * BLOCK, wb * BLOCK))
    n[:h, :w] = 1
    sums = a.reshape(hb, BLOCK, wb, BLOCK, 3).sum((1, 3))
    counts = n.reshape(hb, BLOCK, wb, BLOCK).sum((1, 3))[..., None]
    mean_abs = np.maximum(sums / counts, 1e-3)          # Laplace: b = E|r|, sd = b * sqrt(2)
    return np.searchsorted(scales[:-1], mean_abs * np.sqrt(2)).transpose(2, 0, 1).astype(np.int64)


def _pixel_indexes(blocks: np.ndarray, h: int, w: int) -> np.ndarray:
    """``(3, Hb, Wb)`` -> ``(H, W, 3)`` by repeating each block's row."""
    full = blocks.repeat(BLOCK, axis=1).repeat(BLOCK, axis=2)[:, :h, :w]
    return full.transpose(1, 2, 0)


class LosslessImage(Codec):
    info = CodecInfo("lossless", "image", 1, (), None, True,
                     "exact RGB: colour transform, planar residuals, per-block Laplace tables, rANS")
    bytes_per_pixel = 160   # at 4096x4096: 126 (encode), 98 (decode); `neuralcodec bench memory`

    def encode(self, media: Image, quality: int | None = None) -> Container:
        self.check_quality(quality)
        x = media.pixels
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[2] != 3:
            raise ValueError("lossless codes uint8 (H, W, 3) images")
        h, w, _ = x.shape
        self.check_size(h, w)
        y = rct_forward(x.astype(np.int64))
        r = np.diff(np.diff(y, axis=0, prepend=0), axis=1, prepend=0)
        table, uniform, scales = _tables()
        blocks = _block_indexes(r, scales)
        coder_side = rans.encode(blocks.reshape(-1), np.zeros(blocks.size, np.int64), uniform)
        coder_res = rans.encode(r.reshape(-1), _pixel_indexes(blocks, h, w).reshape(-1), table)
        return Container("image", self.info.name, self.info.version, self.weights_hash(),
                         {"height": h, "width": w, "channels": 3},
                         {"scales": coder_side, "residuals": coder_res})

    def decode(self, container: Container) -> Image:
        try:
            h, w = int(container.fields["height"]), int(container.fields["width"])
            side, res = container.streams["scales"], container.streams["residuals"]
        except (KeyError, TypeError, ValueError):
            raise FormatError("lossless image file lacks its fields or streams") from None
        table, uniform, _ = _tables()
        hb, wb = -(-h // BLOCK), -(-w // BLOCK)
        rans.check_room(side, 3 * hb * wb, uniform, "lossless block scales")   # 6 bits a block: bounds h x w
        self.check_size(h, w)
        blocks = rans.decode(side, np.zeros(3 * hb * wb, np.int64), uniform).reshape(3, hb, wb)
        if blocks.min() < 0 or blocks.max() >= table.rows:
            raise FormatError("lossless image file has invalid block scales")
        r = rans.decode(res, _pixel_indexes(blocks, h, w).reshape(-1), table).reshape(h, w, 3)
        x = rct_inverse(np.cumsum(np.cumsum(r, axis=0), axis=1))
        if x.min() < 0 or x.max() > 255:
            raise FormatError("lossless image file decodes outside 0..255 (corrupt residuals)")
        return Image(x.astype(np.uint8))


register(LosslessImage, fallback=True)  # the default until a learned image codec ships
