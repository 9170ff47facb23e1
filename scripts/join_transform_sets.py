"""Give some qualities of mref weights the transforms of another run (a transform set of their own).

    python scripts/join_transform_sets.py BASE OTHER --qualities 7,8,9,10,11 OUT [--force]

OTHER must come from BASE (or share its entropy model bit for bit) through a recipe with
``"transforms_only": true`` (e.g. configs/mref-high-cpu.json); see neuralcodec/training/transform_sets.py.
Every other quality then codes exactly as BASE does, and QUALITIES exactly as OTHER does.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base")
    ap.add_argument("other")
    ap.add_argument("out")
    ap.add_argument("--qualities", required=True, help="1-based, comma-separated")
    ap.add_argument("--force", action="store_true", help="replace OUT if it exists")
    a = ap.parse_args(argv)
    from neuralcodec.errors import NeuralCodecError
    from neuralcodec.training.transform_sets import write_joined
    try:
        qualities = [int(q) for q in a.qualities.split(",")]
        print(write_joined(Path(a.base), Path(a.other), qualities, Path(a.out), a.force))
    except ValueError:
        print(f"error: --qualities takes comma-separated integers, got {a.qualities!r}", file=sys.stderr)
        return 2
    except NeuralCodecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
