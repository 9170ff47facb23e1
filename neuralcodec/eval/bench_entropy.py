"""``neuralcodec bench entropy``: our rANS beside constriction and CompressAI on one workload.

Workload: ``N`` values from zero-mean quantized Gaussians whose scale is drawn log-uniformly over
the default scale table (0.11..256, 64 levels), each symbol coded with its table row. Every coder
sees the same values; ours and CompressAI's code with the *same* integer tables, constriction with
its own ``QuantizedGaussian`` (same means and scales, its own 24-bit quantization).
Times are the best of ``repeats`` runs of the coding call alone (inputs prepared beforehand).
"""
from __future__ import annotations

import os
import platform
import time
from typing import Callable

import numpy as np

from ..entropy import rans
from ..entropy.families import default_scale_table, scale_table_cdfs


def workload(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(values, indexes, scales)``: int64, int64, float64, each ``(n,)``."""
    rng = np.random.default_rng(seed)
    table_scales = default_scale_table()
    s = np.exp(rng.uniform(np.log(table_scales[0]), np.log(table_scales[-1]), n))
    idx = np.searchsorted(table_scales[:-1], s).astype(np.int64)
    scales = table_scales[idx]
    values = np.rint(rng.standard_normal(n) * scales).astype(np.int64)
    return values, idx, scales


def best_of(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """(best seconds, last result) over ``repeats`` calls."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _entry(n: int, t_enc: float, t_dec: float, bits: int, ok: bool, **extra) -> dict:
    return {"encode_msym_s": round(n / t_enc / 1e6, 3) if t_enc else None,
            "decode_msym_s": round(n / t_dec / 1e6, 3) if t_dec else None,
            "bits": int(bits), "roundtrip": bool(ok), **extra}


def bench_ours(values, idx, table, repeats: int, backend: str = "auto", device: str = "cpu", lanes=None) -> dict:
    enc = lambda: rans.encode(values, idx, table, lanes=lanes, backend=backend, device=device)  # noqa: E731
    t_enc, blob = best_of(enc, repeats)
    t_dec, out = best_of(lambda: rans.decode(blob, idx, table, backend=backend, device=device), repeats)
    return _entry(len(values), t_enc, t_dec, 8 * len(blob), np.array_equal(out, values),
                  backend=rans._backend(backend), device=device,
                  lanes=lanes or rans.default_lanes(len(values)))


def bench_constriction(values, scales, repeats: int) -> dict:
    import constriction
    lo, hi = int(values.min()) - 1, int(values.max()) + 1
    model = constriction.stream.model.QuantizedGaussian(lo, hi)
    sym, means, stds = values.astype(np.int32), np.zeros(len(values)), scales.astype(np.float64)

    def enc():
        coder = constriction.stream.stack.AnsCoder()
        coder.encode_reverse(sym, model, means, stds)
        return coder.get_compressed()

    t_enc, words = best_of(enc, repeats)
    t_dec, out = best_of(lambda: constriction.stream.stack.AnsCoder(words).decode(model, means, stds), repeats)
    return _entry(len(values), t_enc, t_dec, 32 * len(words), np.array_equal(out, sym))


def bench_compressai(values, idx, table, repeats: int) -> dict:
    from compressai.ans import RansDecoder, RansEncoder
    cdfs = [table.cdf[r, : int(table.length[r]) + 1].astype(np.int32).tolist() for r in range(table.rows)]
    lengths = (table.length + 1).astype(np.int32).tolist()
    offsets = table.offset.astype(np.int32).tolist()
    sym, ind = values.astype(np.int32).tolist(), idx.astype(np.int32).tolist()
    t_enc, data = best_of(lambda: RansEncoder().encode_with_indexes(sym, ind, cdfs, lengths, offsets), repeats)
    t_dec, out = best_of(lambda: RansDecoder().decode_with_indexes(data, ind, cdfs, lengths, offsets), repeats)
    return _entry(len(values), t_enc, t_dec, 8 * len(data), out == sym,
                  note="timed call only; its API takes Python lists, converted beforehand")


def run(n: int = 1_000_000, repeats: int = 3, seed: int = 0, anchors: bool = True) -> dict:
    """The benchmark's JSON report (see module docstring)."""
    import torch
    table = scale_table_cdfs("gaussian")
    values, idx, scales = workload(n, seed)
    ideal = float(table.symbol_bits(values, idx).sum())
    report = {"symbols": n, "ideal_bits": round(ideal, 1), "table_fingerprint": table.fingerprint(),
              "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "platform": platform.platform(), "python": platform.python_version()}}
    report["ours"] = bench_ours(values, idx, table, repeats)
    report["ours"]["overhead_pct"] = round(100 * (report["ours"]["bits"] / ideal - 1), 4) if ideal else None
    if anchors:
        report["constriction"] = bench_constriction(values, scales, repeats)
        report["compressai"] = bench_compressai(values, idx, table, repeats)
        for other in ("constriction", "compressai"):
            for k in ("encode", "decode"):
                report.setdefault("ratios", {})[f"{k}_vs_{other}"] = round(
                    report["ours"][f"{k}_msym_s"] / report[other][f"{k}_msym_s"], 2)
    if torch.cuda.is_available():
        report["ours_cuda"] = bench_ours(values, idx, table, repeats, backend="torch", device="cuda", lanes=4096)
        report["ours_cuda"]["same_bytes_as_cpu"] = (
            rans.encode(values, idx, table, lanes=4096, backend="torch", device="cuda")
            == rans.encode(values, idx, table, lanes=4096, backend="auto"))
    return report
