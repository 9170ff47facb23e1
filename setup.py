"""Builds the one C extension (the CPU rANS lanes) and puts ``assets/`` (shipped weights, their
cards, the samples) into the built package as ``neuralcodec/_assets``; everything else is in
pyproject.toml. A source tree (editable install) reads ``assets/`` where it is (codecs/zoo.py)."""
import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

ASSET_GLOBS = ("*.safetensors", "*.md", "samples/*")


class BuildWithAssets(build_py):
    def run(self):
        super().run()
        src = Path(__file__).resolve().parent / "assets"
        dst = Path(self.build_lib) / "neuralcodec" / "_assets"
        for pattern in ASSET_GLOBS:
            for f in src.glob(pattern):
                target = dst / f.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, target)


setup(cmdclass={"build_py": BuildWithAssets},
      ext_modules=[Extension("neuralcodec.entropy._ransc", ["neuralcodec/entropy/_ransc.c"],
                             extra_compile_args=["-O3"], optional=True)])
