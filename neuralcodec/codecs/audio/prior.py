"""A causal class-bigram prior over audio tokens, coded through the shared rANS layer.

Token ``t`` of a lane is coded with the table row of its predecessor's *class*: ``p(t | c(t-1))``
for ``C`` classes of codes (k-means over the codes' decoder embeddings, so codes that sound
alike share a row), row ``C`` for the first token of a lane (the unigram). The rows are integer
frequencies stored with the weights, so encoder and decoder use the same integers on any
device; nothing in the coding path is a float.

Long streams are cut into ``L`` contiguous lanes decoded side by side: step ``g`` decodes token
``g`` of every lane at once (``L`` symbols per Python step, never one).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...entropy import rans
from ...entropy.tables import MAX_PRECISION, CdfTable, from_freqs, quantize_pmf
from ...errors import FormatError

TOKENS_PER_LANE = 2048   # fewer lanes for short files: each lane costs 8 bytes of final state
MAX_LANES = 32


@dataclass(frozen=True, eq=False)
class TokenPrior:
    """``classes`` int64 ``(K,)`` in ``0..C-1``; ``freqs`` int64 ``(C + 1, K + 1)`` rows summing
    to ``2**precision`` (last column: the escape, never used by valid tokens)."""

    classes: np.ndarray
    freqs: np.ndarray
    precision: int = MAX_PRECISION

    @property
    def codes(self) -> int:
        return len(self.classes)

    @property
    def start_row(self) -> int:
        return self.freqs.shape[0] - 1

    def table(self) -> CdfTable:
        return cached_table(self)

    def rows(self, lanes_tokens: np.ndarray) -> np.ndarray:
        """Table rows ``(L, S)`` for tokens laid out as ``(L, S)`` lanes (causal within a lane)."""
        rows = np.full(lanes_tokens.shape, self.start_row, dtype=np.int64)
        rows[:, 1:] = self.classes[lanes_tokens[:, :-1]]
        return rows

    def bits(self, tokens: np.ndarray) -> float:
        """Ideal code length in bits of one stream ``(T,)`` under this prior (one lane)."""
        t = np.asarray(tokens, np.int64).reshape(1, -1)
        if t.size == 0:
            return 0.0
        p = self.freqs[self.rows(t), t] / float(1 << self.precision)
        return float(-np.log2(p).sum())


def cached_table(prior) -> CdfTable:
    """The coding table of a frozen prior's integer ``freqs`` rows (offsets 0), built once."""
    cached = prior.__dict__.get("_table")
    if cached is None:
        cached = from_freqs(list(prior.freqs), np.zeros(len(prior.freqs), np.int64), prior.precision)
        object.__setattr__(prior, "_table", cached)
    return cached


def lanes_for(n: int) -> int:
    return int(min(MAX_LANES, max(1, n // TOKENS_PER_LANE)))


def layout(n: int, lanes: int) -> tuple[int, np.ndarray]:
    """``(steps, positions (L, S))``: lane ``l`` holds tokens ``l*S .. l*S + S - 1`` (``-1`` past the end)."""
    steps = -(-n // lanes) if n else 0
    pos = np.arange(lanes * steps).reshape(lanes, steps)
    return steps, np.where(pos < n, pos, -1)


def encode_tokens(prior: TokenPrior, tokens: np.ndarray) -> bytes:
    """int64 tokens ``(T,)`` in ``0..K-1`` -> rANS blob."""
    tokens = np.asarray(tokens, np.int64).reshape(-1)
    if tokens.size and (tokens.min() < 0 or tokens.max() >= prior.codes):
        raise ValueError(f"tokens must be in 0..{prior.codes - 1}")
    lanes = lanes_for(len(tokens))
    steps, pos = layout(len(tokens), lanes)
    grid = np.where(pos >= 0, tokens[np.maximum(pos, 0)], 0)
    rows = prior.rows(grid)
    groups = [(grid[pos[:, g] >= 0, g], rows[pos[:, g] >= 0, g]) for g in range(steps)]
    groups = groups or [(np.zeros(0, np.int64), np.zeros(0, np.int64))]
    return rans.encode_groups(groups, prior.table(), lanes=lanes)


def lane_decoder(blob: bytes, table: CdfTable, n: int, symbols: int) -> tuple[rans.GroupDecoder, int, np.ndarray]:
    """``(decoder, steps, positions (L, S))`` for a blob of ``n`` items in :func:`layout`'s lanes,
    ``symbols`` in all; a blob too short for them or with other lanes raises FormatError."""
    rans.check_room(blob, symbols, table, "token stream")   # at least 2.5 bits a symbol: bounds n
    lanes = lanes_for(n)
    steps, pos = layout(n, lanes)
    dec = rans.GroupDecoder(blob, table)
    if dec.lanes != lanes:
        raise FormatError(f"token stream has {dec.lanes} lanes, {n} items need {lanes}")
    return dec, steps, pos


def decode_tokens(prior: TokenPrior, blob: bytes, n: int) -> np.ndarray:
    """rANS blob of :func:`encode_tokens` -> int64 tokens ``(n,)``; a corrupt blob raises FormatError."""
    dec, steps, pos = lane_decoder(blob, prior.table(), n, n)
    lanes = len(pos)
    grid = np.zeros((lanes, steps), np.int64)
    prev = np.full(lanes, -1, np.int64)
    for g in range(steps):
        live = pos[:, g] >= 0
        rows = np.where(prev[live] < 0, prior.start_row, prior.classes[np.maximum(prev[live], 0)])
        vals = dec.next(rows)
        if vals.size and (vals.min() < 0 or vals.max() >= prior.codes):
            raise FormatError("token stream is corrupt (token out of range)")
        grid[live, g] = vals
        prev[live] = vals
    dec.finish()
    return grid.reshape(-1)[pos.reshape(-1) >= 0]


def fit_prior(streams: list[np.ndarray], codes: int, classes: np.ndarray, smoothing: float = 64.0,
              precision: int = MAX_PRECISION) -> TokenPrior:
    """Count unigrams and class bigrams over token ``streams`` and smooth each class row towards
    the unigram: ``p(t | c) = (n(c, t) + s * p(t)) / (n(c) + s)``. The unigram itself is
    add-one smoothed, so every code stays codable."""
    classes = np.asarray(classes, np.int64)
    n_cls = int(classes.max()) + 1
    uni = np.ones(codes)
    big = np.zeros((n_cls, codes))
    for s in streams:
        s = np.asarray(s, np.int64).reshape(-1)
        uni += np.bincount(s, minlength=codes)
        if len(s) > 1:
            np.add.at(big, (classes[s[:-1]], s[1:]), 1)
    p_uni = uni / uni.sum()
    rows = (big + smoothing * p_uni) / (big.sum(1, keepdims=True) + smoothing)
    pmf = np.concatenate([np.vstack([rows, p_uni]), np.full((n_cls + 1, 1), 1e-9)], axis=1)
    return TokenPrior(classes, quantize_pmf(pmf, precision), precision)


def code_classes(embeddings: np.ndarray, n_classes: int, iters: int = 20, seed: int = 0) -> np.ndarray:
    """k-means (float64, seeded) of the code embeddings ``(K, D)`` -> class of each code ``(K,)``."""
    x = np.asarray(embeddings, np.float64)
    rng = np.random.default_rng(seed)
    centers = x[rng.choice(len(x), n_classes, replace=False)]
    for _ in range(iters):
        assign = ((centers ** 2).sum(1)[None] - 2 * x @ centers.T).argmin(1)
        for c in range(n_classes):
            if np.any(assign == c):
                centers[c] = x[assign == c].mean(0)
    return assign.astype(np.int64)
