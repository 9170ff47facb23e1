"""``nerv``: a video codec whose encoder fits a network to the clip, a group of frames at a time.

    encode: frames -> groups of GROUP frames; for each group, fit a NervGroup (nerv.py) to
            MSE + LAMBDAS[q-1] * bits per pixel (fitting/loop.py), warm-started from the previous
            group's network and latents; round the latents; search a quantisation step per
            parameter group (fitting/params.py)
    group:  varint n_weights | weights | latents
            weights = u8 mode (0: integers, 1: differences from the previous group's, same steps)
                      + fitting/params.py stream of the ARM's and the synthesis' integers
            latents = every grid, parents first (the static pyramid, then the time pyramid, each
                      coarsest first), one rANS group per wavefront step (all of a grid's frames
                      together), rows and means from the integer ARM
    file:   fields height, width, frames, fps, group, spec; stream "groups" = (varint length, group)*
    decode: a group at a time: weights -> integer ARM -> grids -> upsample -> synthesis -> frames

Memory is bounded by a group, whatever the clip's length; groups are shorter than GROUP where
the frames are so large that GROUP of them would not fit the memory limit (limits.py). Table rows and means come from integer
arithmetic, so a file decodes the same everywhere; pixels come from a float32 synthesis. Each fitting
step sees :data:`FRAMES_PER_STEP` frames of its group, drawn at random (the rate of the finest grid is
estimated on the same frames); the last phase (straight-through rounding) sees them all.
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Iterator

import numpy as np
import torch

from ...entropy import rans
from ...entropy.container import Container
from ...entropy.escape import decode_varints, encode_varints
from ...errors import FormatError
from ...fitting import arm as arm_mod
from ...fitting import params
from ...fitting.loop import Schedule, StepResult, fit
from ...media import Video
from ..base import CodecInfo, FittingCodec, register
from ..image.overfit_codec import arm_layers, param_groups, set_synthesis
from .nerv import NervConfig, NervGroup

# loss = MSE (pixels in 0..1) + LAMBDAS[q - 1] * bits per pixel; quality 1 is the lowest rate
LAMBDAS = (4e-2, 2e-2, 1e-2, 5e-3, 2.5e-3, 1.2e-3, 6e-4, 3e-4)
DEFAULT_QUALITY = 4
GROUP = 16                 # frames a network
FRAMES_PER_STEP = 4        # frames a soft-phase step
DEFAULT_STEPS = 600        # per group at effort 1
LR = 5e-2
MAX_EFFORT = 64.0
MAX_GROUP = 64
OFFSETS = arm_mod.OFFSETS_3D


def _diff(ints: list[list[np.ndarray]], base: list[list[np.ndarray]], sign: int) -> list[list[np.ndarray]]:
    return [[a + sign * b for a, b in zip(g, bg)] for g, bg in zip(ints, base)]


class NervCodec(FittingCodec):
    info = CodecInfo("nerv", "video", 1, tuple(range(1, len(LAMBDAS) + 1)), DEFAULT_QUALITY, False,
                     "fits hierarchical latent grids, an ARM and a synthesis to each group of frames",
                     fits=True)

    bytes_per_pixel = 1500    # peak encode memory per pixel of a group: 1124 measured (16 frames of 320x240)

    default_steps = DEFAULT_STEPS
    max_effort = MAX_EFFORT

    def __init__(self, effort: float = 1.0, device: str = "cpu", progress: bool = False, seed: int = 0,
                 config: NervConfig = NervConfig(), group: int | None = None):
        super().__init__(effort, device, progress, seed)
        self.config, self.group = config, group

    def group_for(self, height: int, width: int) -> int:
        """Frames a group: ``group`` if set, else GROUP or as many as the memory limit allows
        (a one-line error if not even one frame fits)."""
        from ...limits import BASE_BYTES, check_image_memory, memory_limit
        check_image_memory(self.info.name, self.bytes_per_pixel, height, width)
        if self.group:
            check_image_memory(self.info.name, self.bytes_per_pixel, height, width * self.group)
            return self.group
        room = (memory_limit() - BASE_BYTES) / (self.bytes_per_pixel * height * width)
        return max(1, min(GROUP, int(room)))

    # ---- encode ---------------------------------------------------------------------------------
    def encode(self, media: Video, quality: int | None = None) -> Container:
        q = self.check_quality(quality)
        h, w = media.height, media.width
        group = self.group_for(h, w)
        torch.manual_seed(self.seed)
        blobs, count, prev = [], 0, None
        self.timings = {"fit_s": 0.0, "code_s": 0.0}
        total = -(-media.count // group) if media.count else None
        for chunk in _chunks(media.frames, group):
            if chunk.shape[1:] != (h, w, 3):
                raise FormatError(f"frame of {chunk.shape[2]}x{chunk.shape[1]}, expected {w}x{h}")
            desc = f"nerv q{q} group {len(blobs) + 1}" + (f"/{total}" if total else "")
            blob, prev = self._encode_group(chunk, LAMBDAS[q - 1], prev, desc)
            blobs.append(encode_varints(np.array([len(blob)])) + blob)
            count += len(chunk)
        if not count:
            raise FormatError("the clip has no frames")
        return Container("video", self.info.name, self.info.version, self.weights_hash(),
                         {"height": h, "width": w, "frames": count, "fps": float(media.fps),
                          "group": group, "spec": self.config.spec()},
                         {"groups": b"".join(blobs)})

    def _encode_group(self, frames: np.ndarray, lam: float, prev: dict | None, desc: str) -> tuple[bytes, dict]:
        """uint8 ``(t, h, w, 3)`` -> the group's bytes and what the next group starts from."""
        t, h, w, _ = frames.shape
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255).to(self.device)
        model = NervGroup(t, h, w, self.config).to(self.device)
        if prev is not None:     # warm start: the previous network (as decoded) and latents
            model.load_state_dict({k: v for k, v in prev["state"].items()
                                   if k in model.state_dict() and model.state_dict()[k].shape == v.shape},
                                  strict=False)
        pixels = t * h * w
        fast = torch.autocast("cuda", torch.bfloat16) if x.is_cuda else nullcontext()

        def step(mode: str, temperature: float) -> StepResult:
            sel = None
            if mode == "soft" and t > FRAMES_PER_STEP:
                sel = torch.randperm(t, device=x.device)[:FRAMES_PER_STEP].sort().values
            rate_in, synth_in = model.quantized(mode, temperature)
            bits = model.rate_bits(rate_in, sel)
            with fast:
                err = model.frames(synth_in, sel).float() - (x if sel is None else x[sel])
            mse = torch.mean(err ** 2)
            return StepResult(mse + lam * bits / pixels, float(bits.detach()) / pixels,
                              float(-10 * torch.log10(mse.detach().clamp(min=1e-10))))

        t0 = time.perf_counter()
        fit(model, step, Schedule(self.steps, lr=LR), self.progress, desc=desc)
        t1 = time.perf_counter()
        model, x = model.cpu(), x.cpu()
        with torch.no_grad():
            grids = [torch.round(g).long().numpy() for g in model.latents]
            ks, ints = self._quantize(model, grids, x, lam)
        layers = arm_layers(model, ints[0], ks[0], ints[1], ks[1])
        groups = []
        for k in reversed(range(len(grids))):
            groups += arm_mod.grid_groups(grids[k], model.parent(grids, k), layers, True, OFFSETS)
        latents = rans.encode_groups(groups, arm_mod.latent_table())
        weights = b"\0" + params.encode(ints, ks)
        if prev is not None and prev["ks"] == ks:
            delta = b"\1" + params.encode(_diff(ints, prev["ints"], -1), ks)
            weights = min(weights, delta, key=len)
        self.timings["fit_s"] += t1 - t0
        self.timings["code_s"] += time.perf_counter() - t1
        state = {k: v.clone() for k, v in model.state_dict().items()}
        return (encode_varints(np.array([len(weights)])) + weights + latents,
                {"state": state, "ks": ks, "ints": ints})

    def _quantize(self, model: NervGroup, grids: list[np.ndarray], x: torch.Tensor, lam: float):
        """The step of each parameter group with the lowest D + lambda * R over the whole group;
        returns ``(ks, integers per group)`` and leaves the model at its quantised weights."""
        groups = param_groups(model)
        floats = [[p.detach().clone() for p in g] for g in groups]
        pixels = x.shape[0] * x.shape[-1] * x.shape[-2]
        up = model.upsample([torch.from_numpy(g).float() for g in grids])

        def ints_of(ks: list[int]) -> list[list[np.ndarray]]:
            return [[params.quantize(p, k) for p in g] for g, k in zip(floats, ks)]

        latent_bits: dict[tuple[int, int], float] = {}     # the ARM's steps decide them alone

        def cost(ks: list[int]) -> float:
            ints = ints_of(ks)
            if (ks[0], ks[1]) not in latent_bits:
                layers = arm_layers(model, ints[0], ks[0], ints[1], ks[1])
                latent_bits[ks[0], ks[1]] = sum(arm_mod.grid_bits(g, model.parent(grids, k), layers, True, OFFSETS)
                                                for k, g in enumerate(grids))
            lat = latent_bits[ks[0], ks[1]]
            set_synthesis(model, ints[2], ks[2], ints[3], ks[3])
            y = torch.cat([model.synthesis(up[i: i + 1]) for i in range(up.shape[0])]) + 0.5
            mse = float(torch.mean((y.clamp(0, 1) - x) ** 2))
            bits = lat + sum(params.tensor_bits(i) for g in ints for i in g)
            return mse + lam * bits / pixels

        ks = params.search_steps(len(groups), cost)
        ints = ints_of(ks)
        set_synthesis(model, ints[2], ks[2], ints[3], ks[3])
        for p, i in zip(groups[0] + groups[1], ints[0] + ints[1]):   # the ARM too, for the next group's start
            p.data = params.dequantize(i, ks[0] if p.dim() > 1 else ks[1], p.shape)
        return ks, ints

    # ---- decode ---------------------------------------------------------------------------------
    def decode(self, container: Container) -> Video:
        """A :class:`Video` whose frames are decoded a group at a time as they are read."""
        try:
            f = container.fields
            h, w, n, fps, group = int(f["height"]), int(f["width"]), int(f["frames"]), float(f["fps"]), int(f["group"])
            cfg = NervConfig.from_spec([int(v) for v in f["spec"]])
            blob = container.streams["groups"]
        except (KeyError, TypeError, ValueError):
            raise FormatError("nerv file lacks its fields or streams") from None
        if not cfg.check():
            raise FormatError(f"nerv file has an unsupported network {cfg.spec()}")
        if not (1 <= group <= MAX_GROUP and n >= 1):
            raise FormatError(f"nerv file has {n} frames in groups of {group}")
        from ...limits import check_image_memory
        check_image_memory(self.info.name, DECODE_BYTES_PER_PIXEL, h, w * min(group, n))
        sizes = [min(group, n - s) for s in range(0, n, group)]
        parts = _split(blob, len(sizes))
        return Video(self._frames(parts, sizes, h, w, cfg), w, h, fps, n)

    def _frames(self, parts: list[memoryview], sizes: list[int], h: int, w: int, cfg: NervConfig) -> Iterator[np.ndarray]:
        prev = None
        table = arm_mod.latent_table()
        with torch.no_grad():
            for part, t in zip(parts, sizes):
                model = NervGroup(t, h, w, cfg)
                nw, at = decode_varints(part[:10], 1)
                if not 1 <= int(nw[0]) <= len(part) - at:
                    raise FormatError("nerv group is truncated")
                wblob, lblob = bytes(part[at: at + int(nw[0])]), bytes(part[at + int(nw[0]):])
                ints, ks = params.decode(wblob[1:], [[p.numel() for p in g] for g in param_groups(model)])
                if wblob[0] == 1:
                    if prev is None or prev[1] != ks:
                        raise FormatError("nerv group codes differences from a group it does not follow")
                    ints = _diff(ints, prev[0], 1)
                elif wblob[0] != 0:
                    raise FormatError(f"nerv group has an unknown weights mode {wblob[0]}")
                prev = (ints, ks)
                layers = arm_layers(model, ints[0], ks[0], ints[1], ks[1])
                set_synthesis(model, ints[2], ks[2], ints[3], ks[3])
                shapes = model.shapes
                rans.check_room(lblob, sum(a * b * c for a, b, c in shapes), table, "nerv latents")
                dec = rans.GroupDecoder(lblob, table)
                grids: list[np.ndarray | None] = [None] * len(shapes)
                for k in reversed(range(len(shapes))):      # parents first
                    grids[k] = arm_mod.decode_grid(dec, shapes[k], model.parent(grids, k), layers, True, OFFSETS)
                dec.finish()
                up = model.upsample([torch.from_numpy(g).float() for g in grids])
                for i in range(t):
                    y = (model.synthesis(up[i: i + 1]) + 0.5).clamp(0, 1)[0]
                    yield (y.permute(1, 2, 0) * 255).round().byte().numpy()


def _chunks(frames, n: int) -> Iterator[np.ndarray]:
    """Frames in stacks of ``n`` (the last may be shorter): uint8 ``(<=n, h, w, 3)``."""
    buf = []
    for f in frames:
        buf.append(np.asarray(f, np.uint8))
        if len(buf) == n:
            yield np.stack(buf)
            buf = []
    if buf:
        yield np.stack(buf)


def _split(blob: bytes, count: int) -> list[memoryview]:
    """The ``count`` length-prefixed group records of the ``groups`` stream."""
    view, at, out = memoryview(blob), 0, []
    for _ in range(count):
        try:
            n, used = decode_varints(view[at: at + 10], 1)
        except (ValueError, IndexError, FormatError):
            raise FormatError("nerv groups stream is truncated") from None
        at += used
        if not 0 <= int(n[0]) <= len(view) - at:
            raise FormatError("nerv groups stream is truncated")
        out.append(view[at: at + int(n[0])])
        at += int(n[0])
    if at != len(view):
        raise FormatError("nerv groups stream has bytes after its last group")
    return out


DECODE_BYTES_PER_PIXEL = 400    # peak decode memory per pixel of a group: 165 measured (16 frames of 320x240)

register(NervCodec, default=True)
