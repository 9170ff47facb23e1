"""Lightning training of the multi-rate speech codec (``neuralcodec train audio --config
configs/speech-cpu.json``).

One optimiser, one loss: L1 between the decoded and the true log magnitudes (the bins below
4 kHz weighted by ``low_band_weight``), with the number of residual-VQ books drawn per batch
(quantiser dropout), plus the books' commitment loss. The ``istft`` head adds L1 between the log
spectra of the decoded and the true waveform at three resolutions. Batches are a pure function
of ``(seed, step)``, so resuming is exact. Export writes the weights with the token prior
(the entropy coder's tables, :mod:`~neuralcodec.codecs.audio.speech_prior`), counted on the
training speech.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import Dataset

from ..codecs.audio.speech import SAMPLE_RATE, SpeechConfig, SpeechModel, log_magnitude
from ..codecs.audio.speech_prior import count_priors
from .audio import AudioDataModule, audio_files, random_crops
from .config import SpeechTrainConfig, to_dict
from .image import _step_seed
from .runs import TimeLimit, WallClock, checkpoint_seconds, legacy_globals, load_checkpoint, load_into
from .validate import Validation, held_out_files

FLOOR = -9.0   # log magnitudes below this (silence, -78 dB of full scale) count as this in the loss


def load_speech(files: list[Path], max_seconds: float) -> list[np.ndarray]:
    """Mono 16 kHz int16 clips of ``files`` (at most ``max_seconds`` each)."""
    from ..codecs.audio.stream import to_mono
    from ..media import open_audio
    clips = []
    for f in files:
        src = open_audio(f)
        parts = list(to_mono(src.blocks(), src.sample_rate, SAMPLE_RATE))
        x = np.concatenate(parts)[: int(max_seconds * SAMPLE_RATE)] if parts else np.zeros(0, np.float32)
        if len(x) >= SAMPLE_RATE // 4:
            clips.append((np.clip(x, -1, 1) * 32767).astype(np.int16))
    if not clips:
        raise ValueError("no usable training speech")
    return clips


class SpeechSegments(Dataset):
    """Random ``segment``-second crops at random levels; batch ``s`` is a function of ``(seed, s)``."""

    def __init__(self, clips: list[np.ndarray], cfg: SpeechTrainConfig):
        self.clips, self.cfg = clips, cfg
        self.segment = int(cfg.segment * SAMPLE_RATE)
        lengths = np.array([len(c) for c in clips], np.float64)
        self.p = lengths / lengths.sum()

    def __len__(self) -> int:
        return self.cfg.max_steps

    def __getitem__(self, i: int) -> int:
        return i

    def batch(self, step: int) -> torch.Tensor:
        rng = np.random.default_rng(_step_seed(self.cfg.seed, step, 1))
        return random_crops(self.clips, self.p, self.cfg.batch_size, self.segment, rng, -1.0)


def spectral_loss(logmag: torch.Tensor, target: torch.Tensor, low_weight: float) -> torch.Tensor:
    """Weighted L1 of log magnitudes ``(B, 257, F)``."""
    bins = logmag.shape[1]
    w = torch.ones(bins, device=logmag.device)
    w[: bins // 2] = low_weight                         # 0 .. 4 kHz of 0 .. 8 kHz
    d = (logmag.clamp(min=FLOOR) - target.clamp(min=FLOOR)).abs()
    return (d * w[:, None]).mean() / w.mean()


def wave_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L1 of log spectra at three resolutions (the ``istft`` head's waveform loss)."""
    total = y.new_zeros(())
    for n_fft, hop in ((256, 64), (512, 128), (1024, 256)):
        cfg = SpeechConfig(n_fft=n_fft, hop=hop)
        total = total + (log_magnitude(y_hat, cfg).clamp(min=FLOOR) - log_magnitude(y, cfg).clamp(min=FLOOR)).abs().mean()
    return total / 3


class SpeechModule(L.LightningModule):
    def __init__(self, cfg: SpeechTrainConfig):
        super().__init__()
        self.cfg = cfg
        self.model = SpeechModel(SpeechConfig.from_dict(cfg.speech))
        self.save_hyperparameters({"config": to_dict(cfg)})

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.cfg.lr, betas=(0.9, 0.99))
        cosine = lambda s: 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(1.0, s / max(1, self.cfg.max_steps))))  # noqa: E731
        return [opt], [{"scheduler": torch.optim.lr_scheduler.LambdaLR(opt, lambda s: float(cosine(s))),
                        "interval": "step"}]

    def loss(self, x: torch.Tensor, books: int | None) -> dict[str, torch.Tensor]:
        out = self.model(x, books)
        losses = {"spec": spectral_loss(out["logmag"], out["target"], self.cfg.low_band_weight),
                  "commit": out["commit"]}
        if "wave" in out:
            losses["wave"] = wave_loss(out["wave"], self.model._pad(x))
        return losses

    def training_step(self, _index: int, batch_idx: int) -> torch.Tensor:
        x = self.trainer.datamodule.dataset.batch(self.global_step).to(self.device)
        rng = np.random.default_rng(_step_seed(self.cfg.seed, self.global_step, 2))
        books = int(rng.integers(1, self.model.cfg.books + 1))     # quantiser dropout
        losses = self.loss(x, books)
        total = losses["spec"] + losses.get("wave", 0) + self.cfg.commit * losses["commit"]
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items()} | {"train/books": float(books)},
                      prog_bar=True, on_step=True)
        return total


def val_scorer(cfg: SpeechTrainConfig, files: list[Path]):
    """Spectral loss of the first ``segment`` seconds of up to 8 held-out speech clips, at each
    shipped rate. None without files."""
    if not files:
        return None
    clips = load_speech(files[:: max(1, len(files) // 8)][:8], cfg.segment)
    seg = int(cfg.segment * SAMPLE_RATE)
    x = torch.zeros(len(clips), seg)
    for i, c in enumerate(clips):
        x[i, :len(c)] = torch.from_numpy(c.astype(np.float32) / 32767)

    def score(module: SpeechModule) -> dict[str, float]:
        xs = x.to(module.device)
        return {f"spec_{n}": float(module.loss(xs, n)["spec"]) for n in module.model.cfg.rates}
    return score


def speech_files(split_or_dir: str, data_dir: str) -> list[Path]:
    files, speech = audio_files(split_or_dir, data_dir)
    return [f for f in files if f in speech] if speech else files


def export(module: SpeechModule, clips: list[np.ndarray], path: Path, card: dict) -> dict:
    """Weights and the token prior as safetensors; returns prior figures for the card."""
    from safetensors.torch import save_file
    model = module.model.cpu().eval()
    prior, stats = count_priors(model, clips)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    state["prior.classes"] = torch.from_numpy(prior.classes.astype(np.int32))
    state["prior.freqs"] = torch.from_numpy(prior.freqs.astype(np.int32))
    save_file(state, str(path), metadata={"model": "speech", "config": json.dumps(model.cfg.to_dict()),
                                          "card": json.dumps(card | stats)})
    return stats


def train(cfg: SpeechTrainConfig, accelerator: str = "auto", devices="auto", progress: bool = True,
          max_minutes: float | None = None, stop_at: int | None = None) -> dict:
    """Run (or resume) training; exports ``speech.safetensors``."""
    out = Path(cfg.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=1))
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    clips = load_speech(speech_files(cfg.data, cfg.data_dir), cfg.max_seconds_per_file)
    module, data = SpeechModule(cfg), AudioDataModule(SpeechSegments(clips, cfg))
    last = out / "checkpoints" / "last.ckpt"
    ckpt = L.pytorch.callbacks.ModelCheckpoint(out / "checkpoints", save_last=True, save_top_k=0,
                                               every_n_train_steps=cfg.checkpoint_every)
    clock = WallClock()
    val = val_scorer(cfg, held_out_files(cfg.val_data, cfg.data_dir, speech_files))
    trainer = L.Trainer(max_steps=cfg.max_steps, accelerator=accelerator, devices=devices,
                        logger=L.pytorch.loggers.CSVLogger(out, name="logs"), gradient_clip_val=cfg.clip_grad,
                        callbacks=[ckpt, clock, TimeLimit(max_minutes, stop_at, optimizers=1),
                                   Validation(val, cfg.val_every, out, optimizers=1)],
                        enable_progress_bar=progress, log_every_n_steps=10, enable_model_summary=False)
    t0 = time.time()
    with legacy_globals():
        trainer.fit(module, datamodule=data, ckpt_path=str(last) if last.exists() else None)
    trainer.save_checkpoint(last)
    card = {"config": to_dict(cfg), "steps": trainer.global_step, "wall_seconds_this_run": round(time.time() - t0, 1),
            "device": str(trainer.strategy.root_device), "data_files": len(clips),
            "seconds_of_audio": round(sum(len(c) for c in clips) / SAMPLE_RATE, 1),
            "wall_seconds_total": round(clock.seconds(), 1)}
    weights = out / "speech.safetensors"
    card |= export(module, clips, weights, card)
    return {"weights": str(weights), **card}


def export_checkpoint(cfg: SpeechTrainConfig, ckpt: Path, out: Path) -> dict:
    """Weights from a checkpoint of a run (one still training, or stopped early)."""
    state = load_checkpoint(ckpt)
    module = SpeechModule(cfg)
    load_into(module, state, ckpt)
    clips = load_speech(speech_files(cfg.data, cfg.data_dir), cfg.max_seconds_per_file)
    wall = checkpoint_seconds(state)
    card = {"config": to_dict(cfg), "steps": state["global_step"], "device": "cpu (from checkpoint)",
            "data_files": len(clips), "seconds_of_audio": round(sum(len(c) for c in clips) / SAMPLE_RATE, 1),
            "wall_seconds_total": None if wall is None else round(wall, 1), "checkpoint": ckpt.name}
    out.parent.mkdir(parents=True, exist_ok=True)
    card |= export(module, clips, out, card)
    return {"weights": str(out), **card}
