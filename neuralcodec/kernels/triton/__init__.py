"""The Triton kernels (imported only when :mod:`neuralcodec.kernels.dispatch` picks them)."""
