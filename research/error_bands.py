"""Where a decoded image's error lies in frequency: what a codec fails to draw.

    python research/error_bands.py ORIGINAL DECODED [DECODED ...]

For each decoded image: PSNR (RGB, 8-bit) against ORIGINAL, the mean error of each channel (a
colour bias), and the share of the error's energy
(grey level of decoded - original, 2-D FFT) in bands of max(|fx|, |fy|) cycles per pixel:
[0, 1/32), [1/32, 1/16), [1/16, 1/8), [1/8, 1/4), [1/4, 1/2]. A codec that blurs puts its error
in the last bands. One JSON line per decoded image.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

EDGES = (0, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 0.5 + 1e-9)


def bands(original: np.ndarray, decoded: np.ndarray) -> dict:
    """``original``, ``decoded``: uint8 ``(H, W, 3)`` -> {"psnr": dB, "bias": [R, G, B] levels, "bands": {label: share}}."""
    from neuralcodec.eval.metrics import psnr
    err = decoded.astype(np.float64) - original.astype(np.float64)
    energy = np.abs(np.fft.fft2(err.mean(2))) ** 2
    h, w = energy.shape
    f = np.maximum(np.abs(np.fft.fftfreq(h))[:, None], np.abs(np.fft.fftfreq(w))[None, :])
    total = float(energy.sum()) or 1.0
    shares = {f"{lo:.4g}-{min(hi, 0.5):.4g}": round(float(energy[(f >= lo) & (f < hi)].sum()) / total, 4)
              for lo, hi in zip(EDGES, EDGES[1:])}
    return {"psnr": round(psnr(original, decoded), 3), "bias": [round(float(b), 3) for b in err.mean((0, 1))],
            "bands": shares}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("original")
    ap.add_argument("decoded", nargs="+")
    a = ap.parse_args(argv)
    from neuralcodec.media import load_image
    ref = load_image(a.original).pixels
    for d in a.decoded:
        px = load_image(d).pixels
        if px.shape != ref.shape:
            raise SystemExit(f"{d}: shape {px.shape} is not the original's {ref.shape}")
        print(json.dumps({"decoded": d, **bands(ref, px)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
