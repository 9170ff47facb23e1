"""The codec contract and the registry of stable names.

A codec maps media to a :class:`~neuralcodec.entropy.container.Container` and back. The name it
is registered under goes into every file it writes, so names never change meaning; a new
incompatible version bumps ``version``.

    media ──encode──> Container(codec=name, fields, streams) ──decode──> media
"""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar

from ..entropy.container import Container


@dataclass(frozen=True)
class CodecInfo:
    """What ``neuralcodec list`` shows. ``qualities`` are the values ``--quality`` accepts."""

    name: str
    modality: str
    version: int
    qualities: tuple[int, ...]
    default_quality: int | None
    lossless: bool
    summary: str
    fits: bool = False      # the encoder fits a network to each input (minutes, not seconds)


class Codec(ABC):
    """Media in, container out, and back. Subclasses set ``info`` and register themselves."""

    info: ClassVar[CodecInfo]
    bytes_per_pixel: ClassVar[int] = 0   # image codecs: peak memory per pixel of encode or decode (limits.py)

    @abstractmethod
    def encode(self, media, quality: int | None = None) -> Container:
        """Media (see :mod:`neuralcodec.media`) -> container."""

    @abstractmethod
    def decode(self, container: Container):
        """Container written by :meth:`encode` -> media of the same shape."""

    def weights_hash(self) -> bytes:
        """8 bytes identifying the weights (all zeros for codecs without weights)."""
        return bytes(8)

    def check_size(self, height: int, width: int) -> None:
        """Refuse (one line) an image whose encode or decode would take more memory than allowed."""
        if self.bytes_per_pixel:
            from ..limits import check_image_memory
            check_image_memory(self.info.name, self.bytes_per_pixel, height, width)

    def check_quality(self, quality: int | None) -> int | None:
        q = self.info.default_quality if quality is None else quality
        if self.info.qualities and q not in self.info.qualities:
            raise ValueError(f"{self.info.name} takes --quality in {list(self.info.qualities)}, got {quality}")
        if not self.info.qualities and quality is not None:
            raise ValueError(f"{self.info.name} is lossless and takes no --quality")
        return q


class FittingCodec(Codec):
    """A codec whose encoder fits a network to each input: ``effort`` scales its
    ``default_steps`` fitting steps; ``device`` is where the fit runs; ``progress`` shows a bar."""

    default_steps: ClassVar[int] = 1000
    max_effort: ClassVar[float] = 64.0

    def __init__(self, effort: float = 1.0, device: str = "cpu", progress: bool = False, seed: int = 0):
        self.effort = self.check_effort(effort)
        self.device, self.progress, self.seed = device, progress, seed
        self.timings: dict[str, float] = {}      # the last encode's fit_s and code_s

    @classmethod
    def check_effort(cls, effort: float) -> float:
        if not 0 < effort <= cls.max_effort:
            raise ValueError(f"--effort must be in (0, {cls.max_effort:g}], got {effort}")
        return float(effort)

    @property
    def steps(self) -> int:
        return max(10, round(self.default_steps * self.effort))


_REGISTRY: dict[str, Callable[[], Codec]] = {}
_DEFAULTS: dict[str, str] = {}
_BUILTIN = ("neuralcodec.codecs.image.lossless", "neuralcodec.codecs.image.hyperprior_codec",
            "neuralcodec.codecs.image.mref_codec", "neuralcodec.codecs.image.overfit_codec",
            "neuralcodec.codecs.audio.codec", "neuralcodec.codecs.audio.speech_codec",
            "neuralcodec.codecs.video.nerv_codec")   # modules that register codecs on import


def register(cls: type[Codec], default: bool = False, fallback: bool = False) -> type[Codec]:
    """Add ``cls`` under its name; ``default`` makes it its modality's default, ``fallback`` only
    while no other codec is (so the order modules are imported in does not decide)."""
    name = cls.info.name
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"codec name {name!r} is already registered")
    _REGISTRY[name] = cls
    if default or (fallback and cls.info.modality not in _DEFAULTS):
        _DEFAULTS[cls.info.modality] = name
    return cls


def _load_builtin() -> None:
    import importlib
    for m in _BUILTIN:
        importlib.import_module(m)


def get_codec(name: str) -> Codec:
    _load_builtin()
    if name not in _REGISTRY:
        raise KeyError(f"unknown codec {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]()


def codec_infos() -> list[CodecInfo]:
    _load_builtin()
    return [c.info for _, c in sorted(_REGISTRY.items())]


def default_codec(modality: str) -> str | None:
    _load_builtin()
    return _DEFAULTS.get(modality)


def hash_bytes(*chunks: bytes) -> bytes:
    """8-byte digest for weights hashes."""
    h = hashlib.sha256()
    for c in chunks:
        h.update(c)
    return h.digest()[:8]
