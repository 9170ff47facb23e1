"""What every learned image codec here shares: weights, the z stream, the exact hyper features.

    encode: x -pad-> g_a[q] -> y × gain[q] [-> refine] -> h_a -> z_sym -("z")-> h_s.exact -> hyper (int)
            y_s, hyper -> encode_latent -("y")
    decode: "z" -> z_sym -> hyper;  "y", hyper -> decode_latent -> ŷ -> × inv_gain[q] -> g_s[q] -> crop

(``g_a[q]``, ``g_s[q]``: quality q's transforms (its transform set, where the model has several)
with its channel scales, where the model has them.)

Subclasses say how the latent is coded (:meth:`encode_latent`, :meth:`decode_latent`); the
weights file names its model and config in the safetensors metadata.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...entropy import rans
from ...entropy.container import Container
from ...errors import FormatError, NeuralCodecError
from ...kernels import quantize as kq
from ...media import Image
from ..base import Codec, CodecInfo, hash_bytes
from ..zoo import shipped_weights
from . import PRECISIONS   # arithmetic of g_a and g_s (the entropy model is exact integer)
from .exact import ACT_BITS
from .hyperprior import STRIDE, CodingTables, coding_tables, pad
from .layers import analyse, synthesize

DEFAULT_LAMBDA = 0.0067  # the default quality is the one trained nearest this lambda (about 0.4 bpp)


def native_bf16(device: str) -> bool:
    """Whether ``device`` runs bfloat16 convolutions in hardware (CUDA since Ampere; a CPU with
    AVX512-BF16 or AMX, through oneDNN). Elsewhere bfloat16 is emulated and slower than float32."""
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: str) -> torch.dtype:
    """``precision`` (one of :data:`PRECISIONS`) on ``device`` -> the dtype g_a and g_s compute in:
    ``auto`` is bfloat16 where :func:`native_bf16`, else float32."""
    if precision not in PRECISIONS:
        raise NeuralCodecError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    return torch.bfloat16 if precision == "bfloat16" else torch.float32


def info_for(info: CodecInfo, lambdas) -> CodecInfo:
    """``info`` for weights trained at ``lambdas``: one quality per lambda (1 = the lowest rate),
    and the default the one nearest :data:`DEFAULT_LAMBDA` in log scale."""
    log = np.log(np.asarray(lambdas, dtype=np.float64))
    default = 1 + int(np.argmin(np.abs(log - np.log(DEFAULT_LAMBDA))))
    return replace(info, qualities=tuple(range(1, len(log) + 1)), default_quality=default)


def weights_metadata(path: Path) -> tuple[str, dict]:
    """``(model kind, config)`` from a weights file's safetensors metadata, without loading tensors.
    Raises OSError for an unreadable file and KeyError/ValueError for missing or bad metadata."""
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except SafetensorError as e:   # not a safetensors file
        raise OSError(str(e)) from None
    return meta.get("model", "hyperprior"), json.loads(meta["config"])


def shipped_info(info: CodecInfo, path: Path) -> CodecInfo:
    """:func:`info_for` the weights in ``path``, from their metadata alone (no model is built), so
    ``neuralcodec list`` shows the qualities the shipped weights code (and a missing file says so)."""
    if not path.is_file():
        return replace(info, summary=f"WEIGHTS MISSING ({path}): {info.summary}")
    lambdas = weights_metadata(path)[1].get("lambdas")
    return info_for(info, lambdas) if lambdas else info


def model_classes() -> dict[str, tuple[type, type]]:
    from .hyperprior import HyperpriorConfig, HyperpriorModel
    from .mref import MrefConfig, MrefModel
    return {"hyperprior": (HyperpriorModel, HyperpriorConfig), "mref": (MrefModel, MrefConfig)}


def build_model(kind: str, config: dict) -> nn.Module:
    model_cls, cfg_cls = model_classes()[kind]
    cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    return model_cls(cfg_cls(**cfg))


def load_model(path: Path) -> nn.Module:
    """Model from a safetensors file whose metadata holds ``model`` and ``config`` (JSON); tensors
    as :func:`weights.read` gives them."""
    from .weights import read
    try:
        model = build_model(*weights_metadata(path))
        model.load_state_dict(read(path))
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
        raise NeuralCodecError(f"{path}: not usable weights ({e})") from None
    return model.eval()


class LearnedImageCodec(Codec):
    """Base of the learned image codecs; without a model, the shipped weights of ``info.name`` (zoo.py)."""

    bytes_per_pixel = 240   # mref at 4096x4096: 198 (encode), 174 (decode); `neuralcodec bench memory`

    def __init__(self, model: nn.Module | None = None, device: str = "cpu", refine: int = 0,
                 precision: str = "float32"):
        self.model = (model if model is not None else load_model(shipped_weights(self.info.name))).eval().to(device)
        self.device = device
        self.refine = refine   # encoder effort: gradient steps on the latent (see refine.py); 0 = off
        self.precision = precision
        self.info = info_for(self.info, self.model.cfg.lambdas)   # the weights decide the qualities
        self.tables: CodingTables = coding_tables(self.model)
        state = self.model.state_dict()
        self._hash = hash_bytes(*(state[k].detach().cpu().numpy().tobytes() for k in sorted(state)))

    def weights_hash(self) -> bytes:
        return self._hash

    @property
    def precision(self) -> str:
        """Arithmetic of the transforms (:data:`PRECISIONS`). It changes pixels by rounding only, never
        what the entropy model decides, so a file decodes with any precision on any device; bfloat16
        halves the transforms' time where the hardware has it (README, Command line)."""
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        self._dtype = resolve_precision(value, self.device)
        self._precision = value

    @property
    def transform_dtype(self) -> torch.dtype:
        """What :attr:`precision` resolves to on this codec's device."""
        return self._dtype

    def run_transform(self, fn, *args) -> torch.Tensor:
        """``fn(*args)`` (g_a or g_s, as :func:`analyse` / :func:`synthesize` run them) in the codec's
        precision; float32 out."""
        if self._dtype == torch.float32:
            return fn(*args)
        with torch.autocast(torch.device(self.device).type, dtype=self._dtype):
            return fn(*args).float()

    def scales(self, q: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Quality ``q`` (1-based) -> the model's per-quality transform scales ``(1, 3, N)``, if it has them."""
        fn = getattr(self.model, "transform_scales", None)
        return fn(torch.tensor([q - 1], device=self.device)) if fn else (None, None)

    def hyper(self, z_sym: torch.Tensor) -> torch.Tensor:
        """Exact: int64 z symbols ``(B, N, h, w)`` -> int64 hyper features (units of 2**-ACT_BITS)."""
        z_int = (z_sym << ACT_BITS) + self.tables.z_median_int.to(z_sym.device).view(1, -1, 1, 1)
        return self.model.h_s.exact(z_int)

    def rows(self, raw_scales: torch.Tensor) -> torch.Tensor:
        """Exact: fixed-point scales -> rows of the Gaussian scale table."""
        return kq.table_index(raw_scales, self.tables.scale_thresholds)

    def encode_latent(self, y_s: torch.Tensor, hyper: torch.Tensor) -> bytes:
        raise NotImplementedError

    def decode_latent(self, blob: bytes, hyper: torch.Tensor) -> torch.Tensor:
        """-> float ``(1, M, h, w)`` latent to synthesise (before the inverse gain)."""
        raise NotImplementedError

    def _z_indexes(self, shape) -> np.ndarray:
        return np.broadcast_to(np.arange(shape[1]).reshape(1, -1, 1, 1), shape).ravel()

    @torch.no_grad()
    def encode(self, media: Image, quality: int | None = None) -> Container:
        q = self.check_quality(quality)
        h, w, _ = media.pixels.shape
        self.check_size(h, w)
        x = torch.from_numpy(media.pixels).permute(2, 0, 1)[None].float().div(255).to(self.device)
        m = self.model
        x = pad(x)
        y_s = self.run_transform(analyse, m.g_a, x, self.scales(q)[0]) * m.gain[q - 1].view(1, -1, 1, 1)
        if self.refine:
            from .refine import refine_latent
            y_s = refine_latent(m, x, y_s, q - 1, self.refine, (h, w))
        z = m.h_a(y_s)
        z_sym = kq.center_round(z, m.z_density.medians.view(1, -1, 1, 1).to(z.device))
        z_blob = rans.encode(z_sym.cpu().numpy().ravel(), self._z_indexes(z_sym.shape), self.tables.z_table)
        y_blob = self.encode_latent(y_s, self.hyper(z_sym))
        return Container("image", self.info.name, self.info.version, self.weights_hash(),
                         {"height": h, "width": w, "quality": q}, {"z": z_blob, "y": y_blob})

    @torch.no_grad()
    def decode(self, container: Container) -> Image:
        try:
            h, w, q = (int(container.fields[k]) for k in ("height", "width", "quality"))
            z_blob, y_blob = container.streams["z"], container.streams["y"]
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"{self.info.name} file lacks its fields or streams") from None
        if q not in self.info.qualities:
            raise FormatError(f"{self.info.name} file has quality {q}")
        self.check_size(h, w)
        m = self.model
        shape = (1, m.cfg.n, -(-h // STRIDE), -(-w // STRIDE))
        z_sym = rans.decode(z_blob, self._z_indexes(shape), self.tables.z_table).reshape(shape)
        y_hat = self.decode_latent(y_blob, self.hyper(torch.from_numpy(z_sym).to(self.device)))
        y_hat = y_hat * m.inv_gain[q - 1].view(1, -1, 1, 1)
        x_hat = self.run_transform(synthesize, m.g_s, y_hat, self.scales(q)[1]).clamp(0, 1)[0, :, :h, :w]
        return Image((x_hat.permute(1, 2, 0) * 255).round().byte().cpu().numpy())
