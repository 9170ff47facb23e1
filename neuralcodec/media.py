"""Files <-> arrays, only at the edges. Images are uint8 ``(H, W, 3)`` RGB numpy arrays; audio is
float32 ``(C, N)`` in [-1, 1] with its sample rate."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import NeuralCodecError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".ppm", ".pgm", ".gif"}
AUDIO_EXTS = {".wav", ".flac", ".ogg", ".mp3", ".opus"}
VIDEO_EXTS = {".mp4", ".mkv", ".webm", ".avi", ".mov", ".y4m"}


@dataclass
class Image:
    """``pixels``: uint8 ``(H, W, 3)``; ``notes``: conversions made on load (shown by the CLI)."""

    pixels: np.ndarray
    notes: list[str] = field(default_factory=list)


def guess_modality(path: Path) -> str:
    ext = path.suffix.lower()
    for modality, exts in (("image", IMAGE_EXTS), ("audio", AUDIO_EXTS), ("video", VIDEO_EXTS)):
        if ext in exts:
            return modality
    raise NeuralCodecError(f"{path}: cannot tell the kind of media from the extension {ext!r}")


def load_image(path: Path) -> Image:
    from PIL import Image as PILImage, UnidentifiedImageError
    try:
        with PILImage.open(path) as im:
            im.load()
            mode, notes = im.mode, []
            if mode != "RGB":
                notes.append(f"converted {mode} to RGB" + (" (alpha dropped)" if "A" in mode else ""))
                im = im.convert("RGB")
            return Image(np.asarray(im, dtype=np.uint8).copy(), notes)
    except PILImage.DecompressionBombError as e:
        raise NeuralCodecError(f"{path}: image too large ({e})") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise NeuralCodecError(f"{path}: not a readable image ({e})") from None


def save_image(path: Path, pixels: np.ndarray, fmt: str | None = None) -> None:
    """Write ``pixels`` (uint8 ``(H, W, 3)``); the format comes from ``fmt`` or the extension."""
    from PIL import Image as PILImage
    try:
        PILImage.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), "RGB").save(path, format=fmt)
    except (KeyError, ValueError) as e:
        raise NeuralCodecError(f"{path}: cannot write this image format ({e})") from None


@dataclass
class Audio:
    """``samples``: float32 ``(C, N)``; ``sample_rate`` in Hz."""

    samples: np.ndarray
    sample_rate: int


def load_audio(path: Path) -> Audio:
    """WAV/FLAC/OGG through soundfile; anything else FFmpeg reads (Opus, MP3, ...) through PyAV."""
    import soundfile as sf
    try:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        return Audio(np.ascontiguousarray(x.T), int(sr))
    except (RuntimeError, sf.LibsndfileError):
        pass
    try:
        import av
        with av.open(str(path)) as c:
            stream = c.streams.audio[0]
            chunks = [f.to_ndarray(format="fltp") for f in c.decode(audio=0)]
            sr = int(stream.rate)
    except (ImportError, IndexError, av.error.FFmpegError) as e:
        raise NeuralCodecError(f"{path}: not readable audio ({e})") from None
    if not chunks:
        raise NeuralCodecError(f"{path}: no audio samples")
    return Audio(np.concatenate(chunks, axis=1).astype(np.float32), sr)
