"""Builds the one C extension (the CPU rANS lanes); everything else is in pyproject.toml."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("neuralcodec.entropy._ransc", ["neuralcodec/entropy/_ransc.c"],
                             extra_compile_args=["-O3"], optional=True)])
