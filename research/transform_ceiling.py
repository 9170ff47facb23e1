"""What caps a learned image codec's top quality: its transforms or its quantization?

    python research/transform_ceiling.py [WEIGHTS] [--qualities 5,9] [--data image-eval] [--files 4]

For each image and quality q, PSNR of the coded file (the real codec, through the container)
beside PSNR of ``g_s(g_a(x) * gain[q] * inv_gain[q])``: the same transforms with no quantization
at all. When the two meet, the transforms (not the entropy model or the rate) are the ceiling.
Prints JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="?", default=None, help="mref or hyperprior weights (default: the shipped mref)")
    ap.add_argument("--qualities", default="5,9")
    ap.add_argument("--data", default="image-eval")
    ap.add_argument("--files", type=int, default=4, help="the first N files of --data")
    a = ap.parse_args(argv)
    import torch
    from neuralcodec.codecs.image.hyperprior import pad
    from neuralcodec.codecs.image.learned import ASSETS, weights_metadata
    from neuralcodec.codecs.weights import codec_from_weights
    from neuralcodec.datasets import DEFAULT_DEST, split_files
    from neuralcodec.entropy.container import pack, unpack
    from neuralcodec.eval.metrics import psnr
    from neuralcodec.media import IMAGE_EXTS, load_image
    path = Path(a.weights) if a.weights else ASSETS / "mref.safetensors"
    codec = codec_from_weights(weights_metadata(path)[0], path)
    model = codec.model
    qualities = [int(q) for q in a.qualities.split(",")]
    files = [f for f in split_files(a.data, DEFAULT_DEST) if f.suffix.lower() in IMAGE_EXTS][: a.files]
    rows = []
    with torch.no_grad():
        for f in files:
            img = load_image(f)
            h, w, _ = img.pixels.shape
            x = torch.from_numpy(img.pixels).permute(2, 0, 1)[None].float() / 255
            row = {"file": f.name}
            for q in qualities:
                a_scale, s_scale = codec.scales(q)   # per-quality transform scales, if the model has them
                g_a, g_s = codec.model.g_a, codec.model.g_s
                y = g_a(pad(x), a_scale)
                scale = (model.gain[q - 1] * model.inv_gain[q - 1]).view(1, -1, 1, 1)
                x_u = g_s(y * scale, s_scale).clamp(0, 1)[0, :, :h, :w]
                unquantized = (x_u.permute(1, 2, 0) * 255).round().byte().numpy()
                data = pack(codec.encode(img, q))
                coded = codec.decode(unpack(data)).pixels
                row[f"q{q}"] = {"bpp": round(8 * len(data) / (h * w), 4), "coded_psnr": round(psnr(img.pixels, coded), 3),
                                "unquantized_psnr": round(psnr(img.pixels, unquantized), 3)}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    means = {f"q{q}": {k: round(sum(r[f"q{q}"][k] for r in rows) / len(rows), 3)
                       for k in ("bpp", "coded_psnr", "unquantized_psnr")} for q in qualities}
    print(json.dumps({"weights": str(path), "data": a.data, "files": len(rows), "means": means, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
