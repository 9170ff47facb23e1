"""Join mref weights that share one entropy model into one file with several transform sets.

A recipe with ``"transforms_only": true`` and ``"train_qualities"`` trains, from ``init_from``,
only the transforms (``g_a``, ``g_s``) and the per-quality gains and scales of those qualities,
and keeps the entropy model bit for bit. :func:`join` then gives those qualities that run's
transforms as a set of their own beside the base weights' (``MrefConfig.transform_sets``)::

    joined = base, except: g_a_k, g_s_k = other's g_a, g_s;  gain, inv_gain, a_scale, s_scale
             rows of ``qualities`` = other's;  transform_sets[q] = k for q in qualities

so every other quality codes exactly as the base weights do, and ``qualities`` exactly as the
other weights do (same tensors, same fixed-point tables): decoding costs what one set costs.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import NeuralCodecError

ROW_TENSORS = ("gain", "inv_gain", "a_scale", "s_scale")   # (Q, ...): one row per quality


def _load(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    from ..codecs.image.weights import read
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(path), "pt") as f:
            meta = dict(f.metadata() or {})
        tensors = read(path)
    except (OSError, SafetensorError, ValueError) as e:
        raise NeuralCodecError(f"{path}: not usable weights ({e})") from None
    if meta.get("model") != "mref":
        raise NeuralCodecError(f"{path}: transform sets are an mref feature (model is {meta.get('model')})")
    return meta, tensors


def _settings(config: dict) -> dict:
    """An mref config with every default filled in, less its transform sets (comparable)."""
    from dataclasses import asdict
    from ..codecs.image.mref import MrefConfig
    full = asdict(MrefConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}))
    return {k: v for k, v in full.items() if k != "transform_sets"}


def join(base: Path, other: Path, qualities: list[int]) -> tuple[torch.nn.Module, dict[str, str]]:
    """``(model, metadata)``: ``base`` with ``qualities`` (1-based) moved to a new transform set,
    ``other``'s single set. Raises NeuralCodecError unless the two share their entropy model
    bit for bit and differ in nothing but the transforms (``other`` trained with transforms_only)."""
    from ..codecs.image.learned import build_model
    from ..codecs.image.mref import set_name
    from .image import transform_param
    base_meta, b = _load(Path(base))
    other_meta, o = _load(Path(other))
    cfg_b, cfg_o = json.loads(base_meta["config"]), json.loads(other_meta["config"])
    if cfg_o.get("transform_sets"):
        raise NeuralCodecError(f"{other}: has transform sets already; join one set at a time")
    if _settings(cfg_b) != _settings(cfg_o):
        raise NeuralCodecError(f"{other}: its config differs from {base}'s beyond the transform sets")
    q_count = len(cfg_b["lambdas"])
    if not qualities or not all(1 <= q <= q_count for q in qualities):
        raise NeuralCodecError(f"qualities {qualities} must lie in 1..{q_count}")
    differ = sorted(k for k in o if not transform_param(k) and not torch.equal(o[k], b.get(k, torch.empty(0))))
    if differ:
        raise NeuralCodecError(f"{other}: its entropy model is not {base}'s ({', '.join(differ[:3])}"
                               f"{' ...' if len(differ) > 3 else ''}); train it with transforms_only from {base}")
    sets = list(cfg_b.get("transform_sets") or [0] * q_count)
    new = max(sets) + 1
    for q in qualities:
        sets[q - 1] = new
    if set(sets) != set(range(max(sets) + 1)):
        raise NeuralCodecError(f"qualities {qualities} would leave a transform set of {base} with no quality")
    state = dict(b)
    for k, v in o.items():
        side, _, rest = k.partition(".")
        if side in ("g_a", "g_s"):
            state[f"{set_name(side, new)}.{rest}"] = v
    rows = torch.tensor([q - 1 for q in qualities])
    for k in ROW_TENSORS:
        if k in state:
            state[k] = state[k].clone()
            state[k][rows] = o[k][rows]
    config = cfg_b | {"transform_sets": sets}
    model = build_model("mref", config)
    try:
        model.load_state_dict(state)   # strict: every tensor accounted for
    except RuntimeError as e:
        raise NeuralCodecError(f"joined weights do not fit the model ({e})") from None
    card = json.loads(base_meta.get("card", "{}"))
    card["transform_sets"] = (card.get("transform_sets", []) +
                              [{"set": new, "qualities": qualities, "card": json.loads(other_meta.get("card", "{}"))}])
    meta = {"model": "mref", "config": json.dumps(config), "card": json.dumps(card)}
    return model.eval(), meta


def write_joined(base: Path, other: Path, qualities: list[int], out: Path, force: bool = False) -> Path:
    """:func:`join` into ``out`` (atomic; an existing file only with ``force``)."""
    from ..codecs.image.weights import write
    model, meta = join(base, other, qualities)
    write(model, Path(out), meta, force=force)
    return Path(out)
