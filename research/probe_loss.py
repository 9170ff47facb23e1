"""Training loss of image weights on one fixed batch: a cheap way to compare checkpoints mid-run.

    python research/probe_loss.py [WEIGHTS.safetensors | CHECKPOINT.ckpt ...] [--recipe CONFIG]

The batch is 9 random 256² crops of ``image-eval`` (seed 321), one at each quality 1..9, with
the quantization noise seeded too, so every row scores the same draw: ``rd_loss``'s loss, bpp
(the noise proxy of training, not coded bytes), mse and psnr. ``--recipe`` adds the model a
recipe starts from (its ``init_from`` warm start at step 0, seeded as ``train`` seeds it). One JSON line per model.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--recipe", help="JSON recipe: score its step-0 model")
    ap.add_argument("--data", default="image-eval")
    a = ap.parse_args(argv)
    import torch
    from pathlib import Path
    from neuralcodec.codecs.image.learned import load_model
    from neuralcodec.training.config import ImageTrainConfig, load_config
    from neuralcodec.training.image import CropDataset, ImageCodecModule, image_files, rd_loss
    from neuralcodec.training.runs import load_checkpoint, load_into
    x = CropDataset(image_files(a.data, ""), 256, 9, seed=321, steps=1).batch(0)

    def checkpoint_model(path: str):
        state = load_checkpoint(path)
        raw = {k: tuple(v) if isinstance(v, list) else v for k, v in state["hyper_parameters"]["config"].items()}
        module = ImageCodecModule(replace(ImageTrainConfig(**raw), init_from="", compile=False))
        load_into(module, state, path)
        return module.model

    models = [(p, checkpoint_model(p) if p.endswith(".ckpt") else load_model(Path(p))) for p in a.models]
    if a.recipe:   # seeded as `train` seeds it, so the new channels' random init is the run's
        import lightning as L
        cfg = load_config(a.recipe)
        L.seed_everything(cfg.seed, verbose=False)
        models.append((f"{a.recipe} (step 0)", ImageCodecModule(replace(cfg, compile=False)).model))
    for name, model in models:
        torch.manual_seed(0)
        with torch.no_grad():
            out = rd_loss(model.eval(), x, torch.arange(9))
        print(json.dumps({"model": name, **{k: round(float(v), 4) for k, v in out.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
