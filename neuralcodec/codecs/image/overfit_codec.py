"""``overfit``: an image codec whose encoder fits the network to the image (Cool-chic / C3 family).

    encode: fit latents + ARM + synthesis to x (fitting/loop.py): MSE + LAMBDAS[q-1] * bits per pixel
            -> round latents; search a quantisation step per parameter group (fitting/params.py)
            -> "weights": ARM and synthesis integers;  "latents": every grid, coarsest first,
               one rANS group per wavefront step, rows and means from the integer ARM
    decode: weights -> integer ARM -> grids (wavefront) -> upsample -> synthesis -> pixels

No weights ship: the decoder is in the file. Table rows and means come from integer arithmetic
(fitting/arm.py), so a file decodes the same everywhere; pixels come from a float32 synthesis.
``effort`` scales the number of fitting steps (:data:`DEFAULT_STEPS` at effort 1).
"""
from __future__ import annotations

import time
from contextlib import nullcontext

import numpy as np
import torch

from ...entropy import rans
from ...entropy.container import Container
from ...errors import FormatError
from ...fitting import arm as arm_mod
from ...fitting import params
from ...fitting.loop import Schedule, StepResult, fit
from ...media import Image
from ..base import CodecInfo, FittingCodec, register
from .overfit import OverfitConfig, OverfitImage, grid_count, grid_shapes

# loss = MSE (pixels in 0..1) + LAMBDAS[q - 1] * bits per pixel; quality 1 is the lowest rate
LAMBDAS = (3e-2, 1.5e-2, 7e-3, 3.5e-3, 1.7e-3, 8e-4, 4e-4, 2e-4, 1e-4, 5e-5, 2.5e-5, 1.2e-5)
DEFAULT_QUALITY = 4
DEFAULT_STEPS = 1500
LR = 7e-2       # high for so few steps; the fit's guard halves it where it diverges (fitting/loop.py)
MAX_EFFORT = 64.0


def param_groups(model) -> list[list[torch.nn.Parameter]]:
    """Parameter groups of an overfitted network (``.arm``, ``.synthesis``: this codec's and
    nerv's) that share a quantisation step: ARM weights, ARM biases, synthesis weights,
    synthesis biases (the order the weights stream uses)."""
    arm, syn = model.arm.linears, model.synthesis
    syn_layers = list(syn.mlp) + list(syn.convs)
    return [[l.weight for l in arm], [l.bias for l in arm],
            [l.weight for l in syn_layers], [l.bias for l in syn_layers]]


def arm_layers(model, ws: list[np.ndarray], kw: int, bs: list[np.ndarray], kb: int):
    return arm_mod.int_layers([(w.reshape(l.weight.shape), kw, b, kb)
                               for w, b, l in zip(ws, bs, model.arm.linears)])


def set_synthesis(model, ws: list[np.ndarray], kw: int, bs: list[np.ndarray], kb: int) -> None:
    syn = model.synthesis
    for layer, w, b in zip(list(syn.mlp) + list(syn.convs), ws, bs):
        layer.weight.data = params.dequantize(w, kw, layer.weight.shape)
        layer.bias.data = params.dequantize(b, kb, layer.bias.shape)


def _latent_groups(grids: list[np.ndarray], layers, coarse: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """rANS groups of every grid, coarsest first (grid k reads grid k+1)."""
    out = []
    for k in reversed(range(len(grids))):
        out += arm_mod.grid_groups(grids[k], grids[k + 1] if k + 1 < len(grids) else None, layers, coarse)
    return out


class OverfitCodec(FittingCodec):
    info = CodecInfo("overfit", "image", 1, tuple(range(1, len(LAMBDAS) + 1)), DEFAULT_QUALITY, False,
                     "fits latents, an ARM and a synthesis to each image (Cool-chic/C3); no weights ship",
                     fits=True)
    bytes_per_pixel = 2000    # the fit holds every layer's graph at full resolution: 1575 measured at 1024x1024

    default_steps = DEFAULT_STEPS
    max_effort = MAX_EFFORT

    def __init__(self, effort: float = 1.0, device: str = "cpu", progress: bool = False, seed: int = 0,
                 config: OverfitConfig = OverfitConfig()):
        super().__init__(effort, device, progress, seed)
        self.config = config

    # ---- encode ---------------------------------------------------------------------------------
    def encode(self, media: Image, quality: int | None = None) -> Container:
        q = self.check_quality(quality)
        h, w, _ = media.pixels.shape
        self.check_size(h, w)
        lam = LAMBDAS[q - 1]
        torch.manual_seed(self.seed)
        x = torch.from_numpy(np.array(media.pixels)).permute(2, 0, 1)[None].float().div(255).to(self.device)
        model = OverfitImage(h, w, self.config).to(self.device)
        pixels = h * w

        # on a GPU the synthesis (most of a step) runs in bfloat16; the ARM's rate stays float32
        fast = torch.autocast("cuda", torch.bfloat16) if x.is_cuda else nullcontext()

        def step(mode: str, temperature: float) -> StepResult:
            rate_in, synth_in = model.quantized(mode, temperature)
            bits = model.rate_bits(rate_in)
            with fast:
                err = model.image(synth_in).float() - x
            mse = torch.mean(err ** 2)
            return StepResult(mse + lam * bits / pixels, float(bits.detach()) / pixels,
                              float(-10 * torch.log10(mse.detach().clamp(min=1e-10))))

        t0 = time.perf_counter()
        fit(model, step, Schedule(self.steps, lr=LR), self.progress, desc=f"overfit q{q}")
        t1 = time.perf_counter()
        model = model.cpu()
        x = x.cpu()
        with torch.no_grad():
            grids = [torch.round(g).long().numpy() for g in model.latents]
            ks, ints = self._quantize(model, grids, x, lam)
        coarse = model.arm.coarse
        layers = arm_layers(model, ints[0], ks[0], ints[1], ks[1])
        latents = rans.encode_groups(_latent_groups(grids, layers, coarse), arm_mod.latent_table())
        self.timings = {"fit_s": t1 - t0, "code_s": time.perf_counter() - t1}
        return Container("image", self.info.name, self.info.version, self.weights_hash(),
                         {"height": h, "width": w, "spec": self.config.spec()},
                         {"weights": params.encode(ints, ks), "latents": latents})

    def _quantize(self, model: OverfitImage, grids: list[np.ndarray], x: torch.Tensor, lam: float):
        """Search the step of each parameter group for the lowest D + lambda * R (R: weights and
        latents, in bits per pixel); returns ``(ks, integers per group)`` and sets the synthesis
        to its quantised weights."""
        groups = param_groups(model)
        floats = [[p.detach().clone() for p in g] for g in groups]
        pixels = x.shape[-1] * x.shape[-2]
        coarse = model.arm.coarse
        latent_tensors = [torch.from_numpy(g).float() for g in grids]
        up = model.upsample(latent_tensors)

        def ints_of(g: int, k: int) -> list[np.ndarray]:
            return [params.quantize(t, k) for t in floats[g]]

        def weight_bits(g: int, k: int) -> float:
            return sum(params.tensor_bits(i) for i in ints_of(g, k))

        def cost(ks: list[int]) -> float:
            layers = arm_layers(model, ints_of(0, ks[0]), ks[0], ints_of(1, ks[1]), ks[1])
            lat = sum(arm_mod.grid_bits(grids[k], grids[k + 1] if k + 1 < len(grids) else None, layers, coarse)
                      for k in range(len(grids)))
            set_synthesis(model, ints_of(2, ks[2]), ks[2], ints_of(3, ks[3]), ks[3])
            mse = float(torch.mean((model.synthesis(up) + 0.5 - x).clamp(-0.5, 1.5) ** 2))
            bits = lat + sum(weight_bits(g, k) for g, k in enumerate(ks))
            return mse + lam * bits / pixels

        ks = params.search_steps(len(groups), cost)
        ints = [ints_of(g, k) for g, k in enumerate(ks)]
        set_synthesis(model, ints[2], ks[2], ints[3], ks[3])
        return ks, ints

    # ---- decode ---------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, container: Container) -> Image:
        try:
            h, w = int(container.fields["height"]), int(container.fields["width"])
            cfg = OverfitConfig.from_spec([int(v) for v in container.fields["spec"]])
            wblob, lblob = container.streams["weights"], container.streams["latents"]
        except (KeyError, TypeError, ValueError):
            raise FormatError("overfit file lacks its fields or streams") from None
        if not cfg.check():
            raise FormatError(f"overfit file has an unsupported network {cfg.spec()}")
        self.check_size(h, w, decode=True)
        model = OverfitImage(h, w, cfg)
        sizes = [[p.numel() for p in g] for g in param_groups(model)]
        ints, ks = params.decode(wblob, sizes)
        layers = arm_layers(model, ints[0], ks[0], ints[1], ks[1])
        set_synthesis(model, ints[2], ks[2], ints[3], ks[3])
        shapes = grid_shapes(h, w, grid_count(h, w, cfg.grids))
        table = arm_mod.latent_table()
        rans.check_room(lblob, sum(a * b for a, b in shapes), table, "overfit latents")
        dec = rans.GroupDecoder(lblob, table)
        grids: list[np.ndarray | None] = [None] * len(shapes)
        for k in reversed(range(len(shapes))):
            grids[k] = arm_mod.decode_grid(dec, shapes[k], grids[k + 1] if k + 1 < len(shapes) else None,
                                           layers, model.arm.coarse)
        dec.finish()
        x = model.image([torch.from_numpy(g).float() for g in grids]).clamp(0, 1)[0]
        return Image((x.permute(1, 2, 0) * 255).round().byte().numpy())

    def check_size(self, height: int, width: int, decode: bool = False) -> None:
        """Fitting needs far more memory a pixel than decoding."""
        from ...limits import check_image_memory
        check_image_memory(self.info.name, DECODE_BYTES_PER_PIXEL if decode else self.bytes_per_pixel, height, width)


DECODE_BYTES_PER_PIXEL = 400    # 322 measured at 1024x1024 (bench memory --codec overfit --size 1024)

register(OverfitCodec)
