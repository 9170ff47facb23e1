"""Point by point: how many more (or fewer) bits a codec spends than an anchor at equal quality.

    python scripts/rd_gap.py runs/image-s13/results.json --codec mref@mref-s13.safetensors \
        --anchor webp [--metric psnr-rgb]

BD-rate is one average over the common quality range; this prints, for each point of
``--codec`` (mean rate and quality over the sweep's files, as ``neuralcodec eval rd`` reports
them), the anchor's rate at the same quality (PCHIP of log-rate through the anchor's points,
see ``neuralcodec.eval.bd.rate_at_quality``) and the difference in percent (negative = fewer
bits). Points outside the anchor's quality range get null. JSON on stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def gap(results: dict, codec: str, anchor: str, metric: str) -> dict:
    from neuralcodec.eval.bd import rate_at_quality
    curves, rate = results["curves"], results["rate"]
    for name in (codec, anchor):
        if name not in curves:
            raise SystemExit(f"rd_gap: {name} is not in the sweep; there: {', '.join(curves)}")
    test, ref = curves[codec]["results"], curves[anchor]["results"]
    if metric not in test or metric not in ref:
        raise SystemExit(f"rd_gap: no {metric} in the sweep")
    anchor_rates = rate_at_quality(ref[rate], ref[metric], test[metric])
    rows = []
    for point, r, d, ra in zip(test["point"], test[rate], test[metric], anchor_rates):
        rows.append({"point": point, rate: round(r, 4), metric: round(d, 4),
                     f"{anchor}_{rate}": None if ra is None else round(ra, 4),
                     "difference_%": None if ra is None else round(100 * (r / ra - 1), 1)})
    return {"codec": codec, "anchor": anchor, "metric": metric, "points": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--codec", required=True)
    ap.add_argument("--anchor", required=True)
    ap.add_argument("--metric", default="psnr-rgb")
    a = ap.parse_args(argv)
    print(json.dumps(gap(json.loads(Path(a.results).read_text()), a.codec, a.anchor, a.metric), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
