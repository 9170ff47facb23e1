"""The fitting loop of overfitted codecs: Adam with a warm-up, a cosine decay and two phases.

    phase "soft"   (first 1 - ste_fraction of the steps): soft rounding and uniform noise, the
                   temperature annealed from ``t_start`` to ``t_end`` (C3; Cool-chic 3)
    phase "ste"    (the rest): hard rounding with an identity gradient, at a tenth of the rate,
                   so the network adapts to the values the decoder will see; the best state of
                   this phase (by its exact-rounding loss) is kept

``step_fn(mode, temperature)`` is the codec's: one forward pass, returning a :class:`StepResult`.
A progress bar (stderr, only on a terminal) shows the step, rate, PSNR and the time left.

High learning rates buy the most in few steps and sometimes diverge: the mean loss of each window
of :data:`WINDOW` soft steps is watched, and a window worse than :data:`BLOWUP` times the best one (or
not finite) puts back the state after the best window, halves the learning rate and restarts Adam.
"""
from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

WINDOW = 50
BLOWUP = 2.0


@dataclass
class StepResult:
    loss: torch.Tensor      # scalar to minimise: distortion + lambda * rate
    bpp: float              # rate estimate (bits per pixel) of this step
    psnr: float             # dB of this step's reconstruction


@dataclass(frozen=True)
class Schedule:
    steps: int
    lr: float = 1e-2
    warmup: int = 50
    ste_fraction: float = 0.1
    ste_lr_ratio: float = 0.1
    t_start: float = 0.3
    t_end: float = 0.1

    def phase(self, step: int) -> str:
        return "soft" if step < self.steps - int(self.steps * self.ste_fraction) else "ste"

    def temperature(self, step: int) -> float:
        n_soft = self.steps - int(self.steps * self.ste_fraction)
        return self.t_start + (self.t_end - self.t_start) * min(1.0, step / max(1, n_soft))

    def rate(self, step: int) -> float:
        """Learning rate at ``step``: linear warm-up, cosine to 1% over the soft phase; the
        ste phase starts again at ``ste_lr_ratio`` and decays the same way."""
        n_ste = int(self.steps * self.ste_fraction)
        n_soft = self.steps - n_ste
        if step < n_soft:
            warm = min(1.0, (step + 1) / max(1, self.warmup))
            return self.lr * warm * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / n_soft)))
        t = (step - n_soft) / max(1, n_ste)
        return self.lr * self.ste_lr_ratio * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def fit(model: nn.Module, step_fn: Callable[[str, float], StepResult], schedule: Schedule,
        progress: bool = True, desc: str = "fit") -> StepResult | None:
    """Optimise ``model`` in place; returns the last result (the kept state's, after the ste phase)."""
    from tqdm import tqdm
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=schedule.lr)
    best, best_loss, last = None, math.inf, None
    window, good, good_loss, scale = [], None, math.inf, 1.0      # the divergence guard
    bar = tqdm(total=schedule.steps, desc=desc, unit="step", file=sys.stderr, leave=False,
               disable=not progress or not sys.stderr.isatty())
    try:
        for step in range(schedule.steps):
            for g in opt.param_groups:
                g["lr"] = schedule.rate(step) * scale
            mode = schedule.phase(step)
            out = step_fn(mode, schedule.temperature(step))
            loss = float(out.loss.detach())
            if mode == "soft":
                window.append(loss)
            if len(window) == WINDOW:
                mean = sum(window) / WINDOW
                window = []
                if math.isfinite(mean) and mean <= good_loss:
                    good_loss, good = mean, copy.deepcopy(model.state_dict())
                elif good is not None and not (math.isfinite(mean) and mean <= BLOWUP * good_loss):
                    model.load_state_dict(good)
                    scale *= 0.5
                    opt = torch.optim.Adam(params, lr=schedule.rate(step) * scale)
                    bar.update(1)
                    continue
            if mode == "ste" and loss < best_loss:    # state *before* this step's update
                best_loss, best, last = loss, copy.deepcopy(model.state_dict()), out
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            if step % 10 == 0 or step == schedule.steps - 1:
                bar.set_postfix_str(f"{mode} {out.bpp:.3f} bpp {out.psnr:.2f} dB", refresh=False)
            bar.update(1)
    finally:
        bar.close()
    if best is not None:
        model.load_state_dict(best)
    return last
