"""The console script as a user runs it, in a temporary folder."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuralcodec.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd=None):
    p = subprocess.run([sys.executable, "-m", "neuralcodec.cli", *map(str, args)], cwd=cwd,
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:37, 0:53]
    img = np.stack([x * 4, y * 6, (x + y) * 2], -1) + rng.integers(0, 20, (37, 53, 3))
    path = tmp_path / "in.png"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def test_encode_decode_info_round_trip(tmp_path, photo):
    coded, out = tmp_path / "a.ncdc", tmp_path / "out.png"
    assert main(["encode", str(photo), str(coded), "--codec", "lossless"]) == 0
    assert main(["decode", str(coded), str(out)]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(photo)))
    rc, stdout, _ = run("info", coded)
    assert rc == 0 and json.loads(stdout)["fields"] == {"height": 37, "width": 53, "channels": 3}
    assert not list(tmp_path.glob("*.part"))


def test_refuses_to_overwrite_without_force(tmp_path, photo):
    coded = tmp_path / "a.ncdc"
    coded.write_bytes(b"precious")
    rc, _, err = run("encode", photo, coded)
    assert rc == 2 and "--force" in err and coded.read_bytes() == b"precious"
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    rc, _, _ = run("encode", photo, coded, "--force")
    assert rc == 0 and coded.read_bytes()[:4] == b"NCDC"


def test_failed_decode_leaves_no_output(tmp_path, photo):
    coded, out = tmp_path / "a.ncdc", tmp_path / "out.png"
    assert main(["encode", str(photo), str(coded)]) == 0
    data = coded.read_bytes()
    coded.write_bytes(data[:-7])
    rc, _, err = run("decode", coded, out)
    assert rc == 2 and "corrupt" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".*part"))


@pytest.mark.parametrize("content", [b"", b"hello world", b"NCDC\x01" + bytes(40)])
def test_garbage_files_give_one_line_errors(tmp_path, content):
    bad = tmp_path / "bad.ncdc"
    bad.write_bytes(content)
    for args in (("info", bad), ("decode", bad, tmp_path / "o.png")):
        rc, _, err = run(*args)
        assert rc == 2 and err.startswith("neuralcodec: error:") and len(err.strip().splitlines()) == 1


def test_bad_arguments_exit_2(tmp_path, photo):
    assert run("encode", photo, tmp_path / "x.ncdc", "--codec", "nope")[0] == 2
    assert run("encode", photo, tmp_path / "x.ncdc", "--codec", "lossless", "--quality", "3")[0] == 2  # no quality
    assert run("encode", tmp_path / "missing.png", tmp_path / "y.ncdc")[0] == 2
    (tmp_path / "not-an-image.png").write_bytes(b"\x89PNG broken")
    assert run("encode", tmp_path / "not-an-image.png", tmp_path / "z.ncdc")[0] == 2
    assert run("info", tmp_path / "missing.ncdc")[0] == 2
    assert run("train", "audio", "--config", "x.json")[0] == 2
    assert not (tmp_path / "x.ncdc").exists() and not (tmp_path / "z.ncdc").exists()


def test_grayscale_and_rgba_are_converted_and_said(tmp_path):
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.full((8, 9, 4), 100, np.uint8), "RGBA").save(rgba)
    rc, _, err = run("encode", rgba, tmp_path / "r.ncdc")
    assert rc == 0 and "converted RGBA to RGB" in err


def test_info_does_not_import_torch(tmp_path, photo):
    coded = tmp_path / "a.ncdc"
    assert main(["encode", str(photo), str(coded)]) == 0
    code = ("import sys; from neuralcodec.cli import main; rc = main(['info', sys.argv[1]]); "
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules; sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code, str(coded)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_list_json():
    rc, stdout, _ = run("list", "--json")
    rows = json.loads(stdout)
    assert rc == 0 and {"name": "lossless", "modality": "image"} in [{k: r[k] for k in ("name", "modality")} for r in rows]
    assert [r["name"] for r in rows if r["default"] and r["modality"] == "image"] == ["mref"]
    assert [r["name"] for r in rows if r["default"] and r["modality"] == "audio"] == ["wavtok40"]


def test_missing_shipped_weights_are_named(tmp_path, monkeypatch, photo, capsys):
    """An install without a codec's weights fails loudly, naming the file, instead of dropping the codec."""
    from neuralcodec.codecs import zoo
    monkeypatch.setattr(zoo, "ASSETS", tmp_path)
    assert main(["encode", str(photo), str(tmp_path / "a.ncdc"), "--codec", "mref"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "mref.safetensors") in err and "missing" in err and err.count("\n") == 1


@pytest.mark.parametrize("device", ["tpu", "cuda"])
def test_bench_device_is_checked(device):
    import torch
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("CUDA is here")
    rc, _, stderr = run("bench", "image", "--device", device, "--repeats", "1")
    assert rc == 2 and stderr.count("\n") == 1 and "--device" in stderr


def test_bench_entropy_json_small():
    rc, stdout, _ = run("bench", "entropy", "--symbols", "20000", "--repeats", "1", "--json")
    r = json.loads(stdout)
    assert rc == 0 and r["symbols"] == 20000
    for k in ("ours", "constriction", "compressai"):
        assert r[k]["roundtrip"] is True and r[k]["encode_msym_s"] > 0
    assert 0 <= r["ours"]["overhead_pct"] < 1


def test_absurdly_large_image_is_refused(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    from neuralcodec.errors import NeuralCodecError
    from neuralcodec.media import load_image
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(big)
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 100)  # 64*64 > 2*100: a "decompression bomb"
    with pytest.raises(NeuralCodecError, match="too large"):
        load_image(big)


def test_demo_codes_the_shipped_samples(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "image " in out and "round trip ok" in out
    assert (tmp_path / "demo" / "photo.ncdc").stat().st_size > 0 and (tmp_path / "demo" / "photo.png").exists()


def test_weights_flag_decodes_files_of_other_weights(tmp_path, photo):
    """A file coded with other weights than the shipped ones names their hash; --weights decodes it."""
    import torch
    from safetensors.torch import save_file

    from neuralcodec.codecs.image.learned import build_model
    torch.manual_seed(0)
    model = build_model("mref", {"n": 16, "m": 24, "slices": 2, "width": 8})
    w = tmp_path / "old.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(w),
              metadata={"model": "mref", "config": '{"n": 16, "m": 24, "slices": 2, "width": 8}'})
    coded, out = tmp_path / "a.ncdc", tmp_path / "a.png"
    assert run("encode", photo, coded, "--codec", "mref", "--weights", w)[0] == 0
    rc, _, err = run("decode", coded, out)
    assert rc == 2 and "--weights" in err and "no release" in err and err.count("\n") == 1
    assert run("decode", coded, out, "--weights", w)[0] == 0
    assert np.asarray(Image.open(out)).shape == (37, 53, 3)
    rc, _, err = run("encode", photo, tmp_path / "b.ncdc", "--codec", "lossless", "--weights", w)
    assert rc == 2 and "learned codec" in err
    for name in ("mref", "wavtok40"):   # a file that is not safetensors at all, or a cut one
        for bad, data in (("notes.safetensors", b"just some text\n"), ("cut.safetensors", w.read_bytes()[:100])):
            (tmp_path / bad).write_bytes(data)
            rc, _, err = run("encode", photo, tmp_path / "c.ncdc", "--codec", name, "--weights", tmp_path / bad)
            assert rc == 2 and "not usable" in err and err.count("\n") == 1, err


def test_export_from_a_bad_checkpoint_is_one_line(tmp_path):
    """The checkpoint is read before anything else the export needs: the recipes here name data
    that does not exist, so a data error would come first if it were not."""
    (tmp_path / "notes.ckpt").write_bytes(b"just some text\n")
    (tmp_path / "empty.ckpt").write_bytes(b"")
    for recipe in ("lineage/mref/10-t128.json", "wavtok-cpu.json"):
        config = json.loads((ROOT / "configs" / recipe).read_text()) | {"data": str(tmp_path / "no-such-data")}
        (tmp_path / Path(recipe).name).write_text(json.dumps(config))
        for ckpt, says in (("missing.ckpt", "no such checkpoint"), ("notes.ckpt", "not a checkpoint"),
                           ("empty.ckpt", "not a checkpoint")):
            modality = "audio" if "wavtok" in recipe else "image"
            rc, _, err = run("train", modality, "--config", tmp_path / Path(recipe).name,
                             "--export-from", tmp_path / ckpt, "--out", tmp_path / "out")
            assert rc == 2 and says in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_export_from_another_recipes_checkpoint_is_one_line(tmp_path):
    from dataclasses import replace
    from neuralcodec.training.config import ImageTrainConfig
    from neuralcodec.training.image import image_files, train
    cfg = ImageTrainConfig(model="mref", n=16, m=24, slices=2, width=16, data=str(ROOT / "tests" / "fixtures" / "images"),
                           crop=64, batch_size=2, max_steps=2, checkpoint_every=2, out=str(tmp_path / "run"))
    train(cfg, image_files(cfg.data, ""), accelerator="cpu", devices=1, progress=False)
    rc, _, err = run("train", "image", "--config", ROOT / "configs" / "lineage" / "mref" / "10-t128.json",
                     "--export-from", tmp_path / "run" / "checkpoints" / "last.ckpt", "--out", tmp_path / "out")
    assert rc == 2 and "another recipe" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("args", [("image", "--codec", "speech"), ("audio", "--codec", "mref"),
                                  ("audio", "--codec", "speech", "--quality", "9")])
def test_bench_codec_must_fit_the_benchmark(args):
    rc, _, stderr = run("bench", *args, "--repeats", "1", "--seconds", "1")
    assert rc == 2 and stderr.count("\n") == 1
