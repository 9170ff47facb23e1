"""How much of a learned image codec's top-quality loss is its encoder's: the amortization gap.

    python research/latent_ceiling.py [WEIGHTS] [--quality 11] [--steps 300] [--crop 256] [--files 4] [--refine 30]

For the centre ``crop x crop`` of each of the first ``--files`` images of ``--data`` and quality q:
PSNR (8-bit, as decoded) of ``g_s(g_a(x) * gain[q] * inv_gain[q])`` (what the encoder gives the decoder, with no
quantization: the transform ceiling of research/transform_ceiling.py) beside PSNR of ``g_s(y*)``,
where ``y*`` starts there and takes ``--steps`` Adam steps (lr 1e-2) on the MSE alone: what the
decoder can draw from some latent. Rate is ignored on both sides, so the difference bounds what a
better encoder could add at high rates, not what it would cost. ``--refine STEPS`` also codes
each crop (through the container) with the default encoder and with ``encode --refine STEPS``,
whose bytes and PSNR say how much of that room per-image optimisation takes once rate counts.
Prints JSON lines, then the means.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="?", default=None, help="mref or hyperprior weights (default: the shipped mref)")
    ap.add_argument("--quality", type=int, default=11)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--data", default="image-eval")
    ap.add_argument("--files", type=int, default=4, help="the first N files of --data")
    ap.add_argument("--refine", type=int, default=0, help="also code each crop plainly and with this many refine steps")
    a = ap.parse_args(argv)
    import torch
    from neuralcodec.codecs.image.learned import ASSETS, weights_metadata
    from neuralcodec.codecs.weights import codec_from_weights
    from neuralcodec.datasets import DEFAULT_DEST, split_files
    from neuralcodec.entropy.container import pack, unpack
    from neuralcodec.eval.metrics import psnr
    from neuralcodec.media import IMAGE_EXTS, Image, load_image
    torch.manual_seed(0)
    path = Path(a.weights) if a.weights else ASSETS / "mref.safetensors"
    codec = codec_from_weights(weights_metadata(path)[0], path)
    model = codec.model
    coders = {"plain": codec, f"refine{a.refine}": type(codec)(model, refine=a.refine)} if a.refine else {}
    for p in model.parameters():
        p.requires_grad_(False)
    q = torch.tensor([a.quality - 1])
    a_scale, s_scale = codec.scales(a.quality)   # per-quality transform scales, if the model has them
    g_a, g_s = codec.model.g_a, codec.model.g_s
    files = [f for f in split_files(a.data, DEFAULT_DEST) if f.suffix.lower() in IMAGE_EXTS][: a.files]

    def drawn(y: torch.Tensor):
        """g_s(y) as the decoder writes it: 8-bit pixels ``(c, c, 3)``."""
        with torch.no_grad():
            return (g_s(y, s_scale).clamp(0, 1)[0].permute(1, 2, 0) * 255).round().byte().numpy()

    rows = []
    for f in files:
        px = load_image(f).pixels
        h, w, _ = px.shape
        c = min(a.crop, h, w) // 16 * 16
        top, left = (h - c) // 2, (w - c) // 2
        img = Image(px[top:top + c, left:left + c].copy())
        x = torch.from_numpy(img.pixels).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            y0 = g_a(x, a_scale) * (model.gain[q] * model.inv_gain[q]).view(1, -1, 1, 1)
        y = y0.clone().requires_grad_(True)
        opt = torch.optim.Adam([y], lr=1e-2)
        for _ in range(a.steps):
            opt.zero_grad()
            (g_s(y, s_scale) - x).pow(2).mean().backward()
            opt.step()
        rows.append({"file": f.name, "crop": c, "encoder_psnr": round(psnr(img.pixels, drawn(y0)), 3),
                     "free_latent_psnr": round(psnr(img.pixels, drawn(y.detach())), 3)})
        for name, coder in coders.items():
            data = pack(coder.encode(img, a.quality))
            rows[-1][f"{name}_bpp"] = round(8 * len(data) / c**2, 4)
            rows[-1][f"{name}_psnr"] = round(psnr(img.pixels, coder.decode(unpack(data)).pixels), 3)
        print(json.dumps(rows[-1]), flush=True)
    means = {k: round(sum(r[k] for r in rows) / len(rows), 4) for k in rows[0] if k not in ("file", "crop")}
    print(json.dumps({"weights": str(path), "quality": a.quality, "steps": a.steps, "data": a.data,
                      "files": len(rows), "means": means}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
