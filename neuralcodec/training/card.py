"""Model cards for shipped weights: what trained them and what they measure.

``neuralcodec train card WEIGHTS --results RD/results.json --command "..."`` writes
``WEIGHTS`` with ``.md``: the data, the command, steps, wall time and device (from the weights'
metadata, written by the training run), and the measured RD points and BD-rates (from
``eval rd``), so no figure in a card is typed by hand.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import NeuralCodecError


def _metadata(weights: Path) -> dict:
    from safetensors import safe_open
    try:
        with safe_open(str(weights), "pt") as f:
            meta = f.metadata() or {}
    except OSError as e:
        raise NeuralCodecError(f"{weights}: not a safetensors file ({e})") from None
    return {"model": meta.get("model", "?"), "config": json.loads(meta.get("config", "{}")),
            "card": json.loads(meta.get("card", "{}"))}


LOSSY_SOURCES = {"fillets-ng-data": "lossy (Vorbis) speech", "warzone2100-music": "lossy (Opus) music",
                 "espeak-ng": "synthetic speech"}


def _recipe(meta: dict) -> list[str]:
    card, cfg = meta["card"], meta["config"]
    t = card.get("config", {})
    if meta["model"] == "speech":
        fps = 16000 / (cfg.get("hop", 160) * cfg.get("stride", 2))
        return [f"- recipe: {t.get('segment')} s segments of speech at 16 kHz, batch {t.get('batch_size')}, lr "
                f"{t.get('lr')} (cosine to 5%), books drawn 1..{cfg.get('books')} per batch, L1 on log magnitudes "
                f"(below 4 kHz x{t.get('low_band_weight')}), commitment {t.get('commit')}",
                f"- tokens: {fps:g} frames per second, {cfg.get('books')} books of {cfg.get('codes')} codes; quality "
                f"1, 2, 3 use {', '.join(map(str, cfg.get('rates', [])))} books. The prior costs "
                f"{card.get('prior_bits_per_token', '?')} bits per token of each book on {card.get('prior_frames', '?')} "
                f"training frames (codes seen: {card.get('codes_used', '?')})",
                f"- training audio: {card.get('seconds_of_audio', '?')} s of speech in {card.get('data_files', '?')} "
                f"clips (`audio-train`'s speech packages; {LOSSY_SOURCES['fillets-ng-data']} among them)"]
    if meta["model"] != "wavtok":
        return [f"- recipe: crop {t.get('crop')}, batch {t.get('batch_size')}, lr {t.get('lr')}"]
    hop = 1
    for s in cfg.get("strides", []):
        hop *= s
    tps = 24000 / hop if hop > 1 else 0
    bits = (cfg.get("codes", 1) - 1).bit_length()
    lines = [f"- recipe: {t.get('segment')} s segments, batch {t.get('batch_size')}, lr {t.get('lr')}, "
             f"GAN from step {t.get('gan_start')}, loss weights {t.get('weights')}, speech share {t.get('speech_weight')}",
             f"- tokens: {tps:g} per second, {cfg.get('codes')} codes ({cfg.get('quantizer')}): nominal "
             f"{tps * bits / 1000:.3f} kbps; the class-bigram prior costs {card.get('prior_bits_per_token', '?')} "
             f"bits/token on {card.get('prior_tokens', '?')} training tokens "
             f"({card.get('codes_used', '?')} codes seen)",
             f"- training audio: {card.get('seconds_of_audio', '?')} s in {card.get('data_files', '?')} clips, "
             f"{card.get('speech_files', '?')} of them speech. Lossy or synthetic sources in `audio-train`: "
             + "; ".join(f"{k} ({v})" for k, v in LOSSY_SOURCES.items())]
    return lines


def render(weights: Path, results: dict | None, command: str) -> str:
    meta = _metadata(weights)
    card, cfg = meta["card"], meta["config"]
    train_cfg = card.get("config", {})
    lines = [f"# {weights.name}", "",
             f"- model: `{meta['model']}`, config `{json.dumps(cfg)}`",
             f"- data: `{train_cfg.get('data', '?')}` ({card.get('data_files', '?')} files; see docs/data.md)",
             f"- command: `{command}`",
             f"- steps: {card.get('steps', '?')}; wall time: {card.get('wall_seconds_total', '?')} s over all runs "
             f"({card.get('wall_seconds_this_run', '?')} s in the last); "
             f"device: {card.get('device', '?')}", *_recipe(meta), ""]
    if results:
        rate = results["rate"]
        first = next(iter(results["curves"].values()))["results"]
        metrics = [k for k in first if k not in ("point", rate, "encode_s", "decode_s")]
        lines += [f"## Measured on {len(results.get('files', []))} files (`neuralcodec eval rd`)", "",
                  f"| codec | point | {rate} | " + " | ".join(metrics) + " |", "|---" * (3 + len(metrics)) + "|"]
        fmt_v = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        for name, c in results["curves"].items():
            r = c["results"]
            for i, p in enumerate(r["point"]):
                cells = [fmt_v(r.get(m, [None] * len(r["point"]))[i]) for m in metrics]
                lines.append(f"| {name} | {p} | {fmt_v(r[rate][i])} | " + " | ".join(cells) + " |")
        ours = [n for n in results["curves"] if "@" in n or n == meta["model"]]
        bd_metric = next(iter(results["bd_rate"]), None)
        if ours and bd_metric:
            lines += ["", f"BD-rate of `{ours[0]}` on {bd_metric} (cubic / PCHIP), negative = fewer bits:", ""]
            for anchor, entries in results["bd_rate"][bd_metric].items():
                e = entries.get(ours[0]) if anchor != ours[0] else None
                if e:
                    fmt = lambda v: "n/a" if v is None else f"{v:+.1f}%"  # noqa: E731
                    lines.append(f"- vs {anchor}: {fmt(e['cubic'])} / {fmt(e['pchip'])}")
    return "\n".join(lines) + "\n"


def write_card(weights: Path, results_path: Path | None, command: str) -> Path:
    results = json.loads(Path(results_path).read_text()) if results_path else None
    out = weights.with_suffix(".md")
    out.write_text(render(weights, results, command))
    return out
