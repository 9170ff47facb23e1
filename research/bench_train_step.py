"""Seconds per training step of a recipe, eager beside ``compile: true`` and beside ``compile``
with ``bf16: true`` (the transforms under bfloat16 autocast), as JSON.

    python research/bench_train_step.py configs/mref-cpu.json [--steps 6]

Times the optimizer step of ``rd_loss`` on one random batch of the recipe's crop and batch size
(after two warm-up steps that include Inductor's compilation), median of ``--steps``; run it
with nothing else on the machine. The model is built from the recipe, untrained.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace


def step_seconds(cfg, steps: int) -> dict:
    import torch
    from neuralcodec.training.image import ImageCodecModule, rd_loss
    torch.manual_seed(0)
    model = ImageCodecModule(replace(cfg, init_from="")).model
    opt = torch.optim.Adam(model.parameters(), cfg.lr)
    x = torch.rand(cfg.batch_size, 3, cfg.crop, cfg.crop)
    q = torch.randint(len(cfg.lambdas), (cfg.batch_size,))
    times = []
    t_first = time.perf_counter()
    for i in range(2 + steps):
        t0 = time.perf_counter()
        loss = rd_loss(model, x, q)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i == 1:
            warmup = time.perf_counter() - t_first
        if i >= 2:
            times.append(time.perf_counter() - t0)
    times.sort()
    return {"median_s": round(times[len(times) // 2], 4), "min_s": round(times[0], 4), "warmup_s": round(warmup, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--steps", type=int, default=6)
    a = ap.parse_args(argv)
    import torch
    from neuralcodec.training.config import load_config
    cfg = load_config(a.config)
    from neuralcodec.codecs.image.learned import native_bf16
    eager = step_seconds(replace(cfg, compile=False, bf16=False), a.steps)
    compiled = step_seconds(replace(cfg, compile=True, bf16=False), a.steps)
    bf16 = step_seconds(replace(cfg, compile=True, bf16=True), a.steps)
    print(json.dumps({"config": a.config, "crop": cfg.crop, "batch_size": cfg.batch_size,
                      "threads": torch.get_num_threads(), "native_bf16": native_bf16("cpu"),
                      "eager": eager, "compiled": compiled, "compiled_bf16": bf16,
                      "speedup": round(eager["median_s"] / compiled["median_s"], 3),
                      "bf16_speedup_over_compiled": round(compiled["median_s"] / bf16["median_s"], 3)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
