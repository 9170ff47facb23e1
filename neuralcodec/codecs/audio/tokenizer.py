"""The WavTokenizer-like audio tokenizer: one codebook, tens of tokens per second.

::

    wave (B, N) 24 kHz ─ Encoder (strides, SEANet) ─> (B, D, T) ─ VQ/FSQ ─> tokens (B, T)
    tokens ─ lookup ─> (B, D, T) ─ conv ─ banded attention ─ ConvNeXt x n ─ upsample x u
          ─ ConvNeXt x m ─ iSTFT head (hop / u) ─> wave (B, T * hop)

After WavTokenizer (Ji et al. 2024) and Vocos (Siuzdak 2023); the decoder runs its last blocks
at ``u`` times the token rate so a small model has a short STFT to predict.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .layers import BandAttention, ConvNeXtBlock, Encoder, ISTFTHead
from .quantizer import FSQ, Quantized, VectorQuantizer

SAMPLE_RATE = 24_000


@dataclass(frozen=True)
class TokenizerConfig:
    strides: tuple[int, ...] = (4, 5, 5, 6)      # hop 600: 40 tokens/s at 24 kHz
    enc_channels: int = 16
    dim: int = 256                                # features around the quantizer
    quantizer: str = "vq"                         # vq (k-means + EMA + restarts) | fsq
    codes: int = 4096
    code_dim: int = 8
    fsq_levels: tuple[int, ...] = (8, 8, 8, 8)
    dec_dim: int = 256
    dec_blocks: int = 4                           # ConvNeXt blocks at the token rate
    upsample: int = 5                             # decoder frame rate = token rate x upsample
    fine_dim: int = 128
    fine_blocks: int = 2                          # ConvNeXt blocks at the decoder frame rate
    heads: int = 4
    window: int = 16                              # attention band, in tokens

    @property
    def hop(self) -> int:
        return math.prod(self.strides)

    @property
    def tokens_per_second(self) -> float:
        return SAMPLE_RATE / self.hop

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TokenizerConfig":
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known}
        return cls(**kw)


@dataclass
class TokenizerOutput:
    """``wave`` ``(B, N)`` reconstruction, ``tokens`` ``(B, T)``, ``commit`` loss, ``usage``."""

    wave: torch.Tensor
    tokens: torch.Tensor
    commit: torch.Tensor
    usage: float


class Decoder(nn.Module):
    """Features ``(B, D, T)`` -> waveform ``(B, T * hop)``."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.embed = nn.Conv1d(cfg.dim, cfg.dec_dim, 7, padding=3)
        self.attn = BandAttention(cfg.dec_dim, cfg.heads, cfg.window)
        self.blocks = nn.Sequential(*[ConvNeXtBlock(cfg.dec_dim) for _ in range(cfg.dec_blocks)])
        self.up = nn.Conv1d(cfg.dec_dim, cfg.fine_dim, 7, padding=3)
        self.fine = nn.Sequential(*[ConvNeXtBlock(cfg.fine_dim) for _ in range(cfg.fine_blocks)])
        self.norm = nn.LayerNorm(cfg.fine_dim)
        self.head = ISTFTHead(cfg.fine_dim, cfg.hop // cfg.upsample)
        self.upsample = cfg.upsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.attn(self.embed(x)))
        h = self.up(F.interpolate(h, scale_factor=self.upsample, mode="nearest"))
        h = self.norm(self.fine(h).transpose(1, 2)).transpose(1, 2)
        return self.head(h)

    def receptive_field(self, cfg: TokenizerConfig) -> int:
        """Tokens of context on each side that can change a decoded token's samples (upper bound)."""
        fine = (3 + 3 * cfg.fine_blocks) // cfg.upsample + 2      # fine convs + iSTFT window overlap
        return 3 + cfg.window + 3 * cfg.dec_blocks + fine


class AudioTokenizer(nn.Module):
    """Encoder + single-codebook quantizer + Vocos-style decoder; see the module docstring."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        if cfg.hop % cfg.upsample or (cfg.hop // cfg.upsample) % 2:
            raise ValueError("hop / upsample must be an even integer")
        self.cfg = cfg
        self.encoder = Encoder(cfg.enc_channels, cfg.strides, cfg.dim)
        self.quantizer = (VectorQuantizer(cfg.dim, cfg.codes, cfg.code_dim) if cfg.quantizer == "vq"
                          else FSQ(cfg.dim, cfg.fsq_levels))
        if self.quantizer.codes != cfg.codes:
            raise ValueError(f"fsq_levels give {self.quantizer.codes} codes, config says {cfg.codes}")
        self.decoder = Decoder(cfg)

    def _pad(self, wave: torch.Tensor) -> torch.Tensor:
        return F.pad(wave, (0, (-wave.shape[-1]) % self.cfg.hop))

    def forward(self, wave: torch.Tensor) -> TokenizerOutput:
        """``wave`` ``(B, N)`` at 24 kHz -> reconstruction of ``(B, ceil(N / hop) * hop)`` samples."""
        q: Quantized = self.quantizer(self.encoder(self._pad(wave)[:, None]))
        return TokenizerOutput(self.decoder(q.features), q.tokens, q.commit, q.usage)

    @torch.no_grad()
    def encode_tokens(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` at 24 kHz -> int64 tokens ``(B, ceil(N / hop))``."""
        return self.quantizer.encode(self.encoder(self._pad(wave)[:, None]))

    @torch.no_grad()
    def decode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 ``(B, T)`` -> ``(B, T * hop)`` at 24 kHz."""
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.cfg.codes):
            raise ValueError(f"tokens must be in 0..{self.cfg.codes - 1}")
        return self.decoder(self.quantizer.lookup(tokens))

    def context(self) -> tuple[int, int]:
        """``(encoder, decoder)`` context in tokens that chunked processing must add on each side."""
        return (math.ceil(self.encoder.receptive_field() / self.cfg.hop) + 1,
                self.decoder.receptive_field(self.cfg))
