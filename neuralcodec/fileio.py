"""Output files that never clobber and never half-exist: temp file in the same folder + rename.

The temporary file is ``.NAME.XXXXXXXX.EXT.part`` beside the output. It is removed when the run
fails, is interrupted (SIGINT, and SIGTERM / SIGHUP through the CLI's handlers) or succeeds; a
run killed outright (SIGKILL, power loss) leaves it, and the next run writing the same output
removes it.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import NeuralCodecError


def check_writable(path: Path, force: bool, probe: bool = True) -> None:
    """Before any work: the output may be written (a file there, even a dangling link, needs
    ``force``) and, with ``probe``, its folder takes a new file (a read-only folder, /proc and
    /sys do not)."""
    if os.path.lexists(path) and not force:
        raise NeuralCodecError(f"{path} exists; pass --force to overwrite it")
    if path.is_dir():
        raise NeuralCodecError(f"{path} is a directory")
    if not path.parent.is_dir():
        raise NeuralCodecError(f"folder {path.parent} does not exist")
    if probe:
        fd, name = _temp_beside(path, ".probe")
        os.close(fd)
        os.unlink(name)


def _temp_beside(path: Path, suffix: str) -> tuple[int, str]:
    """``mkstemp`` beside ``path``; a folder that takes no new file is a one-line error."""
    try:
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as e:
        raise NeuralCodecError(f"{path}: cannot write there ({e.strerror or e})") from None


def remove_stale_parts(path: Path) -> None:
    """Temporary files an earlier, killed run left for the same output."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*{glob.escape(path.suffix)}.part"):
        with contextlib.suppress(OSError):
            stale.unlink()


@contextlib.contextmanager
def atomic_path(path: Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``."""
    path = Path(path)
    check_writable(path, force, probe=False)   # creating the temporary file is the probe
    remove_stale_parts(path)
    fd, tmp = _temp_beside(path, path.suffix + ".part")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        if path.exists() and not force:  # appeared meanwhile
            raise NeuralCodecError(f"{path} exists; pass --force to overwrite it")
        # mkstemp makes 0600 (and some writers, safetensors', replace the file): outputs get the usual permissions
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as e:   # a full disk, a folder made read-only meanwhile
        raise NeuralCodecError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_bytes_atomic(path: Path, data: bytes, force: bool = False) -> None:
    with atomic_path(path, force) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
