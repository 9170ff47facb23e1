"""The audio tokenizer codec with a tiny untrained model: exact tokens through the container,
lengths and rates preserved, chunked == one pass, seams without clicks, corrupt files refused."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from neuralcodec.codecs.audio.codec import TokenizerCodec
from neuralcodec.codecs.audio.prior import code_classes, decode_tokens, encode_tokens, fit_prior, lanes_for
from neuralcodec.codecs.audio.quantizer import FSQ
from neuralcodec.codecs.audio.stream import decode_stream, encode_stream, from_24k, to_mono_24k
from neuralcodec.codecs.audio.tokenizer import AudioTokenizer, TokenizerConfig
from neuralcodec.entropy.container import Container, pack, unpack
from neuralcodec.errors import FormatError
from neuralcodec.media import Audio

TINY = TokenizerConfig(enc_channels=8, dim=32, codes=256, dec_dim=32, dec_blocks=1, fine_dim=16, fine_blocks=1,
                       heads=2, window=4)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = AudioTokenizer(TINY).eval()
    classes = code_classes(model.quantizer.embed.numpy(), 8)
    rng = np.random.default_rng(1)
    prior = fit_prior([rng.integers(0, 256, 500), np.arange(256)], 256, classes)
    return model, prior


def _noise(channels, n, seed=0):
    t = np.arange(n) / 24000
    tone = 0.3 * np.sin(2 * np.pi * 220 * t * (1 + t))
    return (tone + 0.05 * np.random.default_rng(seed).normal(size=(channels, n))).astype(np.float32)


@settings(max_examples=25, deadline=None)
@given(n=st.sampled_from([0, 1, 2, 7, 2047, 2048, 4097, 70_001]), seed=st.integers(0, 2**16))
def test_prior_round_trip_is_exact(tiny, n, seed):
    _, prior = tiny
    tokens = np.random.default_rng(seed).integers(0, 256, n)
    blob = encode_tokens(prior, tokens)
    assert np.array_equal(decode_tokens(prior, blob, n), tokens)


def test_prior_costs_what_it_predicts(tiny):
    _, prior = tiny
    tokens = np.random.default_rng(1).integers(0, 256, 500)   # the prior's own training stream
    blob = encode_tokens(prior, tokens)
    assert lanes_for(500) == 1
    assert 8 * len(blob) <= prior.bits(tokens) + 8 * 12            # lane state + varint header
    assert prior.bits(np.arange(256)) < 256 * 8.5                  # the bigram learned arange


def test_codec_round_trip_keeps_rate_length_and_tokens(tiny):
    model, prior = tiny
    codec = TokenizerCodec(model, prior)
    x = _noise(2, 44100 * 3 + 17)
    c = unpack(pack(codec.encode(Audio(x, 44100))))
    assert c.fields == {"sample_rate": 44100, "samples": 44100 * 3 + 17, "channels": 2, "tokens": 121}
    tokens, _ = codec.tokens(c)
    mono24 = np.concatenate(list(to_mono_24k([x], 44100)))
    assert torch.equal(torch.from_numpy(tokens), model.encode_tokens(torch.from_numpy(mono24)[None])[0])
    out = codec.decode(c)
    assert out.sample_rate == 44100 and out.samples.shape == (1, 44100 * 3 + 17)


def test_resampling_preserves_length():
    for rate, n in [(8000, 12345), (16000, 1), (44100, 99_999), (48000, 48000), (24000, 601)]:
        x = _noise(1, n)
        mono = list(to_mono_24k([x[:, i:i + 4000] for i in range(0, n, 4000)], rate))
        back = np.concatenate(list(from_24k(mono, rate, n)))
        assert back.shape == (n,)
        if rate == 24000:
            assert np.array_equal(back, x[0])


def test_chunked_encoding_gives_the_one_pass_tokens(tiny):
    model, _ = tiny
    x = _noise(1, 24000 * 4 + 333)[0]
    one = model.encode_tokens(torch.from_numpy(x)[None])[0].numpy()
    blocks = [x[i:i + 7777] for i in range(0, len(x), 7777)]
    for chunk in (7, 20, 1000):
        assert np.array_equal(encode_stream(model, blocks, chunk_tokens=chunk), one)


def test_chunked_decoding_has_no_seams(tiny):
    model, _ = tiny
    tokens = np.random.default_rng(2).integers(0, 256, 300)
    one = model.decode_tokens(torch.from_numpy(tokens)[None])[0].numpy()
    chunked = np.concatenate(list(decode_stream(model, tokens, chunk_tokens=50)))
    assert chunked.shape == one.shape
    assert np.abs(chunked - one).max() < 1e-4 * max(1.0, np.abs(one).max())
    seams = np.arange(50, 300, 50) * TINY.hop
    jumps = np.abs(np.diff(chunked))
    assert jumps[seams - 1].max() <= jumps.max()        # no step at a seam stands out
    assert jumps[seams - 1].max() <= 1.05 * np.abs(np.diff(one))[seams - 1].max() + 1e-6


def test_receptive_fields_bound_the_context(tiny):
    model, _ = tiny
    enc_ctx, dec_ctx = model.context()
    hop = TINY.hop
    x = torch.from_numpy(_noise(1, hop * 80)[0])[None]
    y = x.clone()
    y[:, 40 * hop:41 * hop] += 0.5                                 # change token 40's samples
    a, b = model.encode_tokens(x)[0], model.encode_tokens(y)[0]
    changed = torch.nonzero(model.encoder(x[:, None]) != model.encoder(y[:, None]))[:, 2]
    assert changed.min() >= 40 - enc_ctx and changed.max() <= 40 + enc_ctx
    assert torch.equal(a[: 40 - enc_ctx], b[: 40 - enc_ctx])
    t = torch.from_numpy(np.random.default_rng(3).integers(0, 256, 120))[None]
    u = t.clone()
    u[0, 60] = (u[0, 60] + 1) % 256
    diff = (model.decode_tokens(t) - model.decode_tokens(u)).abs()[0].view(-1, hop).amax(1)
    moved = torch.nonzero(diff > 1e-6)[:, 0]
    assert moved.min() >= 60 - dec_ctx and moved.max() <= 60 + dec_ctx


def test_fsq_tokens_and_lookup_agree():
    q = FSQ(16, (8, 5, 5, 5))
    x = torch.randn(2, 16, 30)
    out = q(x)
    assert torch.equal(out.tokens, q.encode(x)) and out.tokens.max() < 1000
    assert torch.allclose(q.lookup(out.tokens), out.features, atol=1e-5)


def test_corrupt_and_truncated_files_are_refused(tiny):
    model, prior = tiny
    codec = TokenizerCodec(model, prior)
    c = unpack(pack(codec.encode(Audio(_noise(1, 24000 * 2), 24000))))
    blob = c.streams["tokens"]
    for broken in (blob[: len(blob) // 2], blob[:-1], b"", bytes(len(blob))):
        with pytest.raises(FormatError):
            codec.decode(Container(c.modality, c.codec, c.codec_version, c.weights_hash, c.fields, {"tokens": broken}))
    for fields in ({**c.fields, "tokens": 9999}, {**c.fields, "sample_rate": 0}, {"samples": 3}):
        with pytest.raises(FormatError):
            codec.decode(Container(c.modality, c.codec, c.codec_version, c.weights_hash, fields, c.streams))


def test_tokens_api(tiny):
    from neuralcodec.codecs.audio import decode_tokens as dec, encode_tokens as enc
    model, _ = tiny
    wave = torch.from_numpy(_noise(2, 16000))                      # two rows at 16 kHz
    tokens = enc(wave, 16000, weights=model)
    assert tokens.dtype == torch.long and tokens.shape == (2, 40)
    assert dec(tokens, weights=model).shape == (2, 40 * TINY.hop)
