"""The overfitted image codec (``overfit``) and the fitting parts it shares (neuralcodec/fitting/).

Fits here are tiny (tens of steps on small images): they check the machinery, not the quality.
"""
import json

import numpy as np
import pytest
import torch

from conftest import GOLDEN, REGEN, damage_file, cuda
from neuralcodec.cli import main
from neuralcodec.codecs.image import overfit_codec as oc
from neuralcodec.kernels import context
from neuralcodec.codecs.image.overfit import OverfitConfig, OverfitImage
from neuralcodec.entropy import rans
from neuralcodec.entropy.container import pack, unpack
from neuralcodec.errors import FormatError
from neuralcodec.fitting import arm, params
from neuralcodec.fitting.loop import Schedule, fit
from neuralcodec.media import Image, load_image, save_image

FEW = 20 / oc.DEFAULT_STEPS     # effort of a 20-step fit


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w, 1)
    img = np.stack([np.sin(6 * x + 2 * y), np.cos(4 * x * y + 1), np.sin(9 * y) * np.cos(2 * x)], -1)
    return np.clip(127 + 90 * img + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)


def codec(steps: int = 20, **kw) -> oc.OverfitCodec:
    return oc.OverfitCodec(effort=steps / oc.DEFAULT_STEPS, **kw)


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (3000, 5), (2, 257)])
def test_round_trip_odd_sizes(size):
    img = photo(*size)
    c = codec(10)
    data = pack(c.encode(Image(img), 3))
    out = c.decode(unpack(data)).pixels
    assert out.shape == img.shape and out.dtype == np.uint8


def test_decoded_symbols_are_the_coded_latents(monkeypatch):
    """What the rANS decoder returns, grid by grid and step by step, are the encoder's values;
    the decoded grids are the encoder's rounded latents."""
    c = codec(30)
    seen = []
    fit_grids = {}
    real_encode = rans.encode_groups

    def spy(groups, table, *a, **k):
        if table is arm.latent_table():
            fit_grids["groups"] = [g[0].copy() for g in groups]
        return real_encode(groups, table, *a, **k)
    monkeypatch.setattr(rans, "encode_groups", spy)
    container = c.encode(Image(photo(21, 34)), 5)
    step = rans.GroupDecoder.next

    def tap(dec, rows):
        out = step(dec, rows)
        seen.append(np.asarray(out).copy())
        return out
    monkeypatch.setattr(rans.GroupDecoder, "next", tap)
    c.decode(container)
    seen = seen[1:]     # the first is the weights stream's (rans.decode)
    assert len(seen) == len(fit_grids["groups"])
    assert all(np.array_equal(a, b) for a, b in zip(seen, fit_grids["groups"]))
    assert sum(a.size for a in seen) == sum(a * b for a, b in OverfitImage(21, 34).shapes)


def random_arm(hidden: int, std: float, seed: int, kw: int, kb: int, log_scale: float | None = None):
    """A float ARM of random weights (``std``) and its integer twin at steps 2**-kw, 2**-kb."""
    torch.manual_seed(seed)
    model = arm.Arm(hidden, 2, coarse=True)
    with torch.no_grad():
        for lin in model.linears:
            lin.weight.normal_(0, std)
            lin.bias.normal_(0, std)
        if log_scale is not None:
            model.linears[-1].bias.copy_(torch.tensor([0.0, log_scale]))
    layers = arm.int_layers([(params.quantize(l.weight, kw).reshape(l.weight.shape), kw, params.quantize(l.bias, kb), kb)
                             for l in model.linears])
    return model, layers


def test_wavefront_decode_equals_whole_grid_arm():
    """The decoder's wavefront (one step at a time) gives the rows and means the encoder computes
    on the whole grid at once, so any split of the same latents codes the same."""
    rng = np.random.default_rng(1)
    _, layers = random_arm(8, 0.5, 1, 9, 7)
    coarser = rng.integers(-3, 4, (5, 8))
    grid = rng.integers(-6, 7, (9, 15))
    groups = arm.grid_groups(grid, coarser, layers, True)
    blob = rans.encode_groups(groups, arm.latent_table())
    dec = rans.GroupDecoder(blob, arm.latent_table())
    assert np.array_equal(arm.decode_grid(dec, (9, 15), coarser, layers, True), grid)
    dec.finish()
    x = arm.context_int(grid, coarser, True)
    whole = arm.arm_int(x, layers)
    parts = [arm.arm_int(x[i:i + 7], layers) for i in range(0, len(x), 7)]
    for k in range(2):
        assert np.array_equal(whole[k], np.concatenate([p[k] for p in parts]))


def test_arm_on_float64_equals_the_int64_arm(monkeypatch):
    """The BLAS path of the integer ARM (exact integers in float64) gives the int64 path's rows
    and means, bit for bit, negative activations and wide latents included."""
    rng = np.random.default_rng(5)
    _, layers = random_arm(16, 0.8, 2, 11, 9, log_scale=0.5)
    x = rng.integers(-3000, 3000, (4000, len(arm.OFFSETS) + 1))
    assert all(context.exact_in_float(l.w, l.b, l.k, arm.ACT_LIMIT) for l in layers)
    fast = arm.arm_int(x, layers)
    monkeypatch.setattr(context, "exact_in_float", lambda *args: False)
    slow = arm.arm_int(x, layers)
    assert all(np.array_equal(a, b) for a, b in zip(fast, slow))


def test_integer_rate_matches_the_float_rate():
    """The coded (integer) ARM spends what the fitted (float) ARM estimates, within 0.5%, for a
    network of sensible predictions (wild ones differ in the tails: the float likelihood's floor
    against the coder's escape)."""
    rng = np.random.default_rng(2)
    model, layers = random_arm(16, 0.15, 0, 12, 12, log_scale=1.0)
    grid = torch.from_numpy(rng.laplace(0, 2, (24, 40)).round())
    coarser = torch.from_numpy(rng.laplace(0, 2, (12, 20)).round())
    with torch.no_grad():
        float_bits = float(model.bits(grid.float(), coarser.float()))
    int_bits = arm.grid_bits(grid.long().numpy(), coarser.long().numpy(), layers, True)
    assert int_bits == pytest.approx(float_bits, rel=0.005)


def test_decode_is_identical_across_thread_counts():
    c = codec(20)
    data = pack(c.encode(Image(photo(40, 56)), 4))
    threads = torch.get_num_threads()
    outs = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            outs.append(c.decode(unpack(data)).pixels)
    finally:
        torch.set_num_threads(threads)
    assert all(np.array_equal(outs[0], o) for o in outs[1:])


@cuda
def test_a_fit_on_the_gpu_decodes_on_the_cpu():
    img = photo(40, 56)
    data = pack(codec(60, device="cuda").encode(Image(img), 4))
    out = codec().decode(unpack(data)).pixels
    from neuralcodec.eval.metrics import psnr
    assert out.shape == img.shape and psnr(img, out) > 20


def test_a_short_fit_lowers_rate_plus_lambda_distortion():
    torch.manual_seed(0)
    x = torch.from_numpy(photo(32, 48)).permute(2, 0, 1)[None].float() / 255
    model = OverfitImage(32, 48)
    lam = oc.LAMBDAS[3]

    def loss(mode, temperature=0.1):
        rate_in, synth_in = model.quantized(mode, temperature)
        from neuralcodec.fitting.loop import StepResult
        mse = torch.mean((model.image(synth_in) - x) ** 2)
        return StepResult(mse + lam * model.rate_bits(rate_in) / x[0, 0].numel(), 0.0, 0.0)
    with torch.no_grad():
        before = float(loss("round").loss)
    fit(model, loss, Schedule(120, warmup=10), progress=False)
    with torch.no_grad():
        after = float(loss("round").loss)
    assert after < 0.5 * before


def test_a_diverging_fit_is_put_back_and_slowed():
    """A jump in the loss (as a too-high learning rate gives) restores the last good state."""
    from neuralcodec.fitting.loop import StepResult
    model = torch.nn.Linear(1, 1, bias=False)
    calls = []

    def step(mode, temperature):
        calls.append(mode)
        if len(calls) == 130:
            with torch.no_grad():
                model.weight += 1e3
        return StepResult(((model.weight - 3) ** 2).sum(), 0.0, 0.0)
    fit(model, step, Schedule(300, lr=0.1, warmup=1), progress=False)
    assert abs(float(model.weight.detach()) - 3) < 1


def test_weight_stream_round_trip_and_step_search():
    rng = np.random.default_rng(3)
    groups = [[rng.integers(-40, 40, 30), rng.integers(-3, 3, 7)], [rng.integers(-900, 900, 12)]]
    blob = params.encode(groups, [9, 13])
    ints, ks = params.decode(blob, [[30, 7], [12]])
    assert ks == [9, 13] and all(np.array_equal(a, b) for g, h in zip(groups, ints) for a, b in zip(g, h))
    with pytest.raises(FormatError):
        params.decode(blob[: len(blob) // 2], [[30, 7], [12]])
    # the search finds the minimum of a separable cost
    assert params.search_steps(2, lambda ks: (ks[0] - 5) ** 2 + (ks[1] - 11) ** 2) == [5, 11]


def test_schedule_phases_and_rates():
    s = Schedule(1000, lr=1e-2, warmup=50, ste_fraction=0.1)
    assert s.phase(0) == "soft" and s.phase(899) == "soft" and s.phase(900) == "ste"
    assert s.rate(0) < s.rate(49) == pytest.approx(1e-2, rel=0.01)
    assert s.rate(899) < 2e-4 and s.rate(900) == pytest.approx(1e-3, rel=0.01)
    assert s.temperature(0) == pytest.approx(0.3) and s.temperature(900) == pytest.approx(0.1)


def test_higher_quality_spends_more_bits():
    img = Image(photo(48, 64))
    sizes = [len(pack(codec(60).encode(img, q))) for q in (1, len(oc.LAMBDAS))]
    assert sizes[0] < sizes[1]


def test_unsupported_networks_and_damaged_streams_are_format_errors():
    c = codec(10)
    cont = c.encode(Image(photo(12, 12)), 4)
    bad = type(cont)(cont.modality, cont.codec, cont.codec_version, cont.weights_hash,
                     {**cont.fields, "spec": [99, 1, 1, 1, 1, 1]}, cont.streams)
    with pytest.raises(FormatError, match="unsupported network"):
        c.decode(bad)
    for k in cont.streams:
        broken = {**cont.streams, k: cont.streams[k][:3]}
        with pytest.raises(FormatError):
            c.decode(type(cont)(cont.modality, cont.codec, cont.codec_version, cont.weights_hash, cont.fields, broken))


def test_cli_encode_decode_grey_and_rgba_with_effort(tmp_path, capsys):
    from PIL import Image as PILImage
    rgb = photo(19, 23)
    for mode in ("L", "RGBA"):
        src = tmp_path / f"in_{mode}.png"
        PILImage.fromarray(rgb).convert(mode).save(src)
        coded, out = tmp_path / f"{mode}.ncdc", tmp_path / f"{mode}_out.png"
        assert main(["encode", str(src), str(coded), "--codec", "overfit", "--effort", "0.01", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["codec"] == "overfit" and summary["effort"] == 0.01
        assert main(["decode", str(coded), str(out)]) == 0
        assert load_image(out).pixels.shape == (19, 23, 3)


def test_cli_refuses_bad_effort_and_effort_on_other_codecs(tmp_path, capsys):
    src = tmp_path / "a.png"
    save_image(src, photo(8, 8))
    assert main(["encode", str(src), str(tmp_path / "a.ncdc"), "--codec", "overfit", "--effort", "0"]) == 2
    assert main(["encode", str(src), str(tmp_path / "b.ncdc"), "--codec", "lossless", "--effort", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "effort" in err[0] and "overfitted codecs" in err[1]
    assert not (tmp_path / "a.ncdc").exists() and not (tmp_path / "b.ncdc").exists()


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_cli_damaged_files_give_one_line_errors(tmp_path, capsys, damage):
    src, coded, out = tmp_path / "a.png", tmp_path / "a.ncdc", tmp_path / "a_out.png"
    save_image(src, photo(16, 16))
    assert main(["encode", str(src), str(coded), "--codec", "overfit", "--effort", "0.01"]) == 0
    damage_file(coded, damage)
    capsys.readouterr()
    assert main(["decode", str(coded), str(out)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not out.exists()


def test_list_json_shows_the_qualities():
    from neuralcodec.codecs.base import codec_infos
    info = {i.name: i for i in codec_infos()}["overfit"]
    assert info.modality == "image" and list(info.qualities) == list(range(1, len(oc.LAMBDAS) + 1))


# ---- golden ------------------------------------------------------------------------------------
GOLDEN_FILE = GOLDEN / "overfit_tiny.ncdc"
RECORD = GOLDEN / "codecs.json"


def _golden_encode() -> bytes:
    from neuralcodec.codecs.zoo import ASSETS
    img = load_image(ASSETS / "samples" / "photo.png").pixels[:24, :40]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # float sums in the fit: one thread gives one order
    try:
        return pack(codec(40, seed=0).encode(Image(np.ascontiguousarray(img)), 4))
    finally:
        torch.set_num_threads(threads)


def test_golden_file_decodes_and_encodes_the_same():
    """tests/golden/overfit_tiny.ncdc: a 24x40 crop of the sample photo, 40 steps, seed 0. It must
    decode to its recorded pixels (exact: the synthesis runs float32, so this also pins the CPU
    kind it was made on, recorded with it); encoding again (on one thread) must give its bytes on
    that platform. Elsewhere the file must still decode to an image of its size."""
    from test_golden import platform
    if REGEN:
        data = _golden_encode()
        GOLDEN_FILE.write_bytes(data)
        pixels = oc.OverfitCodec().decode(unpack(data)).pixels
        record = json.loads(RECORD.read_text())
        record["overfit"] = {"file": GOLDEN_FILE.name, "bytes": len(data), "platform": platform(),
                             "pixels_sha256": __import__("hashlib").sha256(pixels.tobytes()).hexdigest()}
        RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    rec = json.loads(RECORD.read_text())["overfit"]
    data = GOLDEN_FILE.read_bytes()
    pixels = oc.OverfitCodec().decode(unpack(data)).pixels
    assert pixels.shape == (24, 40, 3) and len(data) == rec["bytes"]
    if platform() == rec["platform"]:
        assert __import__("hashlib").sha256(pixels.tobytes()).hexdigest() == rec["pixels_sha256"]
        assert _golden_encode() == data


def test_sweep_names_pick_effort_and_qualities():
    from neuralcodec.eval.baselines import get_baseline
    b = get_baseline("overfit+effort0.5+q2+q5")
    assert b.name == "overfit+effort0.5" and b.points == (2, 5)
    assert get_baseline("overfit").points == tuple(range(1, len(oc.LAMBDAS) + 1))
    for bad in ("overfit+q99", "overfit+effort0", "overfit+refine3"):
        with pytest.raises(KeyError):
            get_baseline(bad)
