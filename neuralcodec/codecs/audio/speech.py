"""The multi-rate speech codec's model: spectral autoencoder, residual VQ, two synthesis heads.

::

    wave (B, N) 16 kHz ─ STFT (512, hop 160) ─ log|X| (B, 257, F) ─ encoder (stride 2) ─ (B, D, F/2)
        ─ residual VQ, first n books ─ decoder ─ log|X̂| (B, 257, F)
        ─ "gl":    Griffin-Lim phase (fast GL, fixed iterations, fixed start) ─ iSTFT ─ wave
        ─ "istft": a learned phase (Vocos) ─ iSTFT ─ wave

The ``gl`` head learns nothing about phase: training fits only the magnitudes, the part of the
signal that speech intelligibility (STOI) and the spectral metrics measure, so the network
trains in minutes on a CPU. The ``istft`` head learns magnitude and phase from waveform losses,
as the tokenizer's decoder does, and is kept as the compared alternative.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .rvq import ResidualVQ

SAMPLE_RATE = 16_000
LOG_FLOOR = 1e-5


@dataclass(frozen=True)
class SpeechConfig:
    n_fft: int = 512
    hop: int = 160                 # 100 spectral frames per second
    stride: int = 2                # latent frames per second = 100 / stride
    channels: int = 256
    dim: int = 64                  # latent and code dimension
    books: int = 12
    codes: int = 1024
    blocks: int = 3                # residual blocks on each side of the stride
    head: str = "gl"               # gl | istft
    gl_iters: int = 32
    rates: tuple[int, ...] = (2, 5, 11)   # books used at quality 1, 2, 3

    @property
    def latent_hop(self) -> int:
        """Samples per latent frame (one token per book)."""
        return self.hop * self.stride

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SpeechConfig":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known})


def stft(wave: torch.Tensor, cfg: SpeechConfig) -> torch.Tensor:
    """``(B, N)`` -> complex ``(B, n_fft/2 + 1, N / hop + 1)`` (centred, Hann)."""
    window = torch.hann_window(cfg.n_fft, device=wave.device)
    return torch.stft(wave, cfg.n_fft, cfg.hop, window=window, center=True, return_complex=True)


def istft(spec: torch.Tensor, cfg: SpeechConfig, length: int) -> torch.Tensor:
    window = torch.hann_window(cfg.n_fft, device=spec.device)
    return torch.istft(spec, cfg.n_fft, cfg.hop, window=window, center=True, length=length)


def log_magnitude(wave: torch.Tensor, cfg: SpeechConfig) -> torch.Tensor:
    """``(B, N)`` -> ``log |STFT|`` ``(B, 257, F)``."""
    return torch.log(stft(wave, cfg).abs().clamp(min=LOG_FLOOR))


def griffin_lim(mag: torch.Tensor, cfg: SpeechConfig, length: int, iters: int, momentum: float = 0.99) -> torch.Tensor:
    """Fast Griffin-Lim (Perraudin et al. 2013): magnitudes ``(B, 257, F)`` -> wave ``(B, length)``.

    The start phase is a fixed pseudo-random draw (seed 0), so the same magnitudes always give
    the same wave."""
    g = torch.Generator().manual_seed(0)
    angles = torch.polar(torch.ones_like(mag), (torch.rand(mag.shape, generator=g) * 2 * math.pi).to(mag.device))
    prev = torch.zeros_like(angles)
    for _ in range(iters):
        rebuilt = stft(istft(mag * angles, cfg, length), cfg)
        accel = rebuilt - (momentum / (1 + momentum)) * prev
        angles = accel / accel.abs().clamp(min=1e-16)
        prev = rebuilt
    return istft(mag * angles, cfg, length)


class ResBlock(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.gelu(self.conv1(F.gelu(x))))


class SpeechModel(nn.Module):
    """Spectral autoencoder with residual VQ; see the module docstring."""

    def __init__(self, cfg: SpeechConfig):
        super().__init__()
        if cfg.head not in ("gl", "istft"):
            raise ValueError(f"head must be gl or istft, got {cfg.head!r}")
        self.cfg = cfg
        bins, c = cfg.n_fft // 2 + 1, cfg.channels
        self.enc = nn.Sequential(nn.Conv1d(bins, c, 5, padding=2), *[ResBlock(c, 3 ** i) for i in range(cfg.blocks)],
                                 nn.Conv1d(c, c, 2 * cfg.stride, cfg.stride, padding=cfg.stride // 2), ResBlock(c, 1),
                                 nn.Conv1d(c, cfg.dim, 1))
        self.rvq = ResidualVQ(cfg.dim, cfg.books, cfg.codes)
        self.dec = nn.Sequential(nn.Conv1d(cfg.dim, c, 3, padding=1), ResBlock(c, 1),
                                 nn.ConvTranspose1d(c, c, 2 * cfg.stride, cfg.stride, padding=cfg.stride // 2),
                                 *[ResBlock(c, 3 ** i) for i in range(cfg.blocks)], nn.GELU())
        self.mag = nn.Conv1d(c, bins, 5, padding=2)
        self.phase = nn.Conv1d(c, 2 * bins, 5, padding=2) if cfg.head == "istft" else None

    def frames(self, samples: int) -> int:
        """Latent frames (tokens per book) for ``samples`` at 16 kHz."""
        return -(-samples // self.cfg.latent_hop)

    def _pad(self, wave: torch.Tensor) -> torch.Tensor:
        return F.pad(wave, (0, self.frames(wave.shape[-1]) * self.cfg.latent_hop - wave.shape[-1]))

    def encode_latent(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` -> ``(B, D, ceil(N / latent_hop))``."""
        return self._encode(log_magnitude(self._pad(wave), self.cfg))

    def _encode(self, logmag: torch.Tensor) -> torch.Tensor:
        """``log|X|`` ``(B, 257, 2T + 1)`` of a padded wave -> ``(B, D, T)`` (the last centre frame dropped)."""
        return self.enc(logmag[..., :-1])

    def decode_features(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, D, T)`` -> ``(log|X̂| (B, 257, 2T + 1), phase or None)``."""
        h = self.dec(q)
        h = F.pad(h, (0, 1), mode="replicate")                     # the last centre frame
        return self.mag(h), (self.phase(h) if self.phase is not None else None)

    def synthesize(self, logmag: torch.Tensor, phase: torch.Tensor | None, length: int) -> torch.Tensor:
        mag = torch.exp(logmag.clamp(max=6.0))
        if phase is None:
            return griffin_lim(mag, self.cfg, length, self.cfg.gl_iters)
        re, im = phase.chunk(2, 1)
        return istft(torch.polar(mag, torch.atan2(im, re)), self.cfg, length)

    def forward(self, wave: torch.Tensor, books: int | None = None, synthesize: bool = False) -> dict:
        """Training: ``wave (B, N)`` -> ``{"logmag", "target", "commit", "tokens"[, "wave"]}``."""
        padded = self._pad(wave)
        target = log_magnitude(padded, self.cfg)
        q = self.rvq(self._encode(target), books)
        logmag, phase = self.decode_features(q.features)
        out = {"logmag": logmag, "target": target, "commit": q.commit, "tokens": q.tokens}
        if synthesize or phase is not None:
            out["wave"] = self.synthesize(logmag, phase, padded.shape[-1])
        return out

    @torch.no_grad()
    def encode_tokens(self, wave: torch.Tensor, books: int) -> torch.Tensor:
        """``(B, N)`` at 16 kHz -> int64 ``(B, ceil(N / latent_hop), books)``."""
        return self.rvq.encode(self.encode_latent(wave), books)

    @torch.no_grad()
    def decode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 ``(B, T, n)`` -> ``(B, T * latent_hop)`` at 16 kHz."""
        logmag, phase = self.decode_features(self.rvq.lookup(tokens))
        return self.synthesize(logmag, phase, tokens.shape[1] * self.cfg.latent_hop)

    def context(self) -> int:
        """Latent frames of context on each side that make chunked coding equal one pass (an
        upper bound over the encoder, the decoder and the STFT windows)."""
        reach = sum(3 ** i for i in range(self.cfg.blocks)) + 4
        return reach // self.cfg.stride + 4
