"""The ``hyperprior`` codec: one Gaussian-table stream for y, rows and means from the exact h_s."""
from __future__ import annotations

import torch

from ...entropy import rans
from ...kernels import quantize as kq
from ..base import CodecInfo
from .exact import ACT_BITS
from .learned import LearnedImageCodec


class HyperpriorCodec(LearnedImageCodec):
    info = CodecInfo("hyperprior", "image", 1, (1, 2, 3, 4, 5, 6), 3, False,
                     "mean-scale hyperprior, variable rate (gain units), bit-exact hyper-decoder")

    def params(self, hyper: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact: (table rows, means in units of 2**-ACT_BITS), each int64 ``(1, M, h, w)``."""
        raw_scales, means = hyper.chunk(2, dim=1)
        return self.rows(raw_scales), means

    def encode_latent(self, y_s: torch.Tensor, hyper: torch.Tensor) -> bytes:
        rows, means = self.params(hyper)
        y_sym = kq.center_round(y_s.double(), means.double() / (1 << ACT_BITS))
        return rans.encode(y_sym.cpu().numpy().ravel(), rows.cpu().numpy().ravel(), self.tables.y_table)

    def decode_latent(self, blob: bytes, hyper: torch.Tensor) -> torch.Tensor:
        rows, means = self.params(hyper)
        y_sym = rans.decode(blob, rows.cpu().numpy().ravel(), self.tables.y_table)
        y = torch.from_numpy(y_sym.reshape(rows.shape)).to(hyper.device).double()
        return (y + means.double() / (1 << ACT_BITS)).float()

