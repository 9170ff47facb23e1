"""The ``speech`` audio codec: one set of weights, three rates (``--quality 1|2|3``).

    file ─ mono 16 kHz (chunks) ─ spectra ─ encoder ─ residual VQ, first n books ─ tokens (T, n)
         ─ token prior (speech_prior.py) ─ rANS ─ "tokens"
    "tokens" ─ rANS ─ tokens ─ decoder ─ magnitudes ─ Griffin-Lim ─ 16 kHz (chunks, cross-faded)
         ─ the file's rate and length ─ mono file

Quality ``q`` uses the first ``rates[q - 1]`` books of the model (see :mod:`.speech`). The output
has no content above 8 kHz. Stereo is downmixed; the header keeps the original channel count,
rate and length.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from ...entropy.container import Container
from ...errors import FormatError
from ...media import Audio, AudioSource
from ..base import CodecInfo, hash_bytes, register
from ..zoo import shipped_weights
from . import speech_prior
from .codec import MAX_SAMPLE_RATE, AudioCodec, load_weights
from .speech import SAMPLE_RATE, SpeechConfig, SpeechModel
from .speech_prior import SpeechPrior
from .stream import from_rate, to_mono, windows

CHUNK_FRAMES = 1500          # 30 s at 50 frames/s
CROSSFADE = 640              # samples at 16 kHz (40 ms) blended where two decoded chunks meet


def load_speech_model(path: Path) -> tuple[SpeechModel, SpeechPrior]:
    """Model and token prior from a safetensors file (metadata ``config``; ``prior.*`` tensors)."""
    def build(meta: dict, state: dict) -> tuple[SpeechModel, SpeechPrior]:
        cfg = SpeechConfig.from_dict(json.loads(meta["config"]))
        prior = SpeechPrior(state.pop("prior.classes").long().numpy(), state.pop("prior.freqs").long().numpy(),
                            cfg.books)
        if prior.codes != cfg.codes:
            raise ValueError(f"a prior of {prior.codes} codes for {cfg.codes}")
        model = SpeechModel(cfg)
        model.load_state_dict(state)
        return model.eval(), prior
    return load_weights(path, "speech codec weights", build)


@torch.no_grad()
def encode_stream(model: SpeechModel, samples: Iterable[np.ndarray], books: int, progress=None) -> np.ndarray:
    """1-D 16 kHz blocks -> int64 tokens ``(ceil(N / latent_hop), books)``, chunk by chunk."""
    hop, ctx = model.cfg.latent_hop, model.context()
    out = []
    for window, offset, core in windows(samples, CHUNK_FRAMES * hop, ctx * hop):
        tokens = model.encode_tokens(torch.from_numpy(np.ascontiguousarray(window))[None], books)[0]
        first = offset // hop
        out.append(tokens[first:first + -(-core // hop)].numpy())
        if progress is not None:
            progress.update(round(core * 24_000 / SAMPLE_RATE))
    return np.concatenate(out) if out else np.zeros((0, books), np.int64)


@torch.no_grad()
def decode_stream(model: SpeechModel, tokens: np.ndarray) -> Iterator[np.ndarray]:
    """int64 ``(T, n)`` -> 1-D 16 kHz blocks totalling ``T * latent_hop`` samples. Each chunk is
    decoded with context on both sides; the first ``CROSSFADE`` samples of a chunk are blended
    with what the chunk before decoded for the same samples, so no seam clicks."""
    hop, ctx = model.cfg.latent_hop, max(model.context(), -(-CROSSFADE // model.cfg.latent_hop))
    t = torch.from_numpy(np.asarray(tokens, np.int64))
    ramp = (np.arange(CROSSFADE, dtype=np.float32) + 0.5) / CROSSFADE
    tail = None
    for s in range(0, len(t), CHUNK_FRAMES):
        lo, hi = max(0, s - ctx), min(len(t), s + CHUNK_FRAMES + ctx)
        wave = model.decode_tokens(t[lo:hi][None])[0].numpy()
        n, a = min(CHUNK_FRAMES, len(t) - s), (s - lo) * hop
        core = wave[a:a + n * hop].copy()
        if tail is not None:
            m = min(len(tail), len(core))
            core[:m] = tail[:m] * (1 - ramp[:m]) + core[:m] * ramp[:m]
        tail = wave[a + n * hop:a + n * hop + CROSSFADE]
        yield core


class SpeechCodec(AudioCodec):
    info = CodecInfo("speech", "audio", 1, (1, 2, 3), 2, False,
                     "multi-rate speech codec (residual VQ of spectra, Griffin-Lim synthesis); mono, 8 kHz band")

    def __init__(self, model: SpeechModel | None = None, prior: SpeechPrior | None = None):
        if model is None or prior is None:
            model, prior = load_speech_model(shipped_weights(self.info.name))
        self.model, self.prior = model.eval(), prior
        state = self.model.state_dict()
        self._hash = hash_bytes(*(state[k].detach().cpu().numpy().tobytes() for k in sorted(state)),
                                prior.classes.tobytes(), prior.freqs.tobytes())

    def weights_hash(self) -> bytes:
        return self._hash

    def books(self, quality: int) -> int:
        return self.model.cfg.rates[quality - 1]

    def encode(self, media: Audio | AudioSource, quality: int | None = None) -> Container:
        books = self.books(self.check_quality(quality))
        src = self.source(media)
        tokens = encode_stream(self.model, to_mono(self.finite(src.blocks()), src.sample_rate, SAMPLE_RATE), books,
                               self.progress)
        fields = {"sample_rate": src.sample_rate, "samples": self.samples_in, "channels": src.channels,
                  "tokens": len(tokens), "books": books}
        return Container("audio", self.info.name, self.info.version, self.weights_hash(), fields,
                         {"tokens": speech_prior.encode(self.prior, tokens)})

    def tokens(self, container: Container) -> tuple[np.ndarray, dict]:
        try:
            f = {k: int(container.fields[k]) for k in ("sample_rate", "samples", "channels", "tokens", "books")}
            blob = container.streams["tokens"]
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"{self.info.name} file lacks its fields or streams") from None
        if not 1 <= f["sample_rate"] <= MAX_SAMPLE_RATE:
            raise FormatError(f"sample rate {f['sample_rate']} is out of range")
        if not 1 <= f["books"] <= self.model.cfg.books:
            raise FormatError(f"{f['books']} books; the model has {self.model.cfg.books}")
        expected = self.model.frames(round(f["samples"] * SAMPLE_RATE / f["sample_rate"]))
        if abs(f["tokens"] - expected) > 2:
            raise FormatError(f"{f['tokens']} token frames do not match {f['samples']} samples")
        return speech_prior.decode(self.prior, blob, f["tokens"], f["books"]), f

    def decode_blocks(self, container: Container):
        """``(sample_rate, iterator of mono float32 blocks)`` at the file's rate and length."""
        tokens, f = self.tokens(container)
        return f["sample_rate"], from_rate(decode_stream(self.model, tokens), SAMPLE_RATE, f["sample_rate"],
                                           f["samples"])


register(SpeechCodec)
