"""``neuralcodec bench memory``: peak memory of an image codec on a large image.

Encode (from a PNG, as the CLI reads it) and decode each run in a child process, so each peak
RSS (``ru_maxrss``) is its own; its growth over the RSS with the model loaded, per pixel, is what
``bytes_per_pixel`` of the codec bounds (limits.py). The image is the synthetic photo-like test image of ``bench image``; a learned model
is untrained unless ``--weights`` is given (memory does not depend on trained values); ``overfit``
fits for a few steps (every step holds the same graph), so use a smaller ``--size`` (e.g. 1024).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path


def _child(step: str, codec: str, size: int, weights: str, path: str) -> None:
    import resource
    import time

    if step == "image":   # its own child: Linux keeps a parent's peak RSS in its children's ru_maxrss
        from PIL import Image as PILImage

        from .bench_image import test_image
        PILImage.fromarray(test_image(size, size)).save(Path(path).with_suffix(".png"))
        return
    import torch

    from ..codecs.base import get_codec
    from ..codecs.image.hyperprior_codec import HyperpriorCodec
    from ..codecs.image.learned import build_model, load_model
    from ..codecs.image.mref_codec import MrefCodec
    from ..entropy.container import pack, unpack
    from ..media import load_image
    torch.manual_seed(0)
    if codec == "lossless":
        ours, quality = get_codec("lossless"), None
    elif codec == "overfit":   # a few fitting steps: each step holds the same graph
        from ..codecs.image.overfit_codec import OverfitCodec
        ours, quality = OverfitCodec(effort=0.01), None
    else:
        model = load_model(Path(weights)) if weights else build_model(codec, {"n": 128, "m": 192})
        ours, quality = (MrefCodec if hasattr(model, "cc") else HyperpriorCodec)(model), 3
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1000   # interpreter, torch, model
    t0 = time.perf_counter()
    if step == "encode":   # as the CLI does: the PNG read, then coded
        Path(path).write_bytes(pack(ours.encode(load_image(Path(path).with_suffix(".png")), quality)))
    else:
        ours.decode(unpack(Path(path).read_bytes()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1000
    print(json.dumps({"seconds": round(time.perf_counter() - t0, 1), "peak_rss_gb": round(peak / 1e9, 2),
                      "bytes_per_pixel": round((peak - before) / (size * size), 1)}))


def run(size: int = 4096, codec: str = "hyperprior", weights: str | None = None) -> dict:
    from ..limits import memory_limit
    report = {"image": [size, size], "codec": codec, "weights": weights or "untrained",
              "limit_gb": round(memory_limit() / 1e9, 2)}
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "big.ncdc")
        for step in ("image", "encode", "decode"):
            out = subprocess.run([sys.executable, "-m", "neuralcodec.eval.bench_memory", step, codec, str(size),
                                  weights or "", path], capture_output=True, text=True, check=True)
            if step != "image":
                report[step] = json.loads(out.stdout.strip().splitlines()[-1])
        report["bytes"] = Path(path).stat().st_size
    report["within_limit"] = all(report[s]["peak_rss_gb"] <= report["limit_gb"] for s in ("encode", "decode"))
    return report


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
