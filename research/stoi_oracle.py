"""Where a tokenizer's STOI goes: its decode beside two oracles built from the true spectrum.

    python research/stoi_oracle.py [WEIGHTS] [--data speech-eval] [--json OUT]

For each clip (at 24 kHz, as the tokenizer sees it), three signals are scored with the
harness's own metrics (``neuralcodec.eval.metrics``: alignment, STOI, log-mel L1):

- ``decode``: the tokenizer's round trip (tokens -> decoder), nothing entropy coded;
- ``random-phase``: the true STFT magnitude (1024-point Hann, hop 256) with uniformly random
  phase: what a decoder with a perfect magnitude and no phase model would score;
- ``griffin-lim``: the true magnitude with 64 Griffin-Lim iterations: a consistent phase;
- ``codec2-3200``: Codec2 at 3200 bit/s (when ``c2enc`` is installed), for scale.

Beside STOI and the harness's log-mel L1 (80 bands up to 12 kHz), ``log-mel-l1-below-4k`` is the
same distance (``below_hz=4000``) over the bands centred below 4 kHz, where Codec2 (8 kHz audio) has content.

If the random-phase oracle scores far above the decode, the decoder's magnitude (not its phase)
is what costs intelligibility.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch


def oracles(ref: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """``ref`` float (N,) at 24 kHz -> the two phase-free reconstructions from its magnitude."""
    import torchaudio
    win = torch.hann_window(1024, dtype=torch.float64)
    mag = torch.stft(torch.from_numpy(ref.astype(np.float64)), 1024, 256, window=win, return_complex=True).abs()
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(mag.shape, generator=g, dtype=torch.float64) * 2 * np.pi
    random_phase = torch.istft(torch.polar(mag, phase), 1024, 256, window=win, length=len(ref)).numpy()
    gl = torchaudio.transforms.GriffinLim(n_fft=1024, hop_length=256, n_iter=64, power=1.0)
    torch.manual_seed(seed)
    griffin = gl(mag.float()[None])[0].numpy()[: len(ref)]
    return {"random-phase": random_phase, "griffin-lim": griffin}


def codec2_3200(ref: np.ndarray, sample_rate: int) -> np.ndarray | None:
    """Codec2 3200's decode of ``ref`` at ``sample_rate`` (None without ``c2enc``)."""
    from neuralcodec.eval.baselines import get_baseline
    from neuralcodec.eval.metrics import resample
    b = get_baseline("codec2")
    if not b.available():
        return None
    y, rate = b.decode(b.encode((ref.astype(np.float32), sample_rate), "3200"))
    return resample(np.asarray(y, np.float32), rate, sample_rate).astype(np.float64)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="?", default=None, help="tokenizer weights (default: the shipped wavtok40)")
    ap.add_argument("--data", default="speech-eval", help="a split of `neuralcodec data fetch`, or a folder of WAV/FLAC")
    ap.add_argument("--json", default=None, help="write the per-clip rows and means here")
    a = ap.parse_args(argv)
    from neuralcodec.codecs.audio import decode_tokens, encode_tokens, tokenizer
    from neuralcodec.datasets import DEFAULT_DEST, split_files
    from neuralcodec.eval.metrics import align, log_mel_distance, resample, stoi
    model = tokenizer(a.weights)
    files = [f for f in split_files(a.data, DEFAULT_DEST) if f.suffix.lower() in (".wav", ".flac")]
    rows = []
    for f in files:
        x, sr = sf.read(str(f), dtype="float32", always_2d=True)
        ref = resample(x.mean(1), sr, 24_000).astype(np.float64)
        signals = {"decode": decode_tokens(encode_tokens(torch.from_numpy(ref).float(), 24_000), model)[0].numpy()}
        signals |= oracles(ref)
        c2 = codec2_3200(ref, 24_000)
        if c2 is not None:
            signals["codec2-3200"] = c2
        row = {"file": f.name}
        for name, y in signals.items():
            y = np.asarray(y, np.float64)[: len(ref)]
            y, _ = align(ref, np.concatenate([y, np.zeros(len(ref) - len(y))]), 24_000)
            row[name] = {"stoi": stoi(ref, y, 24_000), "log-mel-l1": log_mel_distance(ref, y, 24_000),
                         "log-mel-l1-below-4k": log_mel_distance(ref, y, 24_000, below_hz=4000)}
        rows.append(row)
        print(f"{f.name[:40]:<40} " + "  ".join(f"{k} {v['stoi']:.3f}/{v['log-mel-l1']:.3f}"
                                                for k, v in row.items() if k != "file"), file=sys.stderr)
    means = {k: {m: float(np.mean([r[k][m] for r in rows if r[k][m] is not None]))
                 for m in ("stoi", "log-mel-l1", "log-mel-l1-below-4k")} for k in rows[0] if k != "file"}
    out = {"weights": a.weights or "assets/wavtok40.safetensors", "data": a.data, "files": len(rows),
           "means": means, "rows": rows}
    text = json.dumps(out, indent=1)
    if a.json:
        Path(a.json).write_text(text)
    print(json.dumps({"files": len(rows), "means": means}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
