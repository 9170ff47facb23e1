"""Entropy coding of the speech codec's tokens through the shared rANS layer.

Tokens ``(T, n)``: frame ``t`` holds one code of each of the first ``n`` books. The first book
carries most of what is predictable from one frame to the next, so its code is coded with the
row of the *class* of the previous frame's first-book code (a class bigram, as the tokenizer's
prior: k-means classes of the book's code vectors), and the other books, whose residual codes
are close to uniform and to independent of the frame before, with one frequency row each. All
rows are integer frequencies counted on the training speech and stored with the weights.

Rows of the table: ``0..C-1`` the first book after a code of class ``c``, ``C`` the first book at
a lane's first frame, ``C + b`` book ``b >= 1``. Frames are cut into contiguous lanes as the
tokenizer's prior cuts its tokens (:func:`.prior.lanes_for`): step ``g`` decodes frame ``g`` of
every lane, so a long stream takes a bounded number of Python steps per lane.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...entropy import rans
from ...entropy.tables import MAX_PRECISION, CdfTable, quantize_pmf
from ...errors import FormatError
from .prior import cached_table, code_classes, fit_prior, lane_decoder, lanes_for, layout

CLASSES = 64


@dataclass(frozen=True, eq=False)
class SpeechPrior:
    """``classes`` int64 ``(K,)`` in ``0..C-1``, of the first book's codes; ``freqs`` int64
    ``(C + books, K + 1)`` rows summing to ``2**precision`` (last column: the escape, unused)."""

    classes: np.ndarray
    freqs: np.ndarray
    books: int
    precision: int = MAX_PRECISION

    def __post_init__(self):
        if self.freqs.shape[0] <= self.books or self.freqs.shape[1] != len(self.classes) + 1 or \
                (len(self.classes) and not 0 <= self.classes.min() <= self.classes.max() < self.n_classes):
            raise ValueError(f"a prior of {self.books} books, {len(self.classes)} codes: frequencies "
                             f"{self.freqs.shape} or classes out of place")

    @property
    def n_classes(self) -> int:
        return self.freqs.shape[0] - self.books

    @property
    def codes(self) -> int:
        return len(self.classes)

    def table(self) -> CdfTable:
        return cached_table(self)

    def rows(self, prev_first: np.ndarray, n: int) -> np.ndarray:
        """Rows ``(m, n)`` of ``m`` frames given each one's previous first-book code (-1: none)."""
        c = self.n_classes
        rows = np.broadcast_to(c + np.arange(n), (len(prev_first), n)).copy()
        rows[:, 0] = np.where(prev_first < 0, c, self.classes[np.maximum(prev_first, 0)])
        return rows


def encode(prior: SpeechPrior, tokens: np.ndarray) -> bytes:
    """int64 ``(T, n)`` tokens, ``n`` at most the prior's books -> rANS blob."""
    t = np.ascontiguousarray(tokens, np.int64)
    if t.size and (t.min() < 0 or t.max() >= prior.codes):
        raise ValueError(f"tokens must be in 0..{prior.codes - 1}")
    frames, n = t.shape
    lanes = lanes_for(frames)
    steps, pos = layout(frames, lanes)
    groups = []
    for g in range(steps):
        live = pos[:, g][pos[:, g] >= 0]
        prev = np.where(live % steps == 0, -1, t[np.maximum(live - 1, 0), 0])
        groups.append((t[live].reshape(-1), prior.rows(prev, n).reshape(-1)))
    groups = groups or [(np.zeros(0, np.int64), np.zeros(0, np.int64))]
    return rans.encode_groups(groups, prior.table(), lanes=lanes)


def decode(prior: SpeechPrior, blob: bytes, frames: int, books: int) -> np.ndarray:
    """rANS blob -> int64 ``(frames, books)``; a corrupt blob raises FormatError."""
    dec, steps, pos = lane_decoder(blob, prior.table(), frames, frames * books)
    out = np.zeros((frames, books), np.int64)
    prev = np.full(len(pos), -1, np.int64)
    for g in range(steps):
        live = pos[:, g] >= 0
        vals = dec.next(prior.rows(prev[live], books).reshape(-1)).reshape(-1, books)
        if vals.size and (vals.min() < 0 or vals.max() >= prior.codes):
            raise FormatError("token stream is corrupt (token out of range)")
        out[pos[live, g]] = vals
        if books:
            prev[live] = vals[:, 0]
    dec.finish()
    return out


@torch.no_grad()
def count_priors(model, clips: list[np.ndarray], seconds: float = 3600.0, n_classes: int = CLASSES
                 ) -> tuple[SpeechPrior, dict]:
    """The prior counted on (up to ``seconds`` of) int16 16 kHz ``clips``, and figures for the
    model card (bits per token of each book on those clips)."""
    from .speech import SAMPLE_RATE
    cfg = model.cfg
    budget, streams = int(seconds * SAMPLE_RATE), []
    for c in clips:
        if budget <= 0:
            break
        x = torch.from_numpy(c[:budget].astype(np.float32) / 32767)[None]
        budget -= x.shape[1]
        streams.append(model.encode_tokens(x, cfg.books)[0].numpy())
    classes = code_classes(model.rvq.embed[0].double().numpy(), min(n_classes, cfg.codes), seed=0)
    first = fit_prior([s[:, 0] for s in streams], cfg.codes, classes).freqs
    counts = np.ones((cfg.books - 1, cfg.codes))
    for s in streams:
        for b in range(1, cfg.books):
            counts[b - 1] += np.bincount(s[:, b], minlength=cfg.codes)
    pmf = np.concatenate([counts / counts.sum(1, keepdims=True), np.full((cfg.books - 1, 1), 1e-9)], 1)
    prior = SpeechPrior(classes, np.concatenate([first, quantize_pmf(pmf, MAX_PRECISION)]), cfg.books)
    frames = sum(len(s) for s in streams)
    bits = []
    for b in range(cfg.books):
        total = 0.0
        for s in streams:
            rows = prior.rows(np.concatenate([[-1], s[:-1, 0]]), b + 1)[:, b]
            total += float(-np.log2(prior.freqs[rows, s[:, b]] / float(1 << prior.precision)).sum())
        bits.append(round(total / max(frames, 1), 3))
    return prior, {"prior_frames": frames, "prior_bits_per_token": bits,
                   "codes_used": [int(np.unique(np.concatenate([s[:, b] for s in streams])).size) if streams else 0
                                  for b in range(cfg.books)]}
