"""BD-rate of one codec of a sweep with only some of its points, against every other codec.

    python scripts/bd_points.py runs/image-wide/results.json --codec mref@mref-wide.safetensors \
        --points 2,3,4,5,6,7 [--metric psnr-rgb]

Compares a model with more quality points to figures measured on fewer (e.g. nine lambdas
against a model trained at six of them) over the same lambdas. Reads ``results.json`` of
``neuralcodec eval rd``; prints JSON (cubic and PCHIP, negative = fewer bits).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from neuralcodec.eval.bd import METHODS, bd_rate
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--codec", required=True)
    ap.add_argument("--points", required=True, help="comma-separated points of --codec to keep")
    ap.add_argument("--metric", default="psnr-rgb")
    a = ap.parse_args(argv)
    results = json.loads(Path(a.results).read_text())
    rate, curves = results["rate"], results["curves"]
    if a.codec not in curves:
        raise SystemExit(f"{a.codec} is not in {a.results}; there: {', '.join(curves)}")
    keep = {p.strip() for p in a.points.split(",")}
    mine = curves[a.codec]["results"]
    idx = [i for i, p in enumerate(mine["point"]) if str(p) in keep]
    test = ([mine[rate][i] for i in idx], [mine[a.metric][i] for i in idx])
    out = {"codec": a.codec, "points": [mine["point"][i] for i in idx], "metric": a.metric, "bd_rate": {}}
    for name, c in curves.items():
        if name != a.codec:
            r = c["results"]
            out["bd_rate"][name] = {m: bd_rate(r[rate], r[a.metric], *test, method=m) for m in METHODS}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
