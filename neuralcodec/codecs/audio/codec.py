"""The ``wavtok40`` audio codec: tokens of the single-codebook tokenizer, entropy coded.

    file ─ mono 24 kHz (chunks) ─ encoder + VQ ─ tokens ─ class-bigram prior ─ rANS ─ "tokens"
    "tokens" ─ rANS ─ tokens ─ decoder (chunks) ─ back to the file's rate and length ─ mono file

Stereo (or more) is downmixed to mono before coding; the header keeps the original channel
count, rate and length, and decoding writes mono at the original rate and length.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np

from ...entropy.container import Container
from ...errors import FormatError, NeuralCodecError
from ...media import Audio, AudioSource
from ..base import Codec, CodecInfo, hash_bytes, register
from ..zoo import shipped_weights
from . import prior as token_prior
from .prior import TokenPrior
from .stream import decode_stream, encode_stream, from_24k, to_mono_24k
from .tokenizer import AudioTokenizer, TokenizerConfig

MAX_SAMPLE_RATE = 384_000
T = TypeVar("T")


def load_weights(path: Path, what: str, build: Callable[[dict, dict], T]) -> T:
    """``build(metadata, tensors)`` of a safetensors file; whatever is wrong with the file (missing,
    not safetensors, other names or shapes) is one line naming ``what``."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        return build(meta, load_file(str(path)))
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, SafetensorError) as e:
        raise NeuralCodecError(f"{path}: not usable {what} ({e})") from None


def load_tokenizer(path: Path) -> tuple[AudioTokenizer, TokenPrior]:
    """Model and token prior from a safetensors file (metadata ``config``; ``prior.*`` tensors)."""
    def build(meta: dict, state: dict) -> tuple[AudioTokenizer, TokenPrior]:
        p = TokenPrior(state.pop("prior.classes").long().numpy(), state.pop("prior.freqs").long().numpy(),
                       int(meta.get("prior_precision", 16)))
        model = AudioTokenizer(TokenizerConfig.from_dict(json.loads(meta["config"])))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        return model.eval(), p
    return load_weights(path, "tokenizer weights", build)


class AudioCodec(Codec):
    """What the audio codecs share: the input's checks, its blocks with NaN or infinite samples
    coded as 0 (``nonfinite`` counts them, for the CLI to say), and a whole-file decode."""

    progress = None         # a tqdm-like object the CLI may set (update(samples at 24 kHz))
    nonfinite = 0           # NaN or infinite samples the last encode replaced with 0
    samples_in = 0          # samples per channel the last encode read

    def source(self, media: Audio | AudioSource) -> AudioSource:
        src = media if isinstance(media, AudioSource) else AudioSource.from_audio(media)
        if not 1 <= src.sample_rate <= MAX_SAMPLE_RATE:
            raise NeuralCodecError(f"sample rate {src.sample_rate} Hz is out of range")
        self.nonfinite = self.samples_in = 0
        return src

    def finite(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for b in blocks:
            self.samples_in += b.shape[1]
            bad = ~np.isfinite(b)
            if bad.any():
                self.nonfinite += int(bad.sum())
                b = np.where(bad, np.float32(0), b)
            yield b

    def decode_blocks(self, container: Container):
        """``(sample_rate, iterator of mono float32 blocks)`` at the file's rate and length."""
        raise NotImplementedError

    def decode(self, container: Container) -> Audio:
        rate, blocks = self.decode_blocks(container)
        parts = list(blocks)
        x = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return Audio(np.clip(x, -1, 1)[None].astype(np.float32), rate)


class TokenizerCodec(AudioCodec):
    info = CodecInfo("wavtok40", "audio", 1, (1,), 1, False,
                     "single-codebook tokenizer, 40 tokens/s (4096 codes), class-bigram coded tokens; mono")

    def __init__(self, model: AudioTokenizer | None = None, prior: TokenPrior | None = None, device: str = "cpu"):
        if model is None or prior is None:
            model, prior = load_tokenizer(shipped_weights(self.info.name))
        self.model, self.prior, self.device = model.eval().to(device), prior, device
        state = self.model.state_dict()
        self._hash = hash_bytes(*(state[k].detach().cpu().numpy().tobytes() for k in sorted(state)),
                                prior.classes.tobytes(), prior.freqs.tobytes())

    def weights_hash(self) -> bytes:
        return self._hash

    def encode(self, media: Audio | AudioSource, quality: int | None = None) -> Container:
        self.check_quality(quality)
        src = self.source(media)
        tokens = encode_stream(self.model, to_mono_24k(self.finite(src.blocks()), src.sample_rate),
                               progress=self.progress)
        blob = token_prior.encode_tokens(self.prior, tokens)
        fields = {"sample_rate": src.sample_rate, "samples": self.samples_in, "channels": src.channels,
                  "tokens": len(tokens)}
        return Container("audio", self.info.name, self.info.version, self.weights_hash(), fields, {"tokens": blob})

    def tokens(self, container: Container) -> tuple[np.ndarray, dict]:
        try:
            f = {k: int(container.fields[k]) for k in ("sample_rate", "samples", "channels", "tokens")}
            blob = container.streams["tokens"]
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"{self.info.name} file lacks its fields or streams") from None
        if not 1 <= f["sample_rate"] <= MAX_SAMPLE_RATE:
            raise FormatError(f"sample rate {f['sample_rate']} is out of range")
        expected = -(-round(f["samples"] * 24_000 / f["sample_rate"]) // self.model.cfg.hop)
        if abs(f["tokens"] - expected) > 2:
            raise FormatError(f"{f['tokens']} tokens do not match {f['samples']} samples")
        return token_prior.decode_tokens(self.prior, blob, f["tokens"]), f

    def decode_blocks(self, container: Container):
        """``(sample_rate, iterator of mono float32 blocks)`` at the file's rate and length."""
        tokens, f = self.tokens(container)
        return f["sample_rate"], from_24k(decode_stream(self.model, tokens), f["sample_rate"], f["samples"])


register(TokenizerCodec, default=True)
