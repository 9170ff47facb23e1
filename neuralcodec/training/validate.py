"""Validation during training, on a split held out from the training data (``image-val``,
``audio-val``): the figures models are chosen by. The evaluation splits (``image-eval``,
``speech-eval``) are for reported figures only and never enter a run.

Every ``val_every`` steps (and at the last step) the run scores one fixed batch, the same at
every step and on every resume, and appends a line to ``val.jsonl`` in the run folder beside the
CSV log's ``val/*`` columns::

    {"step": 500, "loss": 1.234, "bpp": 0.41, "psnr": 31.2}
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

import lightning as L
import torch

from ..errors import NeuralCodecError

ScoreFn = Callable[[torch.nn.Module], dict[str, float]]
SEED = 321   # the fixed draws (crops' noise) of every validation


def held_out_files(split_or_dir: str, data_dir: str, pick: Callable[[str, str], list[Path]]) -> list[Path]:
    """The validation files, or none with a note on stderr when the split is not fetched (a run
    on a folder of its own, or data fetched by an older version)."""
    if not split_or_dir:
        return []
    try:
        return pick(split_or_dir, data_dir)
    except NeuralCodecError as e:
        print(f"note: no validation ({e})", file=sys.stderr)
        return []


class Validation(L.Callback):
    """Runs ``score(module)`` every ``every`` steps under a fixed seed (the training draws are
    seeded per step, so they are unchanged) and logs what it returns. ``optimizers``: how many
    optimizers step per training step (Lightning counts each)."""

    def __init__(self, score: ScoreFn | None, every: int, out: Path, optimizers: int = 2):
        self.score, self.every, self.path = score, every, Path(out) / "val.jsonl"
        self.k = optimizers

    def _run(self, trainer, module, log: bool = True) -> None:
        step = trainer.global_step // self.k
        if self.score is None or self.every <= 0 or not trainer.is_global_zero:
            return
        was_training = module.training
        module.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            values = {k: round(float(v), 5) for k, v in self.score(module).items()}
        module.train(was_training)
        if log:   # Lightning takes no logs once training has ended
            module.log_dict({f"val/{k}": v for k, v in values.items()}, on_step=True, rank_zero_only=True)
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step} | values) + "\n")

    def on_train_batch_end(self, trainer, module, *args) -> None:
        step = trainer.global_step // self.k
        if self.every > 0 and step % self.every == 0 and trainer.global_step % self.k == 0:
            self._run(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        if self.every > 0 and (trainer.global_step // self.k) % self.every:
            self._run(trainer, module, log=False)
