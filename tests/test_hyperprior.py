"""The hyperprior codec with small random weights: exact symbols, determinism, damaged files."""
import numpy as np
import pytest
import torch

from conftest import cuda, golden
from neuralcodec.codecs.image.hyperprior import HyperpriorConfig, HyperpriorModel, coding_tables, hyper_decode
from neuralcodec.codecs.image.hyperprior_codec import HyperpriorCodec
from neuralcodec.entropy import rans
from neuralcodec.entropy.container import pack, unpack
from neuralcodec.errors import FormatError
from neuralcodec.media import Image


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    model = HyperpriorModel(HyperpriorConfig(24, 32))
    with torch.no_grad():  # make the random hyper-decoder produce varied scales and means
        for p in model.h_s.parameters():
            p.mul_(4)
    return HyperpriorCodec(model)


def _img(h, w, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    return Image(np.clip(np.stack([x * 3, y * 2, x + y], -1) + rng.integers(0, 40, (h, w, 3)), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (3000, 5), (70, 130)])
def test_round_trip_shapes(codec, size):
    out = codec.decode(unpack(pack(codec.encode(_img(*size), 3))))
    assert out.pixels.shape == (*size, 3)


def test_decoder_recovers_the_encoders_symbols(codec):
    c = codec.encode(_img(64, 128), 5)
    m, t = codec.model, codec.tables
    x = torch.from_numpy(_img(64, 128).pixels).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y_s = m.g_a(x) * m.gain[4].view(1, -1, 1, 1)
        z_sym = torch.round(m.h_a(y_s) - m.z_density.medians.view(1, -1, 1, 1)).long()
        rows, means = hyper_decode(m, t, z_sym)
        y_sym = torch.round(y_s - means.double() / 256).long()
    z_idx = np.broadcast_to(np.arange(z_sym.shape[1]).reshape(1, -1, 1, 1), z_sym.shape).ravel()
    assert torch.equal(torch.from_numpy(rans.decode(c.streams["z"], z_idx, t.z_table)), z_sym.ravel())
    assert torch.equal(torch.from_numpy(rans.decode(c.streams["y"], rows.numpy().ravel(), t.y_table)), y_sym.ravel())
    assert len(torch.unique(rows)) > 3  # the test exercises several table rows


def test_hyper_decoder_is_identical_across_threads_and_batches(codec):
    torch.manual_seed(1)
    z = torch.randint(-6, 7, (3, 24, 3, 5))
    ref = hyper_decode(codec.model, codec.tables, z)
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            for got in (hyper_decode(codec.model, codec.tables, z),
                        [torch.cat(t) for t in zip(*(hyper_decode(codec.model, codec.tables, z[i:i + 1]) for i in range(3)))]):
                assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])
    finally:
        torch.set_num_threads(threads)


def test_hyper_decoder_ignores_float_noise_in_the_weights(codec):
    """Weights that differ below the fixed-point grid give the same integers (another build,
    another float library)."""
    z = torch.randint(-6, 7, (1, 24, 4, 4))
    ref = hyper_decode(codec.model, codec.tables, z)
    torch.manual_seed(2)
    noisy = HyperpriorModel(codec.model.cfg)
    noisy.load_state_dict(codec.model.state_dict())
    with torch.no_grad():
        for layer in noisy.h_s.layers:
            w, b = layer.integer_params()
            layer.conv.weight.copy_(w.double() / 1024 + (torch.rand_like(w.double()) - 0.5) * 1e-6)
            layer.conv.bias.copy_(b.double() / 2**18)
    ref2 = hyper_decode(codec.model, coding_tables(codec.model), z)
    got = hyper_decode(noisy, coding_tables(noisy), z)
    assert torch.equal(ref[0], ref2[0]) and torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])


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
    thr = codec.tables.scale_thresholds.tolist()
    assert ",".join(map(str, thr)) == golden("hyperprior_scale_thresholds.txt", ",".join(map(str, thr)))


@cuda
def test_encode_on_cuda_decode_on_cpu(codec):
    gpu = HyperpriorCodec(codec.model, device="cuda")
    data = pack(gpu.encode(_img(128, 192), 4))
    cpu = HyperpriorCodec(gpu.model.cpu())
    z = torch.randint(-6, 7, (2, 24, 3, 5))
    a, b = hyper_decode(gpu.model.cuda(), gpu.tables, z.cuda()), hyper_decode(cpu.model.cpu(), cpu.tables, z)
    assert torch.equal(a[0].cpu(), b[0]) and torch.equal(a[1].cpu(), b[1])
    assert cpu.decode(unpack(data)).pixels.shape == (128, 192, 3)
