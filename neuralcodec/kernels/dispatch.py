"""Which implementation a kernel call runs: the Triton kernel or the plain-torch reference.

    NEURALCODEC_KERNELS=auto     Triton on CUDA tensors, the reference elsewhere (the default)
    NEURALCODEC_KERNELS=triton   Triton everywhere (on the CPU only with TRITON_INTERPRET=1)
    NEURALCODEC_KERNELS=torch    the reference everywhere

:func:`forced` overrides the variable inside a ``with`` block. Both implementations return the
same integers, so the switch changes speed, never a stream.
"""
from __future__ import annotations

import contextlib
import os
from functools import lru_cache

import torch

BACKENDS = ("auto", "triton", "torch")
_forced: list[str] = []


def backend() -> str:
    """The backend in force: the innermost :func:`forced`, else ``$NEURALCODEC_KERNELS``, else auto."""
    name = _forced[-1] if _forced else os.environ.get("NEURALCODEC_KERNELS", "auto")
    if name not in BACKENDS:
        raise ValueError(f"NEURALCODEC_KERNELS={name!r}: choose one of {BACKENDS}")
    return name


@contextlib.contextmanager
def forced(name: str):
    """``with forced("torch"): ...`` runs every kernel call inside on that backend."""
    if name not in BACKENDS:
        raise ValueError(f"unknown kernel backend {name!r}; choose one of {BACKENDS}")
    _forced.append(name)
    try:
        yield
    finally:
        _forced.pop()


def interpreted() -> bool:
    """Whether Triton runs its kernels on the CPU (``TRITON_INTERPRET=1``, read before import)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


@lru_cache(maxsize=1)
def triton_importable() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def use_triton(t: torch.Tensor) -> bool:
    """Whether a call on tensor ``t`` runs the Triton kernel."""
    name = backend()
    if name == "torch":
        return False
    runs_here = triton_importable() and (t.is_cuda or (interpreted() and t.device.type == "cpu"))
    if name == "triton" and not runs_here:
        raise RuntimeError(f"Triton kernels cannot run on {t.device} here: install triton and use CUDA, "
                           "or set TRITON_INTERPRET=1 before Python starts to run them on the CPU")
    return name == "triton" or (runs_here and t.is_cuda)
