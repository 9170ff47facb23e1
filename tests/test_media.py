import numpy as np
import pytest

from neuralcodec.errors import NeuralCodecError
from neuralcodec.eval.baselines import get_baseline
from neuralcodec.media import load_audio

from test_eval import FIX


def test_load_wav_and_opus(tmp_path):
    wav = load_audio(FIX / "audio" / "music_cc0_16k.wav")
    assert wav.sample_rate == 16000 and wav.samples.shape == (1, 24000) and wav.samples.dtype == np.float32
    opus = get_baseline("opus")
    path = tmp_path / "x.opus"
    path.write_bytes(opus.encode((wav.samples[0], 16000), 24))
    back = load_audio(path)  # libsndfile may not read Ogg Opus: PyAV does
    assert back.sample_rate == 48000 and abs(back.samples.shape[1] - 3 * 24000) < 48000 * 0.1


def test_garbage_audio_is_refused(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEfmt nonsense")
    with pytest.raises(NeuralCodecError):
        load_audio(bad)


def test_open_audio_streams_what_load_audio_reads(tmp_path):
    import soundfile as sf
    from neuralcodec.media import open_audio
    x = (0.3 * np.random.default_rng(0).standard_normal((12345, 2))).astype(np.float32)
    path = tmp_path / "a.flac"
    sf.write(path, x, 44100, subtype="PCM_16")
    src = open_audio(path)
    assert (src.sample_rate, src.channels, src.frames) == (44100, 2, 12345)
    streamed = np.concatenate(list(src.blocks(1000)), axis=1)
    assert np.array_equal(streamed, load_audio(path).samples)


def test_open_audio_reads_mp3_and_refuses_garbage(tmp_path):
    from neuralcodec.media import open_audio
    sig = (0.2 * np.sin(np.arange(16000) / 7)).astype(np.float32)
    mp3 = tmp_path / "a.mp3"
    mp3.write_bytes(get_baseline("mp3").encode((sig, 16000), 32))
    src = open_audio(mp3)
    n = sum(b.shape[1] for b in src.blocks())
    assert src.sample_rate == 16000 and src.channels == 1 and abs(n - 16000) < 2000
    bad = tmp_path / "b.mp3"
    bad.write_bytes(b"ID3" + bytes(100))
    with pytest.raises(NeuralCodecError):
        list(open_audio(bad).blocks())
