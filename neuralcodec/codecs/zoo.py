"""Shipped weights and where to find them: a registry addressed by the hash every coded file carries.

Each file a learned codec writes names the 8-byte hash of the weights it was coded with
(``neuralcodec info FILE`` shows it). ``weights_registry.json`` maps every hash this project has
released to its file's sha256 and size, release by release::

    decode(file) ── file.weights_hash ──> registry ──┬─ current release:  the package's own weights
                                                     └─ earlier release:  WEIGHTS_DIR/<codec>-<hash>.safetensors

The current weights of each shipped codec install with the package (``neuralcodec/_assets`` in
a wheel, ``assets/`` in a source tree). Earlier releases are 10-16 MB each, so they are not in
the package: ``neuralcodec weights add FILE`` puts one (checked against its sha256) into
:func:`weights_dir`, and decoding then finds it by itself.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import NeuralCodecError

PACKAGE = Path(__file__).resolve().parents[1]
SHIPPED = {"mref": "mref.safetensors", "wavtok40": "wavtok40.safetensors", "speech": "speech.safetensors"}   # codec -> file in ASSETS


def assets_dir() -> Path:
    """Shipped weights, cards and samples: inside the package when installed from a wheel,
    the repository's ``assets/`` in a source tree (editable installs)."""
    packaged = PACKAGE / "_assets"
    return packaged if packaged.is_dir() else PACKAGE.parent / "assets"


ASSETS = assets_dir()


def weights_dir() -> Path:
    """Where earlier releases' weights go: ``$NEURALCODEC_WEIGHTS``, else ``~/.cache/neuralcodec/weights``."""
    return Path(os.environ.get("NEURALCODEC_WEIGHTS") or "~/.cache/neuralcodec/weights").expanduser()


@dataclass(frozen=True)
class Release:
    """One released weights file of a codec (a row of ``weights_registry.json``)."""

    codec: str
    release: int
    date: str
    hash: str          # 16 hex digits: the hash coded files carry
    sha256: str        # of the file's bytes
    bytes: int
    current: bool      # shipped in the package

    @property
    def filename(self) -> str:
        return SHIPPED[self.codec] if self.current else f"{self.codec}-{self.hash}.safetensors"

    @property
    def path(self) -> Path:
        return (ASSETS if self.current else weights_dir()) / self.filename


@lru_cache(maxsize=1)
def releases() -> tuple[Release, ...]:
    rows = json.loads((PACKAGE / "weights_registry.json").read_text())
    return tuple(Release(**r) for r in rows)


def shipped_weights(codec: str) -> Path:
    """The installed file of ``codec``'s current weights; a missing one is a one-line error naming it."""
    path = ASSETS / SHIPPED[codec]
    if not path.is_file():
        raise NeuralCodecError(f"{path}: the shipped {codec} weights are missing (reinstall neuralcodec)")
    return path


def release_of(weights_hash: bytes) -> Release | None:
    return next((r for r in releases() if r.hash == weights_hash.hex()), None)


def locate(codec: str, weights_hash: bytes) -> Path:
    """The weights file a file of ``codec`` coded with ``weights_hash`` needs, or a one-line error
    that says where to put it."""
    r = release_of(weights_hash)
    if r is None or r.codec != codec:
        raise NeuralCodecError(f"coded with {codec} weights {weights_hash.hex()}, which no release of neuralcodec "
                               "shipped; pass the weights it was coded with as --weights FILE")
    if r.current:
        return shipped_weights(codec)
    if not r.path.is_file():
        raise NeuralCodecError(f"coded with {codec} weights {r.hash} (release {r.release}, {r.date}), which are not "
                               f"installed: `neuralcodec weights add FILE` puts that file at {r.path} "
                               f"(sha256 {r.sha256[:16]}...), or pass it as --weights FILE")
    return r.path


def install(path: Path) -> Release:
    """Copy a released weights file into :func:`weights_dir` under the name :func:`locate` looks
    for; a file that is no release (by sha256) is refused."""
    from ..fileio import atomic_path, sha256
    path = Path(path)
    if not path.is_file():
        raise NeuralCodecError(f"{path}: no such file")
    digest = sha256(path)
    r = next((r for r in releases() if r.sha256 == digest), None)
    if r is None:
        raise NeuralCodecError(f"{path}: not a released weights file (sha256 {digest[:16]}...); "
                               "use it with --weights FILE instead")
    if r.current or r.path.is_file():
        return r
    r.path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(r.path) as tmp:
        shutil.copyfile(path, tmp)
    return r
