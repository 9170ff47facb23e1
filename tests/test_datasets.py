"""`data fetch` logic on a local fake package (no network): splits, manifest, checksums, re-runs."""
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from neuralcodec import datasets
from neuralcodec.datasets import Pick, Source
from neuralcodec.errors import NeuralCodecError


@pytest.fixture
def fake(tmp_path, monkeypatch):
    pkgs = tmp_path / "data" / "_packages"
    pkgs.mkdir(parents=True)
    wheel = pkgs / "fakepkg-1.0-py3-none-any.whl"
    photo = tmp_path / "p.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 30, 3), dtype=np.uint8)).save(photo)
    with zipfile.ZipFile(wheel, "w") as z:
        for kit in ("kitA", "kitB"):
            z.writestr(f"fakepkg/drums/{kit}/kick.wav", f"RIFF{kit}")
        for i in range(6):
            z.writestr(f"fakepkg/music/{i}.flac", f"fLaC{i}")
        z.write(photo, "fakepkg/photos/one.jpg")
    src = Source("wheel", "fakepkg", "1.0", "CC0", (
        Pick("fakepkg/drums/*/*.wav", "audio-train"),
        Pick("fakepkg/music/*.flac", "music-eval", "every5th"),
        Pick("fakepkg/music/*.flac", "audio-train", "rest5th"),
        Pick("fakepkg/photos/*.jpg", "image-train", "downscale3", "JPEG, downscaled 3x")))
    monkeypatch.setattr(datasets, "SOURCES", (src,))
    monkeypatch.setattr(datasets, "PINNED", tmp_path / "pinned.json")
    return tmp_path / "data"


def test_fetch_builds_splits_with_a_manifest(fake):
    rows = datasets.fetch("all", fake, record=True, log=lambda m: None)
    by_split = {}
    for r in rows:
        by_split.setdefault(r["split"], []).append(r["path"])
        assert r["sha256"] == datasets.sha256(fake / r["path"]) and r["bytes"] > 0
        assert r["package"] == "fakepkg" and r["licence"] == "CC0"
    # same file name in two kits -> two files; eval files are never in train; every 8th training
    # file of a pick (from the 4th: 1 2 3 [4]) is held out for validation
    assert sorted(by_split["audio-train"]) == ["audio-train/1.flac", "audio-train/2.flac", "audio-train/3.flac",
                                               "audio-train/kitA_kick.wav", "audio-train/kitB_kick.wav"]
    assert by_split["audio-val"] == ["audio-val/4.flac"] and "image-val" not in by_split   # one photo: none held out
    assert sorted(by_split["music-eval"]) == ["music-eval/0.flac", "music-eval/5.flac"]
    assert Image.open(fake / "image-train" / "one.png").size == (10, 10)
    assert datasets.split_files("music-eval", fake) == [fake / "music-eval/0.flac", fake / "music-eval/5.flac"]


def test_rerun_is_idempotent_and_repairs_damaged_files(fake):
    datasets.fetch("all", fake, record=True, log=lambda m: None)
    first = json.loads((fake / "manifest.json").read_text())
    (fake / "audio-train" / "kitA_kick.wav").write_bytes(b"damaged")
    datasets.fetch("all", fake, log=lambda m: None)
    assert json.loads((fake / "manifest.json").read_text()) == first
    assert (fake / "audio-train" / "kitA_kick.wav").read_bytes() == b"RIFFkitA"


def test_a_changed_package_is_refused(fake, tmp_path):
    datasets.fetch("all", fake, record=True, log=lambda m: None)
    pinned = json.loads((tmp_path / "pinned.json").read_text())
    pinned["fakepkg/fakepkg/music/0.flac"] = "0" * 64
    (tmp_path / "pinned.json").write_text(json.dumps(pinned))
    with pytest.raises(NeuralCodecError, match="checksum differs"):
        datasets.fetch("all", fake, log=lambda m: None)


def test_unknown_group_and_missing_split(fake):
    with pytest.raises(NeuralCodecError):
        datasets.fetch("smells", fake)
    with pytest.raises(NeuralCodecError, match="data fetch"):
        datasets.split_files("image-eval", fake)


def test_shipped_sources_have_pinned_checksums():
    pinned = json.loads(datasets.PINNED.read_text())
    packages = {k.split("/")[0] for k in pinned}
    assert packages == {s.package for s in datasets.SOURCES}
    assert all(len(v) == 64 for v in pinned.values())


def test_a_split_name_wins_over_a_folder_of_that_name(fake, tmp_path, monkeypatch):
    datasets.fetch("all", fake, record=True, log=lambda m: None)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "music-eval").mkdir()
    (tmp_path / "music-eval" / "points.jsonl").write_text("{}")
    assert datasets.split_files("music-eval", fake) == [fake / "music-eval/0.flac", fake / "music-eval/5.flac"]
    assert datasets.split_files(str(tmp_path / "music-eval"), fake) == [tmp_path / "music-eval" / "points.jsonl"]


def test_a_package_that_cannot_be_had_is_named(tmp_path, monkeypatch):
    import subprocess

    def refuse(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 100, "", "E: Unable to locate package nosuch-data")

    monkeypatch.setattr(datasets.subprocess, "run", refuse)
    monkeypatch.setattr(datasets, "SOURCES", (Source("apt", "nosuch-data", "1.0", "?", (Pick("*", "audio-train"),)),))
    with pytest.raises(NeuralCodecError, match="apt package nosuch-data==1.0: E: Unable to locate package"):
        datasets.fetch("audio", tmp_path, log=lambda m: None)
