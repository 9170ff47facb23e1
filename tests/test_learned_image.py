"""Learned image codecs with small random weights: exact symbols, determinism, damaged files."""
import os

import numpy as np
import pytest
import torch

from conftest import cuda, golden
from neuralcodec.codecs.image.hyperprior import HyperpriorConfig, HyperpriorModel
from neuralcodec.codecs.image.hyperprior_codec import HyperpriorCodec
from neuralcodec.codecs.image.mref import MrefConfig, MrefModel
from neuralcodec.codecs.image.mref_codec import MrefCodec
from neuralcodec.entropy.container import pack, unpack
from neuralcodec.errors import FormatError
from neuralcodec.media import Image


def _random(kind: str):
    torch.manual_seed(0)
    if kind == "hyperprior":
        model, cls, nets = HyperpriorModel(HyperpriorConfig(24, 32)), HyperpriorCodec, None
        nets = [model.h_s]
    else:
        model, cls = MrefModel(MrefConfig(24, 32, 4, 16)), MrefCodec
        nets = [model.h_s, *model.cc, *model.ck, *model.agg]
    with torch.no_grad():  # random entropy networks with varied scales and means
        for net in nets:
            for p in net.parameters():
                p.mul_(4)
    return cls(model)


@pytest.fixture(scope="module", params=["hyperprior", "mref"])
def codec(request):
    return _random(request.param)


def _img(h, w, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    return Image(np.clip(np.stack([x * 3, y * 2, x + y], -1) + rng.integers(0, 40, (h, w, 3)), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (3000, 5), (70, 130)])
def test_round_trip_shapes(codec, size):
    out = codec.decode(unpack(pack(codec.encode(_img(*size), 3))))
    assert out.pixels.shape == (*size, 3)


def _latent_symbols(codec, img, q):
    """(encoder's y symbols, decoder's y symbols) as flat int64 tensors."""
    c = codec.encode(img, q)
    recorded = {"enc": [], "dec": []}
    m = codec.model
    x = torch.from_numpy(img.pixels).permute(2, 0, 1)[None].float() / 255
    from neuralcodec.codecs.image.hyperprior import pad
    from neuralcodec.entropy import rans
    with torch.no_grad():
        y_s = m.g_a(pad(x), codec.scales(q)[0]) * m.gain[q - 1].view(1, -1, 1, 1)
        z_sym = torch.round(m.h_a(y_s) - m.z_density.medians.view(1, -1, 1, 1)).long()
        hyper = codec.hyper(z_sym)
    if isinstance(codec, HyperpriorCodec):
        rows, means = codec.params(hyper)
        enc = torch.round(y_s.double() - means.double() / 256).long().ravel()
        dec = torch.from_numpy(rans.decode(c.streams["y"], rows.numpy().ravel(), codec.tables.y_table))
        return enc, dec, rows
    slices = y_s.double().chunk(m.cfg.slices, 1)

    def enc_group(s, rows, means, mask):
        sym = torch.round(slices[s] - means.double() / 256).long()
        recorded["enc"].append(sym[mask.expand_as(sym)])
        return sym

    codec.passes(hyper, enc_group, reconstruct=False)
    dec = rans.GroupDecoder(c.streams["y"], codec.tables.y_table)
    all_rows = []

    def dec_group(s, rows, means, mask):
        sel = mask.expand_as(rows)
        sym = torch.zeros_like(rows)
        sym[sel] = torch.from_numpy(dec.next(rows[sel].numpy()))
        recorded["dec"].append(sym[sel])
        all_rows.append(rows[sel])
        return sym

    codec.passes(hyper, dec_group, reconstruct=False)
    dec.finish()
    return torch.cat(recorded["enc"]), torch.cat(recorded["dec"]), torch.cat(all_rows)


def test_decoder_recovers_the_encoders_symbols(codec):
    enc, dec, rows = _latent_symbols(codec, _img(64, 128), 5)
    assert torch.equal(enc, dec)
    assert len(torch.unique(rows)) > 3  # the test exercises several table rows


def _entropy_params(codec, z):
    hyper = codec.hyper(z)
    if isinstance(codec, HyperpriorCodec):
        return codec.params(hyper)
    return codec.slice_params(1, codec.model.cc[1].exact(torch.cat([hyper, hyper[:, :8]], 1)), None)


def test_entropy_parameters_are_identical_across_threads_and_batches(codec):
    torch.manual_seed(1)
    z = torch.randint(-6, 7, (3, 24, 3, 5))
    ref = _entropy_params(codec, z)
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            single = [_entropy_params(codec, z[i:i + 1]) for i in range(3)]
            for got in (_entropy_params(codec, z), [torch.cat(t) for t in zip(*single)]):
                assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])
    finally:
        torch.set_num_threads(threads)


def test_float_noise_below_the_grid_changes_nothing():
    """Weights that differ below the fixed-point grid give the same integers (another build,
    another float library)."""
    codec = _random("hyperprior")
    z = torch.randint(-6, 7, (1, 24, 4, 4))
    ref = _entropy_params(codec, z)
    noisy = HyperpriorModel(codec.model.cfg)
    noisy.load_state_dict(codec.model.state_dict())
    with torch.no_grad():
        for layer in noisy.h_s.layers:
            w, b = layer.integer_params()
            layer.conv.weight.copy_(w.double() / 1024 + (torch.rand_like(w.double()) - 0.5) * 1e-6)
            layer.conv.bias.copy_(b.double() / 2**18)
    got = _entropy_params(HyperpriorCodec(noisy), z)
    assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])


def test_damaged_files_raise(codec):
    c = unpack(pack(codec.encode(_img(40, 40), 2)))
    for k in ("z", "y"):
        broken = dict(c.streams)
        broken[k] = broken[k][:-5]
        with pytest.raises(FormatError):
            codec.decode(type(c)(c.modality, c.codec, c.codec_version, c.weights_hash, c.fields, broken))
    with pytest.raises(FormatError):
        codec.decode(type(c)(c.modality, c.codec, c.codec_version, c.weights_hash, {"height": 40}, c.streams))


def test_scale_thresholds_are_pinned(codec):
    thr = ",".join(map(str, codec.tables.scale_thresholds.tolist()))
    assert thr == golden("hyperprior_scale_thresholds.txt", thr)


@cuda
def test_encode_on_cuda_decode_on_cpu(codec):
    gpu = type(codec)(codec.model, device="cuda")
    data = pack(gpu.encode(_img(128, 192), 4))
    z = torch.randint(-6, 7, (2, 24, 3, 5))
    a = _entropy_params(gpu, z.cuda())
    cpu = type(codec)(gpu.model.cpu())
    b = _entropy_params(cpu, z)
    assert torch.equal(a[0].cpu(), b[0]) and torch.equal(a[1].cpu(), b[1])
    assert cpu.decode(unpack(data)).pixels.shape == (128, 192, 3)


@pytest.mark.parametrize("inverse", [False, True])
def test_inference_gdn_equals_the_training_one(inverse, monkeypatch):
    """At inference GDN works in place, an image and a band of rows at a time, as a matrix product."""
    from neuralcodec.codecs.image import layers
    torch.manual_seed(0)
    g = layers.GDN(16, inverse)
    with torch.no_grad():
        g.gamma.add_(torch.rand_like(g.gamma) * 0.1)
    x = torch.randn(2, 16, 45, 30)
    ref = g(x).detach()   # grad enabled: the training path (conv2d, not in place)
    for rows in (7, 45):
        monkeypatch.setattr(layers, "BAND_ELEMENTS", 16 * 30 * rows)
        mine = x.clone()
        with torch.no_grad():
            out = g(mine)
        assert out is mine and torch.allclose(out, ref, rtol=1e-6, atol=1e-6)


def _busy(transform):
    """Residual blocks away from the identity (their last convolution starts at zero)."""
    with torch.no_grad():
        for name, block in transform.named_children():
            if name.startswith("res"):
                block.c.weight.normal_(0, 0.3)
    return transform


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("rows", [1, 3, 7])
@pytest.mark.parametrize("blocks", [False, True])
def test_banded_synthesis_equals_the_plain_one(rows, scaled, blocks, monkeypatch):
    from neuralcodec.codecs.image import layers
    torch.manual_seed(0)
    g_s = _busy(layers.synthesis(8, 12, blocks).eval())
    scales = torch.rand(1, 3, 8) + 0.5 if scaled else None
    with torch.no_grad():
        y = torch.randn(1, 12, 11, 5) * 3
        ref = g_s(y, scales)
        per_row = 8 * 8 ** 2 * 5   # channels x (16/2)^2 pixels a latent row x width
        monkeypatch.setattr(layers, "SYNTH_ELEMENTS", rows * per_row)
        banded = layers.synthesize(g_s, y, scales)
    assert banded.shape == ref.shape == (1, 3, 176, 80)
    assert torch.allclose(banded, ref, rtol=0, atol=1e-5)
    assert torch.equal((banded.clamp(0, 1) * 255).round(), (ref.clamp(0, 1) * 255).round())


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("rows", [1, 3, 7])
@pytest.mark.parametrize("blocks", [False, True])
def test_banded_analysis_equals_the_plain_one(rows, scaled, blocks, monkeypatch):
    from neuralcodec.codecs.image import layers
    torch.manual_seed(0)
    g_a = _busy(layers.analysis(8, 12, blocks).eval())
    scales = torch.rand(1, 3, 8) + 0.5 if scaled else None
    with torch.no_grad():
        x = torch.rand(1, 3, 176, 80)
        ref = g_a(x, scales)
        per_row = 8 * 8 ** 2 * 5   # channels x (16/2)^2 pixels a latent row x latent width
        monkeypatch.setattr(layers, "SYNTH_ELEMENTS", rows * per_row)
        banded = layers.analyse(g_a, x, scales)
    assert banded.shape == ref.shape == (1, 12, 11, 5)
    assert torch.allclose(banded, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("switch", [{"checkerboard": False}, {"channel_context": False}, {"lrp": False},
                                    {"global_context": True}, {"quality_scales": True}, {"res_blocks": True}])
def test_mref_ablations_round_trip_exactly(switch):
    torch.manual_seed(0)
    model = MrefModel(MrefConfig(24, 32, 4, 16, **switch))
    with torch.no_grad():
        for net in [model.h_s, *model.cc, *model.gc, *model.ck, *model.agg]:
            for p in net.parameters():
                p.mul_(4)
        if model.cfg.quality_scales:   # away from 1, so the scaled transforms are what is coded
            model.a_scale.uniform_(0.5, 2.0)
            model.s_scale.uniform_(0.5, 2.0)
    _busy(model.g_a), _busy(model.g_s)
    codec = MrefCodec(model)
    enc, dec, _ = _latent_symbols(codec, _img(64, 64), 4)
    assert torch.equal(enc, dec)
    assert codec.decode(unpack(pack(codec.encode(_img(33, 47), 2)))).pixels.shape == (33, 47, 3)
    out = model(torch.rand(1, 3, 64, 64), torch.tensor([1]))
    assert out["y_likelihoods"].shape == (1, 32, 4, 4)


def _grown_computes_the_same(plain: MrefModel, grown: MrefModel) -> tuple[list[str], dict]:
    """Load ``plain``'s weights into ``grown`` (a model with more parameters), check that both
    compute the same training forward on qualities 1 and 6; returns (the keys ``plain`` lacks,
    ``grown``'s output)."""
    missing = grown.load_state_dict(plain.state_dict(), strict=False).missing_keys
    x, q = torch.rand(2, 3, 64, 64), torch.tensor([0, 5])
    torch.manual_seed(1)
    ref = plain(x, q)
    torch.manual_seed(1)
    out = grown(x, q)
    assert torch.equal(out["x_hat"], ref["x_hat"]) and torch.equal(out["y_likelihoods"], ref["y_likelihoods"])
    return missing, out


def test_res_blocks_start_as_the_identity_and_learn():
    """Residual blocks in g_a and g_s start as the identity: a model with them computes exactly
    what the same model without them does (older weights warm-start exactly) and codes the same
    bytes; a training step moves them, and then both ends change."""
    from neuralcodec.codecs.image.layers import Bottleneck
    torch.manual_seed(0)
    plain = MrefModel(MrefConfig(24, 32, 4, 16, quality_scales=True))
    blocks = MrefModel(MrefConfig(24, 32, 4, 16, quality_scales=True, res_blocks=True))
    missing, out = _grown_computes_the_same(plain, blocks)
    assert {k.split(".")[1] for k in missing} == {"res1", "res2", "res3"} and len(missing) == 4 * 6
    assert sum(isinstance(b, Bottleneck) for b in blocks.modules()) == 4
    img = _img(40, 56)
    base = MrefCodec(plain.eval()).encode(img, 3)
    assert MrefCodec(blocks.eval()).encode(img, 3).streams == base.streams
    blocks.train()
    (out["x_hat"].square().mean() + out["y_likelihoods"].log().mean()).backward()
    assert blocks.g_a.res2.c.weight.grad.abs().sum() > 0 and blocks.g_s.res1.c.weight.grad.abs().sum() > 0
    _busy(blocks.g_a), _busy(blocks.g_s)
    with torch.no_grad():
        blocks.g_a.res3.c.bias.fill_(3.0)   # enough to move this untrained model's (near-zero) latent
    codec = MrefCodec(blocks.eval())
    moved = codec.encode(img, 3)
    assert moved.streams != base.streams
    assert not np.array_equal(codec.decode(base).pixels, MrefCodec(plain).decode(base).pixels)


def test_quality_scales_start_as_the_plain_transforms_and_shape_both_ends():
    """Per-quality transform scales start at 1, so a model with them computes what the same
    model without them does (weights without them warm-start exactly); the codec applies
    quality q's row of ``a_scale`` in the encoder and of ``s_scale`` in the decoder, and a
    training step moves them."""
    torch.manual_seed(0)
    plain = MrefModel(MrefConfig(24, 32, 4, 16))
    scaled = MrefModel(MrefConfig(24, 32, 4, 16, quality_scales=True))
    missing, out = _grown_computes_the_same(plain, scaled)
    assert missing == ["a_scale", "s_scale"]
    loss = out["x_hat"].square().mean() + out["y_likelihoods"].log().mean()
    loss.backward()
    assert scaled.a_scale.grad[[0, 5]].abs().sum() > 0 and scaled.s_scale.grad[[0, 5]].abs().sum() > 0
    assert scaled.a_scale.grad[[1, 2, 3, 4]].abs().sum() == 0   # only the qualities in the batch

    codec, plain_codec, img = MrefCodec(scaled.eval()), MrefCodec(plain.eval()), _img(40, 56)
    base = codec.encode(img, 3)
    assert base.streams == plain_codec.encode(img, 3).streams
    with torch.no_grad():
        scaled.s_scale[2].mul_(1.5)   # quality 3's decoder rows: same bytes, other pixels
    assert codec.encode(img, 3).streams == base.streams
    assert not np.array_equal(codec.decode(base).pixels, plain_codec.decode(base).pixels)
    with torch.no_grad():
        scaled.s_scale[2].div_(1.5)
        scaled.a_scale[2].mul_(50.0)   # its encoder rows: other bytes; other qualities untouched
    assert codec.encode(img, 3).streams != base.streams
    assert codec.encode(img, 4).streams == plain_codec.encode(img, 4).streams


def test_qualities_follow_the_weights():
    """Weights trained with eight lambdas code at eight qualities, whatever the shipped weights
    have; the default is the quality trained nearest lambda 0.0067. `neuralcodec list` (the
    class's info) reads the shipped weights' lambdas from their metadata."""
    import json
    from safetensors import safe_open
    from neuralcodec.codecs.zoo import shipped_weights
    torch.manual_seed(0)
    lambdas = (0.0009, 0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483, 0.0932)
    codec = MrefCodec(MrefModel(MrefConfig(24, 32, 4, 16, lambdas=lambdas)))
    assert codec.info.qualities == tuple(range(1, 9)) and codec.info.default_quality == 4
    with safe_open(str(shipped_weights("mref")), "pt") as f:
        shipped = json.loads(f.metadata()["config"])["lambdas"]
    assert MrefCodec.info.qualities == tuple(range(1, len(shipped) + 1))
    assert shipped[MrefCodec.info.default_quality - 1] == 0.0067
    assert codec.decode(unpack(pack(codec.encode(_img(20, 30), 8)))).pixels.shape == (20, 30, 3)
    with pytest.raises(ValueError, match="quality"):
        codec.encode(_img(20, 30), 9)


@pytest.mark.parametrize("kind", ["hyperprior", "mref"])
def test_packed_weights_keep_the_exact_networks(kind, tmp_path):
    """weights.write stores the exact networks as their integers and the transforms in float16:
    every fixed-point tensor comes back bit for bit (so every table row and mean is the trained
    model's), the transforms within float16's rounding, in under 60% of float32's bytes; a file
    whose integers claim another grid is refused."""
    import json
    from safetensors.torch import save_file
    from neuralcodec.codecs.image.exact import FakeQuantConv
    from neuralcodec.codecs.image.learned import load_model
    from neuralcodec.codecs.image.weights import fixed_point_names, read, write
    codec = _random(kind)
    model = codec.model
    meta = {"model": kind, "config": json.dumps({"n": 24, "m": 32, **({"slices": 4, "width": 16} if kind == "mref" else {})})}
    packed, plain = tmp_path / "packed.safetensors", tmp_path / "plain.safetensors"
    write(model, packed, meta)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(plain), metadata=meta)
    assert packed.stat().st_size < 0.6 * plain.stat().st_size
    umask = os.umask(0)
    os.umask(umask)
    assert packed.stat().st_mode & 0o777 == 0o666 & ~umask   # written atomically, but not private
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
    again = load_model(packed)
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, FakeQuantConv)]
    assert convs
    for name, conv in convs:
        w, b = conv.integer_params()
        w2, b2 = again.get_submodule(name).integer_params()
        assert torch.equal(w, w2) and torch.equal(b, b2)
    fixed = fixed_point_names(model)
    for k, v in again.state_dict().items():
        if k not in fixed:
            assert torch.allclose(v, model.state_dict()[k], rtol=1e-3, atol=1e-6), k
    assert torch.equal(read(plain)["g_a.0.weight"], model.g_a[0].weight)   # float32 files read as they are
    img = _img(40, 56)
    new = type(codec)(again)
    assert new.decode(unpack(pack(new.encode(img, 3)))).pixels.shape == (40, 56, 3)
    from safetensors.torch import load_file
    save_file(load_file(str(packed)), str(tmp_path / "odd.safetensors"), metadata={**meta, "fixed_point": '{"weight": 8}'})
    with pytest.raises(ValueError, match="fixed-point grid"):
        read(tmp_path / "odd.safetensors")
