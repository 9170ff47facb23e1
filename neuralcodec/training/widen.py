"""Trained weights grown into a wider model that computes what the old one did (Net2Net, Chen et
al. 2016), so training starts from the old codec's curve instead of from scratch.

Two kinds of growth, both placing every trained value and zeroing only a conv's weights from
its *new* inputs into its *trained* outputs (the rest new keeps the model's own random init,
so gradients reach the new channels at once):

- leading: a tensor grew along some axes and the trained block fills the leading corner (wider
  transforms, ``transform_n``; wider hidden layers, ``width``; ``agg``'s inputs once the global
  context joins).
- latent (:func:`latent_maps`): an ``mref`` latent grew from M to M' channels with the same
  slices. Each slice keeps its trained channels first and gets the new ones after them, so
  every tensor indexed by latent channel, or by the context ``[hyper, ŷ_0 .. ŷ_{s-1}]`` built
  from them, scatters its trained indices instead of filling the corner.

After a latent grows, :func:`quieten` makes the new channels silent rather than unread: ``g_a``
writes 0 into them and the context networks predict mean 0 at the smallest scale, so they
code as symbol 0 and change no pixel, while ``g_s`` reads them through random weights.
"""
from __future__ import annotations

import torch

AxisMaps = dict[int, list[int]]
QUIET_SCALE = 0.125   # scale of a new latent channel at step 0: just above SCALE_MIN, on the 2**-8 grid


def latent_maps(cfg, src: dict) -> dict[str, AxisMaps]:
    """``{tensor name: {axis: new index of each trained index}}`` for the ``mref`` config ``cfg``
    warm-started from weights with config ``src`` and a smaller ``m`` (axes not named grow leading).
    Raises ValueError when the slices differ (the trained channels would change slice)."""
    s_count = cfg.slices
    if int(src.get("slices", s_count)) != s_count:
        raise ValueError("a latent can only grow with the same number of slices")
    mo, mn = int(src["m"]), cfg.m
    ko, kn = mo // s_count, mn // s_count
    per_slice = [(c // ko) * kn + c % ko for c in range(mo)]
    g_src = int(src.get("global_dim", 16)) if src.get("global_context") else 0
    maps: dict[str, AxisMaps] = {"g_a.6.weight": {0: per_slice}, "g_a.6.bias": {0: per_slice},
                                 "g_s.0.weight": {0: per_slice}, "h_a.0.weight": {1: per_slice},
                                 "gain": {1: per_slice}, "inv_gain": {1: per_slice}}
    for s in range(s_count):
        decoded = s if cfg.channel_context else 0
        ctx = list(range(mo)) + [mn + j * kn + i for j in range(decoded) for i in range(ko)]
        maps[f"cc.{s}.layers.0.conv.weight"] = {1: ctx}
        maps[f"gc.{s}.proj.layers.0.conv.weight"] = {1: ctx}
        maps[f"lrp.{s}.0.weight"] = {1: ctx + [mn + decoded * kn + i for i in range(ko)]}
        # agg reads [cc (2k), ck (2k), gc]; it writes [scales (k), means (k)]
        maps[f"agg.{s}.layers.0.conv.weight"] = {1: [*range(2 * ko), *(2 * kn + i for i in range(2 * ko)),
                                                     *(4 * kn + i for i in range(g_src))]}
        params = [*range(ko), *(kn + i for i in range(ko))]
        maps[f"agg.{s}.layers.1.conv.weight"] = {0: params}
        maps[f"agg.{s}.layers.1.conv.bias"] = {0: params}
        maps[f"lrp.{s}.2.weight"] = maps[f"lrp.{s}.2.bias"] = {0: list(range(ko))}
    return maps


def quieten(grown: dict[str, torch.Tensor], model: torch.nn.Module, maps: dict[str, AxisMaps]) -> None:
    """New latent channels start silent, in place on the ``grown`` tensors: ``g_a`` writes 0 into
    them, their means are 0 and their scales :data:`QUIET_SCALE`, LRP adds nothing to them (and
    their gains are each quality's geometric mean of the trained ones), so
    they code as symbol 0 at almost no cost and change no pixel; ``g_s`` reads them through its
    own random init (not zeros), so the distortion's gradient reaches ``g_a``'s new rows at the
    first step. (Zero weights on the ``g_s`` side instead, as :func:`widened` does elsewhere, leave
    ``g_a``'s random new channels to cost bits that the rate term then fights for thousands of
    steps.)"""
    own = model.state_dict()

    def new(name: str) -> torch.Tensor:
        return ~_mask(grown[name].shape[0], maps[name][0])

    for name in ("g_a.6.weight", "g_a.6.bias"):
        grown[name][new(name)] = 0
    for name in ("gain", "inv_gain"):
        trained = grown[name][:, maps[name][1]]
        grown[name][:, ~_mask(grown[name].shape[1], maps[name][1])] = trained.log().mean(1, keepdim=True).exp()
    grown["g_s.0.weight"][new("g_s.0.weight")] = own["g_s.0.weight"][new("g_s.0.weight")]
    k = model.cfg.slice_channels
    for s in range(model.cfg.slices):
        for name in (f"agg.{s}.layers.1.conv.weight", f"lrp.{s}.2.weight", f"lrp.{s}.2.bias"):
            if name in grown:
                grown[name][new(name)] = 0
        bias = f"agg.{s}.layers.1.conv.bias"
        quiet = new(bias)
        grown[bias][quiet] = 0
        grown[bias][:k][quiet[:k]] = QUIET_SCALE   # [scales (k), means (k)]


def widened(model: torch.nn.Module, name: str, mine: torch.Tensor, v: torch.Tensor,
            maps: AxisMaps | None = None) -> torch.Tensor | None:
    """Trained tensor ``v`` grown into ``mine``, ``model``'s larger tensor ``name``: ``v``'s index i
    along axis a lands at ``maps[a][i]`` (the leading ``i`` for axes not in ``maps``); a conv's
    trained outputs get zero weights from its new inputs (``(out, in, k, k)`` for Conv2d,
    ``(in, out, k, k)`` for ConvTranspose2d). None when ``mine`` is not ``v`` grown."""
    maps = maps or {}
    if mine.dim() != v.dim() or (mine.shape == v.shape and not maps) or any(a < b for a, b in zip(mine.shape, v.shape)):
        return None
    idx = [torch.as_tensor(maps.get(a, range(v.shape[a])), dtype=torch.long) for a in range(v.dim())]
    if any(len(i) != n or (len(i) and int(i.max()) >= d) for i, n, d in zip(idx, v.shape, mine.shape)):
        return None
    grown = mine.clone()
    grown[_grid(idx)] = v
    owner = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    if name.endswith(".weight") and isinstance(owner, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
        a_in, a_out = (0, 1) if isinstance(owner, torch.nn.ConvTranspose2d) else (1, 0)
        block = [torch.arange(d) for d in mine.shape]
        block[a_in], block[a_out] = torch.nonzero(~_mask(mine.shape[a_in], idx[a_in]))[:, 0], idx[a_out]
        grown[_grid(block)] = 0
    return grown


def _mask(size: int, kept) -> torch.Tensor:
    """bool ``(size,)``: True at the indices in ``kept``."""
    mask = torch.zeros(size, dtype=torch.bool)
    mask[torch.as_tensor(kept, dtype=torch.long)] = True
    return mask


def _grid(idx: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Advanced index selecting the outer product of per-axis indices."""
    n = len(idx)
    return tuple(i.view([-1 if d == a else 1 for d in range(n)]) for a, i in enumerate(idx))
