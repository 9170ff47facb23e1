"""``neuralcodec bench kernels``: each shared kernel, Triton beside its torch reference.

On one device, every kernel runs on one fixed workload under both backends (the Triton kernel
and the plain-torch reference); the report gives the best of ``repeats`` timed calls (inputs on
the device beforehand, the device synchronised around each call), the throughput, and whether
the two backends returned the same integers. Triton runs on CUDA only: on the CPU the report has
the reference alone, or under ``TRITON_INTERPRET=1`` the interpreted kernels too (a check of the
bits and of this benchmark, not a speed; ``tests/test_kernels.py`` runs it so).

Workloads (``n`` = ``--symbols``):
    rans           n values, 64-row Gaussian scale table, 4096 lanes: encode and decode on the
                   device (plus the C lanes on the CPU as the anchor, and a check that the
                   device's stream is the C lanes' bytes and decodes there)
    quantize_index n float32 (y, mean, scale) -> int64 (symbol, row) over the 63 thresholds
    noise          n float32, counter-hash uniform noise
    soft_round     n float32
    int_linear     n / 16 rows, 24 -> 24 integers (mref's aggregation and the ARM's width class)
    nearest        n / 64 rows of d = 8 against 4096 codes (the audio tokenizer's codebook)
"""
from __future__ import annotations

import os
import platform
import time
from typing import Callable

import numpy as np
import torch

from ..entropy import rans
from ..entropy.families import default_scale_table, scale_table_cdfs
from ..kernels import context, dispatch, forced, quantize, rans as lanes_k, vq
from .bench_entropy import workload

LANES = 4096


def _timed(fn: Callable[[], object], repeats: int, device: str) -> tuple[float, object]:
    """(best seconds, last result) over ``repeats`` synchronised calls, after one warm-up."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    out = fn()   # warm-up: compiles the kernel
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _backends(device: str) -> list[str]:
    """The reference, and Triton where it runs (timings under the interpreter are not speeds)."""
    return ["torch"] + (["triton"] if device == "cuda" or dispatch.interpreted() else [])


def _same(a, b) -> bool:
    if isinstance(a, tuple):
        return all(_same(x, y) for x, y in zip(a, b))
    return bool(torch.equal(a, b)) if isinstance(a, torch.Tensor) else a == b


def _compare(fn: Callable[[], object], items: int, unit: str, nbytes: int, repeats: int, device: str,
             exact: bool = True) -> dict:
    """Time ``fn`` under the torch reference and (where it runs) Triton; ``items`` per call."""
    entry: dict = {"items": items, "unit": unit}
    results = {}
    backends = _backends(device)
    for b in backends:
        with forced(b):
            t, results[b] = _timed(fn, repeats, device)
        entry[b] = {"seconds": round(t, 6), f"m{unit}_s": round(items / t / 1e6, 3),
                    "gb_s": round(nbytes / t / 1e9, 3)}
    if "triton" in results:
        entry["speedup"] = round(entry["torch"]["seconds"] / entry["triton"]["seconds"], 2)
        entry["same_result"] = _same(results["torch"], results["triton"]) if exact else None
    return entry


def bench_rans(n: int, repeats: int, device: str) -> dict:
    table = scale_table_cdfs("gaussian")
    values, idx, _ = workload(n, seed=0)
    pad = (-n) % LANES
    val = torch.from_numpy(np.concatenate([values, np.zeros(pad, np.int64)])).to(device)
    ix = torch.from_numpy(np.concatenate([idx, np.full(pad, -1, np.int64)])).to(device)
    dt = rans._decode_tables(table)
    tab = {k: torch.from_numpy(np.ascontiguousarray(a)).to(device) for k, a in
           (("cdf", table.cdf.reshape(-1)), ("offset", table.offset), ("length", table.length),
            ("lut", dt.lut), ("cdf_id", dt.cdf_flat))}
    width, p = table.cdf.shape[1], table.precision

    def enc():
        return lanes_k.encode(val, ix, tab["cdf"], tab["offset"], tab["length"], width, p, LANES)

    out: dict = {"symbols": n, "lanes": LANES}
    backends = _backends(device)
    for b in backends:
        with forced(b):
            t_enc, e = _timed(enc, repeats, device)
            t_dec, d = _timed(lambda: lanes_k.decode(e.states, e.words, ix, tab["lut"], tab["cdf_id"], tab["offset"],
                                                     tab["length"], width, p), repeats, device)
        ok = bool(torch.equal(d.values[:n][~d.escaped[:n]], val[:n][~d.escaped[:n]]))
        out[b] = {"encode_msym_s": round(n / t_enc / 1e6, 3), "decode_msym_s": round(n / t_dec / 1e6, 3),
                  "roundtrip": ok}
    t_c, blob_c = _timed(lambda: rans.encode(values, idx, table, lanes=LANES, backend="c"), repeats, "cpu")
    t_cd, _ = _timed(lambda: rans.decode(blob_c, idx, table, backend="c"), repeats, "cpu")
    out["c_cpu"] = {"encode_msym_s": round(n / t_c / 1e6, 3), "decode_msym_s": round(n / t_cd / 1e6, 3)}
    for b in backends:
        with forced(b):
            blob = rans.encode(values, idx, table, lanes=LANES, backend="torch", device=device)
        out[b]["same_stream_as_c"] = blob == blob_c
        out[b]["encode_vs_c"] = round(out[b]["encode_msym_s"] / out["c_cpu"]["encode_msym_s"], 2)
        out[b]["decode_vs_c"] = round(out[b]["decode_msym_s"] / out["c_cpu"]["decode_msym_s"], 2)
    out["device_stream_decodes_with_c"] = bool(np.array_equal(rans.decode(blob, idx, table, backend="c"), values))
    return out


def run(n: int = 1_000_000, repeats: int = 3, device: str = "cpu") -> dict:
    """The benchmark's JSON report (see module docstring)."""
    g = torch.Generator().manual_seed(0)
    y = (torch.randn(n, generator=g) * 8).to(device)
    mean = torch.randn(n, generator=g).to(device)
    scale = (torch.rand(n, generator=g) * 30).to(device)
    thr = torch.from_numpy(default_scale_table()[:-1]).float()
    rows = max(1, n // 16)
    x = torch.randint(0, 1 << 20, (rows, 24), generator=g).to(device)
    w = torch.randint(-1024, 1024, (24, 24), generator=g).to(device)
    b = torch.randint(-1 << 18, 1 << 18, (24,), generator=g).to(device)
    z = torch.nn.functional.normalize(torch.randn(max(1, n // 64), 8, generator=g), dim=1).to(device)
    codes = torch.nn.functional.normalize(torch.randn(4096, 8, generator=g), dim=1).to(device)
    report = {
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                    "platform": platform.platform()},
        "triton": "timed" if device == "cuda" else
                  "interpreted: a bit-exactness check, the times are not speeds" if dispatch.interpreted() else
                  "not timed: Triton kernels run on CUDA (on the CPU only interpreted, a bit-exactness check)",
        "triton_interpreter": dispatch.interpreted(),
    }
    report["quantize_index"] = _compare(lambda: tuple(quantize.quantize_index(y, mean, scale, thr)),
                                        n, "elem", 28 * n, repeats, device)
    report["noise"] = _compare(lambda: quantize.noise(y, 1), n, "elem", 8 * n, repeats, device)
    report["soft_round"] = _compare(lambda: quantize.soft_round(y, 4.0), n, "elem", 8 * n, repeats,
                                    device, exact=False)
    report["int_linear"] = _compare(lambda: context.int_linear(x, w, b, 10, (1 << 20) - 1, True),
                                    rows, "row", 16 * 24 * rows, repeats, device)
    report["nearest"] = _compare(lambda: vq.nearest(z, codes, "dot"), len(z), "row",
                                 4 * 8 * len(z) + 8 * len(z), repeats, device)
    report["rans"] = bench_rans(n, repeats, device)
    return report
