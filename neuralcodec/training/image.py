"""Lightning training of the learned image codecs (``hyperprior``, ``mref``): one DataModule,
one LightningModule.

Exact resume: every random draw of a step (crops, qualities, quantization noise) comes from
generators seeded with ``(seed, step, rank)``, so a run resumed from a checkpoint continues
exactly as if it had not stopped. The same command runs on CPU, CUDA and several GPUs (DDP).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..codecs.image.layers import GDN
from ..codecs.image.learned import build_model, weights_metadata
from ..codecs.image.mref import MrefModel
from ..codecs.image.weights import read as read_weights, write as write_weights
from ..media import IMAGE_EXTS, load_image
from .config import ImageTrainConfig, to_dict
from .runs import TimeLimit, WallClock, checkpoint_seconds, legacy_globals, load_checkpoint, load_into
from .validate import Validation, held_out_files
from .widen import latent_maps, quieten, widened


def _step_seed(seed: int, step: int, salt: int = 0) -> int:
    return (seed * 1_000_003 + step * 7919 + salt) % (2**63)


class CropDataset(Dataset):
    """Random ``crop x crop`` RGB crops (float32 ``(3, crop, crop)`` in [0, 1]) of images in memory.

    :meth:`batch` of step ``s`` is a pure function of ``(seed, s, rank)``; items of the dataset
    are step numbers, so the loader only paces the loop and can be fast-forwarded freely.
    """

    def __init__(self, files: list[Path], crop: int, batch_size: int, seed: int, steps: int):
        self.images = [torch.from_numpy(load_image(f).pixels).permute(2, 0, 1).contiguous() for f in files]
        if not self.images:
            raise ValueError("no training images")
        self.crop, self.batch_size, self.seed, self.steps = crop, batch_size, seed, steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, i: int) -> int:
        return i

    def crop_at(self, g: torch.Generator) -> torch.Tensor:
        img = self.images[int(torch.randint(len(self.images), (1,), generator=g))]
        _, h, w = img.shape
        if h < self.crop or w < self.crop:
            img = torch.nn.functional.pad(img[None].float(), (0, max(0, self.crop - w), 0, max(0, self.crop - h)),
                                          mode="replicate")[0].byte()
            _, h, w = img.shape
        top = int(torch.randint(h - self.crop + 1, (1,), generator=g))
        left = int(torch.randint(w - self.crop + 1, (1,), generator=g))
        patch = img[:, top:top + self.crop, left:left + self.crop]
        if torch.rand(1, generator=g) < 0.5:
            patch = patch.flip(-1)
        return patch.float() / 255

    def batch(self, step: int, rank: int = 0) -> torch.Tensor:
        """``(batch_size, 3, crop, crop)`` for this step and process."""
        g = torch.Generator().manual_seed(_step_seed(self.seed, step, 1 + rank))
        return torch.stack([self.crop_at(g) for _ in range(self.batch_size)])


class ImageDataModule(L.LightningDataModule):
    """Holds the training images; the module asks it for each step's batch."""

    def __init__(self, files: list[Path], cfg: ImageTrainConfig):
        super().__init__()
        self.cfg = cfg
        self.dataset = CropDataset(files, cfg.crop, cfg.batch_size, cfg.seed, cfg.max_steps)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.dataset, batch_size=None, shuffle=False, num_workers=0)


def regrid_gains(gain: torch.Tensor, src_lambdas, dst_lambdas) -> torch.Tensor:
    """Gain vectors ``(Q_src, M)`` trained at ``src_lambdas`` -> ``(Q_dst, M)`` at ``dst_lambdas``.

    A row whose lambda the source has is copied exactly; any other is interpolated per channel
    in log-gain over log-lambda between its neighbours (extrapolated from the two end rows)."""
    src = np.log(np.asarray(src_lambdas, dtype=np.float64))
    if gain.shape[0] != len(src) or len(src) < 2 or np.any(np.diff(src) <= 0):
        raise ValueError("gain rows need two or more increasing source lambdas, one per row")
    log_gain = gain.detach().double().log()
    rows = []
    for lam in np.log(np.asarray(dst_lambdas, dtype=np.float64)):
        same = np.flatnonzero(np.abs(src - lam) < 1e-9)
        if same.size:
            rows.append(gain[int(same[0])].detach().clone())
            continue
        i = int(np.clip(np.searchsorted(src, lam) - 1, 0, len(src) - 2))
        t = float((lam - src[i]) / (src[i + 1] - src[i]))
        rows.append(torch.exp(log_gain[i] + t * (log_gain[i + 1] - log_gain[i])).to(gain.dtype))
    return torch.stack(rows)


def warm_start(model: torch.nn.Module, path: str) -> int:
    """Copy every tensor of ``path`` whose name and shape match ``model``'s (e.g. the transforms
    of a trained ``hyperprior`` into an ``mref``); returns how many were copied. Tensors that
    grew (wider transforms, ``transform_n``; wider context networks, ``width``; ``agg``'s inputs
    once the global context joins; a wider ``mref`` latent, ``m``: see widen.py) are
    :func:`widened`, so the new network computes what the old one did until training finds a
    use for the new channels (new latent channels start silent, :func:`quieten`, with each
    quality's mean gain). Gain vectors trained at other lambdas (the weights' metadata names
    them) are carried over by :func:`regrid_gains`, so the qualities both share code the same
    bytes at step 0. GDN off-diagonals left at exactly 0 by older weights are reopened
    (:meth:`GDN.thaw_`). A resumed run loads its checkpoint afterwards, so this only shapes step 0."""
    source = Path(path).expanduser()
    try:
        src = read_weights(source)
    except (OSError, ValueError) as e:
        raise ValueError(f"init_from {path}: not a safetensors file ({e})") from None
    try:
        src_kind, src_cfg = weights_metadata(source)
    except (KeyError, ValueError, AttributeError):   # weights saved without a config
        src_kind, src_cfg = None, {}
    own = model.state_dict()
    src_lambdas = src_cfg.get("lambdas")
    cfg = getattr(model, "cfg", None)
    maps = {}
    if src_kind == "mref" and isinstance(model, MrefModel) and int(src_cfg.get("m", cfg.m)) < cfg.m:
        maps = latent_maps(cfg, src_cfg)
    hits = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape and k not in maps}
    dst_lambdas = getattr(cfg, "lambdas", None)
    for k in ("gain", "inv_gain"):
        if (k in src and k in own and k not in hits and src_lambdas and dst_lambdas
                and src[k].shape[0] != own[k].shape[0]):
            src[k] = regrid_gains(src[k], src_lambdas, dst_lambdas)
            if src[k].shape == own[k].shape:
                hits[k] = src[k]
    for k, v in src.items():
        if k in own and k not in hits:
            grown = widened(model, k, own[k], v, maps.get(k))
            if grown is not None:
                hits[k] = grown
    if maps:
        quieten(hits, model, maps)
    if not hits:
        raise ValueError(f"init_from {path}: no tensor matches the model's names and shapes")
    model.load_state_dict(hits, strict=False)
    for mod in model.modules():
        if isinstance(mod, GDN):
            mod.thaw_()
    return len(hits)


def rd_loss(model: torch.nn.Module, x: torch.Tensor, quality: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-batch loss terms: ``loss = mean(bpp + lambda_q * 255^2 * mse)``."""
    out = model(x, quality)
    pixels = x.shape[-2] * x.shape[-1]
    bits = sum(-torch.log2(out[k]).flatten(1).sum(1) for k in ("y_likelihoods", "z_likelihoods"))
    bpp = bits / pixels
    mse = (out["x_hat"] - x).pow(2).flatten(1).mean(1)
    lam = torch.tensor(model.cfg.lambdas, device=x.device)[quality]
    loss = (bpp + lam * 255**2 * mse).mean()
    psnr = 10 * torch.log10(1 / mse.clamp(min=1e-10)).mean()
    return {"loss": loss, "bpp": bpp.mean(), "mse": mse.mean(), "psnr": psnr}


def autocast_bf16(module: torch.nn.Module) -> None:
    """Run ``module`` under bfloat16 autocast and hand back float32, in place (its parameters,
    their names and dtype stay as they are: only the arithmetic is bfloat16). Where the hardware
    has bfloat16 units (CUDA since Ampere, CPUs with AVX512-BF16 or AMX) the transforms' forward
    and backward take about half the time (README, Training); elsewhere it is slower."""
    inner = module.forward

    def forward(*args, **kwargs):
        device = next(module.parameters()).device.type
        with torch.autocast(device, dtype=torch.bfloat16):
            return inner(*args, **kwargs).float()

    module.forward = forward


class ImageCodecModule(L.LightningModule):
    def __init__(self, cfg: ImageTrainConfig):
        super().__init__()
        self.cfg = cfg
        self.model = build_model(cfg.model, cfg.model_config())
        self.automatic_optimization = False
        self.initialized = warm_start(self.model, cfg.init_from) if cfg.init_from else 0
        for name, module in self.model.named_children():
            if name in ("g_a", "g_s"):
                if cfg.bf16:
                    autocast_bf16(module)
                if cfg.compile:   # in place: parameter names, checkpoints and exports stay as they are
                    module.compile()
        self.save_hyperparameters({"config": to_dict(cfg)})

    def configure_optimizers(self):
        aux = [p for n, p in self.model.named_parameters() if n.endswith("quantiles")]
        main = [p for n, p in self.model.named_parameters() if not n.endswith("quantiles")]
        opt = torch.optim.Adam(main, lr=self.cfg.lr)
        aux_opt = torch.optim.Adam(aux, lr=self.cfg.aux_lr)
        drops = [int(f * self.cfg.max_steps) for f in self.cfg.lr_drop_at]
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, drops, 0.1)
        return [opt, aux_opt], [sched]

    def training_step(self, _index: int, batch_idx: int) -> None:
        step = self.global_step // 2  # two optimizers step per training step
        x = self.trainer.datamodule.dataset.batch(step, self.global_rank).to(self.device)
        torch.manual_seed(_step_seed(self.cfg.seed, step, 10_000 + self.global_rank))  # noise, qualities
        quality = torch.randint(len(self.cfg.lambdas), (x.shape[0],), device=x.device)
        opt, aux_opt = self.optimizers()
        terms = rd_loss(self.model, x, quality)
        opt.zero_grad()
        self.manual_backward(terms["loss"])
        self.clip_gradients(opt, gradient_clip_val=self.cfg.clip_grad, gradient_clip_algorithm="norm")
        opt.step()
        aux = self.model.z_density.aux_loss()
        aux_opt.zero_grad()
        self.manual_backward(aux)
        aux_opt.step()
        self.lr_schedulers().step()
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()} | {"train/aux": aux.detach()},
                      prog_bar=True, on_step=True)


def val_scorer(cfg: ImageTrainConfig, files: list[Path]):
    """The validation of a run (validate.py): the centre ``crop`` of up to 8 held-out images, coded
    at every quality; mean loss, bpp (the training proxy) and PSNR. None without files."""
    if not files:
        return None
    crops = []
    for f in files[:: max(1, len(files) // 8)][:8]:   # spread over the sources
        img = torch.from_numpy(load_image(f).pixels).permute(2, 0, 1).float() / 255
        _, h, w = img.shape
        img = torch.nn.functional.pad(img[None], (0, max(0, cfg.crop - w), 0, max(0, cfg.crop - h)),
                                      mode="replicate")[0]
        top, left = (img.shape[1] - cfg.crop) // 2, (img.shape[2] - cfg.crop) // 2
        crops.append(img[:, top:top + cfg.crop, left:left + cfg.crop])
    x = torch.stack(crops)

    def score(module: ImageCodecModule) -> dict[str, float]:
        xs = x.to(module.device)
        terms = [rd_loss(module.model, xs, torch.full((len(xs),), q, device=xs.device)) for q in range(len(cfg.lambdas))]
        return {k: sum(float(t[k]) for t in terms) / len(terms) for k in ("loss", "bpp", "psnr")}
    return score


def export(module: ImageCodecModule, path: Path, card: dict) -> None:
    """Weights as safetensors (weights.py: fixed-point tensors as integers, transforms in float16)
    with the model kind, its config and the card in the metadata."""
    write_weights(module.model, path, {"model": module.cfg.model, "config": json.dumps(module.cfg.model_config()),
                                       "card": json.dumps(card)})


def train(cfg: ImageTrainConfig, files: list[Path], accelerator: str = "auto", devices="auto",
          progress: bool = True, max_minutes: float | None = None, stop_at: int | None = None) -> dict:
    """Run (or resume) training; returns a summary with the exported weights' path."""
    out = Path(cfg.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=1))
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module, data = ImageCodecModule(cfg), ImageDataModule(files, cfg)
    last = out / "checkpoints" / "last.ckpt"
    ckpt = L.pytorch.callbacks.ModelCheckpoint(out / "checkpoints", save_last=True, save_top_k=0,
                                               every_n_train_steps=2 * cfg.checkpoint_every)  # 2 optimizers
    clock = WallClock()
    trainer = L.Trainer(max_steps=2 * cfg.max_steps, accelerator=accelerator, devices=devices,
                        logger=L.pytorch.loggers.CSVLogger(out, name="logs"),
                        callbacks=[ckpt, clock, TimeLimit(max_minutes, stop_at),
                                   Validation(val_scorer(cfg, held_out_files(cfg.val_data, cfg.data_dir, image_files)),
                                              cfg.val_every, out)],
                        enable_progress_bar=progress, log_every_n_steps=10, enable_model_summary=False,
                        deterministic=False)
    t0 = time.time()
    with legacy_globals():
        trainer.fit(module, datamodule=data, ckpt_path=str(last) if last.exists() else None)
    trainer.save_checkpoint(last)
    wall = time.time() - t0
    weights = out / f"{cfg.model}.safetensors"
    card = {"config": to_dict(cfg), "steps": trainer.global_step // 2, "wall_seconds_this_run": round(wall, 1),
            "device": str(trainer.strategy.root_device), "data_files": len(files),
            "initialized_tensors": module.initialized}
    if trainer.is_global_zero:  # one writer under DDP
        history = out / "runs.jsonl"   # every run of this folder, so resumed training sums up
        with open(history, "a") as f:
            f.write(json.dumps({"steps": card["steps"], "wall_seconds": card["wall_seconds_this_run"],
                                "device": card["device"]}) + "\n")
        card["wall_seconds_total"] = round(clock.seconds(), 1)   # summed over resumes (WallClock)
        export(module, weights, card)
    return {"weights": str(weights), **card}


def export_checkpoint(cfg: ImageTrainConfig, ckpt: Path, out: Path) -> dict:
    """Weights from a checkpoint of a run (e.g. one still training, or stopped early), as
    :func:`train` exports them; wall time as the checkpoint's ``WallClock`` saved it (None for
    checkpoints of runs without one). ``init_from`` is not read: the checkpoint holds every tensor."""
    from dataclasses import replace
    state = load_checkpoint(ckpt)
    module = ImageCodecModule(replace(cfg, init_from="", compile=False))
    load_into(module, state, ckpt)
    wall = checkpoint_seconds(state)
    card = {"config": to_dict(cfg), "steps": state["global_step"] // 2, "device": "cpu (from checkpoint)",
            "wall_seconds_total": None if wall is None else round(wall, 1), "checkpoint": ckpt.name}
    out.parent.mkdir(parents=True, exist_ok=True)
    export(module, out, card)
    return {"weights": str(out), **card}


def image_files(split_or_dir: str, data_dir: str) -> list[Path]:
    from ..datasets import DEFAULT_DEST, split_files
    files = split_files(split_or_dir, Path(data_dir) if data_dir else DEFAULT_DEST)
    return [f for f in files if f.suffix.lower() in IMAGE_EXTS]
