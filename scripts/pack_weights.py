"""Rewrite learned image weights in the packed format of ``neuralcodec/codecs/image/weights.py``.

    python scripts/pack_weights.py IN.safetensors OUT.safetensors [--drop-res-blocks] [--force]

The exact networks keep their integers (every table row and mean is unchanged), the transforms
go to float16: about half the bytes. Metadata (model, config, card) is carried over. Training
exports are already packed; this is for float32 files written before that.

``--drop-res-blocks`` also removes an mref's residual blocks (``res_blocks``): the plain
transforms remain, every other tensor is kept, the config loses ``res_blocks`` and the card
metadata records what was dropped (``dropped``: the largest weight of each block's last
convolution, which starts at 0; 0 everywhere means the blocks were still the identity and
nothing changes). Blocks that learned something code differently without them: measure both
with ``neuralcodec eval rd`` before shipping the smaller one. Prints JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def drop_res_blocks(model, meta: dict[str, str]):
    """``(plain model, its metadata, {block: largest last-conv weight})`` of an mref with blocks."""
    from neuralcodec.codecs.image.learned import build_model
    config = {k: v for k, v in json.loads(meta["config"]).items() if k != "res_blocks"}
    plain = build_model(meta["model"], config)
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if ".res" not in k})  # strict
    dropped = {f"{side}.{name}": round(float(block.c.weight.detach().abs().max()), 6)
               for side in ("g_a", "g_s") for name, block in getattr(model, side).named_children()
               if name.startswith("res")}
    card = json.loads(meta.get("card", "{}")) | {"dropped": dropped}
    return plain, meta | {"config": json.dumps(config), "card": json.dumps(card)}, dropped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--drop-res-blocks", action="store_true", help="remove an mref's residual blocks")
    ap.add_argument("--force", action="store_true", help="overwrite DST")
    a = ap.parse_args(argv)
    from safetensors import safe_open
    from neuralcodec.codecs.image.learned import load_model
    from neuralcodec.codecs.image.weights import write
    from neuralcodec.errors import NeuralCodecError
    src, dst = Path(a.src), Path(a.dst)
    report = {"src": str(src), "dst": str(dst)}
    try:
        model = load_model(src)
        with safe_open(str(src), "pt") as f:
            meta = {k: v for k, v in (f.metadata() or {}).items() if k != "fixed_point"}
        if a.drop_res_blocks:
            if not getattr(model.cfg, "res_blocks", False):
                raise NeuralCodecError(f"{src}: no residual blocks to drop")
            model, meta, report["dropped"] = drop_res_blocks(model, meta)
        write(model, dst, meta, force=a.force)
    except NeuralCodecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report | {"src_bytes": src.stat().st_size, "dst_bytes": dst.stat().st_size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
