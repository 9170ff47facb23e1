"""Weights files of the learned image codecs: safetensors, about half the bytes of float32.

    exact networks (every FakeQuantConv: h_s, cc, ck, gc, agg)  the integers they run on: weight
        W = round(w * 2**W_BITS) as int16, bias B = round(b * 2**(ACT_BITS + W_BITS)) as int32
        (int64 if one does not fit). Lossless: the fixed-point grid is all the coder and the
        fake-quantized training path ever read of them.
    transforms (g_a, g_s, h_a, lrp)  float16. They never
        decide a CDF (g_a and h_a run only in the encoder, g_s and lrp only shape pixels), so the
        stored values are simply the model: encoder and decoder read the same file.
    the rest (gains, the factorized density of z)  float32.

:func:`read` returns float32 tensors for any file :func:`write` made, and for plain float32
files (the weights before this format, and training exports) unchanged.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from torch import nn

from .exact import ACT_BITS, W_BITS, FakeQuantConv

HALF = re.compile(r"(g_[as](_\d+)?|h_a|lrp)\.")   # the float16 tensors' names begin so
GRID = {"weight": W_BITS, "bias": ACT_BITS + W_BITS}   # bits of the fixed-point grid, by tensor kind


def fixed_point_names(model: nn.Module) -> set[str]:
    """Names of the tensors that live on a fixed-point grid (the convs of the exact networks)."""
    return {f"{name}.conv.{kind}" for name, mod in model.named_modules() if isinstance(mod, FakeQuantConv)
            for kind in GRID}


def pack(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state as the tensors to store (see the module docstring)."""
    fixed, out = fixed_point_names(model), {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if k in fixed:
            owner, _, kind = k.rpartition(".")
            grid = model.get_submodule(owner.rpartition(".")[0]).integer_params()[kind == "bias"].cpu()
            small = torch.int16 if kind == "weight" else torch.int32
            v = grid.to(small) if bool((grid.abs() <= torch.iinfo(small).max).all()) else grid
        elif HALF.match(k):
            v = v.half()
        out[k] = v.contiguous()
    return out


def write(model: nn.Module, path: Path, metadata: dict[str, str], force: bool = True) -> None:
    """:func:`pack` ``model`` into ``path`` atomically; an existing file is replaced (a run's export
    replaces its previous one) unless ``force`` is False (then NeuralCodecError)."""
    from safetensors.torch import save_file
    from ...fileio import atomic_path
    meta = {**metadata, "fixed_point": json.dumps(GRID)}
    with atomic_path(Path(path), force=force) as tmp:
        save_file(pack(model), str(tmp), metadata=meta)


def read(path: Path) -> dict[str, torch.Tensor]:
    """float32 state dict from a weights file. Raises OSError (unreadable) or ValueError (integer
    tensors on a grid this version does not know)."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file
    try:
        tensors = load_file(str(path))
    except SafetensorError as e:   # not a safetensors file
        raise OSError(str(e)) from None
    if any(not v.is_floating_point() for v in tensors.values()):
        with safe_open(str(path), "pt") as f:
            grid = json.loads((f.metadata() or {}).get("fixed_point", "null"))
        if grid != GRID:
            raise ValueError(f"integer tensors on the fixed-point grid {grid}, expected {GRID}")
    out = {}
    for k, v in tensors.items():
        if v.is_floating_point():
            out[k] = v.float()
        else:
            out[k] = (v.double() / (1 << GRID[k.rpartition(".")[2]])).float()
    return out
