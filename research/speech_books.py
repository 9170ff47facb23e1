"""The speech codec at any number of books, and Griffin-Lim on the true magnitudes, on a split's
speech files (the validation figures its qualities and its decoder were chosen by).

    python research/speech_books.py [--weights W] [--data audio-val] [--books 1,2,5,6,11,12]
                                    [--oracle 32,64] [--anchors codec2:1200,codec2:3200,opus:6]

For each book count, every speech file of the split (by source package) is coded through the
container and decoded, then scored with the harness's metrics
(``neuralcodec.eval.metrics.audio_metrics``). The script reports:

- ``mean``: the means over the files where every metric is defined (STOI needs 384 ms or more);
- ``kbps_all_files``: the per-file rate averaged over all files, as ``eval rd`` averages it;
- ``payload_kbps``: the token streams' bits over all the files' seconds, without the container
  header, which is the rate the qualities' book counts are chosen by.

``--oracle`` adds Griffin-Lim with that many iterations on each file's true 16 kHz magnitudes;
``--anchors`` adds standard codecs (``eval rd``'s, ``NAME:POINT``) on the same files, scored the
same way. Prints JSON.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from neuralcodec.codecs.audio import speech_prior
from neuralcodec.codecs.audio.speech import SAMPLE_RATE, griffin_lim, log_magnitude
from neuralcodec.codecs.audio.speech_codec import SpeechCodec, encode_stream, load_speech_model
from neuralcodec.codecs.audio.stream import from_rate, to_mono
from neuralcodec.entropy.container import Container, pack, unpack
from neuralcodec.eval import metrics
from neuralcodec.eval.baselines import get_baseline
from neuralcodec.media import load_audio
from neuralcodec.training.speech import speech_files

KEYS = ("stoi", "pesq-wb", "log-mel-l1", "log-mel-4k")


def summary(rows: list[dict]) -> dict:
    full = [r for r in rows if all(r[k] is not None for k in KEYS)]
    return {"files_with_every_metric": len(full),
            "mean": {k: round(float(np.mean([r[k] for r in full])), 4) for k in ("kbps", *KEYS)} if full else None,
            "kbps_all_files": round(float(np.mean([r["kbps"] for r in rows])), 4),
            "payload_kbps": round(sum(r["payload_bits"] for r in rows) / sum(r["seconds"] for r in rows) / 1000, 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", help="default: the shipped speech weights")
    ap.add_argument("--data", default="audio-val")
    ap.add_argument("--books", default="1,2,5,6,11,12")
    ap.add_argument("--oracle", default="", help="Griffin-Lim iterations on the true magnitudes, e.g. 32,64")
    ap.add_argument("--anchors", default="", help="standard codecs as NAME:POINT, e.g. codec2:1200,opus:6")
    a = ap.parse_args()
    codec = SpeechCodec(*load_speech_model(Path(a.weights))) if a.weights else SpeechCodec()
    cfg = codec.model.cfg
    files = speech_files(a.data, "")
    report: dict = {"weights": a.weights or "shipped", "data": a.data, "files": len(files), "books": {}, "oracle": {},
                    "anchors": {}}
    for n in [int(b) for b in a.books.split(",") if b]:
        rows = []
        for f in files:
            clip = load_audio(f)
            ref, rate = clip.samples.mean(0), clip.sample_rate
            tokens = encode_stream(codec.model, to_mono([clip.samples], rate, SAMPLE_RATE), n)
            fields = {"sample_rate": rate, "samples": len(ref), "channels": clip.samples.shape[0],
                      "tokens": len(tokens), "books": n}
            c = Container("audio", codec.info.name, codec.info.version, codec.weights_hash(), fields,
                          {"tokens": speech_prior.encode(codec.prior, tokens)})
            data = pack(c)
            seconds = len(ref) / rate
            m = metrics.audio_metrics(ref, codec.decode(unpack(data)).samples[0], rate)
            rows.append({"kbps": 8 * len(data) / seconds / 1000, "payload_bits": 8 * len(c.streams["tokens"]),
                         "seconds": seconds, **m})
        report["books"][n] = summary(rows)
    for iters in [int(i) for i in a.oracle.split(",") if i]:
        rows = []
        for f in files:
            clip = load_audio(f)
            ref, rate = clip.samples.mean(0), clip.sample_rate
            x = np.concatenate(list(to_mono([clip.samples], rate, SAMPLE_RATE)))
            mag = log_magnitude(torch.from_numpy(x)[None], cfg).exp()
            y = griffin_lim(mag, cfg, len(x), iters)[0].numpy()
            back = np.concatenate(list(from_rate([y], SAMPLE_RATE, rate, len(ref))))
            rows.append({"kbps": 0.0, "payload_bits": 0, "seconds": len(ref) / rate,
                         **metrics.audio_metrics(ref, back, rate)})
        report["oracle"][iters] = summary(rows)["mean"]
    for spec in [s for s in a.anchors.split(",") if s]:
        name, point = spec.split(":")
        base, rows = get_baseline(name), []
        for f in files:
            clip = load_audio(f)
            ref, rate = clip.samples.mean(0), clip.sample_rate
            data = base.encode((ref, rate), point)
            test, test_rate = base.decode(data)
            test = metrics.resample(test, test_rate, rate)
            seconds = len(ref) / rate
            rows.append({"kbps": 8 * len(data) / seconds / 1000, "payload_bits": 8 * len(data), "seconds": seconds,
                         **metrics.audio_metrics(ref, test, rate)})
        report["anchors"][spec] = summary(rows)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
