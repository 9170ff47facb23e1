"""bfloat16 transforms: in training (autocast, float32 weights) and in the codec (``precision``),
where they change pixels by rounding only and never what the entropy model decodes."""
import json

import numpy as np
import pytest
import torch

from neuralcodec.codecs.image import PRECISIONS
from neuralcodec.codecs.image.learned import native_bf16, resolve_precision
from neuralcodec.codecs.image.mref import MrefConfig, MrefModel
from neuralcodec.codecs.image.mref_codec import MrefCodec
from neuralcodec.entropy.container import pack, unpack
from neuralcodec.errors import NeuralCodecError
from neuralcodec.eval.metrics import psnr
from neuralcodec.media import Image


def _model() -> MrefModel:
    torch.manual_seed(0)
    return MrefModel(MrefConfig(16, 24, 2, 8, lambdas=(0.01, 0.05), quality_scales=True)).eval()


def _img(h: int = 40, w: int = 56) -> np.ndarray:
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 4 + y, 128 + 70 * np.sin(x / 5.0), y * 3], -1) + rng.integers(0, 20, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_resolve_precision():
    assert resolve_precision("float32", "cpu") == torch.float32
    assert resolve_precision("bfloat16", "cpu") == torch.bfloat16
    assert resolve_precision("auto", "cpu") == (torch.bfloat16 if native_bf16("cpu") else torch.float32)
    with pytest.raises(NeuralCodecError, match="float32, bfloat16, auto"):
        resolve_precision("fp8", "cpu")
    assert PRECISIONS == ("float32", "bfloat16", "auto")


def test_bfloat16_codec_decodes_the_same_symbols_and_near_pixels(monkeypatch):
    """A file written in float32 decodes in bfloat16 to the same latent (the entropy model is
    exact integer either way) and to pixels a rounding away; a bfloat16 encoder's file decodes in float32."""
    from neuralcodec.codecs.image import learned
    model = _model()
    f32, b16 = MrefCodec(model), MrefCodec(model, precision="bfloat16")
    assert b16.transform_dtype == torch.bfloat16 and f32.transform_dtype == torch.float32
    latents = []   # what decode hands g_s: the decoded latent after the inverse gain
    synthesize = learned.synthesize
    monkeypatch.setattr(learned, "synthesize", lambda g_s, y, *a: latents.append(y.clone()) or synthesize(g_s, y, *a))
    px = _img()
    data = pack(f32.encode(Image(px), 2))
    ref = f32.decode(unpack(data)).pixels
    out = b16.decode(unpack(data)).pixels
    assert len(latents) == 2 and latents[0].dtype == torch.float32 and torch.equal(latents[0], latents[1])
    assert out.shape == ref.shape and out.dtype == np.uint8 and not np.array_equal(out, ref)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 4   # bfloat16 keeps 8 bits of mantissa
    data16 = pack(b16.encode(Image(px), 2))
    back = f32.decode(unpack(data16)).pixels
    assert back.shape == px.shape and psnr(px, back) > psnr(px, ref) - 1.0


def test_precision_is_checked_when_set():
    codec = MrefCodec(_model())
    with pytest.raises(NeuralCodecError, match="precision"):
        codec.precision = "half"
    assert codec.precision == "float32"


def test_cli_and_sweep_take_precision(tmp_path, capsys):
    from safetensors.torch import save_file

    from neuralcodec.cli import main
    from neuralcodec.eval.baselines import get_baseline
    from neuralcodec.media import save_image
    model = _model()
    path = tmp_path / "w.safetensors"
    cfg = {"n": 16, "m": 24, "slices": 2, "width": 8, "lambdas": [0.01, 0.05], "quality_scales": True}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata={"model": "mref", "config": json.dumps(cfg)})
    b = get_baseline(f"mref+bfloat16+refine1@{path}")
    assert b.name == "mref+bfloat16+refine1@w.safetensors"
    assert b.decode(b.encode(_img(20, 30), 1)).shape == (20, 30, 3)
    with pytest.raises(KeyError, match="bfloat16"):
        get_baseline(f"mref+half@{path}")
    src = tmp_path / "a.png"
    save_image(src, _img())
    assert main(["encode", str(src), str(tmp_path / "a.ncdc"), "--codec", "mref", "--weights", str(path),
                 "--precision", "bfloat16"]) == 0
    assert main(["decode", str(tmp_path / "a.ncdc"), str(tmp_path / "b.png"), "--weights", str(path),
                 "--precision", "float32"]) == 0
    assert (tmp_path / "b.png").is_file()
    capsys.readouterr()
    assert main(["encode", str(src), str(tmp_path / "c.ncdc"), "--codec", "lossless", "--precision", "bfloat16"]) == 2
    assert "learned image" in capsys.readouterr().err
    assert not (tmp_path / "c.ncdc").exists()


def test_bf16_training_keeps_float32_weights_and_names():
    """``"bf16": true`` runs the transforms under autocast: the parameters stay float32 with their
    names, the output is float32 and near the float32 forward, and a step trains them."""
    from neuralcodec.training.config import ImageTrainConfig
    from neuralcodec.training.image import ImageCodecModule, rd_loss
    cfg = dict(model="mref", n=16, m=24, slices=2, width=8, lambdas=(0.01, 0.05), quality_scales=True,
               batch_size=2, crop=64)
    torch.manual_seed(0)
    plain = ImageCodecModule(ImageTrainConfig(**cfg)).model
    torch.manual_seed(0)
    half = ImageCodecModule(ImageTrainConfig(**cfg, bf16=True)).model
    assert list(plain.state_dict()) == list(half.state_dict())
    assert all(p.dtype == torch.float32 for p in half.parameters())
    x = torch.rand(2, 3, 64, 64)
    q = torch.tensor([0, 1])
    y32, y16 = plain.g_a(x, plain.a_scale[q]), half.g_a(x, half.a_scale[q])
    assert y16.dtype == torch.float32 and not torch.equal(y16, y32)
    assert torch.allclose(y16, y32, rtol=0.05, atol=0.05 * y32.abs().max().item())
    before = half.g_s[0].weight.detach().clone()
    opt = torch.optim.Adam(half.parameters(), 1e-3)
    rd_loss(half, x, q)["loss"].backward()
    assert half.g_s[0].weight.grad is not None and half.g_s[0].weight.grad.dtype == torch.float32
    opt.step()
    assert not torch.equal(before, half.g_s[0].weight)
