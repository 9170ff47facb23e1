"""How much of each GDN's normalization is cross-channel: the off-diagonal share of gamma, as JSON.

    python research/gdn_cross.py [WEIGHTS ...]   (default: the shipped mref)

Weights trained while GDN's off-diagonal started at exactly 0 print 0 everywhere: a
squared parameter at exactly 0 never moves.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def shares(path: Path) -> dict:
    import torch
    from safetensors.torch import load_file
    out = {}
    for name, p in sorted(load_file(str(path)).items()):
        if name.endswith(".gamma"):
            gamma = p.double().pow(2)
            diag = torch.diagonal(gamma).sum()
            out[name] = round(float((gamma.sum() - diag) / gamma.sum()), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    paths = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        from neuralcodec.codecs.image.learned import ASSETS
        paths = [ASSETS / "mref.safetensors"]
    print(json.dumps({str(p): shares(p) for p in paths}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
