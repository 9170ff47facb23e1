"""What a run keeps across resumes: its wall time, and loading of checkpoints written by older versions.

Runs end by being killed (a time limit, a lost machine), so a run's wall time cannot be summed at a clean exit: the ``WallClock``
callback stores the running total in every checkpoint and takes it back on resume.
"""
from __future__ import annotations

import contextlib
import time

import lightning as L
import numpy as np
import torch


class WallClock(L.Callback):
    """Wall seconds of training summed over every resumed run, saved in the checkpoints."""

    def __init__(self):
        self.before, self.t0 = 0.0, None

    def on_fit_start(self, trainer, pl_module):
        self.t0 = time.time()

    def seconds(self) -> float:
        return self.before + (time.time() - self.t0 if self.t0 is not None else 0.0)

    def state_dict(self) -> dict:
        return {"seconds": self.seconds()}

    def load_state_dict(self, state: dict) -> None:
        self.before = float(state["seconds"])


def checkpoint_seconds(state: dict) -> float | None:
    """The wall time stored in a loaded checkpoint, if its run had a ``WallClock``."""
    for key, value in state.get("callbacks", {}).items():
        if key.endswith("WallClock"):
            return float(value["seconds"])
    return None


def load_checkpoint(path) -> dict:
    """A run's checkpoint (tensors only, older runs' numpy scalars allowed); a missing or unreadable
    file raises NeuralCodecError with one line."""
    from ..errors import NeuralCodecError
    try:
        with legacy_globals():
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise NeuralCodecError(f"{path}: no such checkpoint") from None
    except Exception as e:   # torch raises UnpicklingError, RuntimeError, EOFError ... for bad files
        raise NeuralCodecError(f"{path}: not a checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict) or "state_dict" not in state or "global_step" not in state:
        raise NeuralCodecError(f"{path}: not a training checkpoint (no state_dict/global_step)")
    return state


def load_into(module: torch.nn.Module, state: dict, path) -> None:
    """``module.load_state_dict(state["state_dict"])``; a checkpoint of another recipe (other
    names or shapes) raises NeuralCodecError with one line."""
    from ..errors import NeuralCodecError
    try:
        module.load_state_dict(state["state_dict"])
    except RuntimeError:
        raise NeuralCodecError(f"{path}: a checkpoint of another recipe (its tensors do not fit this one)") from None


@contextlib.contextmanager
def legacy_globals():
    """Checkpoints of older runs logged numpy learning rates; allow those scalars under weights_only."""
    with torch.serialization.safe_globals([np.core.multiarray.scalar, np.dtype, np.dtypes.Float64DType]):
        yield



class TimeLimit(L.Callback):
    """Stops a run after ``max_minutes`` of this run's own wall time, or once it reaches training
    step ``stop_at`` (a recipe's stage that ended before its ``max_steps``: the lr schedule stays the
    recipe's); the run then checkpoints and exports as at ``max_steps``, and the same command
    resumes it. (Lightning's ``max_time`` counts the time of earlier runs too, so a resumed run
    would stop at once.) ``optimizers``: how many optimizers step per training step (Lightning counts
each), two for the image and tokenizer recipes."""

    def __init__(self, max_minutes: float | None, stop_at: int | None = None, optimizers: int = 2):
        if max_minutes is not None and max_minutes <= 0:
            raise ValueError("max_minutes must be positive")
        self.limit = None if max_minutes is None else max_minutes * 60
        self.stop_at, self.optimizers = stop_at, optimizers
        self.start = time.monotonic()

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.monotonic()
        self.on_train_batch_end(trainer)

    def on_train_batch_end(self, trainer, *args) -> None:
        if self.limit is not None and time.monotonic() - self.start > self.limit:
            trainer.should_stop = True
        if self.stop_at is not None and trainer.global_step // self.optimizers >= self.stop_at:
            trainer.should_stop = True
