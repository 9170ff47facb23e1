"""The INR video codec (``nerv``): groups of frames, 3-D latent grids, files and the CLI.

Fits here are tiny (tens of steps on clips of a few small frames): they check the machinery, not
the quality.
"""
import json

import numpy as np
import pytest
import torch

from conftest import GOLDEN, REGEN, cuda, damage_file
from neuralcodec.cli import main
from neuralcodec.codecs.video import nerv_codec as nc
from neuralcodec.codecs.video.nerv import NervConfig, NervGroup, group_shapes
from neuralcodec.entropy import rans
from neuralcodec.entropy.container import pack, unpack
from neuralcodec.errors import FormatError
from neuralcodec.fitting import arm
from neuralcodec.fitting.loop import Schedule, fit
from neuralcodec.media import Video
from neuralcodec.video import open_video, video_writer


def clip(t: int = 7, h: int = 13, w: int = 21, seed: int = 0) -> np.ndarray:
    """uint8 ``(t, h, w, 3)``: a smooth pattern drifting right, with a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    out = [np.stack([np.sin(6 * x + 2 * y - 0.3 * k), np.cos(4 * x * y + 1 + 0.1 * k), np.sin(9 * y) * np.cos(2 * x)], -1)
           for k in range(t)]
    return np.clip(127 + 90 * np.stack(out) + rng.normal(0, 4, (t, h, w, 3)), 0, 255).astype(np.uint8)


def codec(steps: int = 10, group: int = 3, **kw) -> nc.NervCodec:
    return nc.NervCodec(effort=steps / nc.DEFAULT_STEPS, group=group, **kw)


def video(frames: np.ndarray, fps: float = 24.0) -> Video:
    return Video(iter(frames), frames.shape[2], frames.shape[1], fps, len(frames))


def write(path, frames, fps=24.0):
    with video_writer(path, frames.shape[2], frames.shape[1], fps) as w:
        for f in frames:
            w.write(f)


@pytest.mark.parametrize("t,h,w,group", [(7, 13, 21, 3), (1, 1, 1, 4), (5, 2, 33, 5)])
def test_round_trip_keeps_count_size_and_rate(t, h, w, group):
    frames = clip(t, h, w)
    c = codec(10, group)
    data = pack(c.encode(video(frames, 29.97), 4))
    out = c.decode(unpack(data))
    got = np.stack(list(out.frames))
    assert got.shape == frames.shape and got.dtype == np.uint8
    assert (out.width, out.height, out.count) == (w, h, t) and out.fps == pytest.approx(29.97)


def test_decoded_symbols_are_the_coded_latents(monkeypatch):
    """Every rANS group the decoder reads equals the encoder's, and their count is the latents'."""
    coded, seen = [], []
    real_encode, real_next = rans.encode_groups, rans.GroupDecoder.next

    def spy(groups, table, *a, **k):
        if table is arm.latent_table():
            coded.extend(g[0].copy() for g in groups)
        return real_encode(groups, table, *a, **k)

    def tap(dec, rows):
        out = real_next(dec, rows)
        if dec.table is arm.latent_table():      # not the weights'
            seen.append(np.asarray(out).copy())
        return out
    monkeypatch.setattr(rans, "encode_groups", spy)
    c = codec(20, group=4)
    container = c.encode(video(clip(6, 11, 14)), 5)
    monkeypatch.setattr(rans.GroupDecoder, "next", tap)
    list(c.decode(container).frames)
    assert len(seen) == len(coded) and all(np.array_equal(a, b) for a, b in zip(seen, coded))
    assert sum(a.size for a in seen) == sum(a * b * d for t in (4, 2) for a, b, d in group_shapes(t, 11, 14, NervConfig())[0])


def test_3d_wavefront_decode_equals_whole_grid_arm():
    """The wavefront over all frames of a grid gives the rows and means the encoder computes on
    the whole grid, with the previous frame's neighbours in the context."""
    rng = np.random.default_rng(3)
    torch.manual_seed(3)
    model = arm.Arm(8, 2, True, arm.OFFSETS_3D)
    for lin in model.linears:
        torch.nn.init.normal_(lin.weight, 0, 0.4)
    layers = arm.int_layers([(np.round(l.weight.detach().double().numpy() * 512).astype(np.int64), 9,
                              np.round(l.bias.detach().double().numpy() * 128).astype(np.int64), 7)
                             for l in model.linears])
    grid, coarser = rng.integers(-5, 6, (5, 9, 12)), rng.integers(-3, 4, (3, 5, 6))
    groups = arm.grid_groups(grid, coarser, layers, True, arm.OFFSETS_3D)
    assert len(groups) == 12 + arm.SLOPE * 8 + arm.TSLOPE * 4
    dec = rans.GroupDecoder(rans.encode_groups(groups, arm.latent_table()), arm.latent_table())
    assert np.array_equal(arm.decode_grid(dec, (5, 9, 12), coarser, layers, True, arm.OFFSETS_3D), grid)
    dec.finish()


def test_float_arm_on_some_frames_is_the_whole_grids_share():
    torch.manual_seed(0)
    model = arm.Arm(8, 2, True, arm.OFFSETS_3D)
    for lin in model.linears:
        torch.nn.init.normal_(lin.weight, 0, 0.3)
    grid, coarser = torch.randint(-4, 5, (6, 7, 9)).float(), torch.randint(-2, 3, (3, 4, 5)).float()
    frames = torch.tensor([1, 4])
    per_frame = torch.stack([model.bits(grid, coarser, torch.tensor([f])) for f in range(6)])
    assert torch.allclose(per_frame.sum(), model.bits(grid, coarser), rtol=1e-5)
    assert torch.allclose(model.bits(grid, coarser, frames), per_frame[frames].sum(), rtol=1e-5)


def test_decode_is_identical_across_thread_counts():
    c = codec(20, group=4)
    data = pack(c.encode(video(clip(5, 24, 31)), 4))
    threads = torch.get_num_threads()
    outs = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            outs.append(np.stack(list(c.decode(unpack(data)).frames)))
    finally:
        torch.set_num_threads(threads)
    assert all(np.array_equal(outs[0], o) for o in outs[1:])


@cuda
def test_a_fit_on_the_gpu_decodes_on_the_cpu():
    frames = clip(5, 24, 31)
    data = pack(codec(60, group=4, device="cuda").encode(video(frames), 4))
    out = np.stack(list(codec().decode(unpack(data)).frames)).astype(float)
    assert out.shape == frames.shape and 10 * np.log10(255 ** 2 / np.mean((out - frames) ** 2)) > 18


def test_a_short_fit_lowers_rate_plus_lambda_distortion():
    torch.manual_seed(0)
    x = torch.from_numpy(clip(8, 24, 32)).permute(0, 3, 1, 2).float() / 255
    model = NervGroup(8, 24, 32)
    lam, pixels = nc.LAMBDAS[3], 8 * 24 * 32

    def loss(mode, temperature=0.3, sel=None):
        r, s = model.quantized(mode, temperature)
        y = model.frames(s, sel)
        return torch.mean((y - (x if sel is None else x[sel])) ** 2) + lam * model.rate_bits(r, sel) / pixels

    with torch.no_grad():
        before = float(loss("round"))

    def step(mode, temperature):
        from neuralcodec.fitting.loop import StepResult
        value = loss(mode, temperature, torch.tensor([1, 5]) if mode == "soft" else None)
        return StepResult(value, 0.0, 0.0)
    fit(model, step, Schedule(120, lr=nc.LR), progress=False)
    with torch.no_grad():
        after = float(loss("round"))
    assert after < 0.5 * before


def test_higher_quality_spends_more_bits_and_gets_closer():
    frames = clip(4, 16, 20)
    sizes, errors = [], []
    for q in (1, 8):
        c = codec(60, group=4)
        data = pack(c.encode(video(frames), q))
        out = np.stack(list(c.decode(unpack(data)).frames)).astype(float)
        sizes.append(len(data))
        errors.append(np.mean((out - frames) ** 2))
    assert sizes[1] > sizes[0] and errors[1] < errors[0]


def test_memory_is_bounded_by_a_group(monkeypatch):
    """A long clip is read, fitted and decoded a group at a time: the encoder never holds more
    than a group of frames it has not coded, and reading the first decoded frame decodes one group."""
    frames = clip(40, 8, 10)
    pulled = []

    def source():
        for i, f in enumerate(frames):
            pulled.append(i)
            yield f
    held = []
    real = nc.NervCodec._encode_group

    def spy(self, chunk, *a, **k):
        held.append(len(pulled) - sum(held))
        return real(self, chunk, *a, **k)
    monkeypatch.setattr(nc.NervCodec, "_encode_group", spy)
    c = codec(10, group=4)
    container = c.encode(Video(source(), 10, 8, 25.0, None), 2)
    assert held == [4] * 10 and container.fields["frames"] == 40
    calls = []
    real_grid = arm.decode_grid
    monkeypatch.setattr(arm, "decode_grid", lambda *a, **k: calls.append(1) or real_grid(*a, **k))
    it = c.decode(container).frames
    next(it)
    assert len(calls) == len(group_shapes(4, 8, 10, NervConfig())[0])


def test_damaged_streams_are_format_errors():
    c = codec(10, group=2)
    good = c.encode(video(clip(5, 9, 9)), 3)
    blob = good.streams["groups"]
    for damaged in (blob[:-3], blob + b"\0", blob[:1]):
        bad = type(good)(good.modality, good.codec, good.codec_version, good.weights_hash, good.fields,
                         {"groups": damaged})
        with pytest.raises(FormatError):
            list(c.decode(bad).frames)
    for field, value in (("spec", [99, 1, 1, 1, 1, 1, 1]), ("group", 0), ("frames", 0)):
        bad = type(good)(good.modality, good.codec, good.codec_version, good.weights_hash,
                         {**good.fields, field: value}, good.streams)
        with pytest.raises(FormatError):
            list(c.decode(bad).frames)


@pytest.mark.parametrize("out_name,exact", [("b.mkv", True), ("frames", True), ("b.y4m", False), ("b.mp4", False)])
def test_cli_encode_decode_formats(tmp_path, capsys, out_name, exact):
    frames = clip(5, 13, 19)
    src, coded, out = tmp_path / "a.mkv", tmp_path / "a.ncdc", tmp_path / out_name
    write(src, frames, 30.0)
    assert main(["encode", str(src), str(coded), "--effort", str(10 / nc.DEFAULT_STEPS), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["codec"] == "nerv" and summary["frames"] == 5 and summary["bpp"] > 0
    assert main(["decode", str(coded), str(out)]) == 0
    got = open_video(out)
    decoded = np.stack(list(got.frames()))
    assert decoded.shape == frames.shape and (got.width, got.height) == (19, 13)
    if out_name != "frames":
        assert got.fps == pytest.approx(30.0)
    direct = np.stack(list(nc.NervCodec().decode(unpack(coded.read_bytes())).frames))
    if exact:
        assert np.array_equal(decoded, direct)
    else:
        assert "lossy" in capsys.readouterr().err
    assert main(["decode", str(coded), str(out)]) == 2            # no overwrite without --force
    assert main(["decode", str(coded), str(out), "--force"]) == 0


def test_cli_folder_of_pngs_in_and_info(tmp_path, capsys):
    frames = clip(3, 10, 12)
    write(tmp_path / "in", frames)
    coded = tmp_path / "a.ncdc"
    assert main(["encode", str(tmp_path / "in"), str(coded), "--effort", str(10 / nc.DEFAULT_STEPS)]) == 0
    capsys.readouterr()
    assert main(["info", str(coded)]) == 0
    fields = json.loads(capsys.readouterr().out)["fields"]
    assert (fields["frames"], fields["width"], fields["height"], fields["fps"]) == (3, 12, 10, 25.0)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_cli_damaged_files_give_one_line_errors(tmp_path, capsys, damage):
    src, coded, out = tmp_path / "a.mkv", tmp_path / "a.ncdc", tmp_path / "b.mkv"
    write(src, clip(4, 9, 11))
    assert main(["encode", str(src), str(coded), "--effort", "0.01"]) == 0
    damage_file(coded, damage)
    capsys.readouterr()
    assert main(["decode", str(coded), str(out)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not out.exists()


def test_cli_bad_video_inputs(tmp_path, capsys):
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all")
    (tmp_path / "empty").mkdir()
    for src in ("junk.mp4", "empty"):
        assert main(["encode", str(tmp_path / src), str(tmp_path / f"{src}.ncdc")]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    write(tmp_path / "a.mkv", clip(2, 6, 6))
    assert main(["encode", str(tmp_path / "a.mkv"), str(tmp_path / "a.ncdc"), "--effort", "0.01"]) == 0
    assert main(["decode", str(tmp_path / "a.ncdc"), str(tmp_path / "b.avi")]) == 2


def test_sweep_name_codes_video():
    from neuralcodec.eval.baselines import get_baseline
    b = get_baseline(f"nerv+effort{10 / nc.DEFAULT_STEPS}+q2")
    frames = clip(3, 8, 10)
    out, fps = b.decode(b.encode((frames, 24.0), 2))
    assert b.modality == "video" and b.points == (2,) and out.shape == frames.shape and fps == 24.0


# ---- golden ------------------------------------------------------------------------------------
GOLDEN_FILE = GOLDEN / "nerv_tiny.ncdc"
RECORD = GOLDEN / "codecs.json"


def _golden_encode() -> bytes:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # float sums in the fit: one thread gives one order
    try:
        return pack(codec(30, group=3, seed=0).encode(video(clip(5, 12, 16), 25.0), 4))
    finally:
        torch.set_num_threads(threads)


def test_golden_file_decodes_and_encodes_the_same():
    """tests/golden/nerv_tiny.ncdc: a 5-frame 16x12 synthetic clip in groups of 3, 30 steps,
    seed 0. It decodes to its recorded frames on the platform it was made on (the synthesis is
    float32), and encoding again on one thread gives its bytes there; elsewhere it must still
    decode to 5 frames of its size."""
    import hashlib
    from test_golden import platform
    if REGEN:
        data = _golden_encode()
        GOLDEN_FILE.write_bytes(data)
        frames = np.stack(list(nc.NervCodec().decode(unpack(data)).frames))
        record = json.loads(RECORD.read_text())
        record["nerv"] = {"file": GOLDEN_FILE.name, "bytes": len(data), "platform": platform(),
                          "frames_sha256": hashlib.sha256(frames.tobytes()).hexdigest()}
        RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    rec = json.loads(RECORD.read_text())["nerv"]
    data = GOLDEN_FILE.read_bytes()
    frames = np.stack(list(nc.NervCodec().decode(unpack(data)).frames))
    assert frames.shape == (5, 12, 16, 3) and len(data) == rec["bytes"]
    if platform() == rec["platform"]:
        assert hashlib.sha256(frames.tobytes()).hexdigest() == rec["frames_sha256"]
        assert _golden_encode() == data
