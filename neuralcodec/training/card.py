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


def render(weights: Path, results: dict | None, command: str) -> str:
    meta = _metadata(weights)
    card, cfg = meta["card"], meta["config"]
    train_cfg = card.get("config", {})
    lines = [f"# {weights.name}", "",
             f"- model: `{meta['model']}`, config `{json.dumps(cfg)}`",
             f"- data: `{train_cfg.get('data', '?')}` ({card.get('data_files', '?')} files; see ../shared/DATA.md)",
             f"- command: `{command}`",
             f"- steps: {card.get('steps', '?')}; wall time: {card.get('wall_seconds_total', '?')} s over all runs "
             f"({card.get('wall_seconds_this_run', '?')} s in the last); "
             f"device: {card.get('device', '?')}",
             f"- recipe: crop {train_cfg.get('crop')}, batch {train_cfg.get('batch_size')}, lr {train_cfg.get('lr')}", ""]
    if results:
        rate = results["rate"]
        lines += [f"## Measured on {len(results.get('files', []))} files (`neuralcodec eval rd`)", "",
                  f"| codec | point | {rate} | PSNR-RGB | MS-SSIM |", "|---|---|---|---|---|"]
        for name, c in results["curves"].items():
            r = c["results"]
            for i, p in enumerate(r["point"]):
                ms = r.get("ms-ssim", [None] * len(r["point"]))[i]
                lines.append(f"| {name} | {p} | {r[rate][i]:.4f} | {r['psnr-rgb'][i]:.2f} | "
                             f"{'n/a' if ms is None else f'{ms:.4f}'} |")
        ours = [n for n in results["curves"] if "@" in n or n == meta["model"]]
        if ours:
            lines += ["", f"BD-rate of `{ours[0]}` on PSNR-RGB (cubic / PCHIP), negative = fewer bits:", ""]
            for anchor, entries in results["bd_rate"]["psnr-rgb"].items():
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
