"""A tiny hyperprior training run on the fixtures: the loss falls, and resuming is exact."""
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from neuralcodec.training.config import ImageTrainConfig, load_config
from neuralcodec.training.image import image_files, train

ROOT = Path(__file__).resolve().parents[1]
FIX = str(ROOT / "tests" / "fixtures" / "images")


def _cfg(tmp_path, **kw):
    base = ImageTrainConfig(n=16, m=24, data=FIX, crop=64, batch_size=2, lr=1e-3, max_steps=12, lr_drop_at=(),
                            checkpoint_every=6, out=str(tmp_path / "run"))
    return replace(base, **kw)


def _losses(out: Path) -> list[float]:
    lines = (out / "logs" / "version_0" / "metrics.csv").read_text().splitlines()
    head = lines[0].split(",")
    return [float(r.split(",")[head.index("train/loss")]) for r in lines[1:] if r.split(",")[head.index("train/loss")]]


def _fixed_loss(model, files) -> float:
    """Loss on one fixed batch, qualities and noise: comparable across weights."""
    import torch
    from neuralcodec.training.image import CropDataset, rd_loss
    x = CropDataset(files, 64, 4, seed=123, steps=1).batch(0)
    torch.manual_seed(0)
    with torch.no_grad():
        return float(rd_loss(model, x, torch.tensor([0, 2, 4, 5]))["loss"])


@pytest.mark.parametrize("model,extra", [("hyperprior", {}), ("mref", {}), ("mref", {"global_context": True}),
                                         ("mref", {"quality_scales": True}), ("mref", {"res_blocks": True})])
def test_tiny_training_lowers_the_loss(tmp_path, model, extra):
    import lightning as L
    from neuralcodec.codecs.image.learned import load_model
    from neuralcodec.training.image import ImageCodecModule
    cfg = _cfg(tmp_path, max_steps=30, model=model, slices=2, width=16, **extra)
    files = image_files(cfg.data, "")
    L.seed_everything(cfg.seed, verbose=False)
    before = _fixed_loss(ImageCodecModule(cfg).model, files)
    summary = train(cfg, files, accelerator="cpu", devices=1, progress=False)
    after = _fixed_loss(load_model(Path(summary["weights"])), files)
    assert after < 0.8 * before
    assert summary["steps"] == 30 and load_model(Path(summary["weights"])).cfg.n == 16
    assert Path(summary["weights"]).name == f"{model}.safetensors"
    if extra:   # the switch travels in the weights' metadata, and its parameters in the file
        trained = load_model(Path(summary["weights"]))
        assert all(getattr(trained.cfg, k) == v for k, v in extra.items())
        if "quality_scales" in extra:
            assert not torch.equal(trained.s_scale, torch.ones_like(trained.s_scale))
        if "res_blocks" in extra:   # trained away from the identity they start as
            assert trained.g_a.res3.c.weight.abs().sum() > 0 and trained.g_s.res1.c.weight.abs().sum() > 0
    assert _losses(Path(cfg.out))  # the CSV log has the training curve


def test_resume_is_exact(tmp_path, monkeypatch):
    from neuralcodec.training import runs as run_state
    start = run_state.WallClock.on_fit_start
    def charged(self, trainer, module):   # each run starts 100 s "late": tiny runs, clear sums
        start(self, trainer, module)
        self.t0 -= 100.0
    monkeypatch.setattr(run_state.WallClock, "on_fit_start", charged)
    files = image_files(FIX, "")
    straight = _cfg(tmp_path / "a")
    train(straight, files, accelerator="cpu", devices=1, progress=False)  # hyperprior.safetensors
    halves = _cfg(tmp_path / "b", max_steps=6)
    first = train(halves, files, accelerator="cpu", devices=1, progress=False)
    second = train(replace(halves, max_steps=12), files, accelerator="cpu", devices=1, progress=False)
    runs = (Path(halves.out) / "runs.jsonl").read_text().splitlines()
    assert [json.loads(r)["steps"] for r in runs] == [6, 12]
    # the wall time travels in the checkpoint (WallClock), so a killed run's time is not lost either
    # (both runs are charged 100 s: without the checkpoint's share the second total would be ~100;
    # the bound on the first allows a loaded machine's slow steps, not a second charge)
    assert 100 <= first["wall_seconds_total"] < 200
    assert second["wall_seconds_total"] > first["wall_seconds_total"] + 99
    a = load_file(str(Path(straight.out) / "hyperprior.safetensors"))
    b = load_file(str(Path(halves.out) / "hyperprior.safetensors"))
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)


def test_export_from_a_checkpoint_gives_the_runs_weights(tmp_path):
    from neuralcodec.training.image import export_checkpoint
    cfg = _cfg(tmp_path, model="mref", slices=2, width=16, max_steps=4, checkpoint_every=2,
               init_from=str(tmp_path / "gone.safetensors"))   # not read: the checkpoint has every tensor
    summary = train(replace(cfg, init_from=""), image_files(FIX, ""), accelerator="cpu", devices=1, progress=False)
    out = tmp_path / "exported" / "mref.safetensors"
    exported = export_checkpoint(cfg, Path(cfg.out) / "checkpoints" / "last.ckpt", out)
    assert exported["steps"] == summary["steps"] == 4 and exported["wall_seconds_total"] > 0
    a, b = load_file(summary["weights"]), load_file(str(out))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_a_time_limit_stops_checkpoints_and_resumes(tmp_path):
    files = image_files(FIX, "")
    cfg = _cfg(tmp_path, max_steps=100_000, checkpoint_every=100_000)
    first = train(cfg, files, accelerator="cpu", devices=1, progress=False, max_minutes=0.05)
    assert 0 < first["steps"] < 100_000 and Path(first["weights"]).exists()
    second = train(cfg, files, accelerator="cpu", devices=1, progress=False, max_minutes=0.05)
    assert second["steps"] > first["steps"]   # resumed from the checkpoint written at the limit


def test_config_files_parse(tmp_path):
    names = sorted((ROOT / "configs").rglob("*.json"))
    image = [n for n in names if "wavtok" not in n.name and "speech" not in n.name]
    assert len(image) >= 9   # hyperprior*, mref*, the ablation recipes
    for name in image:
        assert load_config(name).crop > 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"crop": 64, "learning_rate": 1}')
    import pytest
    from neuralcodec.errors import NeuralCodecError
    with pytest.raises(NeuralCodecError, match="unknown config keys"):
        load_config(bad)


def test_warm_start_copies_the_matching_transforms(tmp_path):
    import torch
    from neuralcodec.codecs.image.learned import build_model
    from neuralcodec.training.image import ImageCodecModule
    from safetensors.torch import save_file
    hp = build_model("hyperprior", {"n": 16, "m": 24})
    with torch.no_grad():
        for p in hp.parameters():
            p.add_(0.5)
    src = tmp_path / "hp.safetensors"
    save_file({k: v.contiguous() for k, v in hp.state_dict().items()}, str(src))
    module = ImageCodecModule(_cfg(tmp_path, model="mref", slices=2, width=16, init_from=str(src)))
    assert module.initialized > 0
    assert torch.equal(module.model.g_a[0].weight, hp.g_a[0].weight)
    other = tmp_path / "other.safetensors"
    save_file({"unrelated": torch.zeros(3)}, str(other))
    with pytest.raises(ValueError, match="no tensor matches"):
        ImageCodecModule(_cfg(tmp_path, model="mref", slices=2, width=16, init_from=str(other)))


def test_warm_start_into_a_wider_context_codes_the_same_bytes(tmp_path):
    """mref weights warm-start an mref with the global context: agg's first layer grows along its
    inputs with zeros, so the new codec writes exactly the old one's streams at step 0."""
    import numpy as np
    import torch
    from neuralcodec.codecs.image.learned import build_model
    from neuralcodec.codecs.image.mref_codec import MrefCodec
    from neuralcodec.media import Image
    from neuralcodec.training.image import ImageCodecModule
    from safetensors.torch import save_file
    torch.manual_seed(0)
    old = build_model("mref", {"n": 16, "m": 24, "slices": 2, "width": 16})
    with torch.no_grad():
        for p in old.parameters():
            p.mul_(3)
    src = tmp_path / "mref.safetensors"
    save_file({k: v.contiguous() for k, v in old.state_dict().items()}, str(src))
    new = ImageCodecModule(_cfg(tmp_path, model="mref", slices=2, width=16, global_context=True,
                                init_from=str(src))).model
    assert new.agg[0].layers[0].conv.weight.shape[1] > old.agg[0].layers[0].conv.weight.shape[1]
    img = Image(np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8))
    a, b = MrefCodec(old.eval()).encode(img, 4), MrefCodec(new.eval()).encode(img, 4)
    assert a.streams == b.streams


def test_warm_start_widens_the_transforms(tmp_path):
    """transform_n 16 -> 32 from trained 16-wide weights whose GDNs are diagonal (as all weights
    trained before the seeded off-diagonal): the widened g_a and g_s compute what the old ones
    did (up to that seed), the GDN off-diagonals are reopened, and one optimizer step gives the
    new channels a way into the output (their zero outgoing weights move)."""
    import torch
    from neuralcodec.codecs.image.layers import GAMMA_SEED
    from neuralcodec.codecs.image.learned import build_model
    from neuralcodec.training.image import ImageCodecModule, rd_loss
    from safetensors.torch import save_file
    torch.manual_seed(0)
    old = build_model("mref", {"n": 16, "m": 24, "slices": 2, "width": 16})
    with torch.no_grad():
        for name, p in old.named_parameters():
            if "gamma" in name:
                p.mul_(torch.eye(p.shape[0]))
            else:
                p.mul_(torch.rand_like(p) + 0.5)
    src = tmp_path / "mref.safetensors"
    save_file({k: v.contiguous() for k, v in old.state_dict().items()}, str(src))
    new = ImageCodecModule(_cfg(tmp_path, model="mref", slices=2, width=16, transform_n=32,
                                init_from=str(src))).model
    assert new.g_a[2].weight.shape == (32, 32, 5, 5) and new.g_s[6].weight.shape == (32, 3, 5, 5)
    assert torch.equal(new.g_a[2].weight[:16, :16], old.g_a[2].weight)
    off = ~torch.eye(32, dtype=torch.bool)
    assert torch.all(new.g_a[1].gamma[off] == GAMMA_SEED) and torch.all(new.g_s[5].gamma[off] == GAMMA_SEED)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        y = old.g_a(x)
        assert torch.allclose(new.g_a(x), y, atol=1e-4 * float(y.abs().max()))
        x_hat = old.g_s(y)
        assert torch.allclose(new.g_s(y), x_hat, atol=1e-4 * float(x_hat.abs().max()))
    out_of_new = new.g_s[6].weight[16:]
    assert torch.count_nonzero(out_of_new) == 0
    opt = torch.optim.Adam(new.parameters(), 1e-3)
    rd_loss(new, x, torch.tensor([3]))["loss"].backward()
    opt.step()
    assert torch.count_nonzero(new.g_s[6].weight[16:]) > 0


def test_warm_start_widens_the_latent(tmp_path):
    """m 24 -> 48 with the same two slices (and width 16 -> 24): every trained latent channel keeps
    its slice, the exact context networks give it exactly the old table rows and means, and the
    reconstruction is the old one; the new channels start silent (g_a writes 0, mean 0, the
    smallest scales: symbol 0 at almost no cost) while g_s reads them through random weights."""
    import torch
    from neuralcodec.codecs.image.learned import build_model
    from neuralcodec.codecs.image.mref_codec import UNIT, MrefCodec
    from neuralcodec.training.image import ImageCodecModule
    from neuralcodec.training.widen import latent_maps
    from safetensors.torch import save_file
    torch.manual_seed(0)
    cfg = {"n": 16, "m": 24, "slices": 2, "width": 16, "global_context": True}
    old = build_model("mref", cfg)
    with torch.no_grad():
        for name, p in old.named_parameters():
            p.mul_(torch.rand_like(p) + 0.5)
    src = tmp_path / "mref.safetensors"
    save_file({k: v.contiguous() for k, v in old.state_dict().items()}, str(src),
              metadata={"model": "mref", "config": json.dumps(cfg)})
    new = ImageCodecModule(_cfg(tmp_path, model="mref", m=48, slices=2, width=24, global_context=True,
                                init_from=str(src))).model.eval()
    old.eval()
    keep = latent_maps(new.cfg, cfg)["gain"][1]
    assert keep == [*range(12), *range(24, 36)]
    assert torch.equal(new.gain[:, keep], old.gain)
    assert torch.allclose(new.gain[:, 12:24].log(), old.gain.log().mean(1, keepdim=True).expand(-1, 12))
    codecs = MrefCodec(old), MrefCodec(new)
    x, q = torch.rand(1, 3, 64, 64), 5
    with torch.no_grad():
        y_old = old.g_a(x) * old.gain[q - 1].view(1, -1, 1, 1)
        y_new = new.g_a(x) * new.gain[q - 1].view(1, -1, 1, 1)
        assert torch.allclose(y_new[:, keep], y_old, atol=1e-5 * float(y_old.abs().max()))
        y_new[:, keep] = y_old    # float convs may differ in the last bit; the test is the context
        z_sym = torch.round(old.h_a(y_old) - old.z_density.medians.view(1, -1, 1, 1)).long()
        coded, images = [], []
        for codec, y in zip(codecs, (y_old, y_new)):
            slices, groups = y.double().chunk(2, 1), []

            def group(s, rows, means, mask, slices=slices, groups=groups):
                groups.append((rows, means))
                return torch.round(slices[s] - means.double() / UNIT).long()

            rec = codec.passes(codec.hyper(z_sym), group, reconstruct=True)
            coded.append(groups)
            images.append(codec.model.g_s(rec * codec.model.inv_gain[q - 1].view(1, -1, 1, 1)))
    assert len(coded[0]) == len(coded[1]) == 4
    for (rows_o, means_o), (rows_n, means_n) in zip(*coded):
        assert torch.equal(rows_n[:, :12], rows_o) and torch.equal(means_n[:, :12], means_o)
        assert torch.all(means_n[:, 12:] == 0) and torch.all(rows_n[:, 12:] <= 1)   # new: mean 0, smallest scales
    assert torch.all(y_new[:, 12:24] == 0) and torch.all(y_new[:, 36:] == 0)      # so they code as symbol 0
    assert torch.count_nonzero(new.g_s[0].weight[12:24]) > 0   # and g_s reads them: gradients reach g_a
    assert torch.allclose(images[1], images[0], atol=1e-4 * float(images[0].abs().max()))
    with pytest.raises(ValueError, match="same number of slices"):
        ImageCodecModule(_cfg(tmp_path, model="mref", m=48, slices=4, width=24, global_context=True,
                              init_from=str(src)))


def test_gdn_cross_channel_terms_can_learn():
    """A squared parameter at exactly 0 has no gradient: GDN's off-diagonal starts seeded, and
    thaw_ reopens the all-zero off-diagonal of weights trained before the fix."""
    import torch
    from neuralcodec.codecs.image.layers import GAMMA_SEED, GDN
    off = ~torch.eye(8, dtype=torch.bool)
    for inverse in (False, True):
        gdn = GDN(8, inverse)
        gdn(torch.randn(2, 8, 5, 5)).square().sum().backward()
        assert torch.count_nonzero(gdn.gamma.grad[off]) == 56
    frozen = GDN(8)
    with torch.no_grad():
        frozen.gamma.mul_(torch.eye(8))
    frozen(torch.randn(2, 8, 5, 5)).square().sum().backward()
    assert torch.count_nonzero(frozen.gamma.grad[off]) == 0
    assert frozen.thaw_() == 56 and torch.all(frozen.gamma[off] == GAMMA_SEED)
    frozen.gamma.grad = None
    frozen(torch.randn(2, 8, 5, 5)).square().sum().backward()
    assert torch.count_nonzero(frozen.gamma.grad[off]) == 56


def test_warm_start_onto_more_lambdas_keeps_the_shared_qualities(tmp_path):
    """Six-lambda weights start an eight-lambda run (one lambda added at each end): the six shared
    qualities code exactly the old streams at step 0, and the new end rows extend each channel's
    gain geometrically."""
    import numpy as np
    import torch
    from neuralcodec.codecs.image.learned import build_model
    from neuralcodec.codecs.image.mref_codec import MrefCodec
    from neuralcodec.media import Image
    from neuralcodec.training.image import ImageCodecModule, regrid_gains
    from safetensors.torch import save_file
    six = (0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483)
    eight = (0.0009, *six, 0.0932)
    torch.manual_seed(0)
    old = build_model("mref", {"n": 16, "m": 24, "slices": 2, "width": 16, "lambdas": list(six)})
    with torch.no_grad():
        old.gain.mul_(torch.rand_like(old.gain) + 0.5)
    src = tmp_path / "mref.safetensors"
    save_file({k: v.contiguous() for k, v in old.state_dict().items()}, str(src),
              metadata={"model": "mref", "config": json.dumps({"lambdas": list(six)})})
    new = ImageCodecModule(_cfg(tmp_path, model="mref", slices=2, width=16, lambdas=eight,
                                init_from=str(src))).model
    assert new.gain.shape == (8, 24) and torch.equal(new.gain[1:7], old.gain)
    ratio = (old.gain[1] / old.gain[0]) ** (np.log(0.0018 / 0.0009) / np.log(0.0035 / 0.0018))
    assert torch.allclose(new.gain[0], old.gain[0] / ratio, rtol=1e-5)
    img = Image(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    old_codec, new_codec = MrefCodec(old.eval()), MrefCodec(new.eval())
    for q in (1, 4, 6):
        assert new_codec.encode(img, q + 1).streams == old_codec.encode(img, q).streams
    with pytest.raises(ValueError, match="increasing"):
        regrid_gains(old.gain, six[::-1], eight)


def test_compile_keeps_parameter_names(tmp_path):
    """`compile: true` compiles the transforms in place: checkpoints and exports keep their names."""
    from neuralcodec.training.image import ImageCodecModule
    plain = ImageCodecModule(_cfg(tmp_path, model="mref", slices=2, width=16)).model
    compiled = ImageCodecModule(_cfg(tmp_path, model="mref", slices=2, width=16, compile=True)).model
    assert list(compiled.state_dict()) == list(plain.state_dict())
    # nn.Module.compile() keeps the compiled call here (torch 2.x); nothing else is compiled
    assert compiled.g_a._compiled_call_impl is not None and compiled.g_s._compiled_call_impl is not None
    assert plain.g_a._compiled_call_impl is None and compiled.h_s._compiled_call_impl is None


@pytest.mark.slow
def test_a_compiled_run_trains_and_exports(tmp_path):
    """About a minute here (Inductor builds C++ for the transforms on first use)."""
    import torch
    from neuralcodec.codecs.image.learned import load_model
    cfg = _cfg(tmp_path, model="mref", slices=2, width=16, compile=True, max_steps=4, checkpoint_every=2)
    summary = train(cfg, image_files(FIX, ""), accelerator="cpu", devices=1, progress=False)
    assert summary["steps"] == 4
    model = load_model(Path(summary["weights"]))
    assert not any("_orig_mod" in k for k in model.state_dict())
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())


def test_drop_res_blocks_leaves_the_plain_model(tmp_path):
    """scripts/pack_weights.py --drop-res-blocks: the output is a plain mref (no blocks in its config or file)
    that codes what the source codes with its blocks reset to the identity; it says what it dropped."""
    import importlib.util
    from neuralcodec.codecs.image.learned import load_model
    from neuralcodec.codecs.image.mref import MrefConfig, MrefModel
    from neuralcodec.codecs.image.mref_codec import MrefCodec
    from neuralcodec.codecs.image.weights import write
    from neuralcodec.media import Image
    spec = importlib.util.spec_from_file_location("pack", Path(__file__).parents[1] / "scripts" / "pack_weights.py")
    pack_weights = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pack_weights)
    drop = lambda src, dst: pack_weights.main([str(tmp_path / src), str(tmp_path / dst), "--drop-res-blocks"])  # noqa: E731
    torch.manual_seed(0)
    cfg = MrefConfig(16, 24, 2, 8, lambdas=(0.01, 0.05), res_blocks=True)
    model = MrefModel(cfg)
    with torch.no_grad():
        model.g_s.res1.c.weight.normal_(0, 0.1)   # a block that learned something
    meta = {"model": "mref", "config": json.dumps({k: v for k, v in vars(cfg).items()}), "card": "{}"}
    write(model, tmp_path / "src.safetensors", meta)
    assert drop("src.safetensors", "dst.safetensors") == 0
    assert drop("src.safetensors", "dst.safetensors") == 2     # no --force
    assert drop("dst.safetensors", "again.safetensors") == 2   # nothing to drop
    plain = load_model(tmp_path / "dst.safetensors")
    assert not plain.cfg.res_blocks and not any(".res" in k for k in load_file(tmp_path / "dst.safetensors"))
    from safetensors import safe_open
    with safe_open(str(tmp_path / "dst.safetensors"), "pt") as f:
        dropped = json.loads(f.metadata()["card"])["dropped"]
    assert dropped["g_s.res1"] > 0 and dropped["g_a.res2"] == 0
    source = load_model(tmp_path / "src.safetensors")
    with torch.no_grad():
        source.g_s.res1.c.weight.zero_()
    img = Image((torch.rand(48, 64, 3) * 255).byte().numpy())
    a, b = MrefCodec(plain), MrefCodec(source)
    assert a.encode(img, 2).streams == b.encode(img, 2).streams
    assert (a.decode(a.encode(img, 2)).pixels == b.decode(b.encode(img, 2)).pixels).all()


def test_validation_is_logged_on_the_held_out_split_and_repeats_exactly(tmp_path, capsys):
    """val_data scores one fixed batch every val_every steps (and at the end): the same weights give
    the same figures, so runs and resumes compare; a missing split turns validation off with a note."""
    cfg = _cfg(tmp_path, max_steps=12, val_data=FIX, val_every=5)
    train(cfg, image_files(cfg.data, ""), accelerator="cpu", devices=1, progress=False)
    rows = [json.loads(x) for x in (Path(cfg.out) / "val.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 12]
    assert all(r["bpp"] > 0 and r["loss"] > 0 and 0 < r["psnr"] < 60 for r in rows)
    head = (Path(cfg.out) / "logs" / "version_0" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "val/loss" in head
    from neuralcodec.training.image import ImageCodecModule, val_scorer
    module = ImageCodecModule(cfg)
    score = val_scorer(cfg, image_files(cfg.data, ""))
    with torch.random.fork_rng():
        torch.manual_seed(321)
        a = score(module)
    with torch.random.fork_rng():
        torch.manual_seed(321)
        assert score(module) == a
    capsys.readouterr()
    other = _cfg(tmp_path, max_steps=2, val_data="image-val", data_dir=str(tmp_path / "none"), out=str(tmp_path / "r2"))
    train(other, image_files(other.data, ""), accelerator="cpu", devices=1, progress=False)
    assert "note: no validation" in capsys.readouterr().err and not (tmp_path / "r2" / "val.jsonl").exists()


def test_stop_at_ends_a_run_at_that_step_with_the_recipes_schedule(tmp_path):
    cfg = _cfg(tmp_path, max_steps=10, lr_drop_at=(0.5,))
    summary = train(cfg, image_files(cfg.data, ""), accelerator="cpu", devices=1, progress=False, stop_at=3)
    assert summary["steps"] == 3
    from neuralcodec.cli import main
    assert main(["train", "image", "--config", "configs/hyperprior-tiny.json", "--stop-at", "0"]) == 2
