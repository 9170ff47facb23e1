"""The multi-rate speech codec with a tiny untrained model: exact tokens through the container at
every rate, lengths and rates kept, chunked == one pass, seams without clicks, the same decode on
any thread count, corrupt files refused, a short run that lowers the loss."""
import numpy as np
import pytest
import torch

from neuralcodec.codecs.audio import speech_prior
from neuralcodec.codecs.audio import speech_codec as sc
from neuralcodec.codecs.audio.prior import TOKENS_PER_LANE
from neuralcodec.codecs.audio.rvq import ResidualVQ
from neuralcodec.codecs.audio.speech import SpeechConfig, SpeechModel, griffin_lim, log_magnitude
from neuralcodec.codecs.audio.stream import to_mono
from neuralcodec.entropy.container import Container, pack, unpack
from neuralcodec.errors import FormatError
from neuralcodec.media import Audio

TINY = SpeechConfig(channels=32, dim=8, books=4, codes=16, blocks=1, gl_iters=4, rates=(1, 2, 4))


def _speechlike(n: int, rate: int = 16000, channels: int = 1, seed: int = 0) -> np.ndarray:
    t = np.arange(n) / rate
    f0 = 140 * (1 + 0.2 * np.sin(2 * np.pi * 1.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) * 0.2
    noise = 0.01 * np.random.default_rng(seed).normal(size=(channels, n))
    return (x + noise).astype(np.float32)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = SpeechModel(TINY)
    model.train()
    model(torch.from_numpy(_speechlike(16000 * 2)))          # k-means starts the books
    model.eval()
    clips = [(_speechlike(16000 * 3, seed=1)[0] * 32767).astype(np.int16)]
    prior, _ = speech_prior.count_priors(model, clips, n_classes=4)
    return model, prior


def test_rvq_books_refine_and_lookup_agrees():
    torch.manual_seed(0)
    q = ResidualVQ(6, 5, 32)
    x = torch.randn(2, 6, 300)
    q.train()
    q(x)
    q.eval()
    errors = [float(((q(x, n).features - x) ** 2).mean()) for n in range(1, 6)]
    assert all(b < a for a, b in zip(errors, errors[1:]))             # each book takes error away
    out = q(x, 3)
    assert out.tokens.shape == (2, 300, 3) and torch.equal(out.tokens, q.encode(x, 3))
    assert torch.allclose(q.lookup(out.tokens), out.features, atol=1e-6)


@pytest.mark.parametrize("frames,books", [(0, 1), (1, 4), (777, 2), (2 * TOKENS_PER_LANE + 5, 4)])
def test_prior_round_trip_is_exact(tiny, frames, books):
    _, prior = tiny
    t = np.random.default_rng(frames).integers(0, TINY.codes, (frames, books))
    blob = speech_prior.encode(prior, t)
    assert np.array_equal(speech_prior.decode(prior, blob, frames, books), t)
    with pytest.raises(ValueError):
        speech_prior.encode(prior, np.full((3, 1), TINY.codes))


def test_first_book_is_coded_after_its_previous_code(tiny):
    """A stream whose first book repeats a pattern costs less than the same codes shuffled."""
    model, _ = tiny
    pattern = np.tile(np.arange(TINY.codes), 200)
    t = np.stack([pattern, np.random.default_rng(0).integers(0, TINY.codes, len(pattern))], 1)
    prior, _ = speech_prior.count_priors(model, [], n_classes=4)
    from neuralcodec.codecs.audio.prior import fit_prior
    first = fit_prior([pattern], TINY.codes, prior.classes).freqs
    learned = speech_prior.SpeechPrior(prior.classes, np.concatenate([first, prior.freqs[prior.n_classes + 1:]]),
                                       TINY.books)
    shuffled = t.copy()
    shuffled[:, 0] = np.random.default_rng(1).permutation(pattern)
    assert len(speech_prior.encode(learned, t)) < 0.9 * len(speech_prior.encode(learned, shuffled))


@pytest.mark.parametrize("quality", [1, 2, 3])
def test_every_rate_round_trips_with_exact_tokens(tiny, quality):
    codec = sc.SpeechCodec(*tiny)
    x = _speechlike(44100 * 2 + 17, 44100, channels=2)
    data = pack(codec.encode(Audio(x, 44100), quality))
    c = unpack(data)
    books = TINY.rates[quality - 1]
    assert c.fields == {"sample_rate": 44100, "samples": 44100 * 2 + 17, "channels": 2, "tokens": 101,
                        "books": books}
    tokens, _ = codec.tokens(c)
    mono = np.concatenate(list(to_mono([x], 44100, 16000)))
    assert np.array_equal(tokens, tiny[0].encode_tokens(torch.from_numpy(mono)[None], books)[0].numpy())
    out = codec.decode(c)
    assert out.sample_rate == 44100 and out.samples.shape == (1, 44100 * 2 + 17)
    assert len(c.streams["tokens"]) * 8 <= 101 * books * np.log2(TINY.codes) * 1.2 + 200   # the rate it claims


def test_more_books_cost_more_and_decode_closer(tiny):
    codec = sc.SpeechCodec(*tiny)
    x = _speechlike(16000 * 2)
    sizes, errors = [], []
    target = log_magnitude(torch.from_numpy(x), TINY)
    for q in (1, 2, 3):
        c = codec.encode(Audio(x, 16000), q)
        sizes.append(len(c.streams["tokens"]))
        tokens, _ = codec.tokens(c)
        with torch.no_grad():
            logmag, _ = tiny[0].decode_features(tiny[0].rvq.lookup(torch.from_numpy(tokens)[None]))
        errors.append(float((logmag - target[..., : logmag.shape[-1]]).abs().mean()))
    assert sizes[0] < sizes[1] < sizes[2]
    assert errors[2] < errors[0]


def test_chunked_encoding_gives_the_one_pass_tokens(tiny, monkeypatch):
    model, _ = tiny
    x = _speechlike(16000 * 3 + 333)[0]
    one = model.encode_tokens(torch.from_numpy(x)[None], 4)[0].numpy()
    blocks = [x[i:i + 7777] for i in range(0, len(x), 7777)]
    for chunk in (9, 40, 1500):
        monkeypatch.setattr(sc, "CHUNK_FRAMES", chunk)
        assert np.array_equal(sc.encode_stream(model, blocks, 4), one)


def test_chunked_decoding_has_no_clicks(tiny, monkeypatch):
    model, _ = tiny
    x = _speechlike(16000 * 3)[0]
    tokens = model.encode_tokens(torch.from_numpy(x)[None], 4)[0].numpy()
    one = np.concatenate(list(sc.decode_stream(model, tokens)))
    monkeypatch.setattr(sc, "CHUNK_FRAMES", 40)
    chunked = np.concatenate(list(sc.decode_stream(model, tokens)))
    assert chunked.shape == one.shape == (len(tokens) * TINY.latent_hop,)
    a, b = (log_magnitude(torch.from_numpy(v), TINY) for v in (one, chunked))
    assert float((a - b).abs().mean()) < 0.5                               # the same spectra


def test_chunk_seams_are_cross_faded(tiny, monkeypatch):
    """Each chunk's decode differs (Griffin-Lim's phase): here chunk k decodes to the constant k,
    so a seam without the cross-fade would step by 1."""
    model, _ = tiny
    calls = []

    def decode_tokens(t):
        calls.append(None)
        return torch.full((1, t.shape[1] * TINY.latent_hop), float(len(calls) - 1))
    monkeypatch.setattr(model, "decode_tokens", decode_tokens)
    monkeypatch.setattr(sc, "CHUNK_FRAMES", 40)
    out = np.concatenate(list(sc.decode_stream(model, np.zeros((130, 4), np.int64))))
    assert len(calls) == 4 and out.shape == (130 * TINY.latent_hop,)
    assert np.abs(np.diff(out)).max() <= 1 / 256          # a ramp of at least 16 ms, never a step
    seams = np.arange(40, 130, 40) * TINY.latent_hop
    assert np.allclose(out[seams + sc.CROSSFADE], [1, 2, 3])              # each chunk takes over after it


def test_decode_is_the_same_on_any_thread_count(tiny):
    codec = sc.SpeechCodec(*tiny)
    c = codec.encode(Audio(_speechlike(16000 * 2), 16000), 3)
    before = torch.get_num_threads()
    try:
        outs = []
        for n in (1, 2):
            torch.set_num_threads(n)
            outs.append(codec.decode(c).samples)
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(outs[0], outs[1])


def test_griffin_lim_recovers_a_magnitude():
    x = torch.from_numpy(_speechlike(16000))
    mag = log_magnitude(x, TINY).exp()
    y = griffin_lim(mag, TINY, 16000, iters=32)
    err = (log_magnitude(y, TINY) - mag.log()).clamp(min=-9).abs().mean()
    rand = (log_magnitude(griffin_lim(mag, TINY, 16000, iters=0), TINY) - mag.log()).clamp(min=-9).abs().mean()
    assert err < 0.6 * rand


def test_corrupt_and_truncated_files_are_refused(tiny):
    codec = sc.SpeechCodec(*tiny)
    c = unpack(pack(codec.encode(Audio(_speechlike(16000 * 2), 16000), 3)))
    blob = c.streams["tokens"]
    for broken in (blob[: len(blob) // 2], blob[:-1], b"", bytes(len(blob))):
        with pytest.raises(FormatError):
            codec.decode(Container(c.modality, c.codec, c.codec_version, c.weights_hash, c.fields, {"tokens": broken}))
    for fields in ({**c.fields, "tokens": 9999}, {**c.fields, "sample_rate": 0}, {**c.fields, "books": 9},
                   {**c.fields, "books": 0}, {"samples": 3}):
        with pytest.raises(FormatError):
            codec.decode(Container(c.modality, c.codec, c.codec_version, c.weights_hash, fields, c.streams))


def test_empty_and_tiny_inputs(tiny):
    codec = sc.SpeechCodec(*tiny)
    for n in (0, 1, 319, 321):
        c = unpack(pack(codec.encode(Audio(np.zeros((1, n), np.float32), 16000), 1)))
        assert codec.decode(c).samples.shape == (1, n)


def test_a_short_run_lowers_the_loss_and_exports_a_codec(tmp_path):
    import csv
    import json

    import soundfile as sf

    from neuralcodec.codecs.weights import codec_from_weights
    from neuralcodec.training.config import load_config
    from neuralcodec.training.speech import train
    data = tmp_path / "speech"
    data.mkdir()
    for i in range(2):
        sf.write(data / f"{i}.wav", _speechlike(16000 * 3, seed=i)[0], 16000)
    cfg_file = tmp_path / "speech.json"
    cfg_file.write_text(json.dumps({"model": "speech", "speech": {**TINY.to_dict(), "rates": list(TINY.rates)},
                                    "data": str(data), "val_data": "", "segment": 0.5, "batch_size": 4,
                                    "lr": 3e-3, "max_steps": 60, "checkpoint_every": 30, "out": str(tmp_path / "run")}))
    summary = train(load_config(cfg_file), accelerator="cpu", devices=1, progress=False)
    rows = list(csv.DictReader(open(tmp_path / "run" / "logs" / "version_0" / "metrics.csv")))
    spec = [float(r["train/spec"]) for r in rows if r.get("train/spec")]
    assert summary["steps"] == 60 and np.mean(spec[-2:]) < 0.8 * np.mean(spec[:2])
    codec = codec_from_weights("speech", tmp_path / "run" / "speech.safetensors")
    c = unpack(pack(codec.encode(Audio(_speechlike(16000), 16000), 2)))
    assert codec.decode(c).samples.shape == (1, 16000)
