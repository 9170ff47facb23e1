"""The commands of people who build and measure codecs: ``train``, ``eval``, ``bench``, ``data``.

Split from cli.py (the console script's parser and the user-facing commands); like it, this
module imports lazily, so loading it costs nothing until one of these commands runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import NeuralCodecError


def _bench_device(a: argparse.Namespace) -> str:
    if a.device not in ("cpu", "cuda"):
        raise NeuralCodecError(f"--device {a.device}: cpu or cuda")
    if a.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise NeuralCodecError("--device cuda: no CUDA device here")
    return a.device


def cmd_bench(a: argparse.Namespace) -> int:
    audio_codecs = ("wavtok40", "speech")
    if (a.codec in audio_codecs) != (a.what == "audio" and a.codec is not None):
        raise NeuralCodecError(f"bench {a.what} does not take --codec {a.codec}")
    if a.what != "audio":
        a.codec = a.codec or "hyperprior"
    if a.what == "audio":
        from .eval.bench_audio import run as run_audio
        if not 1 <= a.seconds <= 36_000 or not 0 <= a.long_seconds <= 36_000:
            raise NeuralCodecError("--seconds and --long-seconds must be at most 36000")
        try:
            report = run_audio(a.seconds, a.long_seconds, a.weights, device=_bench_device(a),
                               name=a.codec or "wavtok40", quality=a.quality)
        except ValueError as e:   # a quality the codec does not take
            raise NeuralCodecError(str(e)) from None
        print(json.dumps(report, indent=2))
        return 0
    if a.what == "kernels":
        from .eval.bench_kernels import run as run_kernels
        if not 1 <= a.symbols <= 100_000_000:
            raise NeuralCodecError("--symbols must be in 1..100000000")
        print(json.dumps(run_kernels(a.symbols, a.repeats, device=_bench_device(a)), indent=2))
        return 0
    if a.what == "memory":
        from .eval.bench_memory import run as run_memory
        print(json.dumps(run_memory(a.size, a.codec, a.weights), indent=2))
        return 0
    if a.what == "video":
        from .codecs.video.nerv_codec import NervCodec
        from .eval.bench_video import run as run_video
        try:
            effort = NervCodec.check_effort(a.effort)
        except ValueError as e:
            raise NeuralCodecError(str(e)) from None
        if not 1 <= a.frames <= 100_000:
            raise NeuralCodecError("--frames must be in 1..100000")
        print(json.dumps(run_video(a.clip and Path(a.clip), a.frames, effort, a.repeats, device=_bench_device(a)),
                         indent=2))
        return 0
    if a.what == "image" and a.codec == "overfit":
        from .codecs.image.overfit_codec import OverfitCodec
        from .eval.bench_overfit import run as run_overfit
        try:
            effort = OverfitCodec.check_effort(a.effort)
        except ValueError as e:
            raise NeuralCodecError(str(e)) from None
        print(json.dumps(run_overfit(effort, a.repeats, device=_bench_device(a)), indent=2))
        return 0
    if a.what == "image":
        from .eval.bench_image import run as run_image
        from .codecs.image.refine import check_steps
        print(json.dumps(run_image(a.repeats, weights=a.weights, codec=a.codec, device=_bench_device(a),
                                   refine=check_steps(a.refine), precision=a.precision), indent=2))
        return 0
    from .eval.bench_entropy import run
    if a.symbols < 1 or a.symbols > 100_000_000:
        raise NeuralCodecError("--symbols must be in 1..100000000")
    report = run(a.symbols, a.repeats, a.seed, anchors=not a.no_anchors)
    if a.json:
        print(json.dumps(report, indent=2))
    else:
        print(_bench_text(report))
    return 0


def _bench_text(r: dict) -> str:
    lines = [f"{r['symbols']} symbols, ideal {r['ideal_bits'] / r['symbols']:.4f} bits/symbol"]
    for k in ("ours", "constriction", "compressai", "ours_cuda"):
        if k in r:
            e = r[k]
            lines.append(f"  {k:<13} encode {e['encode_msym_s']:8.2f} Msym/s  decode {e['decode_msym_s']:8.2f} Msym/s  "
                         f"{e['bits'] / r['symbols']:.4f} bits/symbol  round trip {'ok' if e['roundtrip'] else 'FAILED'}")
    if "overhead_pct" in r["ours"]:
        lines.append(f"  rate overhead of ours over ideal: {r['ours']['overhead_pct']:.4f}%")
    for k, v in r.get("ratios", {}).items():
        lines.append(f"  ours {k.replace('_', ' ')}: {v:.2f}x")
    return "\n".join(lines)


def cmd_eval(a: argparse.Namespace) -> int:
    if a.what in ("bd", "gap"):
        from .eval.compare import bd_rates, gap, load_results
        results = load_results(Path(a.results))
        out = (gap(results, a.codec, a.anchor, a.metric) if a.what == "gap" else
               bd_rates(results, a.codec, a.metric, a.points and {p.strip() for p in a.points.split(",")}))
        print(json.dumps(out, indent=1))
        return 0
    from .datasets import split_files
    from .eval import rd
    from .eval.rd import RATE, sweep
    rd.MAX_FRAMES = a.max_frames
    from .media import AUDIO_EXTS, IMAGE_EXTS, VIDEO_EXTS
    exts = {"image": IMAGE_EXTS, "audio": AUDIO_EXTS, "video": VIDEO_EXTS}[a.modality]
    files = [f for f in split_files(a.data, Path(a.data_dir)) if f.suffix.lower() in exts]
    if not files:
        raise NeuralCodecError(f"no {a.modality} files in {a.data}")
    if a.limit:
        files = files[: a.limit]
    if a.codecs:
        codecs = [c for c in a.codecs.split(",") if c]
    else:
        from .codecs.base import codec_infos
        from .eval.baselines import get_baseline, standard_names
        codecs = [i.name for i in codec_infos() if i.modality == a.modality and not i.fits]
        codecs += [n for n in standard_names(a.modality) if get_baseline(n).available()]
        slow = [i.name for i in codec_infos() if i.modality == a.modality and i.fits]
        if slow:
            print(f"not sweeping {', '.join(slow)} (its encoder fits a network: minutes an image); "
                  f"name it in --codecs", file=sys.stderr)
    results = sweep(a.modality, files, codecs, Path(a.out), progress=not a.no_progress)
    rate = RATE[a.modality]
    for name, c in results["curves"].items():
        r = c["results"]
        pts = ", ".join(f"{x:.3g}" for x in r[rate])
        print(f"{name:<10} {rate}: {pts}")
    print(f"wrote {Path(a.out) / 'results.json'}, bd.md and rd_*.png ({len(files)} files)")
    return 0


def cmd_data(a: argparse.Namespace) -> int:
    from .datasets import fetch
    rows = fetch(a.what, Path(a.dest), record=a.record, log=lambda m: print(m, file=sys.stderr))
    by_split: dict[str, list[int]] = {}
    for r in rows:
        by_split.setdefault(r["split"], []).append(r["bytes"])
    for split, sizes in sorted(by_split.items()):
        print(f"{split:<12} {len(sizes):4d} files {sum(sizes) / 1e6:9.1f} MB")
    print(f"manifest: {Path(a.dest) / 'manifest.json'}")
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    if a.modality == "card":
        from .training.card import write_card
        if not a.weights:
            raise NeuralCodecError("train card needs --weights FILE")
        print(write_card(Path(a.weights), Path(a.results) if a.results else None, a.command or "?"))
        return 0
    if not a.config:
        raise NeuralCodecError("--config is required")
    if a.max_minutes is not None and a.max_minutes <= 0:
        raise NeuralCodecError("--max-minutes must be positive")
    if a.stop_at is not None and a.stop_at <= 0:
        raise NeuralCodecError("--stop-at must be positive")
    if a.modality == "video":
        raise NeuralCodecError("the video codec (nerv) needs no training: its encoder fits each clip "
                               "(`neuralcodec encode CLIP OUT`)")
    from .training.config import AudioTrainConfig, SpeechTrainConfig, load_config
    cfg = load_config(a.config, {"max_steps": a.max_steps, "out": a.out})
    if isinstance(cfg, (AudioTrainConfig, SpeechTrainConfig)) != (a.modality == "audio"):
        raise NeuralCodecError(f"{a.config} is not a recipe for {a.modality} (model {cfg.model!r})")
    if isinstance(cfg, SpeechTrainConfig):
        from .training import speech
        if a.export_from:
            summary = speech.export_checkpoint(cfg, Path(a.export_from), Path(cfg.out).expanduser() / "speech.safetensors")
        else:
            summary = speech.train(cfg, a.accelerator, a.devices, progress=not a.no_progress,
                                   max_minutes=a.max_minutes, stop_at=a.stop_at)
    elif a.modality == "audio":
        from .training.audio import audio_files, train as train_audio
        if a.export_from:
            from .training.audio import export_checkpoint
            out = Path(cfg.out).expanduser() / "wavtok.safetensors"
            summary = export_checkpoint(cfg, Path(a.export_from), out)
        else:
            files, speech = audio_files(cfg.data, cfg.data_dir)
            summary = train_audio(cfg, files, speech, a.accelerator, a.devices, progress=not a.no_progress,
                                  max_minutes=a.max_minutes, stop_at=a.stop_at)
    else:
        from .training.image import export_checkpoint, image_files, train
        if a.export_from:
            out = Path(cfg.out).expanduser() / f"{cfg.model}.safetensors"
            summary = export_checkpoint(cfg, Path(a.export_from), out)
        else:
            summary = train(cfg, image_files(cfg.data, cfg.data_dir), a.accelerator, a.devices,
                            progress=not a.no_progress, max_minutes=a.max_minutes, stop_at=a.stop_at)
    print(json.dumps(summary, indent=1))
    return 0
