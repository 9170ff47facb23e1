"""Is a decoded image systematically blurred? The best linear post-filter, fitted on one set, tried on another.

    python research/linear_post_filter.py [WEIGHTS] [--qualities 4,8,11] [--fit image-train] [--fit-files 14]
                                         [--data image-eval] [--kernel 7]

For each quality q, codes the first ``--fit-files`` images of ``--fit`` (in a fixed shuffle) and
fits, by least squares on every pixel, the ``K x K`` cross-channel filter (3·K·K weights and a
bias per output channel) that best predicts the error ``x - x_hat`` from the decoded ``x_hat``:
a Wiener filter. It then codes every image of ``--data`` and reports the mean PSNR before and
after the filter (output rounded to 8 bits). A gain near zero says the decoder's output holds no
linearly recoverable detail: what it loses, a post-filter that sees only pixels cannot give back.
Images are coded at most 768x512 (their top-left corner) to keep it quick. Prints JSON.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

MAX_H, MAX_W = 512, 768


def features(x_hat, k: int):
    """``x_hat (3, H, W)`` float -> ``(H*W, 3*k*k + 1)``: each pixel's k x k neighbourhood, and 1."""
    import torch
    padded = torch.nn.functional.pad(x_hat[None], (k // 2,) * 4, mode="replicate")
    cols = torch.nn.functional.unfold(padded, k)[0]
    return torch.cat([cols, torch.ones(1, cols.shape[-1], dtype=cols.dtype)]).T


def fit(pairs, k: int):
    """Least-squares filter ``(3*k*k + 1, 3)`` from ``[(x, x_hat)]`` (each ``(3, H, W)`` in [0, 1])."""
    import torch
    n = 3 * k * k + 1
    a, b = torch.zeros(n, n, dtype=torch.float64), torch.zeros(n, 3, dtype=torch.float64)
    for x, x_hat in pairs:
        f = features(x_hat, k).double()
        a += f.T @ f
        b += f.T @ (x - x_hat).reshape(3, -1).T.double()
    return torch.linalg.solve(a + 1e-6 * a.diagonal().mean() * torch.eye(n, dtype=a.dtype), b).float()


def apply(x_hat, weights, k: int):
    """The filtered image ``(3, H, W)``, clamped and rounded to 8-bit levels."""
    out = x_hat + (features(x_hat, k) @ weights).T.reshape(x_hat.shape)
    return (out.clamp(0, 1) * 255).round() / 255


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="?", default=None, help="mref or hyperprior weights (default: the shipped mref)")
    ap.add_argument("--qualities", default="4,8,11")
    ap.add_argument("--fit", default="image-train", help="split (or folder) the filter is fitted on")
    ap.add_argument("--fit-files", type=int, default=14)
    ap.add_argument("--data", default="image-eval", help="split (or folder) it is tried on")
    ap.add_argument("--kernel", type=int, default=7)
    a = ap.parse_args(argv)
    import numpy as np
    import torch
    from neuralcodec.codecs.image.learned import ASSETS, weights_metadata
    from neuralcodec.codecs.weights import codec_from_weights
    from neuralcodec.entropy.container import pack, unpack
    from neuralcodec.eval.metrics import psnr
    from neuralcodec.media import Image, load_image
    from neuralcodec.training.image import image_files
    path = Path(a.weights) if a.weights else ASSETS / "mref.safetensors"
    codec = codec_from_weights(weights_metadata(path)[0], path)

    def coded(f: Path, q: int):
        pixels = np.ascontiguousarray(load_image(f).pixels[:MAX_H, :MAX_W])
        decoded = codec.decode(unpack(pack(codec.encode(Image(pixels), q)))).pixels
        as_float = lambda p: torch.from_numpy(p).permute(2, 0, 1).float() / 255
        return as_float(pixels), as_float(decoded)

    fit_files = image_files(a.fit, "")
    random.Random(0).shuffle(fit_files)
    fit_files, test_files = fit_files[: a.fit_files], image_files(a.data, "")
    rows = {}
    with torch.no_grad():
        for q in (int(q) for q in a.qualities.split(",")):
            weights = fit([coded(f, q) for f in fit_files], a.kernel)
            before, after = [], []
            for f in test_files:
                x, x_hat = coded(f, q)
                to8 = lambda t: (t.permute(1, 2, 0) * 255).round().byte().numpy()
                before.append(psnr(to8(x), to8(x_hat)))
                after.append(psnr(to8(x), to8(apply(x_hat, weights, a.kernel))))
            rows[f"q{q}"] = {"psnr": round(float(np.mean(before)), 3), "filtered_psnr": round(float(np.mean(after)), 3),
                             "gain_db": round(float(np.mean(after) - np.mean(before)), 3)}
            print(json.dumps({f"q{q}": rows[f"q{q}"]}), file=sys.stderr)
    print(json.dumps({"weights": str(path), "fit": a.fit, "fit_files": len(fit_files), "data": a.data,
                      "files": len(test_files), "kernel": a.kernel, "qualities": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
