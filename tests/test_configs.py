"""The recipes in configs/ stay loadable, and the GPU recipe continues the shipped weights."""
import json
from pathlib import Path

import pytest

from neuralcodec.training.config import load_config

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "configs").rglob("*.json"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_every_recipe_loads(path):
    cfg = load_config(path)
    assert cfg.model in ("hyperprior", "mref", "wavtok")


def test_gpu_recipe_continues_the_shipped_mref_exactly():
    """configs/mref-gpu.json warm-starts from assets/mref.safetensors with the same model config,
    so every tensor carries over (none grown, none dropped) and a lent GPU's steps continue it."""
    from safetensors import safe_open
    cfg = load_config(ROOT / "configs" / "mref-gpu.json")
    assert cfg.init_from == "assets/mref.safetensors"
    with safe_open(str(ROOT / cfg.init_from), "pt") as f:
        shipped = json.loads(f.metadata()["config"])
    assert cfg.model_config() == shipped
