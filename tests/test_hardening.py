"""Hostile inputs and outputs: bounded memory, correct conversions, one-line errors, no partial files."""
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from neuralcodec.cli import main
from neuralcodec.entropy.container import pack, unpack

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"


def one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    assert err.startswith("neuralcodec: error: ") and err.count("\n") == 1, err
    for n in needles:
        assert n in err, err
    return err


def crafted(tmp_path, golden: str, **fields) -> Path:
    c = unpack((GOLDEN / golden).read_bytes())
    out = tmp_path / f"crafted-{golden}"
    out.write_bytes(pack(dataclasses.replace(c, fields=dict(c.fields) | fields)))
    return out


# 1. headers within the limits that would exhaust memory

def test_declared_sizes_the_streams_cannot_hold_are_refused(tmp_path, capsys):
    big = crafted(tmp_path, "lossless_photo.ncdc", height=65536, width=4096)
    assert main(["decode", str(big), str(tmp_path / "a.png")]) == 2
    one_line_error(capsys, "cannot hold")
    huge = crafted(tmp_path, "wavtok40_speech.ncdc", samples=1 << 34, sample_rate=16000, tokens=42949673)
    assert main(["decode", str(huge), str(tmp_path / "a.wav")]) == 2
    one_line_error(capsys, "cannot hold the 42949673")
    wide = crafted(tmp_path, "mref_photo.ncdc", height=16384, width=16384)
    assert main(["decode", str(wide), str(tmp_path / "b.png")]) == 2
    one_line_error(capsys, "16384x16384 pixels with mref", "NEURALCODEC_MAX_MEMORY")


def test_the_memory_limit_is_settable(tmp_path, monkeypatch, capsys):
    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((300, 300, 3), np.uint8)).save(photo)
    monkeypatch.setenv("NEURALCODEC_MAX_MEMORY", "1.01")   # 1 GB base + 240 B/px * 90,000 px is more
    monkeypatch.setattr("neuralcodec.media.load_image", lambda p: pytest.fail("read the pixels of a refused image"))
    assert main(["encode", str(photo), str(tmp_path / "p.ncdc")]) == 2
    one_line_error(capsys, "300x300 pixels with mref", "1.0 GB")
    monkeypatch.setenv("NEURALCODEC_MAX_MEMORY", "lots")
    assert main(["encode", str(photo), str(tmp_path / "p.ncdc")]) == 2
    one_line_error(capsys, "NEURALCODEC_MAX_MEMORY")


# 2. big inputs

def test_a_big_image_is_refused_up_front_without_pillow_noise(tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (10000, 10000)).save(big)
    for codec in ("mref", "lossless"):
        p = subprocess.run([sys.executable, "-m", "neuralcodec.cli", "encode", str(big), str(tmp_path / "a.ncdc"),
                            "--codec", codec], capture_output=True, text=True, timeout=300)
        assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
        assert "10000x10000 pixels" in p.stderr and "Warning" not in p.stderr


def test_a_file_that_is_no_container_is_refused_from_its_first_bytes(tmp_path, capsys):
    zeros = tmp_path / "zeros.ncdc"
    with open(zeros, "wb") as f:
        f.truncate(6 << 30)   # sparse: 6 GB of zeros that must not be read
    assert main(["decode", str(zeros), str(tmp_path / "z.png")]) == 2
    one_line_error(capsys, "not a neuralcodec file")
    assert main(["info", str(zeros)]) == 2
    one_line_error(capsys, "not a neuralcodec file")


# 3. no silent wrong output: every accepted Pillow mode against a reference conversion

def _modes(tmp_path) -> list[tuple[Path, np.ndarray, str]]:
    """``(file, expected uint8 RGB, note or "")``: the references are computed here from the data."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    alpha = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    deep = rng.integers(0, 65536, (6, 7), dtype=np.uint16)
    cases = []

    def save(name, im, expected, note=""):
        path = tmp_path / name
        im.save(path)
        cases.append((path, expected, note))
    save("rgb.png", Image.fromarray(rgb), rgb)
    save("rgba.png", Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), rgb, "RGBA to RGB (alpha dropped)")
    save("l.png", Image.fromarray(grey, "L"), np.repeat(grey[..., None], 3, 2), "L to RGB")
    save("la.png", Image.fromarray(np.dstack([grey, alpha]), "LA"), np.repeat(grey[..., None], 3, 2), "alpha dropped")
    bits = grey > 127
    save("one.png", Image.fromarray(bits).convert("1"), np.repeat(np.where(bits, 255, 0)[..., None], 3, 2).astype(np.uint8),
         "1 to RGB")
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    p = Image.fromarray(grey, "P")
    p.putpalette(palette.ravel().tolist())
    save("p.png", p, palette[grey], "P to RGB")
    save("grey16.png", Image.fromarray(deep), np.repeat((deep >> 8).astype(np.uint8)[..., None], 3, 2), "16-bit grey")
    try:
        import imagecodecs
    except ImportError:
        return cases
    deep_rgb = rng.integers(0, 65536, (6, 7, 3), dtype=np.uint16)
    (tmp_path / "rgb48.png").write_bytes(imagecodecs.png_encode(deep_rgb))
    cases.append((tmp_path / "rgb48.png", (deep_rgb >> 8).astype(np.uint8), "16-bit channels to 8 bits"))
    return cases


def test_every_accepted_mode_converts_as_its_reference(tmp_path):
    from neuralcodec.media import load_image
    for path, expected, note in _modes(tmp_path):
        got = load_image(path)
        assert np.array_equal(got.pixels, expected), path.name
        assert (note in " ".join(got.notes)) if note else not got.notes, (path.name, got.notes)


def test_modes_without_a_defined_8bit_form_are_refused(tmp_path, capsys):
    f = tmp_path / "float.tif"
    Image.fromarray(np.random.default_rng(0).random((5, 5)).astype(np.float32), "F").save(f)
    assert main(["encode", str(f), str(tmp_path / "f.ncdc"), "--codec", "lossless"]) == 2
    one_line_error(capsys, "mode F")


def test_16bit_grey_codes_to_its_scaled_image_and_says_so(tmp_path, capsys):
    deep = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    src, coded, out = tmp_path / "g.png", tmp_path / "g.ncdc", tmp_path / "out.png"
    Image.fromarray(deep).save(src)
    assert main(["encode", str(src), str(coded), "--codec", "lossless"]) == 0
    assert "scaled 16-bit grey" in capsys.readouterr().err
    assert main(["decode", str(coded), str(out)]) == 0
    assert np.array_equal(np.asarray(Image.open(out))[..., 0], (deep >> 8).astype(np.uint8))


# 4. non-finite samples

def test_nan_and_inf_samples_are_coded_as_zero_with_a_note(tmp_path, capsys):
    x = (0.1 * np.sin(np.arange(16000) / 10)).astype(np.float32)
    x[[5, 500, 5000]] = [np.nan, np.inf, -np.inf]
    src, coded, out = tmp_path / "nan.wav", tmp_path / "nan.ncdc", tmp_path / "out.wav"
    sf.write(src, x, 16000, subtype="FLOAT")
    assert main(["encode", str(src), str(coded)]) == 0
    assert "3 NaN or infinite samples were coded as 0" in capsys.readouterr().err
    assert main(["decode", str(coded), str(out)]) == 0
    assert np.isfinite(sf.read(out)[0]).all()


def test_an_empty_audio_file_reports_no_rate(tmp_path, capsys):
    src = tmp_path / "empty.wav"
    sf.write(src, np.zeros(0, np.float32), 16000)
    assert main(["encode", str(src), str(tmp_path / "e.ncdc")]) == 0
    out = capsys.readouterr().out
    assert "no samples" in out and "kbps" not in out


# 5. unwritable outputs, checked before the work

@pytest.mark.parametrize("target", ["/proc/neuralcodec-test.ncdc", "/sys/neuralcodec-test.ncdc"])
def test_an_unwritable_output_is_refused_before_the_input_is_read(tmp_path, capsys, target):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    assert main(["encode", str(broken), target]) == 2
    one_line_error(capsys, target, "cannot write there")


def test_a_dangling_output_link_is_not_replaced_without_force(tmp_path, capsys):
    link = tmp_path / "out.png"
    link.symlink_to(tmp_path / "nowhere.png")
    assert main(["decode", str(GOLDEN / "lossless_photo.ncdc"), str(link)]) == 2
    one_line_error(capsys, "exists")
    assert link.is_symlink()


# 6. signals

@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_a_signal_while_writing_leaves_no_part_file(tmp_path, sig):
    code = f"""
import os, signal, sys, time
from pathlib import Path
from neuralcodec import cli
from neuralcodec.fileio import atomic_path

def slow(a):
    with atomic_path(Path(a.output)) as tmp:
        tmp.write_bytes(b"half")
        os.kill(os.getpid(), signal.{sig})
        time.sleep(30)
cli.cmd_decode = slow
sys.exit(cli.main(["decode", "in.ncdc", sys.argv[1]]))
"""
    out = tmp_path / "out.png"
    p = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=120)
    import signal
    assert p.returncode == 128 + getattr(signal, sig), p.stderr
    assert "terminated" in p.stderr and "Traceback" not in p.stderr
    assert not out.exists() and not list(tmp_path.glob(".*part"))


def test_stale_part_files_of_the_same_output_are_removed(tmp_path):
    stale = tmp_path / ".out.png.abc123.png.part"
    other = tmp_path / ".other.png.abc123.png.part"
    stale.write_bytes(b"left by a killed run")
    other.write_bytes(b"another output's")
    assert main(["decode", str(GOLDEN / "lossless_photo.ncdc"), str(tmp_path / "out.png")]) == 0
    assert not stale.exists() and other.exists()


# 7. smaller ones

def test_an_empty_codec_name_is_refused(tmp_path, capsys):
    assert main(["encode", str(ROOT / "assets" / "samples" / "photo.png"), str(tmp_path / "a.ncdc"), "--codec", ""]) == 2
    one_line_error(capsys, "--codec is empty")


def test_a_coded_file_given_to_encode_is_named_as_such(tmp_path, capsys):
    renamed = tmp_path / "speech.wav"
    renamed.write_bytes((GOLDEN / "wavtok40_speech.ncdc").read_bytes())
    assert main(["encode", str(renamed), str(tmp_path / "a.ncdc")]) == 2
    one_line_error(capsys, "already a neuralcodec file")


def test_a_wrong_output_extension_is_refused_before_a_model_loads(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("neuralcodec.codecs.base.get_codec", lambda name: pytest.fail("loaded a model"))
    assert main(["decode", str(GOLDEN / "mref_photo.ncdc"), str(tmp_path / "a.wav")]) == 2
    one_line_error(capsys, "choose an image extension")
    assert main(["decode", str(GOLDEN / "wavtok40_speech.ncdc"), str(tmp_path / "a.png")]) == 2
    one_line_error(capsys, "choose .wav")
