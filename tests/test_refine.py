"""Encoder-side latent refinement: it lowers the coded loss, plain decoders read its files, it is
repeatable, it tiles large images, and the CLI and sweeps reach it."""
import json

import numpy as np
import pytest
import torch

from neuralcodec.codecs.image import refine
from neuralcodec.codecs.image.hyperprior import HyperpriorConfig, HyperpriorModel, pad
from neuralcodec.codecs.image.hyperprior_codec import HyperpriorCodec
from neuralcodec.codecs.image.mref import MrefConfig, MrefModel
from neuralcodec.codecs.image.mref_codec import MrefCodec
from neuralcodec.entropy.container import pack, unpack
from neuralcodec.media import Image


def _codec(kind: str, **kw):
    torch.manual_seed(0)
    lambdas = (0.01, 0.05)
    if kind == "hyperprior":
        return HyperpriorCodec(HyperpriorModel(HyperpriorConfig(16, 24, lambdas)), **kw)
    model = MrefModel(MrefConfig(16, 24, 2, 8, lambdas=lambdas, quality_scales=kind == "mref_qs"))
    if kind == "mref_qs":   # per-quality transform scales away from 1
        with torch.no_grad():
            model.a_scale.uniform_(0.7, 1.3)
            model.s_scale.uniform_(0.7, 1.3)
    return MrefCodec(model, **kw)


def _img(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 3 + y, 128 + 60 * np.sin(x / 7.0), y * 2], -1) + rng.integers(0, 12, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _coded_loss(codec, pixels: np.ndarray, q: int) -> tuple[float, float]:
    """(loss before, loss after) refinement under the coder's rounding, at 0-based quality q."""
    m = codec.model
    h, w, _ = pixels.shape
    x = pad(torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255)
    with torch.no_grad():
        y_s = m.g_a(x, codec.scales(q + 1)[0]) * m.gain[q].view(1, -1, 1, 1)
    qt, lam = torch.tensor([q]), float(m.cfg.lambdas[q])
    after = refine.refine_latent(m, x, y_s, q, codec.refine, (h, w))
    with torch.no_grad():
        return tuple(float(refine._loss(m, y, x, qt, lam, (h, w), noise=False)) for y in (y_s, after))


@pytest.mark.parametrize("kind", ["hyperprior", "mref", "mref_qs"])
def test_refinement_lowers_the_coded_loss_and_plain_decoders_read_it(kind, monkeypatch):
    monkeypatch.setattr(refine, "LR", 0.3)   # an untrained model's latent needs longer steps than LR
    codec, plain = _codec(kind, refine=10), _codec(kind)
    pixels = _img(70, 90)
    before, after = _coded_loss(codec, pixels, 1)
    assert after < before
    data = pack(codec.encode(Image(pixels), 2))
    assert data != pack(plain.encode(Image(pixels), 2))
    assert plain.decode(unpack(data)).pixels.shape == (70, 90, 3)


def test_refinement_is_repeatable_and_leaves_the_rng_alone():
    codec = _codec("mref", refine=4)
    img = Image(_img(40, 50))
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = pack(codec.encode(img, 1))
    assert torch.equal(torch.rand(3), expected)
    assert pack(codec.encode(img, 1)) == first
    assert all(p.requires_grad for p in codec.model.parameters())


def test_large_images_refine_in_tiles(monkeypatch):
    """Tiles of 4 latent positions with a halo of 4: every tile is refined, each with its halo, and
    here the whole comes out no worse than g_a's latent (the check is per tile, not a guarantee)."""
    codec = _codec("mref", refine=3)
    monkeypatch.setattr(refine, "TILE", 4)
    seen = []
    inner = refine._refine_whole
    monkeypatch.setattr(refine, "_refine_whole", lambda m, x, y, *a: seen.append(y.shape[-2:]) or inner(m, x, y, *a))
    pixels = _img(130, 200)            # padded to 192 x 256: latent 12 x 16, 3 x 4 tiles
    before, after = _coded_loss(codec, pixels, 0)
    assert len(seen) == 12 and max(s[0] for s in seen) == 12 and min(s[0] for s in seen) == 8
    assert after <= before
    out = codec.decode(unpack(pack(codec.encode(Image(pixels), 1)))).pixels
    assert out.shape == (130, 200, 3)


def test_cli_refine(tmp_path, capsys):
    from PIL import Image as PILImage

    from neuralcodec.cli import main
    src = tmp_path / "in.png"
    PILImage.fromarray(_img(37, 53)).save(src)
    assert main(["encode", str(src), str(tmp_path / "a.ncdc"), "--codec", "mref", "--refine", "2", "--json"]) == 0
    assert main(["decode", str(tmp_path / "a.ncdc"), str(tmp_path / "a.png")]) == 0
    assert np.asarray(PILImage.open(tmp_path / "a.png")).shape == (37, 53, 3)
    for args, words in ((["--codec", "lossless", "--refine", "2"], "learned image"), (["--codec", "mref", "--refine", "-3"], "0..1000")):
        capsys.readouterr()
        assert main(["encode", str(src), str(tmp_path / "b.ncdc"), *args]) == 2
        assert words in capsys.readouterr().err
    assert not (tmp_path / "b.ncdc").exists()
    assert main(["bench", "image", "--refine", "5000"]) == 2   # refused before anything is timed
    assert "0..1000" in capsys.readouterr().err


def test_sweep_names_take_refine(tmp_path):
    from safetensors.torch import save_file

    from neuralcodec.eval.baselines import get_baseline
    model = _codec("mref").model
    path = tmp_path / "w.safetensors"
    cfg = {"n": 16, "m": 24, "slices": 2, "width": 8, "lambdas": [0.01, 0.05]}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata={"model": "mref", "config": json.dumps(cfg)})
    b = get_baseline(f"mref+refine2@{path}")
    assert b.name == "mref+refine2@w.safetensors" and b.points == (1, 2)
    assert b.decode(b.encode(_img(20, 30), 1)).shape == (20, 30, 3)
    for bad in ("mref+fast@", "mref+refinex@", "lossless+refine2"):
        with pytest.raises(KeyError, match="refineN"):
            get_baseline(bad + (str(path) if bad.endswith("@") else ""))
