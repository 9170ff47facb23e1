"""Fixed inputs for every kernel, run on any device; also a script that runs them all.

``CASES[name](device)`` builds its inputs from a seed on the CPU, moves them to ``device``, runs
the kernel under whatever backend is in force and returns the result on the CPU (a tensor, a
tuple of tensors, or the name of the exception raised). The tests compare the Triton kernels'
results with the reference's, bit for bit (``APPROX`` lists the ones compared to a few ulps).

    TRITON_INTERPRET=1 NEURALCODEC_KERNELS=triton python tests/kernel_cases.py out.pt

runs every case on the CPU under the Triton interpreter and saves ``{name: result}``.
"""
from __future__ import annotations

import sys

import numpy as np
import torch

from neuralcodec.entropy import rans
from neuralcodec.entropy.tables import from_freqs
from neuralcodec.errors import FormatError
from neuralcodec.kernels import context, quantize, vq

CASES = {}
APPROX = {"soft_round_f32", "soft_round_f64"}   # exp differs in its last bits between libraries


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _cpu(out):
    if isinstance(out, tuple):
        return tuple(_cpu(o) for o in out)
    return out.cpu() if isinstance(out, torch.Tensor) else out


# ---- quantize ----------------------------------------------------------------------------------
def _values(n: int, dtype, seed: int) -> torch.Tensor:
    """Random values with exact halves, big magnitudes and negative zeros mixed in."""
    g = _gen(seed)
    x = torch.randn(n, generator=g, dtype=torch.float64) * 20
    x[::7] = torch.randint(-41, 41, (len(x[::7]),), generator=g).double() / 2   # ties
    x[::11] = x[::11] * 1e5 + 0.5
    if n > 3:
        x[3] = -0.0
    return x.to(dtype)


@case
def center_round_f32(device):
    y = _values(1025, torch.float32, 1).to(device)
    mean = _values(1025, torch.float32, 2).to(device) / 8
    return _cpu(quantize.center_round(y, mean))


@case
def center_round_f64_no_mean(device):
    return _cpu(quantize.center_round(_values(3000, torch.float64, 3).to(device)))


@case
def center_round_empty(device):
    return _cpu(quantize.center_round(torch.zeros(0, 4, device=device)))


@case
def table_index_edges(device):
    thr = torch.tensor([0.11, 0.25, 0.5, 1.0, 2.0, 40.0])
    s = torch.cat([thr, thr.nextafter(torch.tensor(0.0)), thr.nextafter(torch.tensor(1e9)),
                   torch.tensor([0.0, 1e-9, 1e9]), torch.rand(1000, generator=_gen(4)) * 50])
    return _cpu(quantize.table_index(s.to(device), thr.to(device)))


@case
def quantize_index_2d(device):
    y = _values(33 * 31, torch.float32, 5).view(33, 31).to(device)
    mean = torch.randn(33, 31, generator=_gen(6)).to(device)
    scale = (torch.rand(33, 31, generator=_gen(7)) * 20).to(device)
    thr = torch.logspace(-1, 1.3, 63)
    return _cpu(tuple(quantize.quantize_index(y, mean, scale, thr)))


@case
def quantize_index_one(device):
    one = torch.ones(1, device=device)
    return _cpu(tuple(quantize.quantize_index(one * 2.5, None, one * 0.3, torch.tensor([0.2, 0.4]))))


@case
def round_channels_extreme_scales(device):
    x = (torch.randn(2, 5, 7, 9, generator=_gen(8)) * 100).to(device)
    offset = torch.tensor([0.0, -3.5, 1e4, 0.25, 7.0])
    scale = torch.tensor([1.0, 1e-3, 1e3, 0.1, 3.0])
    return _cpu(quantize.round_channels(x, offset, scale))


@case
def ste_round_values(device):
    return _cpu(quantize.ste_round(_values(2049, torch.float32, 9).to(device)))


@case
def noise_seeds(device):
    x = torch.zeros(3, 1000, device=device)
    return _cpu(tuple(quantize.noise(x, s) for s in (0, 1, 2**40 + 3)))


@case
def soft_round_f32(device):
    x = (torch.randn(5000, generator=_gen(10)) * 4).to(device)
    return _cpu(tuple(quantize.soft_round(x, a) for a in (0.5, 4.0, 16.0)))


@case
def soft_round_f64(device):
    return _cpu(quantize.soft_round((torch.randn(777, generator=_gen(11), dtype=torch.float64) * 4).to(device), 2.0))


# ---- context -----------------------------------------------------------------------------------
def _layer(cout: int, cin: int, k: int, wmax: int, seed: int):
    g = _gen(seed)
    w = torch.randint(-wmax, wmax + 1, (cout, cin), generator=g)
    b = torch.randint(-wmax << 8, (wmax << 8) + 1, (cout,), generator=g)
    return w, b, k


@case
def int_linear_float_exact(device):
    w, b, k = _layer(17, 24, 10, 1 << 10, 12)
    x = torch.randint(-(1 << 20), 1 << 20, (65, 24), generator=_gen(13))
    return _cpu(tuple(context.int_linear(x.to(device), w.to(device), b.to(device), k, (1 << 20) - 1, r)
                      for r in (False, True)))


@case
def int_linear_int64_path(device):
    w, b, k = _layer(3, 9, 16, 1 << 30, 14)     # sums beyond 2**53: int64 accumulation
    x = torch.randint(-(1 << 24), 1 << 24, (130, 9), generator=_gen(15))
    assert not context.exact_in_float(w, b, k, 1 << 24)
    return _cpu(context.int_linear(x.to(device), w.to(device), b.to(device), k, 1 << 24, False))


@case
def int_linear_empty_and_one(device):
    w, b, k = _layer(1, 4, 0, 100, 16)
    x = torch.randint(-50, 50, (1, 4), generator=_gen(17)).to(device)
    return _cpu((context.int_linear(x[:0], w.to(device), b.to(device), k, 1000, True),
                 context.int_linear(x, w.to(device), b.to(device), k, 1000, False)))


@case
def int_conv2d_strides(device):
    x = torch.randint(-(1 << 12), 1 << 12, (2, 3, 9, 11), generator=_gen(18)).to(device)
    outs = []
    for s, stride, seed in ((1, 1, 19), (3, 1, 20), (5, 2, 21), (3, 2, 22)):
        w, b, k = _layer(4, 3 * s * s, 10, 1 << 9, seed)
        outs.append(context.int_conv2d(x, w.view(4, 3, s, s).to(device), b.to(device), stride, k, (1 << 20) - 1,
                                       relu=stride == 2))
    return _cpu(tuple(outs))


# ---- vq ----------------------------------------------------------------------------------------
@case
def nearest_l2(device):
    x = torch.randn(1000, 8, generator=_gen(23))
    c = torch.randn(1025, 8, generator=_gen(24))
    return _cpu(vq.nearest(x.to(device), c.to(device), "l2"))


@case
def nearest_dot_ties(device):
    c = torch.nn.functional.normalize(torch.randn(63, 5, generator=_gen(25)), dim=1)
    c = torch.cat([c, c])                        # every code twice: the lower index must win
    x = torch.cat([torch.randn(40, 5, generator=_gen(26)), c[:7] * 3])
    return _cpu(vq.nearest(x.to(device), c.to(device), "dot"))


@case
def nearest_small(device):
    c = torch.tensor([[0.5], [-1.0], [2.0]])
    x = torch.tensor([[0.25], [0.75], [-9.0], [1.25]])   # 0.25 and 1.25 are ties
    one = vq.nearest(x.to(device), c.to(device), "l2")
    return _cpu((one, vq.nearest(x[:0].to(device), c.to(device), "l2"), vq.nearest(x.to(device), c[:1].to(device))))


# ---- rANS --------------------------------------------------------------------------------------
def _table(seed: int, rows: int = 4, precision: int = 12):
    rng = np.random.default_rng(seed)
    freqs = []
    for _ in range(rows):
        n = int(rng.integers(2, 30))
        f = np.maximum(1, np.floor(rng.random(n) / n * 2 * ((1 << precision) - n))).astype(np.int64)
        f[0] += (1 << precision) - f.sum()
        if f[0] < 1:
            f = np.full(n, (1 << precision) // n, np.int64)
            f[0] += (1 << precision) - f.sum()
        freqs.append(f)
    return from_freqs(freqs, rng.integers(-20, 20, rows), precision)


def _problem(seed: int, n: int):
    table = _table(seed)
    rng = np.random.default_rng(seed + 1)
    idx = rng.integers(0, table.rows, n)
    lo = table.offset[idx]
    values = lo + rng.integers(-2, table.length[idx] + 1)      # a few escapes on both sides
    if n > 5:
        values[5] = 10**15
    return table, values, idx


def _bytes(blob: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(blob), dtype=torch.uint8).clone()


@case
def rans_encode_decode(device):
    out = []
    for seed, n, lanes in ((30, 1001, 3), (31, 1, 1), (32, 700, 300), (33, 64, 64), (34, 0, 2)):
        table, values, idx = _problem(seed, n)
        blob = rans.encode(values, idx, table, lanes=lanes, backend="c")
        mine = rans.encode(values, idx, table, lanes=lanes, backend="torch", device=device)
        back = rans.decode(blob, idx, table, backend="torch", device=device)
        assert blob == mine, "the kernel's stream differs from the C lanes'"
        assert np.array_equal(back, values)
        out += [_bytes(mine), torch.from_numpy(back)]
    return tuple(out)


@case
def rans_groups(device):
    table, values, idx = _problem(40, 300)
    cuts = [0, 7, 7, 100, 300]
    groups = [(values[a:b], idx[a:b]) for a, b in zip(cuts, cuts[1:])]
    blob = rans.encode_groups(groups, table, lanes=16, backend="torch", device=device)
    dec = rans.GroupDecoder(blob, table, backend="torch", device=device)
    back = [dec.next(ix) for _, ix in groups]
    dec.finish()
    return _bytes(blob), torch.from_numpy(np.concatenate(back))


@case
def rans_truncated(device):
    table, _, idx = _problem(50, 500)
    values = table.offset[idx]                    # no escapes: the words are the blob's tail
    blob = rans.encode(values, idx, table, lanes=8, backend="c")
    try:
        rans.decode(blob[:-40], idx, table, backend="torch", device=device)
    except FormatError as e:
        return type(e).__name__
    return "decoded"


def run_all(device: str = "cpu") -> dict:
    return {name: fn(device) for name, fn in CASES.items()}


if __name__ == "__main__":
    torch.save(run_all(), sys.argv[1])
