"""``neuralcodec demo`` (what ``make demo`` runs): the shipped defaults on the shipped samples.

Codes ``assets/samples/photo.png`` with the default image codec and ``assets/samples/speech.flac``
with the default audio codec (when one ships), writes the coded and decoded files under
``OUT`` and prints rates, quality and timings; then an entropy-coding round trip.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .codecs.zoo import ASSETS

SAMPLES = ASSETS / "samples"


def _twice(f, *args):
    """``(result, first-call seconds, second-call seconds)``: the first call pays one-time set-up
    (weights to fixed point, tables, kernels), which a CLI run pays on every file."""
    t0 = time.perf_counter()
    f(*args)
    t1 = time.perf_counter()
    result = f(*args)
    return result, t1 - t0, time.perf_counter() - t1


def _image(out: Path) -> list[str]:
    from .codecs.base import default_codec, get_codec
    from .entropy.container import pack, unpack
    from .eval.metrics import psnr
    from .media import load_image, save_image
    name = default_codec("image")
    codec, img = get_codec(name), load_image(SAMPLES / "photo.png")
    data, enc_cold, enc = _twice(lambda: pack(codec.encode(img, None)))
    rec, dec_cold, dec = _twice(lambda: codec.decode(unpack(data)))
    (out / "photo.ncdc").write_bytes(data)
    save_image(out / "photo.png", rec.pixels)
    h, w = img.pixels.shape[:2]
    q = psnr(img.pixels, rec.pixels)
    return [f"image  {name}: {w}x{h}, {len(data)} bytes = {8 * len(data) / (h * w):.3f} bpp, "
            f"PSNR {'exact' if np.isinf(q) or q >= 99 else f'{q:.2f} dB'}, "
            f"encode {enc:.2f} s, decode {dec:.2f} s (first calls {enc_cold:.2f} s, {dec_cold:.2f} s) "
            f"-> {out / 'photo.ncdc'}, {out / 'photo.png'}"]


def _audio(out: Path) -> list[str]:
    from .codecs.base import default_codec, get_codec
    from .entropy.container import pack, unpack
    from .eval.metrics import audio_metrics, resample
    from .media import audio_writer, load_audio
    name = default_codec("audio")
    if name is None:
        return ["audio  no audio codec ships yet"]
    codec, audio = get_codec(name), load_audio(SAMPLES / "speech.flac")
    seconds = audio.samples.shape[1] / audio.sample_rate
    data, enc_cold, enc = _twice(lambda: pack(codec.encode(audio)))
    rec, dec_cold, dec = _twice(lambda: codec.decode(unpack(data)))
    (out / "speech.ncdc").write_bytes(data)
    with audio_writer(out / "speech.wav", rec.sample_rate, 1) as w:
        w.write(rec.samples[0])
    m = audio_metrics(audio.samples[0], resample(rec.samples[0], rec.sample_rate, audio.sample_rate), audio.sample_rate)
    return [f"audio  {name}: {seconds:.1f} s, {len(data)} bytes = {8 * len(data) / seconds / 1000:.3f} kbps, "
            f"STOI {m['stoi']:.3f}, log-mel L1 {m['log-mel-l1']:.3f}, encode {seconds / enc:.0f}x and decode "
            f"{seconds / dec:.0f}x real time (first calls {seconds / enc_cold:.0f}x, {seconds / dec_cold:.0f}x) "
            f"-> {out / 'speech.ncdc'}, {out / 'speech.wav'}"]


def run(out: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    return _image(out) + _audio(out)
