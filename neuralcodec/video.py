"""Video in and out through PyAV: files (MP4, MKV, AVI, WebM, MOV, Y4M) and folders of PNG frames.

    read:   open_video(path) -> VideoSource(width, height, fps, frames?, audio?) ; .frames(n) yields
            uint8 (h, w, 3) RGB frames, at most n, in order, one at a time (bounded memory)
    write:  video_writer(path, width, height, fps) as w: w.write(frame) ...
            .mkv  FFV1, RGB (bgr0): lossless       .y4m  4:4:4 YUV: lossless up to RGB<->YUV rounding
            .mp4  H.264 4:4:4 at CRF 12: lossy     a folder (no extension): 000000.png, 000001.png, ...

Odd sizes work everywhere (4:4:4 has no chroma subsampling to round to). An audio track is
reported (``has_audio``) and not read.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import NeuralCodecError

WRITERS = {".mkv": ("ffv1", "bgr0", {}), ".y4m": ("rawvideo", "yuv444p", {}),
           ".mp4": ("libx264", "yuv444p", {"crf": "12", "preset": "medium"})}
LOSSY_OUT = {".mp4": "H.264 at CRF 12", ".y4m": "RGB to 4:4:4 YUV rounding"}
MAX_SIDE = 1 << 14


@dataclass
class VideoSource:
    """A readable clip: its size, rate, frame count when the container states it, and whether it
    carries audio. ``frames(limit)`` decodes lazily."""

    width: int
    height: int
    fps: float
    count: int | None
    has_audio: bool
    _frames: Callable[[int | None], Iterator[np.ndarray]]

    def frames(self, limit: int | None = None) -> Iterator[np.ndarray]:
        """uint8 ``(height, width, 3)`` frames, at most ``limit``."""
        return self._frames(limit)


def _check_size(path: Path, w: int, h: int) -> None:
    if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
        raise NeuralCodecError(f"{path}: frame size {w}x{h} is outside 1..{MAX_SIDE}")


def _png_folder(path: Path) -> VideoSource:
    from .media import load_image
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise NeuralCodecError(f"{path}: a folder of frames needs PNG files")
    first = load_image(files[0]).pixels
    h, w = first.shape[:2]
    _check_size(path, w, h)

    def frames(limit):
        for f in files[:limit]:
            px = load_image(f).pixels
            if px.shape[:2] != (h, w):
                raise NeuralCodecError(f"{f}: {px.shape[1]}x{px.shape[0]}, but the first frame is {w}x{h}")
            yield px
    return VideoSource(w, h, 25.0, len(files), False, frames)


def open_video(path: Path) -> VideoSource:
    """The clip at ``path`` (a video file or a folder of PNG frames, 25 fps)."""
    path = Path(path)
    if path.is_dir():
        return _png_folder(path)
    import av
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise NeuralCodecError(f"{path}: no video stream")
            s = c.streams.video[0]
            w, h = s.codec_context.width, s.codec_context.height
            fps = float(s.average_rate or s.guessed_rate or 25)
            count, audio = (s.frames or None), bool(c.streams.audio)
    except av.error.FFmpegError as e:
        raise NeuralCodecError(f"{path}: not a readable video ({type(e).__name__})") from None
    _check_size(path, w, h)

    def frames(limit):
        n = 0
        try:
            with av.open(str(path)) as c:
                for f in c.decode(video=0):
                    if limit is not None and n >= limit:
                        return
                    px = f.to_ndarray(format="rgb24")
                    if px.shape[:2] != (h, w):
                        raise NeuralCodecError(f"{path}: frame {n} is {px.shape[1]}x{px.shape[0]}, not {w}x{h}")
                    n += 1
                    yield px
        except av.error.FFmpegError as e:
            raise NeuralCodecError(f"{path}: frame {n} is not decodable ({type(e).__name__})") from None
    return VideoSource(w, h, fps, count, audio, frames)


@contextlib.contextmanager
def video_writer(path: Path, width: int, height: int, fps: float, ext: str | None = None):
    """A writer with ``.write(frame)`` for uint8 ``(height, width, 3)`` frames; the format comes
    from ``ext`` or else the extension (:data:`WRITERS`), and a path without one (``ext=""``) is a
    folder of PNG frames."""
    path = Path(path)
    ext = (path.suffix if ext is None else ext).lower()
    if ext == "":
        yield _FolderWriter(path)
        return
    if ext not in WRITERS:
        raise NeuralCodecError(f"{path}: choose .mkv (lossless), .y4m, .mp4 or a folder for video")
    import av
    codec, pix, options = WRITERS[ext]
    fmt = {".y4m": "yuv4mpegpipe", ".mkv": "matroska", ".mp4": "mp4"}[ext]
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        s.width, s.height, s.pix_fmt, s.options = width, height, pix, dict(options)
        yield _StreamWriter(c, s, width, height)
        for pkt in s.encode():
            c.mux(pkt)


class _StreamWriter:
    def __init__(self, container, stream, width: int, height: int):
        self.c, self.s, self.shape = container, stream, (height, width, 3)

    def write(self, frame: np.ndarray) -> None:
        import av
        if frame.shape != self.shape or frame.dtype != np.uint8:
            raise ValueError(f"frame {frame.shape} {frame.dtype}, expected {self.shape} uint8")
        for pkt in self.s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
            self.c.mux(pkt)


class _FolderWriter:
    def __init__(self, path: Path):
        path.mkdir(parents=True, exist_ok=True)
        self.path, self.n = path, 0

    def write(self, frame: np.ndarray) -> None:
        from .media import save_image
        save_image(self.path / f"{self.n:06d}.png", frame)
        self.n += 1
