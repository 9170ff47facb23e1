"""Files <-> arrays, only at the edges. Images are uint8 ``(H, W, 3)`` RGB numpy arrays; audio is
float32 ``(C, N)`` in [-1, 1] with its sample rate; video is a stream of image frames with its
size and frame rate (files in video.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

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


@dataclass
class Video:
    """``frames``: uint8 ``(height, width, 3)`` frames in order, read once (a generator keeps a
    long clip out of memory); ``count`` when known beforehand."""

    frames: Iterable[np.ndarray]
    width: int
    height: int
    fps: float
    count: int | None = None


def guess_modality(path: Path) -> str:
    ext = path.suffix.lower()
    for modality, exts in (("image", IMAGE_EXTS), ("audio", AUDIO_EXTS), ("video", VIDEO_EXTS)):
        if ext in exts:
            return modality
    raise NeuralCodecError(f"{path}: cannot tell the kind of media from the extension {ext!r}")


SIXTEEN_BIT_GREY = ("I;16", "I;16L", "I;16B", "I;16N")
EIGHT_BIT_MODES = ("RGB", "RGBA", "RGBX", "L", "LA", "1", "P", "PA", "CMYK", "YCbCr")


def _sixteen_bit_grey(im) -> tuple[np.ndarray, str]:
    """16-bit (or 32-bit integer holding 16-bit) grey -> uint8 RGB: the high byte, as Pillow does
    for 16-bit colour channels, so every 16-bit input maps the same way (0 -> 0, 65535 -> 255)."""
    v = np.asarray(im)
    if v.size and (int(v.min()) < 0 or int(v.max()) > 65535):
        raise NeuralCodecError(f"{im.mode} grey values outside 0..65535: the range to scale from is unknown")
    grey = (v.astype(np.uint32) >> 8).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2), f"scaled 16-bit grey ({im.mode}) to 8-bit RGB"


def load_image(path: Path) -> Image:
    """Any 8-bit mode Pillow reads, converted to RGB (alpha dropped), and 16-bit channels scaled
    to 8 bits by their high byte; each conversion is named in ``notes``. Float images and modes
    without a defined RGB conversion are refused."""
    import warnings
    from PIL import Image as PILImage, UnidentifiedImageError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)   # an error, not a stderr leak
            with PILImage.open(path) as im:
                deep = any(";16" in str(getattr(t, "args", t)) for t in im.tile)
                im.load()
                mode, notes = im.mode, []
                if mode in SIXTEEN_BIT_GREY or mode == "I":
                    pixels, note = _sixteen_bit_grey(im)
                    return Image(pixels, [note])
                if mode not in EIGHT_BIT_MODES:
                    raise NeuralCodecError(f"{path}: image mode {mode} has no defined 8-bit RGB form; "
                                           "convert it to RGB first")
                if deep:
                    notes.append("scaled 16-bit channels to 8 bits (high byte)")
                if mode != "RGB":
                    notes.append(f"converted {mode} to RGB" + (" (alpha dropped)" if "A" in mode else ""))
                    im = im.convert("RGB")
                return Image(np.asarray(im, dtype=np.uint8).copy(), notes)
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as e:
        raise NeuralCodecError(f"{path}: image too large ({e})") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise NeuralCodecError(f"{path}: not a readable image ({e})") from None


def image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` from the file's header, without decoding its pixels (so a size limit can
    refuse a big input before it is read)."""
    import warnings
    from PIL import Image as PILImage, UnidentifiedImageError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            with PILImage.open(path) as im:
                return im.height, im.width
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


class AudioSource:
    """Audio read block by block, so an hour of it never sits in memory at once.

    ``sample_rate`` and ``channels`` are known up front; ``frames`` is the length when the
    format tells it (``None`` for compressed streams read through PyAV). :meth:`blocks` yields
    float32 ``(C, n)`` arrays in file order."""

    def __init__(self, sample_rate: int, channels: int, frames: int | None, blocks):
        self.sample_rate, self.channels, self.frames, self._blocks = sample_rate, channels, frames, blocks

    def blocks(self, size: int = 1 << 16):
        return self._blocks(size)

    @classmethod
    def from_audio(cls, audio: Audio) -> "AudioSource":
        x = np.asarray(audio.samples, np.float32)
        if x.ndim != 2 or x.shape[0] < 1:
            raise NeuralCodecError(f"audio samples must be (channels, frames), got {x.shape}")
        return cls(int(audio.sample_rate), x.shape[0], x.shape[1],
                   lambda size: (x[:, i:i + size] for i in range(0, x.shape[1], size)))


def open_audio(path: Path) -> AudioSource:
    """WAV/FLAC/OGG through soundfile (streamed); MP3/Opus/anything FFmpeg reads through PyAV."""
    import soundfile as sf
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError):
        info = None
    if info is not None and info.frames > 0:
        def blocks(size):
            with sf.SoundFile(str(path)) as f:
                while True:
                    b = f.read(size, dtype="float32", always_2d=True)
                    if not len(b):
                        return
                    yield np.ascontiguousarray(b.T)
        return AudioSource(int(info.samplerate), int(info.channels), int(info.frames), blocks)
    try:
        import av
        with av.open(str(path)) as c:
            stream = c.streams.audio[0]
            sr, ch = int(stream.rate), int(stream.channels)
    except (ImportError, IndexError, av.error.FFmpegError) as e:
        raise NeuralCodecError(f"{path}: not readable audio ({e})") from None
    if not sr or not ch:
        raise NeuralCodecError(f"{path}: audio stream without a sample rate or channels")

    def av_blocks(size):
        with av.open(str(path)) as c:
            for frame in c.decode(audio=0):
                yield frame.to_ndarray(format="fltp").astype(np.float32).reshape(ch, -1)
    return AudioSource(sr, ch, None, av_blocks)


def audio_writer(path: Path, sample_rate: int, channels: int, fmt: str | None = None):
    """A soundfile writer (WAV/FLAC/OGG by extension or ``fmt``), 16-bit PCM where the format has it."""
    import soundfile as sf
    ext = (fmt or Path(path).suffix.lstrip(".")).upper()
    fmt = {"WAV": "WAV", "FLAC": "FLAC", "OGG": "OGG"}.get(ext)
    if fmt is None:
        raise NeuralCodecError(f"{path}: audio is decoded to .wav, .flac or .ogg")
    subtype = "VORBIS" if fmt == "OGG" else "PCM_16"
    return sf.SoundFile(str(path), "w", samplerate=sample_rate, channels=channels, format=fmt, subtype=subtype)
