"""Crafted and mutated files for every shipped codec: each decode ends in success or one line on
stderr with exit status 2 (never a traceback), and the whole batch stays under a memory ceiling.

The cases start from the golden files (tests/golden/): truncations and bit flips of the raw bytes
(the CRC catches them), then files re-packed with a valid CRC, which reach the codecs: header
fields set to edge values, large declared sizes within every limit and consistent with each
other, streams cut, emptied, replaced by noise or with bytes flipped. They run in one child process (``python tests/test_fuzz.py DIR``) with
``NEURALCODEC_MAX_MEMORY`` at 2 GB; its own peak RSS bounds every case's. ``make test`` runs a small
draw; ``-m slow`` a few hundred per codec.
"""
import contextlib
import dataclasses
import io
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
FILES = {"lossless": "lossless_photo.ncdc", "mref": "mref_photo.ncdc", "wavtok40": "wavtok40_speech.ncdc"}
EDGES = [0, 1, -1, 3, 255, 1 << 16, (1 << 16) + 1, 1 << 28, 1 << 34, (1 << 34) + 1, 1 << 40, -(1 << 40)]
CEILING_BYTES = 3_000_000_000   # interpreter + torch + one model + the 2 GB coding limit's share


def cases(data: bytes, n: int, rng: np.random.Generator) -> list[tuple[str, bytes, bool]]:
    """``(kind, file bytes, must_fail)`` for one golden file: ``n`` of each kind."""
    from unittest import mock
    from neuralcodec.entropy import container
    from neuralcodec.entropy.container import unpack
    c = unpack(data)

    def pack(x):   # the writer refuses out-of-limit fields; the reader must too, so write them anyway
        with mock.patch.object(container, "_check_limits", lambda fields: None):
            return container.pack(x)

    out = []
    for _ in range(n):
        cut = int(rng.integers(0, len(data)))
        out.append(("truncated", data[:cut], True))
        flipped = bytearray(data)
        flipped[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
        out.append(("bit flip", bytes(flipped), True))
        fields = dict(c.fields)
        for key in rng.choice(sorted(fields), size=int(rng.integers(1, len(fields) + 1)), replace=False):
            fields[key] = int(rng.choice(EDGES))
        try:
            out.append(("edge fields", pack(dataclasses.replace(c, fields=fields)), False))
        except (ValueError, OverflowError):
            pass
        out.append(("large header", pack(dataclasses.replace(c, fields=large_fields(c.fields, rng))), False))
        streams = dict(c.streams)
        name = sorted(streams)[int(rng.integers(0, len(streams)))]
        blob = bytearray(streams[name])
        how = int(rng.integers(0, 4))
        if how == 0 and blob:
            blob = blob[: int(rng.integers(0, len(blob)))]
        elif how == 1:
            blob = bytearray()
        elif how == 2 and blob:
            for _ in range(int(rng.integers(1, 4))):
                blob[int(rng.integers(0, len(blob)))] ^= 1 << int(rng.integers(0, 8))
        else:
            blob = bytearray(rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes())
        streams[name] = bytes(blob)
        out.append(("stream", pack(dataclasses.replace(c, streams=streams)), False))
    return out


def large_fields(fields: dict, rng: np.random.Generator) -> dict:
    """Within every limit, consistent with one another, and large: a declared size the streams
    cannot hold (log-uniform up to 65536 pixels a side or 2^34 samples)."""
    f = dict(fields)
    if "height" in f:
        f["height"], f["width"] = (int(2 ** rng.uniform(0, 16)) for _ in range(2))
        while f["height"] * f["width"] > 1 << 28:
            f["width"] //= 2
    if "samples" in f:
        f["sample_rate"] = int(rng.choice([1, 8000, 16000, 48000, 768000]))
        f["samples"] = int(2 ** rng.uniform(0, 34))
        f["tokens"] = -(-round(f["samples"] * 24_000 / f["sample_rate"]) // 600)   # what the codec expects
    return f


def decode_all(folder: Path) -> None:
    """The child: decode every ``*.ncdc`` of ``folder`` in-process; one JSON line per case."""
    from neuralcodec.cli import main
    for f in sorted(folder.glob("*.ncdc")):
        err = io.StringIO()
        ext = ".wav" if "wavtok40" in f.name else ".png"
        out = folder / f"{f.stem}{ext}"
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                rc = main(["decode", str(f), str(out), "--force"])
            except BaseException as e:   # what main let escape: the defect this test looks for
                rc, err = -1, io.StringIO(f"{type(e).__name__}: {e}")
        with contextlib.suppress(FileNotFoundError):
            out.unlink()
        print(json.dumps({"case": f.name, "rc": rc, "stderr": err.getvalue()}), flush=True)
    print(json.dumps({"peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def run_fuzz(tmp_path: Path, per_kind: int, seed: int) -> dict:
    """Runs the cases and checks them; returns a summary (cases, exit-2 and decoded counts, peak RSS)."""
    rng = np.random.default_rng(seed)
    must_fail = {}
    for codec, name in FILES.items():
        for i, (kind, data, fail) in enumerate(cases((GOLDEN / name).read_bytes(), per_kind, rng)):
            case = f"{codec}-{i:04d}-{kind.replace(' ', '_')}.ncdc"
            (tmp_path / case).write_bytes(data)
            must_fail[case] = fail
    env = dict(os.environ, NEURALCODEC_MAX_MEMORY="2", NEURALCODEC_WEIGHTS=str(tmp_path / "no-weights"))
    p = subprocess.run([sys.executable, __file__, str(tmp_path)], capture_output=True, text=True, env=env,
                       timeout=3000)
    assert p.returncode == 0, p.stderr[-3000:]
    *rows, last = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(rows) == len(must_fail)
    for r in rows:
        assert r["rc"] in (0, 2), r
        assert "Traceback" not in r["stderr"], r
        if r["rc"] == 2:
            assert r["stderr"].startswith("neuralcodec: error: ") and r["stderr"].count("\n") == 1, r
        if must_fail[r["case"]]:
            assert r["rc"] == 2, r
    assert sum(r["rc"] == 2 for r in rows) > len(rows) // 2
    assert last["peak_rss"] < CEILING_BYTES, f"peak RSS {last['peak_rss'] / 1e9:.2f} GB"
    return {"cases": len(rows), "exit_2": sum(r["rc"] == 2 for r in rows), "decoded": sum(r["rc"] == 0 for r in rows),
            "peak_rss_gb": round(last["peak_rss"] / 1e9, 2)}


def test_fuzz_small(tmp_path):
    run_fuzz(tmp_path, per_kind=6, seed=0)


@pytest.mark.slow
def test_fuzz_full(tmp_path, capsys):
    summary = run_fuzz(tmp_path, per_kind=75, seed=1)
    with capsys.disabled():   # the figures: `pytest -m slow tests/test_fuzz.py -s`
        print(json.dumps(summary))


if __name__ == "__main__":
    decode_all(Path(sys.argv[1]))
