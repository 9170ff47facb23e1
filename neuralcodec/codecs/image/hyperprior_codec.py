"""The ``hyperprior`` codec: :class:`HyperpriorModel` behind the Codec contract, weights from assets/.

Streams: ``"z"`` (factorized table, one row per channel) and ``"y"`` (Gaussian scale table, rows
and means from the exact hyper-decoder). Fields: height, width, quality.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ...entropy import rans
from ...entropy.container import Container
from ...errors import FormatError, NeuralCodecError
from ...media import Image
from ..base import Codec, CodecInfo, hash_bytes, register
from .exact import ACT_BITS
from .hyperprior import STRIDE, HyperpriorConfig, HyperpriorModel, coding_tables, hyper_decode, pad

ASSETS = Path(__file__).resolve().parents[3] / "assets"
WEIGHTS = ASSETS / "hyperprior.safetensors"


def load_model(path: Path = WEIGHTS) -> HyperpriorModel:
    """Model from a safetensors file whose metadata holds the config as JSON."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        cfg = json.loads(meta["config"])
        model = HyperpriorModel(HyperpriorConfig(cfg["n"], cfg["m"], tuple(cfg["lambdas"])))
        model.load_state_dict(load_file(str(path)))
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        raise NeuralCodecError(f"{path}: not usable hyperprior weights ({e})") from None
    return model.eval()


class HyperpriorCodec(Codec):
    info = CodecInfo("hyperprior", "image", 1, (1, 2, 3, 4, 5, 6), 3, False,
                     "mean-scale hyperprior, variable rate (gain units), bit-exact hyper-decoder")

    def __init__(self, model: HyperpriorModel | None = None, device: str = "cpu"):
        self.model = (model if model is not None else load_model()).eval().to(device)
        self.device = device
        self.tables = coding_tables(self.model)
        state = self.model.state_dict()
        self._hash = hash_bytes(*(state[k].detach().cpu().numpy().tobytes() for k in sorted(state)))

    def weights_hash(self) -> bytes:
        return self._hash

    @torch.no_grad()
    def encode(self, media: Image, quality: int | None = None) -> Container:
        q = self.check_quality(quality)
        h, w, _ = media.pixels.shape
        x = torch.from_numpy(media.pixels).permute(2, 0, 1)[None].float().div(255).to(self.device)
        m = self.model
        y_s = m.g_a(pad(x)) * m.gain[q - 1].view(1, -1, 1, 1)
        z = m.h_a(y_s)
        med = m.z_density.medians.view(1, -1, 1, 1).to(z.device)
        z_sym = torch.round(z - med).long()
        rows, means = hyper_decode(m, self.tables, z_sym)
        y_sym = torch.round(y_s - means.double().div(1 << ACT_BITS)).long()
        z_idx = np.broadcast_to(np.arange(z_sym.shape[1]).reshape(1, -1, 1, 1), z_sym.shape)
        streams = {"z": rans.encode(z_sym.cpu().numpy().ravel(), z_idx.ravel(), self.tables.z_table),
                   "y": rans.encode(y_sym.cpu().numpy().ravel(), rows.cpu().numpy().ravel(), self.tables.y_table)}
        return Container("image", self.info.name, self.info.version, self.weights_hash(),
                         {"height": h, "width": w, "quality": q}, streams)

    @torch.no_grad()
    def decode(self, container: Container) -> Image:
        try:
            h, w, q = (int(container.fields[k]) for k in ("height", "width", "quality"))
            z_blob, y_blob = container.streams["z"], container.streams["y"]
        except (KeyError, TypeError, ValueError):
            raise FormatError("hyperprior file lacks its fields or streams") from None
        if q not in self.info.qualities:
            raise FormatError(f"hyperprior file has quality {q}")
        m = self.model
        hz, wz = -(-h // STRIDE), -(-w // STRIDE)
        n = m.cfg.n
        z_idx = np.broadcast_to(np.arange(n).reshape(1, -1, 1, 1), (1, n, hz, wz)).ravel()
        z_sym = torch.from_numpy(rans.decode(z_blob, z_idx, self.tables.z_table).reshape(1, n, hz, wz)).to(self.device)
        rows, means = hyper_decode(m, self.tables, z_sym)
        y_sym = rans.decode(y_blob, rows.cpu().numpy().ravel(), self.tables.y_table)
        y_hat = torch.from_numpy(y_sym.reshape(rows.shape)).to(self.device).double()
        y_hat = (y_hat + means.double() / (1 << ACT_BITS)).float() * m.inv_gain[q - 1].view(1, -1, 1, 1)
        x_hat = m.g_s(y_hat).clamp(0, 1)[0, :, :h, :w]
        return Image((x_hat.permute(1, 2, 0) * 255).round().byte().cpu().numpy())


if WEIGHTS.exists():  # registered once trained weights ship in assets/ (see assets/hyperprior.md)
    register(HyperpriorCodec)
