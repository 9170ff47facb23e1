"""Distortion metrics. Images: uint8 ``(H, W, 3)``; audio: float32 ``(N,)`` mono in [-1, 1].

Image PSNR is on 8-bit RGB with peak 255 over all pixels and channels (CompressAI's
``psnr-rgb``); MS-SSIM uses ``pytorch_msssim`` in float32 (5 scales, needs both sides >= 161 pixels, else
``None``). Audio: STOI (``pystoi``), PESQ-WB (``pesq``, at 16 kHz), log-mel L1 distance and
SI-SDR, all on the reference's length after :func:`align`: parametric codecs (Codec2 lags about
25 ms) would otherwise be scored on their delay, not their quality; every codec gets the same
treatment and the lag is reported.
"""
from __future__ import annotations

import math

import warnings

import numpy as np

PSNR_CAP = 100.0  # identical images: report the cap instead of infinity (JSON has no inf)


def psnr(ref: np.ndarray, test: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB of two uint8 arrays of the same shape."""
    if ref.shape != test.shape:
        raise ValueError(f"shapes differ: {ref.shape} vs {test.shape}")
    mse = float(np.mean((ref.astype(np.float64) - test.astype(np.float64)) ** 2))
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * math.log10(peak * peak / mse))


def ms_ssim(ref: np.ndarray, test: np.ndarray) -> float | None:
    """MS-SSIM of two uint8 ``(H, W, 3)`` images (``None`` when a side is under 161 pixels)."""
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim
    if min(ref.shape[:2]) < 161:
        return None
    a, b = (torch.from_numpy(np.array(x)).permute(2, 0, 1)[None].float() for x in (ref, test))
    return float(_ms_ssim(a, b, data_range=255.0))


def image_metrics(ref: np.ndarray, test: np.ndarray) -> dict:
    return {"psnr-rgb": psnr(ref, test), "ms-ssim": ms_ssim(ref, test)}


def _match(ref: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut or zero-pad ``test`` to the reference's length."""
    ref, test = np.asarray(ref, np.float64).reshape(-1), np.asarray(test, np.float64).reshape(-1)
    if len(test) < len(ref):
        test = np.concatenate([test, np.zeros(len(ref) - len(test))])
    return ref, test[: len(ref)]


def si_sdr(ref: np.ndarray, test: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019), zero-mean signals."""
    ref, test = _match(ref, test)
    ref, test = ref - ref.mean(), test - test.mean()
    alpha = np.dot(test, ref) / max(np.dot(ref, ref), 1e-12)
    target = alpha * ref
    noise = test - target
    return float(10 * np.log10(max(np.dot(target, target), 1e-12) / max(np.dot(noise, noise), 1e-12)))


def log_mel_distance(ref: np.ndarray, test: np.ndarray, sample_rate: int, below_hz: float | None = None) -> float:
    """Mean |log10 mel(ref) - log10 mel(test)| with 80 mel bands, 64 ms windows, 16 ms hops.
    Clips shorter than half a window (drum one-shots) are zero-padded at the edges instead of
    reflected, which needs more samples than they have. ``below_hz`` keeps only the bands whose
    centre lies below it (e.g. 4000: the band an 8 kHz codec such as Codec2 can carry)."""
    import torch
    import torchaudio
    ref, test = _match(ref, test)
    n_fft = 1 << int(round(math.log2(0.064 * sample_rate)))
    mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=n_fft, hop_length=n_fft // 4, n_mels=80,
                                               f_max=sample_rate / 2, power=1.0,
                                               pad_mode="reflect" if len(ref) > n_fft // 2 else "constant")
    x = torch.from_numpy(np.stack([ref, test])).float()
    m = torch.log10(mel(x).clamp(min=1e-5))
    d = (m[0] - m[1]).abs()                                          # (80, frames)
    if below_hz is not None:
        centres = mel.mel_scale.fb.argmax(0) * sample_rate / n_fft   # (80,) Hz
        d = d[centres < below_hz]
    return float(d.mean())


def resample(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """``x`` at ``sr_to`` (an empty signal stays empty: Codec2 writes nothing for a 50 ms clip)."""
    if sr_from == sr_to or np.size(x) == 0:
        return np.asarray(x, np.float32)
    import torch
    import torchaudio.functional as AF
    return AF.resample(torch.from_numpy(np.asarray(x, np.float32)), sr_from, sr_to).numpy()


def stoi(ref: np.ndarray, test: np.ndarray, sample_rate: int) -> float | None:
    """STOI; ``None`` for clips too short for its 384 ms analysis (30 frames of 12.8 ms at 10 kHz
    after silent frames are dropped): pystoi fails or returns a meaningless 1e-5 there."""
    from pystoi import stoi as _stoi
    ref, test = _match(ref, test)
    if len(ref) * 10_000 < (256 + 30 * 128) * sample_rate:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)   # "Not enough STFT frames"
            return float(_stoi(ref, test, sample_rate, extended=False))
    except (RuntimeWarning, ValueError, np.exceptions.AxisError):
        return None


def pesq_wb(ref: np.ndarray, test: np.ndarray, sample_rate: int) -> float | None:
    """Wide-band PESQ (ITU-T P.862.2) at 16 kHz; ``None`` if PESQ finds no speech."""
    from pesq import pesq
    from pesq.cypesq import PesqError
    ref, test = _match(resample(ref, sample_rate, 16000), resample(test, sample_rate, 16000))
    try:
        return float(pesq(16000, ref.astype(np.float32), test.astype(np.float32), "wb"))
    except PesqError:
        return None


def _xcorr(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Lags ``-max_lag..max_lag`` and the cross-correlation of ``b`` against ``a`` at each."""
    n = len(a)
    corr = np.fft.irfft(np.fft.rfft(b, 2 * n) * np.conj(np.fft.rfft(a, 2 * n)), 2 * n)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    return lags, np.concatenate([corr[: max_lag + 1], corr[-max_lag:]])


def _envelope(x: np.ndarray, hop: int) -> np.ndarray:
    """RMS over 8-hop windows every ``hop`` samples, zero-mean."""
    e = np.sqrt(np.convolve(x * x, np.ones(8 * hop) / (8 * hop), mode="same")[::hop])
    return e - e.mean()


def align(ref: np.ndarray, test: np.ndarray, sample_rate: int, max_ms: float = 100.0) -> tuple[np.ndarray, int]:
    """Shift ``test`` by its lag (within ±``max_ms``) behind ``ref``; returns (shifted test on the
    reference's length, lag in samples, + = test late).

    Waveform codecs keep the phase: their lag is the peak of the waveform cross-correlation, to
    the sample. Vocoders (Codec2, the tokenizers' iSTFT heads) do not, and their waveform peak is
    noise anywhere in the window; when the normalised peak is below 0.3 the lag comes from the
    cross-correlation of 1 ms RMS envelopes instead."""
    ref, test = _match(ref, test)
    n, max_lag = len(ref), int(sample_rate * max_ms / 1000)
    if n == 0:
        return test, 0
    lags, corr = _xcorr(ref, test, max_lag)
    norm = np.sqrt((ref ** 2).sum() * (test ** 2).sum())
    lag = int(lags[np.argmax(corr)])
    hop = max(1, sample_rate // 1000)
    if (norm == 0 or corr.max() / norm < 0.3) and n >= 16 * hop:
        er, et = _envelope(ref, hop), _envelope(test, hop)
        elags, ecorr = _xcorr(er, et, max(1, max_lag // hop))
        lag = int(elags[np.argmax(ecorr)]) * hop
    shifted = np.concatenate([test[lag:], np.zeros(lag)]) if lag >= 0 else np.concatenate([np.zeros(-lag), test[:lag]])
    return shifted, lag


def audio_metrics(ref: np.ndarray, test: np.ndarray, sample_rate: int) -> dict:
    test, lag = align(ref, test, sample_rate)
    return {"lag-ms": round(1000 * lag / sample_rate, 3), "stoi": stoi(ref, test, sample_rate), "pesq-wb": pesq_wb(ref, test, sample_rate),
            "log-mel-l1": log_mel_distance(ref, test, sample_rate),
            "log-mel-4k": log_mel_distance(ref, test, sample_rate, below_hz=4000), "si-sdr": si_sdr(ref, test)}


def video_metrics(ref: np.ndarray, test: np.ndarray) -> dict:
    """Per-frame RGB PSNR and MS-SSIM averaged over frames; ``ref`` is cropped to ``test``'s size
    (even sizes for yuv420p) and missing frames count as errors."""
    if len(test) != len(ref):
        raise ValueError(f"decoded {len(test)} frames, expected {len(ref)}")
    h, w = test.shape[1:3]
    ref = ref[:, :h, :w]
    ps = [psnr(a, b) for a, b in zip(ref, test)]
    ms = [ms_ssim(a, b) for a, b in zip(ref, test)]
    return {"psnr-rgb": float(np.mean(ps)), "ms-ssim": None if None in ms else float(np.mean(ms))}
