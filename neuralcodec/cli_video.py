"""``encode`` and ``decode`` for video: frames stream through the codec a group at a time.

    encode CLIP OUT.ncdc      CLIP: MP4, MKV, AVI, WebM, MOV, Y4M, or a folder of PNG frames
    decode IN.ncdc OUT        OUT: .mkv (lossless RGB, FFV1), .y4m (4:4:4), .mp4 (H.264, lossy)
                              or a path without an extension (a folder of PNG frames)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from .errors import NeuralCodecError


def encode_video(codec, src: Path, dst: Path, quality, a: argparse.Namespace) -> int:
    from .entropy.container import pack
    from .fileio import write_bytes_atomic
    from .media import Video
    from .video import open_video
    source = open_video(src)
    if source.has_audio:
        print(f"note: {src}: the audio track is not coded (video only)", file=sys.stderr)
    t0 = time.perf_counter()
    container = codec.encode(Video(source.frames(), source.width, source.height, source.fps, source.count), quality)
    data = pack(container)
    seconds = time.perf_counter() - t0
    write_bytes_atomic(dst, data, a.force)
    f = container.fields
    n, w, h = int(f["frames"]), int(f["width"]), int(f["height"])
    bpp = 8 * len(data) / (n * w * h)
    summary = {"output": str(dst), "codec": codec.info.name, "quality": quality, "bytes": len(data),
               "frames": n, "width": w, "height": h, "fps": f["fps"], "bpp": round(bpp, 5),
               "kbps": round(8 * len(data) / (n / float(f["fps"])) / 1000, 3),
               "encode_seconds": round(seconds, 3), "effort": getattr(codec, "effort", None)}
    print(json.dumps(summary) if a.json else
          f"wrote {dst}: {len(data)} bytes, {n} frames of {w}x{h}, {bpp:.4f} bpp ({codec.info.name}) in {seconds:.1f} s")
    return 0


def check_video_out(dst: Path) -> None:
    from .video import WRITERS
    if dst.suffix and dst.suffix.lower() not in WRITERS:
        raise NeuralCodecError(f"{dst}: choose {', '.join(WRITERS)} or a path without an extension (PNG frames)")


def decode_video(codec, c, dst: Path, a: argparse.Namespace) -> int:
    from .fileio import atomic_path
    from .video import LOSSY_OUT, video_writer
    t0 = time.perf_counter()
    video = codec.decode(c)
    n = 0
    ext = dst.suffix.lower()
    with (_folder(dst, a.force) if not ext else atomic_path(dst, a.force)) as tmp:
        with video_writer(tmp, video.width, video.height, video.fps, ext) as w:
            for frame in video.frames:
                w.write(frame)
                n += 1
    seconds = time.perf_counter() - t0
    if ext in LOSSY_OUT:
        print(f"note: {dst}: {LOSSY_OUT[ext]} is lossy; .mkv keeps the decoded frames exactly", file=sys.stderr)
    print(f"wrote {dst}: {n} frames of {video.width}x{video.height} at {video.fps:g} fps ({c.codec}) "
          f"in {seconds:.2f} s ({n / max(seconds, 1e-9):.1f} frames/s)")
    return 0


class _folder:
    """A folder written beside ``path`` and renamed onto it on success (an old one, with
    ``force``, is removed only then)."""

    def __init__(self, path: Path, force: bool):
        if os.path.lexists(path) and not force:
            raise NeuralCodecError(f"{path} exists; pass --force to overwrite it")
        if not path.parent.is_dir():
            raise NeuralCodecError(f"folder {path.parent} does not exist")
        self.path, self.tmp = path, path.with_name(f".{path.name}.part")

    def __enter__(self) -> Path:
        shutil.rmtree(self.tmp, ignore_errors=True)
        try:
            self.tmp.mkdir()
        except OSError as e:
            raise NeuralCodecError(f"{self.path}: cannot write ({e.strerror or e})") from None
        return self.tmp

    def __exit__(self, kind, value, tb) -> None:
        if kind is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        old = self.path.with_name(f".{self.path.name}.old")
        try:
            if os.path.lexists(self.path):
                os.replace(self.path, old)
            os.replace(self.tmp, self.path)
        except OSError as e:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise NeuralCodecError(f"{self.path}: cannot write ({e.strerror or e})") from None
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        elif os.path.lexists(old):
            os.unlink(old)
