"""Kernels for the hot paths every codec shares, each a Triton kernel beside a plain-torch reference.

    quantize  rounding, training surrogates, fused (y, mean, scale) -> (symbol, table row)
    context   the integer linear layer of the exact context models (mref's aggregation, the ARM)
    vq        nearest codeword without the (n, K) distance matrix
    rans      interleaved rANS lanes, encode and decode, the C lanes' exact stream

Every function takes tensors on any device and returns the same integers there; :mod:`.dispatch`
picks the Triton kernel on CUDA and the reference elsewhere (a switch forces either; Triton runs
on the CPU under ``TRITON_INTERPRET=1``). Triton itself is imported only when a kernel runs.
"""
from .dispatch import BACKENDS, backend, forced, use_triton

__all__ = ["BACKENDS", "backend", "forced", "use_triton"]
