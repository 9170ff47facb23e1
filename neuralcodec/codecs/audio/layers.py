"""Building blocks of the audio tokenizer: a SEANet-style encoder, ConvNeXt blocks, banded
self-attention and the inverse-STFT head of Vocos (Siuzdak 2023).

All tensors are ``(B, C, T)`` (batch, channels, time) unless a docstring says otherwise.
Convolutions are non-causal with zero "same" padding, so a window of the input decides each
output and chunked processing with enough context reproduces a one-pass run.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResidualUnit(nn.Module):
    """``x + conv1(elu(conv7_dilated(elu(x))))``; keeps ``(B, C, T)``."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.dilation = dilation
        self.conv1 = nn.Conv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation)
        self.conv2 = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.elu(self.conv1(F.elu(x))))


class Downsample(nn.Module):
    """Strided conv ``(B, C, T) -> (B, C_out, T / stride)``; ``T`` must be a multiple of ``stride``."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv1d(c_in, c_out, 2 * stride, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stride
        return self.conv(F.pad(F.elu(x), ((s + 1) // 2, s // 2)))


class Encoder(nn.Module):
    """Waveform ``(B, 1, N)`` -> features ``(B, dim, N / prod(strides))`` (SEANet, Défossez 2022)."""

    def __init__(self, channels: int, strides: tuple[int, ...], dim: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(1, channels, 7, padding=3)]
        c = channels
        for s in strides:
            layers += [ResidualUnit(c, 1), ResidualUnit(c, 3), Downsample(c, min(2 * c, 512), s)]
            c = min(2 * c, 512)
        layers += [nn.ELU(), nn.Conv1d(c, dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)
        self.strides = strides

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def receptive_field(self) -> int:
        """Samples of context on each side that can change an output frame (an upper bound)."""
        rf, step = 3, 1
        for s in self.strides:
            rf += step * (3 + 9)          # two residual units: kernel 7 at dilations 1 and 3
            rf += step * (s + 1)          # the strided conv's reach
            step *= s
        return rf + step                  # the last kernel-3 conv, at the frame rate


class ConvNeXtBlock(nn.Module):
    """Depthwise conv 7 -> LayerNorm -> pointwise MLP (x3) -> layer scale, residual (Liu 2022)."""

    def __init__(self, dim: int, mult: int = 3):
        super().__init__()
        self.dw = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1, self.pw2 = nn.Linear(dim, mult * dim), nn.Linear(mult * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.dw(x).transpose(1, 2))
        h = self.gamma * self.pw2(F.gelu(self.pw1(h)))
        return x + h.transpose(1, 2)


class BandAttention(nn.Module):
    """Pre-norm multi-head self-attention where frame ``i`` sees frames ``|i - j| <= window``.

    The band keeps the receptive field finite, so long inputs decode in chunks exactly enough
    that the seams do not click (WavTokenizer puts full attention here; ours is local)."""

    def __init__(self, dim: int, heads: int, window: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.heads, self.window = heads, window

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        q, k, v = self.qkv(self.norm(x.transpose(1, 2))).view(b, t, 3, self.heads, c // self.heads).unbind(2)
        pos = torch.arange(t, device=x.device)
        band = (pos[:, None] - pos[None, :]).abs() <= self.window
        h = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=band)
        return x + self.out(h.transpose(1, 2).reshape(b, t, c)).transpose(1, 2)


class ISTFTHead(nn.Module):
    """Frames ``(B, dim, F)`` -> waveform ``(B, F * hop)``: predicts log-magnitude and phase of a
    ``4 * hop``-point STFT per frame and inverts it (Vocos)."""

    def __init__(self, dim: int, hop: int):
        super().__init__()
        self.hop, self.n_fft = hop, 4 * hop
        self.proj = nn.Linear(dim, self.n_fft + 2)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logmag, phase = self.proj(x.transpose(1, 2)).transpose(1, 2).chunk(2, 1)
        mag = torch.exp(logmag.clamp(max=6.0))
        spec = torch.polar(mag, phase)
        frames = x.shape[-1]
        return torch.istft(spec, self.n_fft, self.hop, window=self.window, center=True, length=frames * self.hop)
