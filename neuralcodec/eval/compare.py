"""Read a sweep's ``results.json`` (``neuralcodec eval rd``) and compare its curves.

    bd_rates(results, codec, metric, points)   BD-rate of one codec (some of its points) vs every other
    gap(results, codec, anchor, metric)        point by point: extra bits against an anchor at equal quality

BD-rate is one average over the common quality range; :func:`gap` says where along the curve
the difference lies (the anchor's rate at each point's quality, PCHIP of log-rate through the
anchor's points, see :func:`.bd.rate_at_quality`). Negative = fewer bits than the other codec.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import NeuralCodecError
from .bd import METHODS, bd_rate, rate_at_quality


def load_results(path: Path) -> dict:
    """``results.json`` of a sweep, or a one-line error."""
    try:
        results = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise NeuralCodecError(f"{path}: not a results.json of `neuralcodec eval rd` ({e})") from None
    if not isinstance(results, dict) or not isinstance(results.get("curves"), dict) or "rate" not in results:
        raise NeuralCodecError(f"{path}: not a results.json of `neuralcodec eval rd` (no curves or rate)")
    return results


def _curve(results: dict, name: str, metric: str) -> dict:
    curves = results["curves"]
    if name not in curves:
        raise NeuralCodecError(f"{name} is not in the sweep; there: {', '.join(curves)}")
    r = curves[name]["results"]
    if metric not in r:
        raise NeuralCodecError(f"no {metric} for {name} in the sweep")
    return r


def bd_rates(results: dict, codec: str, metric: str = "psnr-rgb", points: list[str] | None = None) -> dict:
    """BD-rate (%) of ``codec`` against every other curve, cubic and PCHIP; ``points`` keeps only
    those points of ``codec`` (e.g. the lambdas another model was trained at)."""
    rate, mine = results["rate"], _curve(results, codec, metric)
    idx = [i for i, p in enumerate(mine["point"]) if points is None or str(p) in points]
    test = ([mine[rate][i] for i in idx], [mine[metric][i] for i in idx])
    out = {"codec": codec, "points": [mine["point"][i] for i in idx], "metric": metric, "bd_rate": {}}
    for name, c in results["curves"].items():
        r = c["results"]
        if name != codec and metric in r:
            out["bd_rate"][name] = {m: bd_rate(r[rate], r[metric], *test, method=m) for m in METHODS}
    return out


def gap(results: dict, codec: str, anchor: str, metric: str = "psnr-rgb") -> dict:
    """Per point of ``codec``: its rate and quality, the anchor's rate at that quality and the
    difference in percent (None outside the anchor's quality range)."""
    rate = results["rate"]
    test, ref = _curve(results, codec, metric), _curve(results, anchor, metric)
    anchor_rates = rate_at_quality(ref[rate], ref[metric], test[metric])
    rows = [{"point": point, rate: round(r, 4), metric: round(d, 4),
             f"{anchor}_{rate}": None if ra is None else round(ra, 4),
             "difference_%": None if ra is None else round(100 * (r / ra - 1), 1)}
            for point, r, d, ra in zip(test["point"], test[rate], test[metric], anchor_rates)]
    return {"codec": codec, "anchor": anchor, "metric": metric, "points": rows}
