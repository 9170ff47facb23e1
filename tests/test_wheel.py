"""A wheel built from the repository installs and runs every shipped codec from outside the
source tree (the weights travel as package data), and the repository holds no big files or pickles."""
import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(cmd, cwd, timeout=600):
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, (cmd, p.stdout[-2000:], p.stderr[-2000:])
    return p.stdout


def tracked() -> list[Path] | None:
    """The files git tracks, as they are in the working tree; None outside a git checkout."""
    try:
        names = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True, check=True,
                               timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.SubprocessError):
        return None
    return [ROOT / n for n in names if n and (ROOT / n).is_file()]


def clean_copy(dest: Path) -> Path:
    """The tracked files, so no build/ left by an earlier build leaks stale modules into the
    wheel; the repository itself outside a git checkout."""
    import shutil
    files = tracked()
    if files is None:
        return ROOT
    for f in files:
        (dest / f.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest / f.relative_to(ROOT))
    return dest


def test_built_wheel_runs_every_shipped_codec(tmp_path):
    src = clean_copy(tmp_path / "src")
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", src, "-w", tmp_path / "dist"],
        cwd=tmp_path)
    wheel, = (tmp_path / "dist").glob("neuralcodec-*.whl")
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    py = env / "bin" / "python"
    site = Path(run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).strip())
    # reuse this environment's dependencies as plain paths (its .pth files, the editable install's
    # finder among them, are not run): the wheel's own neuralcodec comes first
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index", wheel], tmp_path)
    where = run([py, "-c", "import neuralcodec; print(neuralcodec.__file__)"], tmp_path)
    assert where.startswith(str(site)), where
    nc = [env / "bin" / "neuralcodec"]   # the console script the wheel installed
    rows = json.loads(run(nc + ["list", "--json"], tmp_path))
    assert {r["name"] for r in rows} >= {"mref", "wavtok40", "speech", "lossless"}
    assert not any("MISSING" in r["summary"] for r in rows)
    samples = site / "neuralcodec" / "_assets" / "samples"
    for codec, sample, out in (("mref", "photo.png", "photo.png"), ("lossless", "photo.png", "photo.png"),
                               ("wavtok40", "speech.flac", "speech.wav"), ("speech", "speech.flac", "speech.wav")):
        coded = tmp_path / f"{codec}.ncdc"
        run(nc + ["encode", samples / sample, coded, "--codec", codec], tmp_path)
        run(nc + ["decode", coded, tmp_path / f"{codec}-{out}"], tmp_path)
        assert (tmp_path / f"{codec}-{out}").stat().st_size > 0


def test_no_tracked_file_is_big_or_a_pickle():
    pickle_exts = {".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".npy", ".npz", ".joblib"}
    files = tracked()
    if files is None:
        pytest.skip("needs a git checkout")
    for path in files:
        assert path.stat().st_size <= 20_000_000, f"{path} is over 20 MB"
        assert path.suffix not in pickle_exts, f"{path} is a pickle format"
        head = path.open("rb").read(2)
        assert not (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")), f"{path} is a pickle"
