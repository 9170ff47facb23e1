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
    assert cfg.model in ("hyperprior", "mref", "wavtok", "speech")


def test_gpu_recipe_continues_the_shipped_mref_exactly():
    """configs/mref-gpu.json warm-starts from assets/mref.safetensors with the same model config,
    so every tensor carries over (none grown, none dropped) and a GPU's steps continue it."""
    from safetensors import safe_open
    cfg = load_config(ROOT / "configs" / "mref-gpu.json")
    assert cfg.init_from == "assets/mref.safetensors"
    with safe_open(str(ROOT / cfg.init_from), "pt") as f:
        shipped = json.loads(f.metadata()["config"])
    assert cfg.model_config() == shipped


def test_no_recipe_writes_or_reads_outside_the_repository_runs():
    for path in RECIPES:
        raw = json.loads(path.read_text())
        for key in ("out", "init_from", "data_dir"):
            assert not str(raw.get(key, "")).startswith(("~", "/")), f"{path.name}: {key} {raw[key]}"


def test_mref_lineage_chains_to_the_shipped_config():
    """The lineage script names every stage recipe once; each stage starts from the export of the
    stage before it, and the last stage's model config is the shipped weights' own."""
    from safetensors import safe_open
    script = (ROOT / "configs" / "lineage" / "mref.sh").read_text()
    named = ["configs/hyperprior-cpu.json", "configs/mref-cpu.json"] + \
        [f"configs/lineage/mref/{p.stem}.json" for p in sorted((ROOT / "configs" / "lineage" / "mref").glob("*.json"))]
    for rel in named[2:]:
        assert rel.rsplit("/", 1)[1][:-5] in script
    cfgs = [load_config(ROOT / rel) for rel in named]
    for before, after in zip(cfgs, cfgs[1:]):
        export = f"{before.out}/{before.model}.safetensors"
        assert after.init_from in (export, export.replace(".safetensors", "-plain.safetensors"))
        assert after.init_from.endswith("-plain.safetensors") == before.res_blocks
    with safe_open(str(ROOT / "assets" / "mref.safetensors"), "pt") as f:
        shipped = json.loads(f.metadata()["config"])
    assert cfgs[-1].model_config() == shipped
