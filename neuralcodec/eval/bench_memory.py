"""``neuralcodec bench memory``: peak memory of a learned image codec on a large image.

Encode and decode each run in a child process, so each peak RSS (``ru_maxrss``) is its own.
The image is the synthetic photo-like test image of ``bench image``; the model is untrained
unless ``--weights`` is given (memory does not depend on trained values).
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

    import torch

    from ..codecs.image.hyperprior_codec import HyperpriorCodec
    from ..codecs.image.learned import build_model, load_model
    from ..codecs.image.mref_codec import MrefCodec
    from ..entropy.container import pack, unpack
    from ..media import Image
    from .bench_image import test_image
    torch.manual_seed(0)
    model = load_model(Path(weights)) if weights else build_model(codec, {"n": 128, "m": 192})
    ours = (MrefCodec if hasattr(model, "cc") else HyperpriorCodec)(model)
    t0 = time.perf_counter()
    if step == "encode":
        Path(path).write_bytes(pack(ours.encode(Image(test_image(size, size)), 3)))
    else:
        ours.decode(unpack(Path(path).read_bytes()))
    print(json.dumps({"seconds": round(time.perf_counter() - t0, 1),
                      "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}))


def run(size: int = 4096, codec: str = "hyperprior", weights: str | None = None) -> dict:
    report = {"image": [size, size], "codec": codec, "weights": weights or "untrained", "limit_gb": 8 * 1.073741824}
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "big.ncdc")
        for step in ("encode", "decode"):
            out = subprocess.run([sys.executable, "-m", "neuralcodec.eval.bench_memory", step, codec, str(size),
                                  weights or "", path], capture_output=True, text=True, check=True)
            report[step] = json.loads(out.stdout.strip().splitlines()[-1])
        report["bytes"] = Path(path).stat().st_size
    report["within_limit"] = all(report[s]["peak_rss_gb"] <= report["limit_gb"] for s in ("encode", "decode"))
    return report


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
