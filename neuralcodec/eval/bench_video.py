"""``neuralcodec bench video``: encode time per frame and decode frames per second of ``nerv``.

One encode of ``frames`` frames of a clip (a file, or a synthetic 320x240 scene: a textured
background panning under a moving disc) at ``effort``; then the decode, timed in process (best of
``repeats``) and as a whole process (``neuralcodec decode`` to lossless .mkv, interpreter start and
file writing included). Bits per pixel and PSNR describe that clip only; ``eval rd`` measures RD.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .bench_entropy import best_of


def test_clip(frames: int = 32, height: int = 240, width: int = 320) -> np.ndarray:
    """uint8 ``(frames, height, width, 3)``: smooth texture panning 2 px a frame, a disc moving across."""
    rng = np.random.default_rng(0)
    big = np.zeros((height, width + 2 * frames, 3))
    y, x = np.mgrid[0:height, 0:width + 2 * frames] / 40.0
    for c in range(3):
        for _ in range(6):
            fy, fx, ph = rng.uniform(0.2, 1.5, 3)
            big[..., c] += np.sin(fy * y + fx * x + 6 * ph)
    big = 128 + 60 * big / 3
    out = []
    yy, xx = np.mgrid[0:height, 0:width]
    for t in range(frames):
        f = big[:, 2 * t: 2 * t + width].copy()
        cy, cx = height / 2, width * (0.2 + 0.6 * t / max(frames - 1, 1))
        f[(yy - cy) ** 2 + (xx - cx) ** 2 < (height / 6) ** 2] = (220, 60, 40)
        out.append(f)
    return np.clip(np.stack(out), 0, 255).astype(np.uint8)


def run(clip: Path | None = None, frames: int = 32, effort: float = 1.0, repeats: int = 3,
        device: str = "cpu", quality: int | None = None) -> dict:
    from ..codecs.video.nerv import NervGroup
    from ..codecs.video.nerv_codec import NervCodec
    from ..entropy.container import pack, unpack
    from ..media import Video
    from ..video import open_video
    if clip is None:
        x, fps, name = test_clip(frames), 25.0, "synthetic pan 320x240"
    else:
        src = open_video(clip)
        x, fps, name = np.stack(list(src.frames(frames))), src.fps, str(clip)
    t, h, w, _ = x.shape
    codec = NervCodec(effort=effort, device=device)
    q = codec.check_quality(quality)
    t0 = time.perf_counter()
    data = pack(codec.encode(Video(iter(x), w, h, fps, t), q))
    t_enc = time.perf_counter() - t0
    t_dec, out = best_of(lambda: np.stack(list(codec.decode(unpack(data)).frames)), repeats)
    with tempfile.TemporaryDirectory() as d:
        coded = Path(d) / "clip.ncdc"
        coded.write_bytes(data)
        t1 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "neuralcodec", "decode", str(coded), str(Path(d) / "out.mkv")],
                       check=True, capture_output=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        t_proc = time.perf_counter() - t1
    mse = float(np.mean((out.astype(np.float64) - x) ** 2))
    group = codec.group_for(h, w)
    steps = codec.steps * -(-t // group)
    return {"clip": name, "frames": t, "height": h, "width": w, "device": device,
            "torch_threads": torch.get_num_threads(), "codec": "nerv", "quality": q, "effort": effort,
            "fit_steps": steps, "encode_s": round(t_enc, 2), "encode_s_per_frame": round(t_enc / t, 3),
            "fit_s": round(codec.timings["fit_s"], 2), "seconds_per_step": round(codec.timings["fit_s"] / steps, 4),
            "quantise_and_code_s": round(codec.timings["code_s"], 2),
            "decode_s": round(t_dec, 3), "decode_fps": round(t / t_dec, 2),
            "decode_process_s": round(t_proc, 3), "decode_process_fps": round(t / t_proc, 2),
            "decoder_macs_per_pixel": round(NervGroup(min(t, group), h, w, codec.config).macs_per_pixel(), 1),
            "bytes": len(data), "bpp": round(8 * len(data) / (t * h * w), 5),
            "psnr_db": round(10 * np.log10(255 ** 2 / max(mse, 1e-12)), 3)}
