"""The ``mref`` codec: 2 x S sequential groups (slice anchors, slice non-anchors) in one rANS blob.

Encoder and decoder run the same driver (:meth:`MrefCodec.passes`); only what happens to a
group's symbols differs (computed and queued, or decoded). Table rows and means come from the
exact context networks, so the decoder sees what the encoder saw.
"""
from __future__ import annotations

from typing import Callable

import torch

from ...entropy import rans
from ...kernels import quantize as kq
from ..base import CodecInfo, register
from .exact import ACT_BITS
from ..zoo import ASSETS, SHIPPED
from .learned import LearnedImageCodec, shipped_info
from .mref import anchor_mask

UNIT = 1 << ACT_BITS
GroupFn = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class MrefCodec(LearnedImageCodec):
    info = CodecInfo("mref", "image", 1, (1, 2, 3, 4, 5, 6), 3, False,
                     "multi-reference entropy model: channel slices x checkerboard, exact contexts, LRP")

    def slice_params(self, s: int, cc: torch.Tensor, anchors: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact: (rows, means) int64 ``(1, K, h, w)`` of slice ``s`` from its shared context
        ``cc = self.slice_context(s, ctx)``; ``anchors`` None = anchor pass."""
        m = self.model
        k = m.cfg.slice_channels
        ck_in = anchors if anchors is not None else cc.new_zeros(cc.shape[0], k, *cc.shape[2:])
        agg_in = torch.cat([cc[:, : 2 * k], m.ck[s].exact(ck_in), cc[:, 2 * k:]], 1)  # global features last
        raw, means = m.agg[s].exact(agg_in).chunk(2, 1)
        return self.rows(raw), means

    def slice_context(self, s: int, ctx: torch.Tensor) -> torch.Tensor:
        """Exact twin of :meth:`MrefModel.slice_context` (int64 on the fixed-point grid)."""
        m = self.model
        cc = m.cc[s].exact(ctx)
        return torch.cat([cc, m.gc[s].exact(ctx)], 1) if m.cfg.global_context else cc

    def passes(self, hyper: torch.Tensor, group: GroupFn, reconstruct: bool) -> torch.Tensor | None:
        """Run the 2S groups in order. ``group(s, rows, means, mask)`` returns the int64 symbols
        of slice ``s`` (valid where ``mask``). Returns the float latent (with LRP) if asked."""
        m = self.model
        mask = anchor_mask(*hyper.shape[-2:], device=hyper.device)
        decoded, recon = [], []
        for s in range(m.cfg.slices):
            ctx = m.context(hyper, decoded)
            cc = self.slice_context(s, ctx)
            rows_a, means_a = self.slice_params(s, cc, None)
            if m.cfg.checkerboard:
                y_a = torch.where(mask, group(s, rows_a, means_a, mask) * UNIT + means_a, 0)
                rows_n, means_n = self.slice_params(s, cc, y_a)
                y_int = torch.where(mask, y_a, group(s, rows_n, means_n, ~mask) * UNIT + means_n)
            else:
                y_int = group(s, rows_a, means_a, torch.ones_like(mask)) * UNIT + means_a
            decoded.append(y_int)
            if reconstruct:
                recon.append(m.refine(s, ctx.double().div(UNIT).float(), y_int.double().div(UNIT).float()))
        return torch.cat(recon, 1) if reconstruct else None

    def encode_latent(self, y_s: torch.Tensor, hyper: torch.Tensor) -> bytes:
        slices, groups = y_s.double().chunk(self.model.cfg.slices, 1), []

        def group(s, rows, means, mask):
            sym = kq.center_round(slices[s], means.double() / UNIT)
            sel = mask.expand_as(sym)
            groups.append((sym[sel].cpu().numpy(), rows[sel].cpu().numpy()))
            return sym

        self.passes(hyper, group, reconstruct=False)
        return rans.encode_groups(groups, self.tables.y_table)

    def decode_latent(self, blob: bytes, hyper: torch.Tensor) -> torch.Tensor:
        dec = rans.GroupDecoder(blob, self.tables.y_table)

        def group(s, rows, means, mask):
            sel = mask.expand_as(rows)
            sym = torch.zeros_like(rows)
            sym[sel] = torch.from_numpy(dec.next(rows[sel].cpu().numpy())).to(rows.device)
            return sym

        y = self.passes(hyper, group, reconstruct=True)
        dec.finish()
        return y


MrefCodec.info = shipped_info(MrefCodec.info, ASSETS / SHIPPED["mref"])
register(MrefCodec, default=True)
