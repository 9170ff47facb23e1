"""Standard codecs and ours behind one interface, for rate-distortion sweeps.

Every codec is a :class:`Baseline`: ``points`` (its quality knob, low rate first), ``encode``
returning the *bytes of the file the codec writes* (so rates include its container) and
``decode``. Images: uint8 ``(H, W, 3)``. Audio: ``(float32 (N,), sample_rate)``.
Video: ``(uint8 (T, H, W, 3), fps)`` (odd sizes are cropped to even for yuv420p).
"""
from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Baseline:
    name: str
    modality: str
    param: str                                  # what a point means: quality, kbps, crf, ...
    points: tuple
    encode: Callable[[Any, Any], bytes]
    decode: Callable[[bytes], Any]
    available: Callable[[], bool] = lambda: True


# ---- images -------------------------------------------------------------------------------------
def _pil_codec(fmt: str, **fixed) -> tuple[Callable, Callable]:
    from PIL import Image

    def enc(pixels: np.ndarray, point) -> bytes:
        buf = io.BytesIO()
        kw = dict(fixed)
        if fmt == "JPEG2000":
            kw.update(quality_mode="rates", quality_layers=[float(point)], irreversible=True)
        else:
            kw["quality"] = int(point)
        Image.fromarray(pixels).save(buf, format=fmt, **kw)
        return buf.getvalue()

    def dec(data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))

    return enc, dec


def _jxl() -> tuple[Callable, Callable]:
    import imagecodecs
    return (lambda px, d: imagecodecs.jpegxl_encode(px, distance=float(d)),
            lambda data: np.asarray(imagecodecs.jpegxl_decode(data))[..., :3])


def _heif() -> tuple[Callable, Callable]:
    from PIL import Image

    def enc(pixels: np.ndarray, q) -> bytes:
        with tempfile.TemporaryDirectory() as d:
            Image.fromarray(pixels).save(Path(d) / "in.png")
            subprocess.run(["heif-enc", "-q", str(int(q)), "-o", str(Path(d) / "o.heic"), str(Path(d) / "in.png")],
                           check=True, capture_output=True)
            return (Path(d) / "o.heic").read_bytes()

    def dec(data: bytes) -> np.ndarray:
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "o.heic").write_bytes(data)
            tool = shutil.which("heif-dec") or "heif-convert"  # Debian 12 ships heif-convert
            subprocess.run([tool, str(Path(d) / "o.heic"), str(Path(d) / "o.png")], check=True, capture_output=True)
            with Image.open(Path(d) / "o.png") as im:
                return np.asarray(im.convert("RGB"))

    return enc, dec


def _pil_has(feature: str) -> Callable[[], bool]:
    def check() -> bool:
        from PIL import features
        return bool(features.check(feature))
    return check


def _image_baselines() -> list[Baseline]:
    out = []
    for name, fmt, feat, param, points in (
            ("jpeg", "JPEG", "jpg", "quality", (5, 10, 20, 35, 50, 70, 85, 95)),
            ("webp", "WEBP", "webp", "quality", (5, 15, 30, 50, 70, 85, 95)),
            ("avif", "AVIF", "avif", "quality", (10, 25, 40, 55, 70, 85, 95)),
            ("jpeg2000", "JPEG2000", "jpg_2000", "ratio", (200, 100, 60, 40, 24, 16, 10))):
        out.append(Baseline(name, "image", param, points, *_lazy(lambda f=fmt: _pil_codec(f)), _pil_has(feat)))
    out.append(Baseline("jpegxl", "image", "distance", (12.0, 8.0, 5.0, 3.0, 2.0, 1.3, 0.8), *_lazy(_jxl),
                        lambda: __import__("imagecodecs").JPEGXL.available))
    out.append(Baseline("hevc", "image", "quality", (10, 25, 40, 55, 70, 85), *_lazy(_heif),
                        lambda: shutil.which("heif-enc") is not None
                        and (shutil.which("heif-dec") or shutil.which("heif-convert")) is not None))
    return out


def _lazy(make: Callable[[], tuple[Callable, Callable]]) -> tuple[Callable, Callable]:
    """Delay building a codec's functions (and its imports) until first use."""
    cache: list = []

    def get() -> tuple[Callable, Callable]:
        if not cache:
            cache.extend(make())
        return cache[0], cache[1]

    return (lambda x, p: get()[0](x, p)), (lambda b: get()[1](b))


def _mux(container, stream, frames) -> None:
    """Encode every frame, then flush the encoder, into ``container``."""
    for f in [*frames, None]:
        for p in stream.encode(f):
            container.mux(p)


# ---- audio --------------------------------------------------------------------------------------
def _av_audio(codec: str, fmt: str, rate_hz: int | None = None) -> tuple[Callable, Callable]:
    import av

    def enc(sig, kbps) -> bytes:
        x, sr = sig
        out_sr = rate_hz or sr
        x = _to_rate(x, sr, out_sr)
        buf = io.BytesIO()
        with av.open(buf, "w", format=fmt) as c:
            s = c.add_stream(codec, rate=out_sr, layout="mono")
            s.bit_rate = int(kbps * 1000)
            frame_len = 960 if codec == "libopus" else 1152
            pcm = np.clip(x, -1, 1).astype(np.float32)
            frames = []
            for i in range(0, len(pcm), frame_len * 8):
                f = av.AudioFrame.from_ndarray(pcm[None, i:i + frame_len * 8], format="flt", layout="mono")
                f.sample_rate = out_sr
                frames.append(f)
            _mux(c, s, frames)
        return buf.getvalue()

    def dec(data: bytes):
        with av.open(io.BytesIO(data)) as c:
            arrays = [f.to_ndarray() for f in c.decode(audio=0)]
            frames = [a.reshape(a.shape[0], -1).mean(0) for a in arrays]
            sr = c.streams.audio[0].rate
        return np.concatenate(frames).astype(np.float32), sr

    return enc, dec


def _to_rate(x: np.ndarray, sr: int, to: int) -> np.ndarray:
    from .metrics import resample
    return resample(x, sr, to)


def _codec2() -> tuple[Callable, Callable]:
    def enc(sig, mode) -> bytes:
        x, sr = sig
        pcm = (np.clip(_to_rate(x, sr, 8000), -1, 1) * 32767).astype("<i2").tobytes()
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "in.raw").write_bytes(pcm)
            subprocess.run(["c2enc", str(mode), "in.raw", "out.bit"], cwd=d, check=True, capture_output=True)
            return str(mode).encode() + b"\n" + (Path(d) / "out.bit").read_bytes()

    def dec(data: bytes):
        mode, bits = data.split(b"\n", 1)
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "in.bit").write_bytes(bits)
            subprocess.run(["c2dec", mode.decode(), "in.bit", "out.raw"], cwd=d, check=True, capture_output=True)
            pcm = np.frombuffer((Path(d) / "out.raw").read_bytes(), "<i2")
        return pcm.astype(np.float32) / 32768, 8000

    return enc, dec


def _flac() -> tuple[Callable, Callable]:
    import soundfile as sf

    def enc(sig, _point) -> bytes:
        buf = io.BytesIO()
        sf.write(buf, np.clip(sig[0], -1, 1), sig[1], format="FLAC", subtype="PCM_16")
        return buf.getvalue()

    def dec(data: bytes):
        x, sr = sf.read(io.BytesIO(data), dtype="float32")
        return x, sr

    return enc, dec


def _av_has(codec: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            import av
            return codec in av.codecs_available
        except ImportError:
            return False
    return check


def _audio_baselines() -> list[Baseline]:
    return [
        Baseline("opus", "audio", "kbps", (6, 8, 12, 16, 24, 32), *_lazy(lambda: _av_audio("libopus", "ogg", 48000)),
                 _av_has("libopus")),
        Baseline("mp3", "audio", "kbps", (16, 24, 32, 48, 64), *_lazy(lambda: _av_audio("libmp3lame", "mp3")),
                 _av_has("libmp3lame")),
        # the mode's bit-stream rate; the file adds the mode name (a few bytes)
        Baseline("codec2", "audio", "mode", ("700C", "1200", "1300", "1400", "1600", "2400", "3200"),
                 *_lazy(_codec2), lambda: shutil.which("c2enc") is not None),
        Baseline("flac", "audio", "lossless", ("lossless",), *_lazy(_flac)),
    ]


# ---- video --------------------------------------------------------------------------------------
def _av_video(codec: str, options: dict) -> tuple[Callable, Callable]:
    """Video as ``(uint8 (T, H, W, 3), fps)``; coded yuv420p in Matroska, at a CRF."""
    import os

    import av
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1: errors only

    def enc(video, crf) -> bytes:
        frames, fps = video
        buf = io.BytesIO()
        with av.open(buf, "w", format="matroska") as c:
            s = c.add_stream(codec, rate=int(round(fps)) or 25)
            s.height, s.width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
            s.pix_fmt = "yuv420p"
            s.options = {**options, "crf": str(crf)}
            _mux(c, s, (av.VideoFrame.from_ndarray(f[: s.height, : s.width], format="rgb24") for f in frames))
        return buf.getvalue()

    def dec(data: bytes):
        with av.open(io.BytesIO(data)) as c:
            frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
            fps = float(c.streams.video[0].average_rate or 25)
        return frames, fps

    return enc, dec


def _video_baselines() -> list[Baseline]:
    return [
        Baseline("x264", "video", "crf", (40, 35, 30, 26, 22), *_lazy(lambda: _av_video("libx264", {"preset": "medium"})),
                 _av_has("libx264")),
        Baseline("x265", "video", "crf", (40, 35, 30, 26, 22),
                 *_lazy(lambda: _av_video("libx265", {"preset": "medium", "x265-params": "log-level=error"})),
                 _av_has("libx265")),
        Baseline("svtav1", "video", "crf", (55, 48, 41, 34, 27), *_lazy(lambda: _av_video("libsvtav1", {"preset": "8"})),
                 _av_has("libsvtav1")),
    ]


# ---- ours ---------------------------------------------------------------------------------------
def _ours(name: str) -> Baseline:
    """A registered codec by name, or ``NAME@PATH``: a learned codec with weights from a file
    (for sweeping a checkpoint before it ships). Options follow the name, each after a ``+``
    (either form, learned image codecs only): ``+refineN`` encodes with N steps of latent
    refinement (codecs/image/refine.py), ``+bfloat16`` / ``+auto`` / ``+float32`` sets the
    transforms' precision (learned.py), as in ``mref+bfloat16+refine30@W.safetensors``; an
    overfitted codec takes ``+effortE`` (``overfit+effort0.25``). Any of ours takes ``+qN``,
    once per quality, to sweep only those (``overfit+q2+q5+q8``)."""
    from ..codecs.image import PRECISIONS
    from ..entropy.container import pack, unpack
    from ..media import Audio, Image, Video
    spec, _, path = name.partition("@")
    kind, *options = spec.split("+")
    if path:
        from ..codecs.weights import codec_from_weights
        codec = codec_from_weights(kind, Path(path))
    else:
        from ..codecs.base import get_codec
        codec = get_codec(kind)
    only = [int(o[1:]) for o in options if o[:1] == "q" and o[1:].isdigit()]
    options = [o for o in options if not (o[:1] == "q" and o[1:].isdigit())]
    if any(q not in (codec.info.qualities or ()) for q in only):
        raise KeyError(f"{name!r}: +qN names a quality of {kind} ({', '.join(map(str, codec.info.qualities or ())) or 'none'})")
    for option in options:
        if option.startswith("effort") and hasattr(codec, "effort"):
            try:
                codec.effort = codec.check_effort(float(option.removeprefix("effort").lstrip("=")))
            except ValueError:
                raise KeyError(f"{name!r}: +effortE takes a number in (0, 64], as in overfit+effort0.25") from None
            continue
        steps = option.removeprefix("refine")
        if not hasattr(codec, "refine") or not (option in PRECISIONS or option.startswith("refine") and steps.isdigit()):
            raise KeyError(f"{name!r}: options are +refineN and +{' +'.join(PRECISIONS)}, for a learned image codec")
        if option in PRECISIONS:
            codec.precision = option
        else:
            codec.refine = int(steps)
    info = codec.info
    points = tuple(only) or info.qualities or (None,)

    def enc(media, q) -> bytes:
        if info.modality == "audio":
            return pack(codec.encode(Audio(np.asarray(media[0], np.float32)[None], int(media[1])), q))
        if info.modality == "video":
            frames, fps = media
            return pack(codec.encode(Video(iter(frames), frames.shape[2], frames.shape[1], fps, len(frames)), q))
        return pack(codec.encode(Image(media), q))

    def dec(data: bytes):
        out = codec.decode(unpack(data))
        if info.modality == "video":
            return np.stack(list(out.frames)), out.fps
        return (out.samples[0], out.sample_rate) if info.modality == "audio" else out.pixels

    label = "+".join([kind] + options)     # +qN only picks points: later sweeps add to the same curve
    return Baseline(label if not path else f"{label}@{Path(path).name}", info.modality, "quality", points, enc, dec)


def _standard() -> list[Baseline]:
    return _image_baselines() + _audio_baselines() + _video_baselines()


def get_baseline(name: str) -> Baseline:
    for b in _standard():
        if b.name == name:
            return b
    try:
        return _ours(name)
    except KeyError:
        if "@" in name or "+" in name:
            raise
        known = [b.name for b in _standard()]
        raise KeyError(f"unknown codec {name!r}; standard codecs: {', '.join(known)}; "
                       f"ours: see `neuralcodec list`") from None


def standard_names(modality: str) -> list[str]:
    return [b.name for b in _standard() if b.modality == modality]
