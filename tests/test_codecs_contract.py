"""Every registered codec: round trip through the container, right shape, exact when lossless."""
import numpy as np
import pytest

from neuralcodec.codecs.base import codec_infos, get_codec
from neuralcodec.entropy.container import pack, unpack
from neuralcodec.errors import FormatError
from neuralcodec.media import Image

IMAGE_CODECS = [i.name for i in codec_infos() if i.modality == "image"]
SIZES = [(1, 1), (17, 33), (5, 300), (64, 64)]


def _codec(name):
    """The registered codec; an overfitted one fits for a few steps only (its quality is tested
    in test_overfit.py)."""
    codec = get_codec(name)
    if hasattr(codec, "effort"):
        codec.effort = 0.01
    return codec


def _image(h, w, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 3, y * 5, (x ^ y) & 255], -1) + rng.integers(0, 30, (h, w, 3))
    return Image(np.clip(base, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("name", IMAGE_CODECS)
@pytest.mark.parametrize("size", SIZES)
def test_image_codec_round_trip(name, size):
    codec = _codec(name)
    img = _image(*size)
    data = pack(codec.encode(img, None))
    c = unpack(data)
    assert c.codec == name and c.fields["height"] == size[0] and c.fields["width"] == size[1]
    out = codec.decode(c)
    assert out.pixels.shape == img.pixels.shape and out.pixels.dtype == np.uint8
    if codec.info.lossless:
        assert np.array_equal(out.pixels, img.pixels)


@pytest.mark.parametrize("name", IMAGE_CODECS)
def test_image_codec_rejects_damaged_streams(name):
    codec = _codec(name)
    c = unpack(pack(codec.encode(_image(20, 20), None)))
    for k in c.streams:
        broken = dict(c.streams)
        broken[k] = broken[k][: len(broken[k]) // 2]
        with pytest.raises(FormatError):
            codec.decode(type(c)(c.modality, c.codec, c.codec_version, c.weights_hash, c.fields, broken))


def test_lossless_beats_raw_on_smooth_images():
    img = _image(64, 64)
    assert len(pack(get_codec("lossless").encode(img))) < 64 * 64 * 3 * 0.8


AUDIO_CODECS = [i.name for i in codec_infos() if i.modality == "audio"]


@pytest.mark.parametrize("name", AUDIO_CODECS)
@pytest.mark.parametrize("channels,rate,n", [(1, 24000, 1), (2, 44100, 44100 + 7), (1, 8000, 8000 * 3)])
def test_audio_codec_round_trip(name, channels, rate, n):
    from neuralcodec.media import Audio
    codec = get_codec(name)
    x = (0.1 * np.random.default_rng(0).standard_normal((channels, n))).astype(np.float32)
    c = unpack(pack(codec.encode(Audio(x, rate), None)))
    assert c.codec == name and c.fields["samples"] == n and c.fields["sample_rate"] == rate
    out = codec.decode(c)
    assert out.sample_rate == rate and out.samples.shape[1] == n and out.samples.dtype == np.float32
    broken = {k: v[: len(v) // 2] for k, v in c.streams.items()}
    with pytest.raises(FormatError):
        codec.decode(type(c)(c.modality, c.codec, c.codec_version, c.weights_hash, c.fields, broken))


def test_the_default_image_codec_does_not_depend_on_import_order():
    """mref is the image default whatever order the codec modules are imported in (lossless is only
    a fallback default)."""
    import subprocess
    import sys
    code = ("import neuralcodec.codecs.image.mref_codec as m, neuralcodec.codecs.image.lossless\n"
            "from neuralcodec.codecs.base import default_codec\n"
            "print(default_codec('image'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout.split()
    assert out == ["mref"]
