"""``neuralcodec bench image --codec overfit``: encode (fit) and decode time of the overfitted codec.

The 768x512 test image of :mod:`bench_image` (or ``image``), one encode at ``effort`` (the fit
dominates: its seconds per step are reported beside the total, so other efforts can be read off),
then the decode timed as the best of ``repeats``. PSNR and bits per pixel of the file come with
it; they describe the synthetic test image, not photos (``eval rd`` measures those).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .bench_entropy import best_of


def run(effort: float = 1.0, repeats: int = 3, image: np.ndarray | None = None, device: str = "cpu",
        quality: int | None = None) -> dict:
    from ..codecs.image.overfit import OverfitImage
    from ..codecs.image.overfit_codec import OverfitCodec
    from ..entropy.container import pack, unpack
    from ..media import Image
    from . import metrics
    from .bench_image import test_image
    img = test_image() if image is None else image
    h, w, _ = img.shape
    codec = OverfitCodec(effort=effort, device=device)
    q = codec.check_quality(quality)
    t0 = time.perf_counter()
    data = pack(codec.encode(Image(img), q))
    t_enc = time.perf_counter() - t0
    t_dec, out = best_of(lambda: codec.decode(unpack(data)), repeats)
    fit_s = codec.timings["fit_s"]
    return {"image": [h, w, 3], "device": device, "torch_threads": torch.get_num_threads(),
            "codec": "overfit", "quality": q, "effort": effort, "steps": codec.steps,
            "encode_s": round(t_enc, 3), "fit_s": round(fit_s, 3), "seconds_per_step": round(fit_s / codec.steps, 5),
            "quantise_and_code_s": round(codec.timings["code_s"], 3), "decode_s": round(t_dec, 4),
            "decoder_macs_per_pixel": round(OverfitImage(h, w, codec.config).macs_per_pixel(), 1),
            "bytes": len(data), "bpp": round(8 * len(data) / (h * w), 4),
            "psnr_db": round(float(metrics.psnr(img, out.pixels)), 3)}
