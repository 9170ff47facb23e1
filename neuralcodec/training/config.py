"""Typed training configs, read from JSON files (``neuralcodec train image --config FILE``)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import NeuralCodecError


@dataclass(frozen=True)
class ImageTrainConfig:
    """Recipe of a learned image codec (loss = bpp + lambda_q * 255^2 * MSE, q random per sample)."""

    model: str = "hyperprior"          # hyperprior | mref
    n: int = 128
    m: int = 192
    transform_n: int = 0               # channels inside g_a / g_s (0 = n); wider than init_from's: widened
    lambdas: tuple[float, ...] = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483)
    slices: int = 4                    # mref only
    width: int = 96                    # mref only: hidden width of the context networks
    checkerboard: bool = True          # mref ablations (see MrefConfig)
    channel_context: bool = True
    lrp: bool = True
    global_context: bool = False       # mref: linear-attention global context (global_context.py)
    global_dim: int = 16
    quality_scales: bool = False       # mref: per-quality channel scales inside g_a and g_s
    res_blocks: bool = False           # mref: residual bottleneck blocks inside g_a and g_s (identity at init)
    data: str = "image-train"          # a split of `neuralcodec data fetch`, or a folder of images
    data_dir: str = ""                 # where the splits are ("" = the default cache)
    val_data: str = "image-val"        # held out from image-train: what models are chosen by ("" = none)
    val_every: int = 500               # steps between validations (0 = none)
    crop: int = 256
    batch_size: int = 8
    lr: float = 1e-4
    aux_lr: float = 1e-3
    max_steps: int = 200_000
    lr_drop_at: tuple[float, ...] = (0.8, 0.95)   # fractions of max_steps; lr x0.1 at each
    clip_grad: float = 1.0
    compile: bool = False              # torch.compile the transforms (g_a, g_s): 1.4x steps/s on the CPU
    bf16: bool = False                 # run the transforms under bfloat16 autocast (weights stay float32)
    seed: int = 0
    init_from: str = ""                # safetensors whose same-named, same-shaped tensors start the run
    checkpoint_every: int = 500
    out: str = "runs/hyperprior"

    def model_config(self) -> dict:
        """The model's own config (what goes into the weights' metadata)."""
        base = {"n": self.n, "m": self.m, "lambdas": list(self.lambdas)}
        if self.transform_n:   # absent from older weights, whose transforms are n wide
            base["transform_n"] = self.transform_n
        mref = {"slices": self.slices, "width": self.width, "checkerboard": self.checkerboard,
                "channel_context": self.channel_context, "lrp": self.lrp}
        if self.global_context:   # absent from older weights, whose models have none
            mref |= {"global_context": True, "global_dim": self.global_dim}
        if self.quality_scales:   # likewise
            mref |= {"quality_scales": True}
        if self.res_blocks:
            mref |= {"res_blocks": True}
        return base | (mref if self.model == "mref" else {})


@dataclass(frozen=True)
class AudioTrainConfig:
    """Recipe of the audio tokenizer: mel + feature-matching + adversarial losses, balanced on
    the gradient they send to the waveform (EnCodec), plus the quantizer's commitment loss."""

    model: str = "wavtok"
    tokenizer: dict = field(default_factory=dict)   # TokenizerConfig fields (defaults otherwise)
    data: str = "audio-train"
    data_dir: str = ""
    val_data: str = "audio-val"          # held out from audio-train ("" = none)
    val_every: int = 500
    speech_weight: float = 0.5          # share of batch items drawn from speech files
    max_seconds_per_file: float = 120.0  # long music tracks contribute at most this much
    segment: float = 1.0                # seconds per batch item (24 kHz)
    batch_size: int = 8
    lr: float = 2e-4
    disc_lr: float = 2e-4
    max_steps: int = 100_000
    gan_start: int = 0                  # steps of mel-only training before the discriminators join
    weights: dict = field(default_factory=lambda: {"mel": 0.6, "fm": 0.25, "adv": 0.15})
    commit: float = 1.0
    disc_channels: int = 16
    prior_classes: int = 64             # context classes of the token prior (export)
    prior_seconds: float = 600.0        # seconds of training audio the prior is counted on
    clip_grad: float = 1000.0
    seed: int = 0
    init_from: str = ""
    checkpoint_every: int = 500
    out: str = "runs/wavtok"


@dataclass(frozen=True)
class SpeechTrainConfig:
    """Recipe of the multi-rate speech codec: L1 on log magnitudes (plus, for the ``istft`` head,
    on the decoded waveform's spectra at three resolutions), books drawn per batch."""
    model: str = "speech"
    speech: dict = field(default_factory=dict)   # SpeechConfig fields (defaults otherwise)
    data: str = "audio-train"           # speech files of the split (by source package)
    data_dir: str = ""
    val_data: str = "audio-val"
    val_every: int = 500
    max_seconds_per_file: float = 120.0
    segment: float = 2.0                # seconds per batch item (16 kHz)
    batch_size: int = 16
    lr: float = 1e-3
    max_steps: int = 20_000
    low_band_weight: float = 2.0        # loss weight of the bins below 4 kHz
    commit: float = 0.25
    clip_grad: float = 1.0
    seed: int = 0
    checkpoint_every: int = 500
    out: str = "runs/speech"


def load_config(path: str | Path, overrides: dict | None = None
                ) -> ImageTrainConfig | AudioTrainConfig | SpeechTrainConfig:
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise NeuralCodecError(f"{path}: not a readable JSON config ({e})") from None
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    cls = {"wavtok": AudioTrainConfig, "speech": SpeechTrainConfig}.get(raw.get("model"), ImageTrainConfig)
    known = {f.name for f in fields(cls)}
    unknown = set(raw) - known
    if unknown:
        raise NeuralCodecError(f"{path}: unknown config keys {sorted(unknown)}")
    for k in ("lambdas", "lr_drop_at"):
        if k in raw:
            raw[k] = tuple(raw[k])
    try:
        return cls(**raw)
    except NeuralCodecError as e:
        raise NeuralCodecError(f"{path}: {e}") from None


def to_dict(cfg: ImageTrainConfig | AudioTrainConfig | SpeechTrainConfig) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
