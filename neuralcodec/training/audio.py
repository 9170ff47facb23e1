"""Lightning training of the audio tokenizer (``neuralcodec train audio --config FILE``).

Manual optimization (a GAN): per step, the discriminators take one step on real vs decoded
audio (after ``gan_start``), then the generator takes one step on the balanced mel,
feature-matching and adversarial losses plus the commitment loss. Every random draw of a step
comes from generators seeded with ``(seed, step, rank)``, so resuming is exact.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..codecs.audio.prior import code_classes, fit_prior
from ..codecs.audio.tokenizer import SAMPLE_RATE, AudioTokenizer, TokenizerConfig
from .audio_losses import Balancer, Discriminators, MelLoss, disc_hinge, feature_matching, gen_hinge
from .config import AudioTrainConfig, to_dict
from .validate import Validation, held_out_files
from .runs import TimeLimit, WallClock, checkpoint_seconds, legacy_globals, load_checkpoint, load_into
from .image import _step_seed, warm_start

SPEECH_PACKAGES = {"codec2-examples", "fillets-ng-data", "pocketsphinx-testdata", "klettres-data", "espeak-ng"}


def load_clips(files: list[Path], max_seconds: float, speech: set[Path]) -> tuple[list[np.ndarray], np.ndarray]:
    """Mono 24 kHz int16 clips of ``files`` (at most ``max_seconds`` each) and a speech flag per clip."""
    from ..codecs.audio.stream import to_mono_24k
    from ..media import open_audio
    clips, flags = [], []
    for f in files:
        src = open_audio(f)
        out, n = [], 0
        for b in to_mono_24k(src.blocks(), src.sample_rate):
            out.append(b)
            n += len(b)
            if n >= max_seconds * SAMPLE_RATE:
                break
        x = np.concatenate(out)[: int(max_seconds * SAMPLE_RATE)] if out else np.zeros(0, np.float32)
        if len(x) >= SAMPLE_RATE // 10:
            clips.append((np.clip(x, -1, 1) * 32767).astype(np.int16))
            flags.append(f in speech)
    if not clips:
        raise ValueError("no usable training audio")
    return clips, np.array(flags)


class SegmentDataset(Dataset):
    """Random ``segment``-sample crops ``(B, segment)`` float32; batch of step ``s`` is a pure
    function of ``(seed, s, rank)``. Speech clips get ``speech_weight`` of the draws."""

    def __init__(self, clips: list[np.ndarray], speech: np.ndarray, cfg: AudioTrainConfig):
        self.clips, self.cfg = clips, cfg
        self.segment = int(cfg.segment * SAMPLE_RATE)
        lengths = np.array([len(c) for c in clips], np.float64)
        p = np.zeros(len(clips))
        for flag, share in ((True, cfg.speech_weight), (False, 1 - cfg.speech_weight)):
            sel = speech == flag
            if sel.any():
                p[sel] = share * lengths[sel] / lengths[sel].sum()
        self.p = p / p.sum()

    def __len__(self) -> int:
        return self.cfg.max_steps

    def __getitem__(self, i: int) -> int:
        return i

    def batch(self, step: int, rank: int = 0) -> torch.Tensor:
        rng = np.random.default_rng(_step_seed(self.cfg.seed, step, 1 + rank))
        return random_crops(self.clips, self.p, self.cfg.batch_size, self.segment, rng, -1.2)


def random_crops(clips: list[np.ndarray], p: np.ndarray, batch: int, segment: int, rng: np.random.Generator,
                 low: float) -> torch.Tensor:
    """float32 ``(batch, segment)``: crops of int16 ``clips`` drawn with probabilities ``p``, each
    scaled to a peak of ``10**u``, ``u ~ U(low, 0)`` (zero-padded where a clip is shorter)."""
    out = np.zeros((batch, segment), np.float32)
    for b, k in enumerate(rng.choice(len(clips), batch, p=p)):
        clip = clips[k]
        start = int(rng.integers(0, max(1, len(clip) - segment + 1)))
        seg = clip[start:start + segment].astype(np.float32) / 32767
        peak = max(float(np.abs(seg).max()), 1e-4)
        out[b, :len(seg)] = seg * min(10 ** rng.uniform(low, 0) / peak, 10.0)   # random level
    return torch.from_numpy(out)


class AudioDataModule(L.LightningDataModule):
    def __init__(self, dataset: SegmentDataset):
        super().__init__()
        self.dataset = dataset

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.dataset, batch_size=None, shuffle=False, num_workers=0)


class AudioCodecModule(L.LightningModule):
    def __init__(self, cfg: AudioTrainConfig):
        super().__init__()
        self.cfg = cfg
        self.model = AudioTokenizer(TokenizerConfig.from_dict(cfg.tokenizer))
        self.disc = Discriminators(cfg.disc_channels)
        self.mel = MelLoss()
        self.balancer = Balancer(dict(cfg.weights))
        self.automatic_optimization = False
        self.initialized = warm_start(self.model, cfg.init_from) if cfg.init_from else 0
        self.save_hyperparameters({"config": to_dict(cfg)})

    def configure_optimizers(self):
        opt_g = torch.optim.AdamW(self.model.parameters(), lr=self.cfg.lr, betas=(0.8, 0.9))
        opt_d = torch.optim.AdamW(self.disc.parameters(), lr=self.cfg.disc_lr, betas=(0.8, 0.9))
        return [opt_g, opt_d], [torch.optim.lr_scheduler.LambdaLR(opt_g, self._lr_factor)]

    def _lr_factor(self, step: int) -> float:
        """Cosine from 1 to 0.1 over ``max_steps`` (a Python float: checkpoints hold no numpy)."""
        return 0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, step / max(1, self.cfg.max_steps))))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["balancer"] = self.balancer.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.balancer.load_state_dict(checkpoint.get("balancer", {}))

    def training_step(self, _index: int, batch_idx: int) -> None:
        step = self.global_step // 2           # both optimizers step every training step
        x = self.trainer.datamodule.dataset.batch(step, self.global_rank).to(self.device)
        torch.manual_seed(_step_seed(self.cfg.seed, step, 10_000 + self.global_rank))
        opt_g, opt_d = self.optimizers()
        out = self.model(x)
        y_hat = out.wave[:, : x.shape[1]]
        gan = step >= self.cfg.gan_start
        d_loss = torch.zeros((), device=self.device)
        if gan:
            d_loss = disc_hinge(self.disc(x), self.disc(y_hat.detach()))
            opt_d.zero_grad()
            self.manual_backward(d_loss)
        opt_d.step()                            # a no-op step before gan_start keeps the step count even
        losses = {"mel": self.mel(y_hat, x)}
        if gan:
            real, fake = self.disc(x), self.disc(y_hat)
            losses |= {"adv": gen_hinge(fake), "fm": feature_matching(real, fake)}
        opt_g.zero_grad()
        self.manual_backward(self.balancer.surrogate(losses, y_hat) + self.cfg.commit * out.commit)
        self.clip_gradients(opt_g, gradient_clip_val=self.cfg.clip_grad, gradient_clip_algorithm="norm")
        opt_g.step()
        self.lr_schedulers().step()
        logs = {f"train/{k}": v.detach() for k, v in losses.items()}
        logs |= {"train/commit": out.commit.detach(), "train/disc": d_loss.detach(),
                 "train/usage": torch.tensor(out.usage)}
        self.log_dict(logs, prog_bar=True, on_step=True)


@torch.no_grad()
def fit_token_prior(model: AudioTokenizer, clips: list[np.ndarray], cfg: AudioTrainConfig) -> tuple:
    """Classes of the codes (k-means of their decoder embeddings) and the class-bigram prior,
    counted on up to ``prior_seconds`` of the training clips (each clip from its start)."""
    model.eval()
    from ..codecs.audio.stream import encode_stream
    budget, streams = int(cfg.prior_seconds * SAMPLE_RATE), []
    for c in clips:
        if budget <= 0:
            break
        x = c[:budget].astype(np.float32) / 32767
        budget -= len(x)
        streams.append(encode_stream(model, [x]))
    codes = model.cfg.codes
    emb = model.quantizer.lookup(torch.arange(codes)[None])[0].t().double().numpy()
    classes = code_classes(emb, min(cfg.prior_classes, codes), seed=cfg.seed)
    return fit_prior(streams, codes, classes), streams


def val_scorer(cfg: AudioTrainConfig, files: list[Path]):
    """The validation of a run (validate.py): the first ``segment`` seconds of up to 8 held-out
    clips through the tokenizer; mean mel loss and the codes used. None without files."""
    if not files:
        return None
    clips, _ = load_clips(files[:: max(1, len(files) // 8)][:8], cfg.segment, set())
    seg = int(cfg.segment * SAMPLE_RATE)
    x = torch.zeros(len(clips), seg)
    for i, c in enumerate(clips):
        x[i, :len(c[:seg])] = torch.from_numpy(c[:seg].astype(np.float32) / 32767)

    def score(module: AudioCodecModule) -> dict[str, float]:
        xs = x.to(module.device)
        out = module.model(xs)
        return {"mel": float(module.mel(out.wave[:, :seg], xs)), "usage": float(out.usage)}
    return score if len(clips) else None


def export(module: AudioCodecModule, clips: list[np.ndarray], path: Path, card: dict) -> dict:
    """Weights + token prior as safetensors; returns prior figures for the card."""
    from safetensors.torch import save_file
    model = module.model.cpu()
    prior, streams = fit_token_prior(model, clips, module.cfg)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    state["prior.classes"] = torch.from_numpy(prior.classes.astype(np.int32))
    state["prior.freqs"] = torch.from_numpy(prior.freqs.astype(np.int32))
    n = sum(len(s) for s in streams)
    stats = {"prior_tokens": n, "prior_bits_per_token": round(sum(prior.bits(s) for s in streams) / max(n, 1), 4),
             "codes_used": int(np.unique(np.concatenate(streams)).size) if streams else 0}
    save_file(state, str(path), metadata={"model": "wavtok", "config": json.dumps(model.cfg.to_dict()),
                                          "prior_precision": str(prior.precision),
                                          "card": json.dumps(card | stats)})
    return stats


def train(cfg: AudioTrainConfig, files: list[Path], speech: set[Path], accelerator: str = "auto", devices="auto",
          progress: bool = True, max_minutes: float | None = None, stop_at: int | None = None) -> dict:
    """Run (or resume) training; exports ``wavtok.safetensors`` with the token prior."""
    out = Path(cfg.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=1))
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    clips, flags = load_clips(files, cfg.max_seconds_per_file, speech)
    module, data = AudioCodecModule(cfg), AudioDataModule(SegmentDataset(clips, flags, cfg))
    last = out / "checkpoints" / "last.ckpt"
    ckpt = L.pytorch.callbacks.ModelCheckpoint(out / "checkpoints", save_last=True, save_top_k=0,
                                               every_n_train_steps=2 * cfg.checkpoint_every)
    clock = WallClock()
    trainer = L.Trainer(max_steps=2 * cfg.max_steps, accelerator=accelerator, devices=devices,
                        logger=L.pytorch.loggers.CSVLogger(out, name="logs"),
                        callbacks=[ckpt, clock, TimeLimit(max_minutes, stop_at),
                                   Validation(val_scorer(cfg, held_out_files(cfg.val_data, cfg.data_dir,
                                                                             lambda s, d: audio_files(s, d)[0])),
                                              cfg.val_every, out)],
                        enable_progress_bar=progress, log_every_n_steps=10, enable_model_summary=False)
    t0 = time.time()
    with legacy_globals():
        trainer.fit(module, datamodule=data, ckpt_path=str(last) if last.exists() else None)
    trainer.save_checkpoint(last)
    wall = time.time() - t0
    weights = out / "wavtok.safetensors"
    card = {"config": to_dict(cfg), "steps": trainer.global_step // 2, "wall_seconds_this_run": round(wall, 1),
            "device": str(trainer.strategy.root_device), "data_files": len(clips),
            "speech_files": int(flags.sum()), "seconds_of_audio": round(sum(len(c) for c in clips) / SAMPLE_RATE, 1)}
    if trainer.is_global_zero:
        history = out / "runs.jsonl"
        with open(history, "a") as f:
            f.write(json.dumps({"steps": card["steps"], "wall_seconds": card["wall_seconds_this_run"],
                                "device": card["device"]}) + "\n")
        card["wall_seconds_total"] = round(clock.seconds(), 1)   # summed over resumes (WallClock)
        card |= export(module, clips, weights, card)
    return {"weights": str(weights), **card}


def audio_files(split_or_dir: str, data_dir: str) -> tuple[list[Path], set[Path]]:
    """Audio files of a split or folder, and which of them are speech (by source package)."""
    from ..datasets import DEFAULT_DEST, split_files
    from ..media import AUDIO_EXTS
    dest = Path(data_dir) if data_dir else DEFAULT_DEST
    files = [f for f in split_files(split_or_dir, dest) if f.suffix.lower() in AUDIO_EXTS]
    speech: set[Path] = set()
    manifest = dest / "manifest.json"
    if manifest.exists():
        rows = {(dest / r["path"]).resolve(): r["package"] for r in json.loads(manifest.read_text())}
        speech = {f for f in files if rows.get(f.resolve()) in SPEECH_PACKAGES}
    return files, speech


def export_checkpoint(cfg: AudioTrainConfig, ckpt: Path, out: Path) -> dict:
    """Weights + prior from a checkpoint of a run (e.g. one still training, or stopped early);
    wall time as its ``WallClock`` saved it (None for checkpoints of runs without one). The
    checkpoint is read before the recipe's data (the prior's), so a bad one is the error given."""
    state = load_checkpoint(ckpt)
    module = AudioCodecModule(cfg)
    load_into(module, state, ckpt)
    files, speech = audio_files(cfg.data, cfg.data_dir)
    clips, flags = load_clips(files, cfg.max_seconds_per_file, speech)
    wall = checkpoint_seconds(state)
    card = {"config": to_dict(cfg), "steps": state["global_step"] // 2, "device": "cpu (from checkpoint)",
            "data_files": len(clips), "speech_files": int(flags.sum()),
            "seconds_of_audio": round(sum(len(c) for c in clips) / SAMPLE_RATE, 1),
            "wall_seconds_total": None if wall is None else round(wall, 1), "checkpoint": ckpt.name}
    out.parent.mkdir(parents=True, exist_ok=True)
    card |= export(module, clips, out, card)
    return {"weights": str(out), **card}
