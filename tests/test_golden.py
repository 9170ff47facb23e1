"""Golden files of every shipped codec (tests/golden/, README there).

Decoding a checked-in file must give the recorded symbols exactly (everything the rANS decoder
returns, hashed) and the recorded PSNR / STOI within 0.01; encoding ``assets/samples/*`` must give
the checked-in bytes. A change to a codec fails here until the goldens are regenerated on
purpose: ``NEURALCODEC_REGEN_GOLDEN=1 pytest tests/test_golden.py`` (and a codec version bump
when what a stream means changes).

The learned encoders run float transforms (g_a, the tokenizer's encoder) whose last bits may
round differently on another CPU kind or torch build; there, a differing encode is checked
symbol by symbol (at most 0.1% may differ) and the test says so. Decoding never depends on it:
every probability comes from integers.
"""
import hashlib
import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import GOLDEN, REGEN
from neuralcodec.cli import main
from neuralcodec.codecs.base import get_codec
from neuralcodec.codecs.zoo import ASSETS, releases
from neuralcodec.entropy import rans
from neuralcodec.entropy.container import pack, unpack
from neuralcodec.eval import metrics
from neuralcodec.media import load_audio, load_image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ASSETS / "samples"
CASES = {"lossless": "photo.png", "mref": "photo.png", "wavtok40": "speech.flac", "speech": "speech.flac"}
AUDIO = {"wavtok40", "speech"}
RECORD = GOLDEN / "codecs.json"
PREVIOUS_MREF = "9f8e0a0"   # the commit that shipped mref release 14, whose file tests/golden holds


def platform() -> str:
    return f"torch {torch.__version__.split('+')[0]}, {torch.backends.cpu.get_cpu_capability()}"


class SymbolTap:
    """Records every array the rANS decoders return while it is active (all a codec decodes)."""

    def __init__(self, monkeypatch):
        self.arrays = []
        decode, step = rans.decode, rans.GroupDecoder.next

        def tap_decode(*a, **k):
            out = decode(*a, **k)
            self.arrays.append(np.asarray(out, np.int64))
            return out

        def tap_next(dec, *a, **k):
            out = step(dec, *a, **k)
            self.arrays.append(np.asarray(out, np.int64))
            return out
        monkeypatch.setattr(rans, "decode", tap_decode)
        monkeypatch.setattr(rans.GroupDecoder, "next", tap_next)

    def digest(self) -> str:
        h = hashlib.sha256()
        for a in self.arrays:
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def count(self) -> int:
        return sum(a.size for a in self.arrays)


def quality_of(name: str, decoded, source: Path) -> float:
    """PSNR (RGB, 8-bit) for images, STOI for audio, against the sample."""
    if name in AUDIO:
        ref = load_audio(source)
        test, _ = metrics.align(ref.samples[0], decoded.samples[0], ref.sample_rate)
        return metrics.stoi(ref.samples[0], test, ref.sample_rate)
    return metrics.psnr(load_image(source).pixels, decoded.pixels)


def decode_tapped(name: str, data: bytes, monkeypatch):
    tap = SymbolTap(monkeypatch)
    decoded = get_codec(name).decode(unpack(data))
    monkeypatch.undo()
    return decoded, tap


def media_of(name: str):
    path = SAMPLES / CASES[name]
    return path, (load_audio(path) if name in AUDIO else load_image(path))


def regenerate(name: str, monkeypatch) -> None:
    path, media = media_of(name)
    data = pack(get_codec(name).encode(media))
    (GOLDEN / f"{name}_{path.stem}.ncdc").write_bytes(data)
    decoded, tap = decode_tapped(name, data, monkeypatch)
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    record[name] = {"file": f"{name}_{path.stem}.ncdc", "sample": CASES[name], "bytes": len(data),
                    "symbols": tap.count(), "symbols_sha256": tap.digest(),
                    "quality": round(float(quality_of(name, decoded, path)), 4), "platform": platform()}
    RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_file_decodes_to_its_symbols_and_quality(name, monkeypatch):
    if REGEN:
        regenerate(name, monkeypatch)
    rec = json.loads(RECORD.read_text())[name]
    data = (GOLDEN / rec["file"]).read_bytes()
    decoded, tap = decode_tapped(name, data, monkeypatch)
    assert tap.count() == rec["symbols"] and tap.digest() == rec["symbols_sha256"]
    assert quality_of(name, decoded, SAMPLES / rec["sample"]) == pytest.approx(rec["quality"], abs=0.01)


@pytest.mark.parametrize("name", sorted(CASES))
def test_encoding_the_sample_gives_the_golden_bytes(name, monkeypatch):
    rec = json.loads(RECORD.read_text())[name]
    golden = (GOLDEN / rec["file"]).read_bytes()
    data = pack(get_codec(name).encode(media_of(name)[1]))
    if data == golden:
        return
    assert name != "lossless", "the lossless codec is integer arithmetic: its bytes may not change"
    assert platform() != rec["platform"], f"{name}: the encode changed on the platform its golden was made on"
    warnings.warn(f"{name}: encoded bytes differ from the golden made on {rec['platform']} (here {platform()}); "
                  "comparing symbols")
    mine = decode_tapped(name, data, monkeypatch)[1].arrays
    theirs = decode_tapped(name, golden, monkeypatch)[1].arrays
    assert [a.shape for a in mine] == [a.shape for a in theirs]
    differ = sum(int((a != b).sum()) for a, b in zip(mine, theirs))
    assert differ <= 1e-3 * rec["symbols"]


def test_the_registry_names_the_shipped_files():
    """Each shipped codec's current release is the file in assets/ (sha256 and size) and carries the
    hash its codec computes, so changing the weights without a new release row fails here."""
    from neuralcodec.codecs.zoo import SHIPPED
    from neuralcodec.fileio import sha256
    current = {r.codec: r for r in releases() if r.current}
    assert set(current) == set(SHIPPED)
    for codec, r in current.items():
        path = ASSETS / SHIPPED[codec]
        assert sha256(path) == r.sha256 and path.stat().st_size == r.bytes
        assert get_codec(codec).weights_hash().hex() == r.hash
    hashes = [r.hash for r in releases()]
    assert len(set(hashes)) == len(hashes)


def _previous_mref(tmp_path: Path) -> Path:
    """Release 14 of mref, from the repository's history (the package ships only the current one)."""
    out = tmp_path / "mref-r14.safetensors"
    try:
        blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{PREVIOUS_MREF}:assets/mref.safetensors"],
                              capture_output=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("needs the repository's git history for the earlier weights file")
    out.write_bytes(blob)
    return out


def test_regenerate_the_previous_release_golden(tmp_path):
    """Only with NEURALCODEC_REGEN_GOLDEN=1: code the sample photo with mref release 14."""
    if not REGEN:
        pytest.skip("regenerates tests/golden/mref_r14_photo.ncdc only with NEURALCODEC_REGEN_GOLDEN=1")
    from neuralcodec.codecs.weights import codec_from_weights
    codec = codec_from_weights("mref", _previous_mref(tmp_path))
    data = pack(codec.encode(load_image(SAMPLES / "photo.png")))
    (GOLDEN / "mref_r14_photo.ncdc").write_bytes(data)
    psnr = metrics.psnr(load_image(SAMPLES / "photo.png").pixels, codec.decode(unpack(data)).pixels)
    record = json.loads(RECORD.read_text())
    record["mref_r14"] = {"file": "mref_r14_photo.ncdc", "hash": codec.weights_hash().hex(), "quality": round(psnr, 4)}
    RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def test_a_file_of_the_previous_mref_release_decodes_by_itself(tmp_path, monkeypatch, capsys):
    """A file coded with the previous shipped mref: without those weights, decode names their hash
    and where they go (exit 2); once `weights add` installs them, it decodes without --weights."""
    monkeypatch.setenv("NEURALCODEC_WEIGHTS", str(tmp_path / "cache"))
    old = GOLDEN / "mref_r14_photo.ncdc"
    rec = json.loads(RECORD.read_text())["mref_r14"]
    out = tmp_path / "out.png"
    assert main(["decode", str(old), str(out)]) == 2
    err = capsys.readouterr().err
    assert rec["hash"] in err and str(tmp_path / "cache" / f"mref-{rec['hash']}.safetensors") in err
    assert not out.exists()
    assert main(["weights", "add", str(_previous_mref(tmp_path))]) == 0
    assert main(["decode", str(old), str(out)]) == 0
    assert metrics.psnr(load_image(SAMPLES / "photo.png").pixels, load_image(out).pixels) == pytest.approx(
        rec["quality"], abs=0.01)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not weights")
    assert main(["weights", "add", str(junk)]) == 2
    assert "not a released weights file" in capsys.readouterr().err
