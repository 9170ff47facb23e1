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
