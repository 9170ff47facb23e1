"""Remove the residual blocks (``res_blocks``) from mref weights: the plain transforms remain.

    python scripts/drop_res_blocks.py IN.safetensors OUT.safetensors [--force]

Every other tensor is kept as it is; the config loses ``res_blocks`` and the card metadata
records what was dropped (``dropped``: the largest weight of each block's last convolution,
which starts at 0; 0 everywhere means the blocks were still the identity and nothing
changes). A model whose blocks learned something codes differently without them: measure
both with ``neuralcodec eval rd`` before shipping the smaller one. Prints JSON.
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
    from neuralcodec.codecs.image.learned import build_model, load_model
    from neuralcodec.codecs.image.weights import write
    from neuralcodec.errors import NeuralCodecError
    src, dst = Path(a.src), Path(a.dst)
    try:
        model = load_model(src)
        if not getattr(model.cfg, "res_blocks", False):
            raise NeuralCodecError(f"{src}: no residual blocks to drop")
        with safe_open(str(src), "pt") as f:
            meta = {k: v for k, v in (f.metadata() or {}).items() if k != "fixed_point"}
        config = {k: v for k, v in json.loads(meta["config"]).items() if k != "res_blocks"}
        plain = build_model(meta["model"], config)
        state = {k: v for k, v in model.state_dict().items() if ".res" not in k}
        plain.load_state_dict(state)   # strict: exactly the plain model's tensors
        dropped = {f"{side}.{name}": round(float(block.c.weight.detach().abs().max()), 6)
                   for side in ("g_a", "g_s") for name, block in getattr(model, side).named_children()
                   if name.startswith("res")}
        card = json.loads(meta.get("card", "{}")) | {"dropped": dropped}
        write(plain, dst, meta | {"config": json.dumps(config), "card": json.dumps(card)}, force=a.force)
    except (NeuralCodecError, KeyError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"src": str(src), "dst": str(dst), "dropped": dropped, "dst_bytes": dst.stat().st_size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
