"""``neuralcodec eval rd``: rate-distortion sweeps of our codecs and standard ones, side by side.

Each (codec, point, file) is coded and decoded once; its row (rate from the bytes written,
metrics, encode/decode seconds) is appended to ``points.jsonl`` as soon as it exists, so an
interrupted sweep resumes where it stopped. From the rows it writes:

    results.json   per-file rows; per codec the averaged curve in CompressAI's layout
                   {"name", "results": {"bpp" | "kbps": [...], "<metric>": [...], ...}};
                   BD-rate (cubic and PCHIP) and BD-quality for every ordered pair
    bd.md          the BD tables as Markdown
    rd_<metric>.png one plot per metric
Curves average rate and metrics over files at each point (as CompressAI's eval does).
Video bpp = bytes * 8 / (width * height * frames); video inputs here are already lossy-coded.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..errors import NeuralCodecError
from . import bd
from .baselines import Baseline, get_baseline

METRICS = {"image": ("psnr-rgb", "ms-ssim"), "audio": ("stoi", "pesq-wb", "log-mel-l1", "log-mel-4k", "si-sdr"),
           "video": ("psnr-rgb", "ms-ssim")}
BD_METRICS = {"image": ("psnr-rgb", "ms-ssim"), "audio": ("stoi", "pesq-wb"), "video": ("psnr-rgb", "ms-ssim")}
RATE = {"image": "bpp", "audio": "kbps", "video": "bpp"}
MAX_FRAMES = 0  # video: 0 = all frames; set by ``--max-frames``


def _load(modality: str, path: Path):
    if modality == "image":
        from ..media import load_image
        return load_image(path).pixels
    if modality == "video":
        import av
        try:
            with av.open(str(path)) as c:
                frames = []
                for f in c.decode(video=0):
                    frames.append(f.to_ndarray(format="rgb24"))
                    if MAX_FRAMES and len(frames) >= MAX_FRAMES:
                        break
                fps = float(c.streams.video[0].average_rate or 25)
        except av.error.FFmpegError as e:
            raise NeuralCodecError(f"{path}: not readable video ({e})") from None
        return np.stack(frames), fps
    from ..media import load_audio
    audio = load_audio(path)
    return audio.samples.mean(0), audio.sample_rate   # downmix to mono


def _measure(modality: str, b: Baseline, point, media) -> dict:
    from .metrics import audio_metrics, image_metrics, resample, video_metrics
    t0 = time.perf_counter()
    data = b.encode(media, point)
    t1 = time.perf_counter()
    out = b.decode(data)
    t2 = time.perf_counter()
    if modality == "image":
        h, w = media.shape[:2]
        rate = {"bpp": 8 * len(data) / (h * w)}
        metrics = image_metrics(media, out)
    elif modality == "video":
        t, h, w = media[0].shape[:3]
        rate = {"bpp": 8 * len(data) / (t * h * w)}
        metrics = video_metrics(media[0], out[0])
    else:
        x, sr = media
        y, ysr = out
        rate = {"kbps": 8 * len(data) / (len(x) / sr) / 1000}
        metrics = audio_metrics(x, resample(y, ysr, sr), sr)
    return {"bytes": len(data), **rate, **metrics, "encode_s": t1 - t0, "decode_s": t2 - t1}


def _read_rows(path: Path) -> list[dict]:
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by an interruption
                continue
    return rows


def _key(codec: str, point, file: str) -> tuple:
    return codec, json.dumps(point), file


def sweep(modality: str, files: list[Path], codecs: list[str], out_dir: Path, progress: bool = True) -> dict:
    """Run (or resume) the sweep and write its reports; returns the results dict."""
    if modality not in METRICS:
        raise NeuralCodecError(f"modality must be one of {sorted(METRICS)}")
    if not files:
        raise NeuralCodecError("no input files")
    baselines = []
    for name in codecs:
        try:
            b = get_baseline(name)
        except KeyError as e:
            raise NeuralCodecError(str(e.args[0])) from None
        if b.modality != modality:
            raise NeuralCodecError(f"{name} is a {b.modality} codec, not {modality}")
        if not b.available():
            raise NeuralCodecError(f"{name} is not available on this machine (see scripts/sysdeps.sh)")
        baselines.append(b)
    out_dir.mkdir(parents=True, exist_ok=True)
    points_path = out_dir / "points.jsonl"
    rows = _read_rows(points_path)
    done = {_key(r["codec"], r["point"], r["file"]) for r in rows}
    jobs = [(b, p, f) for b in baselines for p in b.points for f in files
            if _key(b.name, p, str(f)) not in done]
    from tqdm import tqdm
    cache: dict[Path, object] = {}
    with open(points_path, "a") as sink:
        if points_path.stat().st_size and not points_path.read_bytes().endswith(b"\n"):
            sink.write("\n")  # the last row was cut by an interruption: start a fresh line
        for b, p, f in tqdm(jobs, desc="rd sweep", unit="pt", disable=not progress):
            if f not in cache:
                cache.clear()
                cache[f] = _load(modality, f)
            row = {"codec": b.name, "param": b.param, "point": p, "file": str(f),
                   **_measure(modality, b, p, cache[f])}
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            rows.append(row)
    wanted = {b.name for b in baselines}
    file_set = {str(f) for f in files}
    rows = [r for r in rows if r["codec"] in wanted and r["file"] in file_set]
    results = summarize(modality, rows, [b.name for b in baselines])
    results["files"] = sorted(file_set)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    (out_dir / "bd.md").write_text(bd_markdown(results))
    plot(results, out_dir)
    return results


def summarize(modality: str, rows: list[dict], order: list[str]) -> dict:
    rate = RATE[modality]
    keys = (rate, *METRICS[modality], "encode_s", "decode_s")
    curves = {}
    for name in order:
        mine = [r for r in rows if r["codec"] == name]
        points = sorted({json.dumps(r["point"]) for r in mine}, key=lambda p: np.mean(
            [r[rate] for r in mine if json.dumps(r["point"]) == p]))
        res: dict[str, list] = {k: [] for k in ("point", *keys)}
        for p in points:
            at = [r for r in mine if json.dumps(r["point"]) == p]
            res["point"].append(json.loads(p))
            for k in keys:
                vals = [r[k] for r in at if r.get(k) is not None]
                res[k].append(float(np.mean(vals)) if len(vals) == len(at) else None)
        curves[name] = {"name": name, "results": res}
    table = {}
    for metric in BD_METRICS[modality]:
        for a in order:
            for t in order:
                if a == t:
                    continue
                ra, rt = curves[a]["results"], curves[t]["results"]
                entry = {m: bd.bd_rate(ra[rate], ra[metric], rt[rate], rt[metric], m) for m in bd.METHODS}
                entry["bd_quality_cubic"] = bd.bd_quality(ra[rate], ra[metric], rt[rate], rt[metric])
                table.setdefault(metric, {}).setdefault(a, {})[t] = entry
    return {"modality": modality, "rate": rate, "rows": rows, "curves": curves, "bd_rate": table}


def bd_markdown(results: dict) -> str:
    out = []
    for metric, by_anchor in results["bd_rate"].items():
        names = list(results["curves"])
        out.append(f"### BD-rate (%) on {metric}, cubic / PCHIP: test (row) vs anchor (column)\n")
        out.append("| test \\ anchor | " + " | ".join(names) + " |")
        out.append("|---" * (len(names) + 1) + "|")
        for t in names:
            cells = []
            for a in names:
                if a == t:
                    cells.append("—")
                    continue
                e = by_anchor[a][t]
                fmt = lambda v: "n/a" if v is None else f"{v:+.1f}"  # noqa: E731
                cells.append(f"{fmt(e['cubic'])} / {fmt(e['pchip'])}")
            out.append(f"| {t} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def _is_exact(metric: str, value: float) -> bool:
    from .metrics import PSNR_CAP
    return (metric == "psnr-rgb" and value >= PSNR_CAP) or (metric in ("ms-ssim", "stoi") and value >= 1 - 1e-9)


def plot(results: dict, out_dir: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rate, paths = results["rate"], []
    for metric in METRICS[results["modality"]]:
        fig, ax = plt.subplots(figsize=(6.4, 4.8))
        for name, c in results["curves"].items():
            r = c["results"]
            pts = [(x, y) for x, y in zip(r[rate], r[metric]) if x is not None and y is not None]
            if pts and all(_is_exact(metric, y) for _, y in pts):  # lossless: off the scale
                ax.plot([], [], " ", label=f"{name} (exact, {pts[0][0]:.3g} {rate})")
            elif pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, "o-" if len(pts) > 1 else "s", label=name, ms=4)
        rates = [x for c in results["curves"].values() for x in c["results"][rate] if x]
        if rates and max(rates) / min(rates) > 20:
            ax.set_xscale("log")
        ax.set_xlabel(rate)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.set_title(f"{metric} vs {rate} ({len(results['files']) if 'files' in results else '?'} files)")
        path = out_dir / f"rd_{metric}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths
