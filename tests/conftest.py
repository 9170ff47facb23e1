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
