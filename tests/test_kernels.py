"""The Triton kernels give the reference's integers (checked on the CPU under the Triton
interpreter, and on CUDA where there is one), and the references do what they say."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import kernel_cases
from conftest import cuda
from neuralcodec.kernels import context, dispatch, forced, quantize, rans as lanes_k, vq

HERE = Path(__file__).parent


def assert_same(a, b, exact: bool = True):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y, exact)
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape
        if exact:
            assert torch.equal(a, b), (a[a != b][:5], b[a != b][:5])
        else:
            assert torch.allclose(a, b, rtol=0, atol=8 * torch.finfo(a.dtype).eps * max(1.0, float(b.abs().max())))
    else:
        assert a == b


@pytest.fixture(scope="module")
def interpreted(tmp_path_factory):
    """Every case run by the Triton kernels on the CPU (the interpreter), in a fresh process."""
    out = tmp_path_factory.mktemp("kernels") / "triton.pt"
    env = {**os.environ, "TRITON_INTERPRET": "1", "NEURALCODEC_KERNELS": "triton"}
    p = subprocess.run([sys.executable, str(HERE / "kernel_cases.py"), str(out)], env=env, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return torch.load(out)


@pytest.mark.parametrize("name", sorted(kernel_cases.CASES))
def test_interpreted_triton_kernel_equals_reference(name, interpreted):
    with forced("torch"):
        ref = kernel_cases.CASES[name]("cpu")
    assert_same(interpreted[name], ref, exact=name not in kernel_cases.APPROX)


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("name", sorted(kernel_cases.CASES))
def test_cuda_triton_kernel_equals_cpu_reference(name):
    with forced("torch"):
        ref = kernel_cases.CASES[name]("cpu")
    with forced("triton"):
        got = kernel_cases.CASES[name]("cuda")
    assert_same(got, ref, exact=name not in kernel_cases.APPROX)


@cuda
@pytest.mark.cuda
def test_cuda_reference_equals_cpu_reference():
    for name, fn in kernel_cases.CASES.items():
        with forced("torch"):
            assert_same(fn("cuda"), fn("cpu"), exact=name not in kernel_cases.APPROX)


# ---- dispatch ----------------------------------------------------------------------------------
def test_dispatch_defaults_to_the_reference_on_the_cpu(monkeypatch):
    monkeypatch.delenv("NEURALCODEC_KERNELS", raising=False)
    if not dispatch.interpreted():
        assert dispatch.backend() == "auto" and not dispatch.use_triton(torch.zeros(1))
    with forced("torch"):
        assert dispatch.backend() == "torch" and not dispatch.use_triton(torch.zeros(1))
        with forced("auto"):
            assert dispatch.backend() == "auto"
        assert dispatch.backend() == "torch"


def test_dispatch_refuses_what_cannot_run(monkeypatch):
    monkeypatch.setenv("NEURALCODEC_KERNELS", "fast")
    with pytest.raises(ValueError, match="NEURALCODEC_KERNELS"):
        dispatch.backend()
    with pytest.raises(ValueError, match="unknown kernel backend"):
        with forced("cuda"):
            pass
    monkeypatch.setenv("NEURALCODEC_KERNELS", "triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET"):
        quantize.center_round(torch.zeros(3))


# ---- references --------------------------------------------------------------------------------
def test_rounding_references():
    y = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, 7.0])
    assert quantize.center_round(y).tolist() == [-2, -2, 0, 0, 2, 2, 0, 7]
    assert quantize.center_round(y, torch.tensor(0.5)).tolist() == [-3, -2, -1, 0, 1, 2, 0, 6]
    thr = torch.tensor([0.5, 1.0, 2.0])
    s = torch.tensor([0.1, 0.5, 0.6, 1.0, 3.0])
    assert quantize.table_index(s, thr).tolist() == [0, 0, 1, 1, 3]
    q = quantize.quantize_index(y[:5], None, s, thr)
    assert q.symbols.tolist() == [-2, -2, 0, 0, 2] and q.indexes.tolist() == [0, 0, 1, 1, 3]
    x = torch.randn(2, 3, 4, 5) * 10
    off, sc = torch.tensor([1.0, 0.0, -2.0]), torch.tensor([0.5, 1.0, 4.0])
    want = torch.round((x - off.view(1, 3, 1, 1)) / sc.view(1, 3, 1, 1)).long()
    assert (quantize.round_channels(x, off, sc) - want).abs().max() <= 1   # a multiply, not a divide


def test_training_surrogates():
    x = torch.linspace(-3, 3, 601, requires_grad=True)
    quantize.ste_round(x).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    u = quantize.noise(torch.zeros(200_000), seed=7)
    assert u.min() >= -0.5 and u.max() < 0.5 and abs(float(u.mean())) < 3e-3 and abs(float(u.var()) - 1 / 12) < 1e-3
    assert torch.equal(u, quantize.noise(torch.zeros(200_000), seed=7))
    assert not torch.equal(u, quantize.noise(torch.zeros(200_000), seed=8))
    xs = x.detach()
    assert torch.allclose(quantize.soft_round(xs, 1e-3), xs, atol=1e-3)
    off_tie = xs[(xs - xs.round()).abs() < 0.3]
    assert torch.allclose(quantize.soft_round(off_tie, 60.0), off_tie.round(), atol=1e-4)
    xg = torch.linspace(-2.2, 2.2, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: quantize.soft_round(t, 3.0), (xg,))


def test_int_linear_paths_agree():
    rng = np.random.default_rng(0)
    w = rng.integers(-1000, 1000, (7, 13))
    b = rng.integers(-10**6, 10**6, 7)
    x = rng.integers(-(1 << 20), 1 << 20, (300, 13))
    assert context.exact_in_float(w, b, 10, 1 << 20)
    exact = (x @ w.T + b + 512) >> 10
    for relu in (False, True):
        want = np.clip(exact, 0 if relu else -(1 << 20), 1 << 20)
        assert np.array_equal(context.int_linear(x, w, b, 10, 1 << 20, relu), want)        # float64 BLAS
        got = context.int_linear(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), 10, 1 << 20, relu)
        assert np.array_equal(got.numpy(), want)


def test_int_conv2d_is_the_layer_on_patches():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(-4000, 4000, (1, 2, 6, 7), generator=g)
    w = torch.randint(-500, 500, (3, 2, 3, 3), generator=g)
    b = torch.randint(-9000, 9000, (3,), generator=g)
    y = context.int_conv2d(x, w, b, 2, 8, 1 << 20, False)
    cols = torch.nn.functional.unfold(x.double(), 3, padding=1, stride=2).long().transpose(1, 2)[0]
    want = context.int_linear(cols, w.view(3, -1), b, 8, 1 << 20, False)
    assert y.shape == (1, 3, 3, 4) and torch.equal(y[0].permute(1, 2, 0).reshape(-1, 3), want)


def test_nearest_is_the_brute_force_argmin():
    g = torch.Generator().manual_seed(2)
    x, c = torch.randn(500, 6, generator=g), torch.randn(300, 6, generator=g)
    d = torch.cdist(x.double(), c.double())
    assert (vq.nearest(x, c, "l2") == d.argmin(1)).float().mean() > 0.99   # exact up to rounding of cdist
    assert torch.equal(vq.nearest(x, c, "dot"), (x.double() @ c.double().T).argmax(1))
    for metric in ("l2", "dot"):   # the GEMM path and the kernel's ordered sums agree off near-ties
        assert torch.equal(vq.nearest(x, c, metric), vq.nearest_reference(x, c, metric))
    with pytest.raises(ValueError, match="metric"):
        vq.nearest(x, c, "cos")
    with pytest.raises(ValueError, match="codebook"):
        vq.nearest(x, c[:0])


def test_rans_lane_reference_round_trips_on_tensors():
    table, values, idx = kernel_cases._problem(60, 999)
    pad = (-len(values)) % 7
    val = torch.from_numpy(np.concatenate([values, np.zeros(pad, np.int64)]))
    ix = torch.from_numpy(np.concatenate([idx, np.full(pad, -1)]))
    t = {k: torch.from_numpy(np.ascontiguousarray(getattr(table, k))) for k in ("offset", "length")}
    cdf = torch.from_numpy(table.cdf.reshape(-1))
    enc = lanes_k.encode(val, ix, cdf, t["offset"], t["length"], table.cdf.shape[1], table.precision, 7)
    assert enc.escaped.sum() == np.count_nonzero((values < table.offset[idx]) |
                                                 (values >= table.offset[idx] + table.length[idx] - 1))
    from neuralcodec.entropy.rans import _decode_tables
    dt = _decode_tables(table)
    dec = lanes_k.decode(enc.states, enc.words, ix, torch.from_numpy(dt.lut), torch.from_numpy(dt.cdf_flat),
                         t["offset"], t["length"], dt.width, table.precision)
    assert dec.ptr == enc.words.numel() and torch.equal(dec.states, torch.full((7,), lanes_k.RANS_L))
    keep = ~dec.escaped & (ix >= 0)
    assert torch.equal(dec.values[keep], val[keep]) and torch.equal(dec.escaped, enc.escaped)


# ---- benchmark ---------------------------------------------------------------------------------
def _bench(env_extra: dict, *args: str) -> dict:
    import json
    env = {**os.environ, **env_extra}
    p = subprocess.run([sys.executable, "-m", "neuralcodec.cli", "bench", "kernels", "--json", "--repeats", "1", *args],
                       env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def test_bench_kernels_on_the_cpu_times_the_reference():
    r = _bench({"TRITON_INTERPRET": "0"}, "--symbols", "20000")
    assert r["rans"]["torch"]["same_stream_as_c"] and r["rans"]["device_stream_decodes_with_c"]
    assert r["quantize_index"]["torch"]["melem_s"] > 0 and "triton" not in r["nearest"]


def test_bench_kernels_interpreted_runs_both_backends():
    r = _bench({"TRITON_INTERPRET": "1"}, "--symbols", "5000")
    for k in ("quantize_index", "noise", "int_linear", "nearest"):
        assert r[k]["same_result"] is True, k
    assert r["rans"]["triton"]["same_stream_as_c"] and r["rans"]["triton"]["roundtrip"]


@cuda
@pytest.mark.cuda
def test_bench_kernels_on_cuda():
    r = _bench({}, "--symbols", "1000000", "--device", "cuda")
    for k in ("quantize_index", "noise", "int_linear", "nearest"):
        assert r[k]["same_result"] is True, k
    assert r["rans"]["triton"]["same_stream_as_c"] and r["rans"]["device_stream_decodes_with_c"]
