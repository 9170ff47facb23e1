"""Rewrite learned image weights in the packed format of ``neuralcodec/codecs/image/weights.py``.

    python scripts/pack_weights.py IN.safetensors OUT.safetensors [--force]

The exact networks keep their integers (every table row and mean is unchanged), the transforms
go to float16: about half the bytes. Metadata (model, config, card) is carried over. Training
exports are already packed; this is for float32 files written before that. Prints JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--force", action="store_true", help="overwrite DST")
    a = ap.parse_args(argv)
    from safetensors import safe_open
    from neuralcodec.codecs.image.learned import load_model
    from neuralcodec.codecs.image.weights import write
    from neuralcodec.errors import NeuralCodecError
    src, dst = Path(a.src), Path(a.dst)
    try:
        model = load_model(src)
        with safe_open(str(src), "pt") as f:
            meta = {k: v for k, v in (f.metadata() or {}).items() if k != "fixed_point"}
        write(model, dst, meta, force=a.force)
    except NeuralCodecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"src": str(src), "dst": str(dst), "src_bytes": src.stat().st_size,
                      "dst_bytes": dst.stat().st_size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
