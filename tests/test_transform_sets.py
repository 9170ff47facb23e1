"""mref transform sets: groups of qualities with transforms of their own over one entropy model."""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralcodec.codecs.image.learned import build_model, load_model
from neuralcodec.codecs.image.mref import MrefConfig
from neuralcodec.codecs.image.mref_codec import MrefCodec
from neuralcodec.codecs.image.weights import write as write_weights
from neuralcodec.errors import NeuralCodecError
from neuralcodec.media import Image
from neuralcodec.training.config import ImageTrainConfig
from neuralcodec.training.image import ImageCodecModule, image_files, train, transform_param
from neuralcodec.training.transform_sets import join, write_joined

ROOT = Path(__file__).resolve().parents[1]
FIX = str(ROOT / "tests" / "fixtures" / "images")
BASE = {"n": 16, "m": 24, "slices": 2, "width": 16, "lambdas": [0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483],
        "quality_scales": True}


def _cfg(tmp_path, name, **kw):
    cfg = ImageTrainConfig(model="mref", n=16, m=24, slices=2, width=16, quality_scales=True, data=FIX, crop=64,
                           batch_size=2, lr=1e-3, max_steps=4, lr_drop_at=(), checkpoint_every=4,
                           out=str(tmp_path / name))
    return replace(cfg, **kw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(base weights, weights trained from them with transforms_only on qualities 5 and 6)."""
    tmp = tmp_path_factory.mktemp("sets")
    torch.manual_seed(0)
    base = tmp / "base.safetensors"
    write_weights(build_model("mref", BASE), base, {"model": "mref", "config": json.dumps(BASE)})
    cfg = _cfg(tmp, "high", transforms_only=True, train_qualities=(5, 6), init_from=str(base))
    summary = train(cfg, image_files(cfg.data, ""), accelerator="cpu", devices=1, progress=False)
    return base, Path(summary["weights"])


def test_config_names_a_set_per_quality():
    with pytest.raises(ValueError, match="one set index per lambda"):
        MrefConfig(lambdas=(0.1, 0.2, 0.3), transform_sets=(0, 1))
    with pytest.raises(ValueError, match="every set from 0 up"):
        MrefConfig(lambdas=(0.1, 0.2, 0.3), transform_sets=(0, 0, 2))
    assert MrefConfig(lambdas=(0.1, 0.2, 0.3), transform_sets=(0, 1, 1)).sets == 2


def test_a_batch_of_mixed_qualities_runs_each_sample_through_its_own_set():
    torch.manual_seed(0)
    model = build_model("mref", BASE | {"transform_sets": [0, 0, 0, 1, 1, 1]}).eval()
    assert model.transforms(2) == (model.g_a, model.g_s) and model.transforms(3) == (model.g_a_1, model.g_s_1)
    quality = torch.tensor([4, 0, 5])
    own_set = [1, 0, 1]
    a_scale, s_scale = model.transform_scales(quality)
    x, y = torch.rand(3, 3, 64, 64), torch.randn(3, 24, 4, 4)
    with torch.no_grad():
        for side, inp, scales in ((0, x, a_scale), (1, y, s_scale)):
            batch = model.transform(side, inp, quality, scales)
            for i, k in enumerate(own_set):
                alone = model.transform_set(k)[side](inp[i:i + 1], scales[i:i + 1])
                other = model.transform_set(1 - k)[side](inp[i:i + 1], scales[i:i + 1])
                assert torch.allclose(batch[i:i + 1], alone, atol=1e-5)
                assert not torch.allclose(batch[i:i + 1], other, atol=1e-3)   # the sets are different networks


def test_transforms_only_keeps_the_entropy_model_and_the_other_qualities(trained):
    base, high = trained
    old, new = load_model(base).state_dict(), load_model(high).state_dict()
    kept = [k for k in new if not transform_param(k)]
    assert kept and all(torch.equal(new[k], old[k]) for k in kept)          # entropy model bit for bit
    assert not torch.equal(new["g_s.0.weight"], old["g_s.0.weight"])         # the transforms trained
    for k in ("gain", "inv_gain", "a_scale", "s_scale"):
        assert torch.equal(new[k][:4], old[k][:4]) and not torch.equal(new[k][4:], old[k][4:])


def test_joined_weights_code_each_quality_exactly_as_its_source(trained, tmp_path):
    base, high = trained
    out = write_joined(base, high, [5, 6], tmp_path / "joined.safetensors")
    joined = load_model(out)
    assert joined.cfg.transform_sets == (0, 0, 0, 0, 1, 1)
    from safetensors.torch import load_file
    stored = load_file(str(out))
    assert stored["g_s_1.0.weight"].dtype == torch.float16 and stored["g_s.0.weight"].dtype == torch.float16
    img = Image(np.random.default_rng(0).integers(0, 256, (40, 72, 3), dtype=np.uint8))
    codecs = {"base": MrefCodec(load_model(base)), "high": MrefCodec(load_model(high)), "joined": MrefCodec(joined)}
    for q in range(1, 7):
        source = codecs["base"] if q <= 4 else codecs["high"]
        a, b = source.encode(img, q), codecs["joined"].encode(img, q)
        assert a.streams == b.streams
        assert np.array_equal(source.decode(a).pixels, codecs["joined"].decode(b).pixels)
    with pytest.raises(NeuralCodecError, match="exists"):
        write_joined(base, high, [5, 6], out)


def test_join_refuses_weights_with_another_entropy_model(trained, tmp_path):
    base, high = trained
    torch.manual_seed(1)
    other = tmp_path / "other.safetensors"
    write_weights(build_model("mref", BASE), other, {"model": "mref", "config": json.dumps(BASE)})
    with pytest.raises(NeuralCodecError, match="entropy model is not"):
        join(base, other, [5, 6])
    with pytest.raises(NeuralCodecError, match="leave a transform set"):
        join(base, high, [1, 2, 3, 4, 5, 6])
    with pytest.raises(NeuralCodecError, match="must lie in"):
        join(base, high, [7])
    wider = tmp_path / "wider.safetensors"
    cfg = BASE | {"width": 24}
    write_weights(build_model("mref", cfg), wider, {"model": "mref", "config": json.dumps(cfg)})
    with pytest.raises(NeuralCodecError, match="config differs"):
        join(base, wider, [5, 6])
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "join_transform_sets.py"), str(base), str(other),
                        str(tmp_path / "x.safetensors"), "--qualities", "5,6"], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1


def test_a_model_with_sets_warm_starts_each_set_from_a_single_set_and_trains(trained, tmp_path):
    base, _ = trained
    cfg = _cfg(tmp_path, "two", transform_sets=(0, 0, 0, 1, 1, 1), init_from=str(base), max_steps=2)
    module = ImageCodecModule(cfg)
    state, src = module.model.state_dict(), load_model(base).state_dict()
    assert all(torch.equal(state[f"g_s_1.{k[4:]}"], v) for k, v in src.items() if k.startswith("g_s."))
    summary = train(cfg, image_files(cfg.data, ""), accelerator="cpu", devices=1, progress=False)
    assert load_model(Path(summary["weights"])).cfg.sets == 2
    with pytest.raises(NeuralCodecError, match="choose one"):
        replace(cfg, encoder_only=True, transforms_only=True)
    for setting in ({"transform_sets": (0, 0, 0, 1, 1, 1)}, {"transforms_only": True}):
        with pytest.raises(NeuralCodecError, match="is an mref setting"):
            ImageTrainConfig(**setting)   # the default model is the hyperprior
