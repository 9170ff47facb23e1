"""Metrics against hand-computed values, BD-rate sanity, and small sweeps end to end."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import cuda

from neuralcodec.eval import bd, metrics
from neuralcodec.eval.baselines import get_baseline
from neuralcodec.eval.rd import sweep
from neuralcodec.errors import NeuralCodecError

FIX = Path(__file__).parent / "fixtures"


def test_psnr_by_hand():
    ref = np.zeros((4, 4, 3), np.uint8)
    assert metrics.psnr(ref, ref + 1) == pytest.approx(10 * math.log10(255**2))      # mse 1
    test = ref.copy()
    test[0, 0, 0] = 48                                                                # mse 48**2/48
    assert metrics.psnr(ref, test) == pytest.approx(10 * math.log10(255**2 / 48))
    assert metrics.psnr(ref, ref) == metrics.PSNR_CAP


def test_ms_ssim_orders_quality():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (200, 200, 3)).astype(np.uint8)
    mild = np.clip(ref + rng.normal(0, 5, ref.shape), 0, 255).astype(np.uint8)
    strong = np.clip(ref + rng.normal(0, 40, ref.shape), 0, 255).astype(np.uint8)
    assert metrics.ms_ssim(ref, ref) == pytest.approx(1.0)
    assert 1 > metrics.ms_ssim(ref, mild) > metrics.ms_ssim(ref, strong)
    assert metrics.ms_ssim(ref[:100], ref[:100]) is None


def test_si_sdr_by_hand():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(16000)
    noise = rng.standard_normal(16000)
    noise -= noise.mean() + ref * (np.dot(noise - noise.mean(), ref - ref.mean()) / np.dot(ref - ref.mean(), ref - ref.mean()))
    test = 3 * ref + 0.1 * noise                     # scale-invariant: the factor 3 costs nothing
    expected = 10 * math.log10(np.sum((3 * (ref - ref.mean())) ** 2) / np.sum((0.1 * (noise - noise.mean())) ** 2))
    assert metrics.si_sdr(ref, test) == pytest.approx(expected, abs=0.05)


def test_align_recovers_a_delay():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(8000).astype(np.float32)
    late = np.concatenate([np.zeros(37, np.float32), ref])[:8000]
    shifted, lag = metrics.align(ref, late, 16000)
    assert lag == 37 and np.allclose(shifted[:-37], ref[:-37])


def test_align_finds_a_vocoder_delay_by_its_envelope():
    """A phase-free copy (same syllable envelope, new noise carrier) 30 ms late: the waveform
    cross-correlation has no peak there; the envelope has."""
    rng = np.random.default_rng(2)
    sr, n = 16000, 32000
    env = np.repeat(rng.uniform(0, 1, n // 800) ** 3, 800)                  # 50 ms "syllables"
    ref = env * rng.standard_normal(n)
    late = np.concatenate([np.zeros(480), env * rng.standard_normal(n)])[:n]  # 30 ms
    _, lag = metrics.align(ref, late, sr)
    assert abs(lag - 480) <= 16


def test_audio_metrics_of_identical_signals():
    import soundfile as sf
    x, sr = sf.read(FIX / "audio" / "music_cc0_16k.wav", dtype="float32")
    m = metrics.audio_metrics(x, x, sr)
    assert m["lag-ms"] == 0 and m["log-mel-l1"] == 0 and m["stoi"] == pytest.approx(1.0) and m["si-sdr"] > 60


def test_log_mel_below_a_frequency_ignores_what_lies_above():
    """A difference only at 8 kHz: invisible in the bands below 4 kHz, visible over all bands."""
    sr = 24_000
    t = np.arange(sr) / sr
    rng = np.random.default_rng(0)
    ref = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(sr)
    test = ref + 0.3 * np.sin(2 * np.pi * 8000 * t)
    full, low = metrics.log_mel_distance(ref, test, sr), metrics.log_mel_distance(ref, test, sr, below_hz=4000)
    assert low < 0.01 < full            # here about 0.003 and 0.043
    assert metrics.log_mel_distance(ref, ref, sr, below_hz=4000) == 0.0


def test_stoi_is_none_where_it_is_undefined():
    rng = np.random.default_rng(0)
    assert metrics.stoi(rng.normal(size=3000), rng.normal(size=3000), 24000) is None     # 0.125 s: too short
    burst = np.concatenate([np.zeros(48000), rng.normal(size=2400)])                  # silence, then 0.1 s
    assert metrics.stoi(burst, burst, 24000) is None
    m = metrics.audio_metrics(burst, burst, 24000)                                    # the row still scores
    assert m["stoi"] is None and m["si-sdr"] > 100
    assert metrics.resample(np.zeros(0, np.float32), 8000, 16000).shape == (0,)     # a codec wrote nothing
    assert metrics.audio_metrics(burst, np.zeros(0), 24000)["log-mel-l1"] > 0       # scored as silence
    click = rng.normal(size=857)                                                      # shorter than half a window
    assert metrics.log_mel_distance(click, click, 32000) == 0
    assert metrics.log_mel_distance(click, 0.5 * click, 32000) > 0


def test_bd_rate_sanity():
    r, d = [0.1, 0.2, 0.4, 0.8, 1.6], [28.0, 30.5, 33.0, 35.5, 38.0]
    for method in bd.METHODS:
        assert bd.bd_rate(r, d, r, d, method) == pytest.approx(0.0, abs=1e-9)
        assert bd.bd_rate(r, d, [x / 2 for x in r], d, method) == pytest.approx(-50.0)
        assert bd.bd_rate(r, d, [x * 2 for x in r], d, method) == pytest.approx(100.0)
    assert bd.bd_quality(r, d, r, [x + 0.5 for x in d]) == pytest.approx(0.5)
    assert bd.bd_rate(r[:3], d[:3], r, d) is None  # too few points


def test_rate_at_quality_point_by_point():
    r, d = [0.1, 0.2, 0.4, 0.8, 1.6], [28.0, 30.5, 33.0, 35.5, 38.0]   # log-rate linear in dB
    got = bd.rate_at_quality(r, d, [28.0, 31.75, 38.0, 27.9, 38.1])
    assert got[:3] == pytest.approx([0.1, 0.2 * 2**0.5, 1.6])            # at, between, at the end
    assert got[3:] == [None, None]                                        # outside the anchor's range
    assert bd.rate_at_quality(r, [28.0, 30.0, 29.0, 33.0, 35.0], [30.0]) == [None]   # not increasing


SWEEP = {"rate": "bpp", "curves": {
    "a": {"results": {"point": [1, 2, 3, 4], "bpp": [0.1, 0.2, 0.4, 0.8], "psnr-rgb": [28.0, 30.0, 32.0, 34.0]}},
    "b": {"results": {"point": [1, 2], "bpp": [0.15, 0.5], "psnr-rgb": [30.0, 35.0]}},
    "c": {"results": {"point": [1, 2, 3, 4, 5], "bpp": [0.05, 0.1, 0.2, 0.4, 9.0],
                      "psnr-rgb": [28.0, 30.0, 32.0, 34.0, 35.0]}}}}


def test_eval_gap_point_by_point(tmp_path, capsys):
    from neuralcodec.cli import main
    from neuralcodec.eval.compare import gap
    out = gap(SWEEP, "b", "a", "psnr-rgb")["points"]
    assert out[0] == {"point": 1, "bpp": 0.15, "psnr-rgb": 30.0, "a_bpp": 0.2, "difference_%": -25.0}
    assert out[1]["difference_%"] is None                                 # 35 dB: beyond a's range
    path = tmp_path / "results.json"
    path.write_text(json.dumps(SWEEP))
    assert main(["eval", "gap", str(path), "--codec", "b", "--anchor", "a"]) == 0
    assert json.loads(capsys.readouterr().out)["points"] == out
    assert main(["eval", "gap", str(path), "--codec", "x", "--anchor", "a"]) == 2
    assert "x is not in the sweep" in capsys.readouterr().err


def test_eval_bd_of_some_points(tmp_path, capsys):
    """c is a at half the rate on its first four points; its fifth point is far off, so keeping
    only points 1-4 gives exactly -50%."""
    from neuralcodec.cli import main
    path = tmp_path / "results.json"
    path.write_text(json.dumps(SWEEP))
    assert main(["eval", "bd", str(path), "--codec", "c", "--points", "1,2,3,4"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["points"] == [1, 2, 3, 4] and got["bd_rate"]["a"]["cubic"] == pytest.approx(-50.0)
    assert got["bd_rate"]["b"]["cubic"] is None                          # b has too few points
    assert main(["eval", "bd", str(path), "--codec", "c"]) == 0
    assert json.loads(capsys.readouterr().out)["bd_rate"]["a"]["cubic"] != pytest.approx(-50.0)
    (tmp_path / "bad.json").write_text("{}")
    assert main(["eval", "bd", str(tmp_path / "bad.json"), "--codec", "c"]) == 2


def test_image_sweep_end_to_end_and_resume(tmp_path):
    files = sorted((FIX / "images").glob("*.png"))
    out = tmp_path / "rd"
    res = sweep("image", files, ["lossless", "jpeg", "webp"], out, progress=False)
    curves = res["curves"]
    assert set(curves) == {"lossless", "jpeg", "webp"}
    jpeg = curves["jpeg"]["results"]
    assert len(jpeg["bpp"]) == len(get_baseline("jpeg").points) and jpeg["bpp"] == sorted(jpeg["bpp"])
    assert curves["lossless"]["results"]["psnr-rgb"] == [metrics.PSNR_CAP]
    e = res["bd_rate"]["psnr-rgb"]["jpeg"]["webp"]
    assert e["cubic"] is not None and e["pchip"] is not None
    assert res["bd_rate"]["psnr-rgb"]["jpeg"]["lossless"]["cubic"] is None
    for name in ("results.json", "bd.md", "rd_psnr-rgb.png", "rd_ms-ssim.png"):
        assert (out / name).stat().st_size > 0
    saved = json.loads((out / "results.json").read_text())
    assert saved["curves"]["webp"]["name"] == "webp" and "bpp" in saved["curves"]["webp"]["results"]
    # resume: nothing is recomputed, and a line cut by an interruption is tolerated
    lines = (out / "points.jsonl").read_text().splitlines()
    (out / "points.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    res2 = sweep("image", files, ["lossless", "jpeg", "webp"], out, progress=False)
    assert len((out / "points.jsonl").read_text().splitlines()) == len(lines) + 1
    assert res2["curves"]["jpeg"]["results"]["bpp"] == pytest.approx(jpeg["bpp"])


def test_audio_sweep_opus_and_flac(tmp_path):
    res = sweep("audio", [FIX / "audio" / "music_cc0_16k.wav"], ["opus", "flac"], tmp_path, progress=False)
    opus = res["curves"]["opus"]["results"]
    assert len(opus["kbps"]) == 6 and all(k > 0 for k in opus["kbps"])
    assert opus["stoi"][-1] > opus["stoi"][0] - 0.05 and opus["log-mel-l1"][-1] < opus["log-mel-l1"][0]
    flac = res["curves"]["flac"]["results"]
    assert flac["si-sdr"][0] > 60  # 16-bit lossless of a 16-bit file


def test_sweep_refuses_bad_requests(tmp_path):
    files = sorted((FIX / "images").glob("*.png"))
    with pytest.raises(NeuralCodecError, match="unknown codec"):
        sweep("image", files, ["bpg"], tmp_path, progress=False)
    with pytest.raises(NeuralCodecError, match="audio codec"):
        sweep("image", files, ["opus"], tmp_path, progress=False)
    with pytest.raises(NeuralCodecError):
        sweep("image", [], ["jpeg"], tmp_path, progress=False)


def test_video_sweep_x264(tmp_path):
    import av
    rng = np.random.default_rng(0)
    path = tmp_path / "clip.mkv"
    y, x = np.mgrid[0:48, 0:64]
    with av.open(str(path), "w") as c:   # a tiny lossless clip made here (FFV1)
        s = c.add_stream("ffv1", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "bgr0"
        for t in range(6):
            f = np.stack([(x * 4 + t * 8) % 256, y * 5, (x + y) * 2], -1) + rng.integers(0, 10, (48, 64, 3))
            for p in s.encode(av.VideoFrame.from_ndarray(f.astype(np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    res = sweep("video", [path], ["x264"], tmp_path / "rd", progress=False)
    r = res["curves"]["x264"]["results"]
    assert r["bpp"] == sorted(r["bpp"]) and r["psnr-rgb"][-1] > r["psnr-rgb"][0]
    assert res["rows"][0]["bytes"] * 8 / (6 * 48 * 64) == pytest.approx(res["rows"][0]["bpp"])


def test_bench_image_reports_both_codecs():
    from neuralcodec.eval.bench_image import run, test_image
    r = run(1, image=test_image(64, 128))  # compressai needs multiples of 64
    assert r["ours"]["bytes"] > 0 and r["ours"]["encode_s"] > 0 and r["compressai"]["decode_s"] > 0
    assert set(r["ratios"]) == {"encode_ours_over_compressai", "decode_ours_over_compressai"}


def test_bench_image_runs_mref():
    from neuralcodec.eval.bench_image import run, test_image
    r = run(1, image=test_image(64, 64), codec="mref", refine=2)
    assert r["ours"]["codec"] == "mref" and r["ours"]["bytes"] > 0
    assert r["ours"]["refine_steps"] == 2 and r["ours"]["refine_bytes"] > 0
    assert r["ratios"]["refine_encode_ours_over_compressai"] > 0


@cuda
def test_bench_image_on_cuda():
    from neuralcodec.eval.bench_image import run, test_image
    r = run(1, image=test_image(64, 128), codec="mref", device="cuda")
    assert r["device"] == "cuda" and r["ours"]["bytes"] > 0 and r["compressai"]["decode_s"] > 0


def test_sweep_a_weights_file(tmp_path):
    """`NAME@PATH` sweeps a learned codec from a checkpoint before it ships."""
    import torch
    from safetensors.torch import save_file

    from neuralcodec.codecs.image.learned import build_model
    torch.manual_seed(0)
    cfg = {"n": 16, "m": 24, "lambdas": [0.002, 0.005, 0.01, 0.02, 0.04, 0.08]}
    model = build_model("hyperprior", cfg)
    path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata={"model": "hyperprior", "config": json.dumps(cfg)})
    res = sweep("image", sorted((FIX / "images").glob("*.png"))[:1], [f"hyperprior@{path}"], tmp_path / "rd",
                progress=False)
    assert list(res["curves"]) == ["hyperprior@tiny.safetensors"]
    assert len(res["curves"]["hyperprior@tiny.safetensors"]["results"]["bpp"]) == 6
    with pytest.raises(NeuralCodecError, match="learned codec"):
        sweep("image", [FIX / "images" / "vgqcws_vin_srgb8.png"], [f"lossless@{path}"], tmp_path, progress=False)


def test_model_card_from_metadata_and_results(tmp_path):
    import torch
    from safetensors.torch import save_file

    from neuralcodec.codecs.image.learned import build_model
    from neuralcodec.training.card import write_card
    torch.manual_seed(0)
    cfg = {"n": 16, "m": 24, "lambdas": [0.002, 0.005, 0.01, 0.02, 0.04, 0.08]}
    path = tmp_path / "hyperprior.safetensors"
    save_file({k: v.contiguous() for k, v in build_model("hyperprior", cfg).state_dict().items()}, str(path),
              metadata={"model": "hyperprior", "config": json.dumps(cfg),
                        "card": json.dumps({"steps": 30, "device": "cpu", "data_files": 3,
                                            "wall_seconds_this_run": 2.0, "config": {"data": "image-train"}})})
    files = sorted((FIX / "images").glob("*.png"))
    sweep("image", files, [f"hyperprior@{path}", "jpeg", "webp"], tmp_path / "rd", progress=False)
    card = write_card(path, tmp_path / "rd" / "results.json", "neuralcodec train image --config x.json").read_text()
    assert "steps: 30" in card and "device: cpu" in card and "| jpeg |" in card
    assert "BD-rate of `hyperprior@hyperprior.safetensors`" in card and "- vs webp:" in card


def test_bench_memory_reports_both_steps(monkeypatch):
    from neuralcodec.eval.bench_memory import run
    monkeypatch.setenv("NEURALCODEC_MAX_MEMORY", "5")
    for codec in ("mref", "lossless"):
        r = run(size=96, codec=codec)
        for step in ("encode", "decode"):
            assert r[step]["peak_rss_gb"] > 0.05 and r[step]["seconds"] >= 0 and r[step]["bytes_per_pixel"] >= 0
        assert r["bytes"] > 0 and r["within_limit"] is True and r["limit_gb"] == 5.0
