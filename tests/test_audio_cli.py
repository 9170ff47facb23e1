"""Audio through the console script and a tiny training run (fixtures only, CPU)."""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from neuralcodec.cli import main
from neuralcodec.codecs import base
from neuralcodec.codecs.audio.codec import TokenizerCodec, load_tokenizer

ROOT = Path(__file__).resolve().parents[1]
FIX_AUDIO = ROOT / "tests" / "fixtures" / "audio"
TINY = {"enc_channels": 8, "dim": 32, "codes": 256, "dec_dim": 32, "dec_blocks": 1, "fine_dim": 16,
        "fine_blocks": 1, "heads": 2, "window": 4}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A few steps of `train audio` on the fixture: (summary, mel losses)."""
    from neuralcodec.training.audio import audio_files, train
    from neuralcodec.training.config import AudioTrainConfig
    out = tmp_path_factory.mktemp("wt")
    cfg = AudioTrainConfig(tokenizer=TINY, data=str(FIX_AUDIO), segment=0.5, batch_size=2, lr=3e-3, max_steps=24,
                           gan_start=20, checkpoint_every=100, prior_seconds=2, prior_classes=4, out=str(out),
                           val_data=str(FIX_AUDIO), val_every=10)
    files, speech = audio_files(cfg.data, "")
    summary = train(cfg, files, speech, accelerator="cpu", devices=1, progress=False)
    from dataclasses import replace
    resumed = train(replace(cfg, max_steps=26), files, speech, accelerator="cpu", devices=1, progress=False)
    assert resumed["steps"] == 26                      # the checkpoint loads (weights_only) and goes on
    lines = (out / "logs" / "version_0" / "metrics.csv").read_text().splitlines()
    head = lines[0].split(",")
    mel = [float(r.split(",")[head.index("train/mel")]) for r in lines[1:] if r.split(",")[head.index("train/mel")]]
    return resumed, mel


def test_tiny_training_lowers_the_mel_loss_and_exports(trained):
    summary, mel = trained
    assert summary["steps"] == 26 and len(mel) >= 2
    assert np.mean(mel[-2:]) < 0.9 * mel[0]
    model, prior = load_tokenizer(Path(summary["weights"]))
    assert model.cfg.codes == 256 and prior.freqs.shape == (5, 257)
    assert summary["prior_tokens"] > 0 and summary["prior_bits_per_token"] > 0


def test_export_from_the_checkpoint_gives_the_runs_weights(trained, tmp_path):
    """export_checkpoint reads the checkpoint, then the recipe's data for the prior: the same
    tensors and prior as the run's own export."""
    from neuralcodec.training.audio import export_checkpoint
    from neuralcodec.training.config import AudioTrainConfig
    summary = trained[0]
    cfg = AudioTrainConfig(**summary["config"])
    run = Path(summary["weights"]).parent
    got = export_checkpoint(cfg, run / "checkpoints" / "last.ckpt", tmp_path / "wavtok.safetensors")
    assert got["steps"] == 26 and got["prior_tokens"] == summary["prior_tokens"]
    (a, pa), (b, pb) = load_tokenizer(Path(summary["weights"])), load_tokenizer(tmp_path / "wavtok.safetensors")
    assert np.array_equal(pa.freqs, pb.freqs)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.fixture
def registered(trained, tmp_path, monkeypatch):
    """The tiny run's weights installed as the current wavtok40 release."""
    from neuralcodec.codecs import zoo
    weights = tmp_path / "assets"
    weights.mkdir()
    (weights / zoo.SHIPPED["wavtok40"]).write_bytes(Path(trained[0]["weights"]).read_bytes())
    monkeypatch.setattr(zoo, "ASSETS", weights)
    h = TokenizerCodec(*load_tokenizer(weights / zoo.SHIPPED["wavtok40"])).weights_hash().hex()
    monkeypatch.setattr(zoo, "releases", lambda: (zoo.Release("wavtok40", 1, "-", h, "", 0, True),))
    monkeypatch.setitem(base._REGISTRY, TokenizerCodec.info.name, TokenizerCodec)
    monkeypatch.setitem(base._DEFAULTS, "audio", TokenizerCodec.info.name)


def test_training_logs_validation(trained):
    rows = [json.loads(x) for x in (Path(trained[0]["weights"]).parent / "val.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 24, 26]   # every 10 steps and at the end of each run
    assert all(r["mel"] > 0 and r["usage"] > 0 for r in rows)


def test_cli_audio_round_trip(registered, tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal((22050 * 2 + 5, 2))).astype(np.float32)
    src, coded, out = tmp_path / "in.flac", tmp_path / "a.ncdc", tmp_path / "out.wav"
    sf.write(src, x, 22050)
    assert main(["encode", str(src), str(coded), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert "downmixed 2 channels" in captured.err
    assert summary["bytes"] == coded.stat().st_size and summary["kbps"] == pytest.approx(
        8 * coded.stat().st_size / (x.shape[0] / 22050) / 1000, rel=1e-3)
    assert main(["decode", str(coded), str(out)]) == 0
    y, rate = sf.read(out)
    assert rate == 22050 and y.shape == (x.shape[0],)
    assert main(["decode", str(coded), str(out)]) == 2                     # no overwrite without --force
    assert main(["decode", str(coded), str(tmp_path / "out.mp4")]) == 2    # not an audio output
    coded.write_bytes(coded.read_bytes()[:-3])
    assert main(["decode", str(coded), str(tmp_path / "x.wav")]) == 2
    assert not (tmp_path / "x.wav").exists() and not list(tmp_path.glob("*.part"))


def test_cli_refuses_broken_audio(registered, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    assert main(["encode", str(bad), str(tmp_path / "a.ncdc")]) == 2


def test_eval_rd_sweeps_a_tokenizer_checkpoint(trained, tmp_path):
    out = tmp_path / "rd"
    spec = f"wavtok40@{trained[0]['weights']}"
    assert main(["eval", "rd", "--modality", "audio", "--data", str(FIX_AUDIO), "--codecs", spec,
                 "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    text = json.dumps(results)
    assert "wavtok40@wavtok.safetensors" in text and "stoi" in text and "kbps" in text
    from neuralcodec.training.card import write_card
    card = write_card(Path(trained[0]["weights"]), out / "results.json", "neuralcodec train audio --config x").read_text()
    assert "tokens: 40 per second, 256 codes" in card and "| wavtok40@wavtok.safetensors | 1 |" in card
    assert "stoi" in card and "lossy (Opus) music" in card
