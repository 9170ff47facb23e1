"""``neuralcodec bench audio``: real-time factors and peak memory of an audio codec (``wavtok40``
by default, ``--codec speech`` at ``--quality``).

Speed: ``seconds`` of real speech (the ``speech-eval`` files, looped) coded in memory, end to
end (resampling, chunks, entropy coding). Memory: a ``long_seconds`` FLAC of the same speech is
encoded and decoded file to file, each in a child process whose peak RSS is its own; the
real-time factors of those processes are timed whole (start-up, imports and file I/O included).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RATE = 16_000


def speech(seconds: float, data_dir: str = "") -> np.ndarray:
    """``seconds`` of mono speech at 16 kHz, looping the ``speech-eval`` files."""
    from ..datasets import DEFAULT_DEST, split_files
    from ..media import load_audio
    import soxr
    parts = []
    for f in split_files("speech-eval", Path(data_dir) if data_dir else DEFAULT_DEST):
        a = load_audio(f)
        x = a.samples.mean(0)
        parts.append(x if a.sample_rate == RATE else soxr.resample(x, a.sample_rate, RATE).astype(np.float32))
    base = np.concatenate(parts)
    n = int(seconds * RATE)
    return np.tile(base, -(-n // len(base)))[:n].astype(np.float32)


def _codec(weights: str | None, device: str = "cpu", name: str = "wavtok40"):
    if name == "speech":
        from ..codecs.audio.speech_codec import SpeechCodec, load_speech_model
        return SpeechCodec(*load_speech_model(Path(weights))) if weights else SpeechCodec()
    from ..codecs.audio.codec import TokenizerCodec, load_tokenizer
    return TokenizerCodec(*load_tokenizer(Path(weights)), device=device) if weights else TokenizerCodec(device=device)


def _child(step: str, weights: str, src: str, dst: str, name: str = "wavtok40", quality: str = "") -> None:
    import resource

    from ..entropy.container import pack, unpack
    from ..media import audio_writer, open_audio
    codec = _codec(weights or None, name=name)
    t0 = time.perf_counter()
    if step == "encode":
        Path(dst).write_bytes(pack(codec.encode(open_audio(Path(src)), int(quality) if quality else None)))
    else:
        rate, blocks = codec.decode_blocks(unpack(Path(src).read_bytes()))
        with audio_writer(Path(dst), rate, 1) as w:
            for b in blocks:
                w.write(b.clip(-1, 1))
    print(json.dumps({"seconds": round(time.perf_counter() - t0, 1),
                      "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3)}))


def run(seconds: float = 60.0, long_seconds: float = 0.0, weights: str | None = None, device: str = "cpu",
        name: str = "wavtok40", quality: int | None = None) -> dict:
    import soundfile as sf
    import torch

    from ..entropy.container import pack, unpack
    from ..media import Audio
    codec = _codec(weights, device, name)
    quality = codec.check_quality(quality)
    x = speech(seconds)
    report: dict = {"codec": codec.info.name, "quality": quality, "weights": weights or "shipped", "device": device,
                    "audio_seconds": seconds,
                    "data": "speech-eval, looped, 16 kHz mono", "torch_threads": torch.get_num_threads()}
    t0 = time.perf_counter()
    data = pack(codec.encode(Audio(x[None], RATE), quality))
    t1 = time.perf_counter()
    codec.decode(unpack(data))
    t2 = time.perf_counter()
    report |= {"encode_realtime_factor": round(seconds / (t1 - t0), 1),
               "decode_realtime_factor": round(seconds / (t2 - t1), 1),
               "kbps": round(8 * len(data) / seconds / 1000, 4)}
    if long_seconds:
        with tempfile.TemporaryDirectory() as d:
            src, coded, out = Path(d) / "long.flac", Path(d) / "long.ncdc", Path(d) / "out.flac"
            with sf.SoundFile(str(src), "w", RATE, 1, format="FLAC", subtype="PCM_16") as f:
                for _ in range(int(long_seconds // seconds)):
                    f.write(x)
                f.write(x[: int((long_seconds % seconds) * RATE)])
            mem = {"audio_seconds": long_seconds, "limit_gb": 2 * 1.073741824}
            for step, a, b in (("encode", src, coded), ("decode", coded, out)):
                t = time.perf_counter()
                res = subprocess.run([sys.executable, "-m", "neuralcodec.eval.bench_audio", step, weights or "",
                                      str(a), str(b), name, str(quality or "")], capture_output=True, text=True,
                                     check=True)
                mem[step] = json.loads(res.stdout.strip().splitlines()[-1])
                mem[step]["process_realtime_factor"] = round(long_seconds / (time.perf_counter() - t), 1)
            mem["within_limit"] = all(mem[s]["peak_rss_gb"] <= mem["limit_gb"] for s in ("encode", "decode"))
            mem["decoded_frames"] = sf.info(str(out)).frames
            mem["input_frames"] = sf.info(str(src)).frames
            report["long"] = mem
    return report


if __name__ == "__main__":
    _child(*sys.argv[1:7])
