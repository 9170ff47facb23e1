"""Losses of the audio tokenizer: multi-scale mel, multi-period and multi-resolution STFT
discriminators (HiFi-GAN; Vocos/UnivNet), hinge GAN, feature matching, and EnCodec's balancer.

Waveforms are ``(B, N)`` float at 24 kHz.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MEL_SCALES = ((512, 128, 40), (1024, 256, 80), (2048, 512, 128))   # (n_fft, hop, mels)


class MelLoss(nn.Module):
    """Mean L1 distance of log-mel spectrograms over :data:`MEL_SCALES`."""

    def __init__(self, sample_rate: int = 24_000):
        super().__init__()
        from torchaudio.functional import melscale_fbanks
        for i, (n_fft, _, mels) in enumerate(MEL_SCALES):
            fb = melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, mels, sample_rate, norm="slaney", mel_scale="slaney")
            self.register_buffer(f"fb{i}", fb, persistent=False)
            self.register_buffer(f"win{i}", torch.hann_window(n_fft), persistent=False)

    def log_mel(self, x: torch.Tensor, i: int) -> torch.Tensor:
        n_fft, hop, _ = MEL_SCALES[i]
        spec = torch.stft(x, n_fft, hop, window=getattr(self, f"win{i}"), return_complex=True).abs()
        return torch.log(torch.clamp(spec.transpose(1, 2) @ getattr(self, f"fb{i}"), min=1e-5))

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return sum(F.l1_loss(self.log_mel(y_hat, i), self.log_mel(y, i)) for i in range(len(MEL_SCALES))) / len(MEL_SCALES)


class PeriodDisc(nn.Module):
    """Waveform folded by ``period`` into ``(B, 1, N / p, p)``, 2-D convs along time."""

    def __init__(self, period: int, ch: int):
        super().__init__()
        self.period = period
        chans = [1, ch, 2 * ch, 4 * ch, 4 * ch]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, (5, 1), (3, 1), (2, 0)) for a, b in zip(chans[:-1], chans[1:]))
        self.post = nn.Conv2d(chans[-1], 1, (3, 1), padding=(1, 0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = F.pad(x, (0, (-x.shape[-1]) % self.period), mode="reflect")
        h, feats = x.view(x.shape[0], 1, -1, self.period), []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            feats.append(h)
        return self.post(h), feats


class SpecDisc(nn.Module):
    """Log-magnitude STFT ``(B, 1, frames, bins)`` through 2-D convs (multi-resolution discriminator)."""

    def __init__(self, n_fft: int, hop: int, ch: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.convs = nn.ModuleList([nn.Conv2d(1, ch, (7, 5), padding=(3, 2)), nn.Conv2d(ch, ch, (5, 3), (1, 2), (2, 1)),
                                    nn.Conv2d(ch, ch, (5, 3), (1, 2), (2, 1)), nn.Conv2d(ch, ch, 3, padding=1)])
        self.post = nn.Conv2d(ch, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, return_complex=True).abs()
        h, feats = torch.log1p(spec).transpose(1, 2)[:, None], []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            feats.append(h)
        return self.post(h), feats


class Discriminators(nn.Module):
    """Multi-period (2, 3, 5, 7, 11) + multi-resolution STFT discriminators."""

    def __init__(self, ch: int = 16):
        super().__init__()
        self.discs = nn.ModuleList([PeriodDisc(p, ch) for p in (2, 3, 5, 7, 11)] +
                                   [SpecDisc(n, n // 4, ch) for n in (512, 1024, 2048)])

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        return [d(x) for d in self.discs]


def disc_hinge(real, fake) -> torch.Tensor:
    return sum(F.relu(1 - r[0]).mean() + F.relu(1 + f[0]).mean() for r, f in zip(real, fake)) / len(real)


def gen_hinge(fake) -> torch.Tensor:
    return sum(F.relu(1 - f[0]).mean() for f in fake) / len(fake)


def feature_matching(real, fake) -> torch.Tensor:
    """L1 between discriminator features, each normalised by the real feature's mean magnitude."""
    terms = [F.l1_loss(b, a.detach()) / (a.detach().abs().mean() + 1e-5)
             for r, f in zip(real, fake) for a, b in zip(r[1], f[1])]
    return sum(terms) / len(terms)


class Balancer:
    """EnCodec's loss balancer: each loss sends the waveform a gradient of norm proportional to
    its weight, whatever its scale (norms tracked with an EMA). :meth:`surrogate` returns a loss
    whose gradient w.r.t. ``y_hat`` is the balanced sum, for ``manual_backward``."""

    def __init__(self, weights: dict[str, float], decay: float = 0.999):
        self.weights, self.decay = weights, decay
        self.norms: dict[str, torch.Tensor] = {}

    def surrogate(self, losses: dict[str, torch.Tensor], y_hat: torch.Tensor) -> torch.Tensor:
        total = sum(self.weights[k] for k in losses)
        grad = torch.zeros_like(y_hat)
        for k, loss in losses.items():
            (g,) = torch.autograd.grad(loss, y_hat, retain_graph=True)
            norm = g.flatten(1).norm(dim=1).mean().detach()
            ema = self.norms.get(k)
            self.norms[k] = norm if ema is None else self.decay * ema + (1 - self.decay) * norm
            grad += (self.weights[k] / total) * g / (self.norms[k] + 1e-12)
        return (y_hat * grad.detach()).sum()

    def state_dict(self) -> dict:
        return {k: float(v) for k, v in self.norms.items()}

    def load_state_dict(self, d: dict) -> None:
        self.norms = {k: torch.tensor(v) for k, v in d.items()}
