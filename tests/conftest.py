import os
from pathlib import Path

import pytest
import torch

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("NEURALCODEC_REGEN_GOLDEN") == "1"


def golden(name: str, actual: str) -> str:
    """The pinned value of ``name``; rewritten only with NEURALCODEC_REGEN_GOLDEN=1."""
    path = GOLDEN / name
    if REGEN:
        path.write_text(actual + "\n")
    if not path.exists():
        pytest.fail(f"golden file {path} missing: run with NEURALCODEC_REGEN_GOLDEN=1 once")
    return path.read_text().strip()


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def damage_file(path: Path, how: str) -> None:
    """``truncate``: drop the last 9 bytes; ``flip``: flip bits of the middle byte."""
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[: len(data) - 9]
    else:
        data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))
