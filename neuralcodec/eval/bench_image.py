"""``neuralcodec bench image``: our learned codec beside CompressAI's ``bmshj2018_hyperprior``.

Both at N=128, M=192 (ours: ``hyperprior`` or ``mref``) on the same 768x512 image in one run, CompressAI at quality 3, untrained,
after ``update()`` (speed does not depend on trained values). Ours is timed through the whole
codec (padding, transforms, exact hyper-decoder, rANS, container); CompressAI through
``compress``/``decompress``. Times are the best of ``repeats`` (one run for a ``refine`` encode).
"""
from __future__ import annotations

import numpy as np
import torch

from .bench_entropy import best_of as _best


def test_image(h: int = 512, w: int = 768, seed: int = 0) -> np.ndarray:
    """A deterministic photo-like uint8 ``(h, w, 3)`` image (smooth shapes plus texture)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([np.sin(7 * x + 3 * y), np.cos(5 * x * y + 2), np.sin(11 * y) * np.cos(3 * x)], -1)
    return np.clip(127 + 90 * img + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def run(repeats: int = 3, image: np.ndarray | None = None, weights: str | None = None,
        codec: str = "hyperprior", device: str = "cpu", refine: int = 0, precision: str = "float32") -> dict:
    """``refine`` > 0 also times one encode with that many refinement steps (``encode --refine``);
    ``precision``: our transforms' arithmetic (learned.PRECISIONS; CompressAI's stays float32)."""
    from ..codecs.image.hyperprior_codec import HyperpriorCodec
    from ..codecs.image.learned import build_model, load_model
    from ..codecs.image.mref_codec import MrefCodec
    from ..entropy.container import pack, unpack
    from ..media import Image
    img = test_image() if image is None else image
    torch.manual_seed(0)
    model = load_model(weights) if weights else build_model(codec, {"n": 128, "m": 192})
    ours = (MrefCodec if hasattr(model, "cc") else HyperpriorCodec)(model, device=device, precision=precision)
    t_enc, data = _best(lambda: pack(ours.encode(Image(img), 3)), repeats)
    t_dec, _ = _best(lambda: ours.decode(unpack(data)), repeats)
    report = {"image": list(img.shape), "device": device, "torch_threads": torch.get_num_threads(),
              "ours": {"codec": ours.info.name, "weights": weights or "untrained",
                       "precision": precision, "transform_dtype": str(ours.transform_dtype).removeprefix("torch."), "encode_s": round(t_enc, 4), "decode_s": round(t_dec, 4),
                       "bytes": len(data)}}
    if refine:
        ours.refine = refine
        t_ref, refined = _best(lambda: pack(ours.encode(Image(img), 3)), 1)
        ours.refine = 0
        report["ours"].update(refine_steps=refine, refine_encode_s=round(t_ref, 4), refine_bytes=len(refined))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from compressai.zoo import bmshj2018_hyperprior
    net = bmshj2018_hyperprior(quality=3, pretrained=False).eval()
    net.update(force=True)
    net.to(device)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255).to(device)
    with torch.no_grad():
        c_enc, out = _best(lambda: net.compress(x), repeats)
        c_dec, _ = _best(lambda: net.decompress(out["strings"], out["shape"]), repeats)
    report["compressai"] = {"model": "bmshj2018_hyperprior q3 untrained", "encode_s": round(c_enc, 4),
                            "decode_s": round(c_dec, 4)}
    report["ratios"] = {"encode_ours_over_compressai": round(t_enc / c_enc, 2),
                        "decode_ours_over_compressai": round(t_dec / c_dec, 2)}
    if refine:
        report["ratios"]["refine_encode_ours_over_compressai"] = round(t_ref / c_enc, 1)
    return report
