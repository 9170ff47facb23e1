"""How textured training crops are, beside the evaluation set's: the figure behind ``texture_draws``.

    python scripts/texture_stats.py [--train image-train] [--eval image-eval] [--draws 1,2,3,4] [--crops 64]

For each draw count k, ``--crops`` training crops (256², seed 5) drawn as a recipe with
``"texture_draws": k`` draws them, and the same number of plain crops of ``--eval``: the median of
:func:`neuralcodec.training.image.texture` (mean squared Laplacian of the grey level, x 1e4).
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import statistics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", default="image-train")
    ap.add_argument("--eval", default="image-eval")
    ap.add_argument("--draws", default="1,2,3,4")
    ap.add_argument("--crops", type=int, default=64)
    a = ap.parse_args(argv)
    from neuralcodec.training.image import CropDataset, image_files, texture

    def median(split: str, k: int) -> float:
        crops = CropDataset(image_files(split, ""), 256, a.crops, seed=5, steps=1, texture_draws=k).batch(0)
        return round(statistics.median(texture(c) for c in crops) * 1e4, 2)

    out = {"train": a.train, "eval": a.eval, "crops": a.crops,
           "train_median_by_draws": {k: median(a.train, int(k)) for k in a.draws.split(",")},
           "eval_median": median(a.eval, 1)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
