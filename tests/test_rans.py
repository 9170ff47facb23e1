import hashlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from conftest import cuda, golden
from neuralcodec.entropy import rans
from neuralcodec.entropy.families import default_scale_table, scale_table_cdfs
from neuralcodec.entropy.tables import categorical, from_freqs
from neuralcodec.errors import FormatError

BACKENDS = ["c", "numpy", "torch"]


@st.composite
def coding_problems(draw):
    """A random table (1..5 rows, 2..40 symbols, precision 4..16), values with escapes, lanes."""
    precision = draw(st.integers(6, 16))
    rows = draw(st.integers(1, 5))
    freqs, offsets = [], []
    for _ in range(rows):
        n = draw(st.integers(2, 40))
        w = np.array(draw(st.lists(st.floats(0.01, 100), min_size=n, max_size=n)))
        f = np.maximum(1, np.floor(w / w.sum() * ((1 << precision) - n))).astype(np.int64)
        f[0] += (1 << precision) - f.sum()
        freqs.append(f)
        offsets.append(draw(st.integers(-50, 50)))
    table = from_freqs(freqs, np.array(offsets), precision)
    n = draw(st.sampled_from([0, 1, 2, 7, 31, 100, 1001]))
    idx = np.array(draw(st.lists(st.integers(0, rows - 1), min_size=n, max_size=n)), dtype=np.int64)
    lo, hi = table.offset[idx], table.offset[idx] + table.length[idx] - 2
    seeds = np.array(draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n)), dtype=np.int64)
    values = lo + seeds % (hi - lo + 1) if n else np.zeros(0, np.int64)
    if n and draw(st.booleans()):  # sprinkle escapes far outside the support
        k = draw(st.integers(0, n - 1))
        values[k] = draw(st.sampled_from([-(10**12), 10**15, int(hi[k]) + 1, int(lo[k]) - 1]))
    lanes = draw(st.sampled_from([1, 2, 3, 16, 64]))
    return table, values, idx, lanes


@settings(max_examples=150, deadline=None)
@given(coding_problems())
def test_round_trip_on_random_tables(problem):
    table, values, idx, lanes = problem
    blob = rans.encode(values, idx, table, lanes=lanes)
    assert torch.equal(torch.from_numpy(rans.decode(blob, idx, table)), torch.from_numpy(values))


@settings(max_examples=40, deadline=None)
@given(coding_problems())
def test_every_backend_writes_the_same_bytes(problem):
    table, values, idx, lanes = problem
    blobs = {b: rans.encode(values, idx, table, lanes=lanes, backend=b) for b in BACKENDS}
    assert blobs["c"] == blobs["numpy"] == blobs["torch"]
    for b in BACKENDS:
        assert np.array_equal(rans.decode(blobs["c"], idx, table, backend=b), values)


def test_c_extension_is_built():
    """The fast path must exist where the package was installed with a compiler (CI has one)."""
    assert rans._ransc is not None and rans._backend("auto") == "c"


def _gaussian_problem(n=5000, seed=3):
    table = scale_table_cdfs("gaussian")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, table.rows, n)
    values = np.rint(rng.standard_normal(n) * default_scale_table()[idx]).astype(np.int64)
    return table, values, idx


@pytest.mark.parametrize("lanes", [1, 5, 32, 1000, 5000])
def test_gaussian_round_trip_and_rate(lanes):
    table, values, idx = _gaussian_problem()
    blob = rans.encode(values, idx, table, lanes=lanes)
    assert np.array_equal(rans.decode(blob, idx, table), values)
    ideal = table.symbol_bits(values, idx).sum()
    # at most ~66 bits of flush per lane plus the two varints of the header
    assert 8 * len(blob) <= ideal + 66 * lanes + 64


def test_overhead_is_small_with_default_lanes():
    table, values, idx = _gaussian_problem(200_000)
    blob = rans.encode(values, idx, table)
    assert 8 * len(blob) / table.symbol_bits(values, idx).sum() - 1 < 0.001


def test_golden_bytes():
    t = categorical(np.array([[5, 1, 1, 1], [1, 2, 3, 4]]), precision=12)
    values = np.array([0, 1, 2, 3, 0, 0, 7, -3, 3, 2, 1, 0, 0], dtype=np.int64)
    idx = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0], dtype=np.int64)
    blob = rans.encode(values, idx, t, lanes=3)
    assert blob.hex() == golden("rans_small.hex", blob.hex())
    assert np.array_equal(rans.decode(blob, idx, t), values)


def test_empty_input():
    t = categorical(np.ones(4))
    blob = rans.encode(np.zeros(0, np.int64), np.zeros(0, np.int64), t)
    assert rans.decode(blob, np.zeros(0, np.int64), t).shape == (0,)


@pytest.mark.parametrize("backend", BACKENDS)
def test_corrupt_blobs_raise_format_error(backend):
    table, values, idx = _gaussian_problem(2000)
    blob = rans.encode(values, idx, table, lanes=4)
    rng = np.random.default_rng(0)
    caught = 0
    for cut in range(0, len(blob), max(1, len(blob) // 50)):
        with pytest.raises(FormatError):
            rans.decode(blob[:cut], idx, table, backend=backend)
        caught += 1
    for _ in range(100):  # flipped bits: either detected or (rarely) another valid stream
        b = bytearray(blob)
        b[rng.integers(len(b))] ^= 1 << int(rng.integers(8))
        try:
            out = rans.decode(bytes(b), idx, table, backend=backend)
            assert out.shape == values.shape
        except FormatError:
            caught += 1
    assert caught > 50


def test_bad_arguments():
    t = categorical(np.ones(4))
    with pytest.raises(ValueError):
        rans.encode(np.array([1]), np.array([1]), t)  # row 1 does not exist
    with pytest.raises(ValueError):
        rans.encode(np.array([1]), np.array([0]), t, lanes=0)
    with pytest.raises(ValueError):
        rans.encode(np.array([1]), np.array([0]), t, backend="fortran")


@cuda
def test_cuda_writes_the_cpu_bytes():
    table, values, idx = _gaussian_problem(100_000)
    for lanes in (1, 256, 4096):
        cpu = rans.encode(values, idx, table, lanes=lanes, backend="c")
        gpu = rans.encode(values, idx, table, lanes=lanes, backend="torch", device="cuda")
        assert hashlib.sha256(cpu).digest() == hashlib.sha256(gpu).digest()
        assert np.array_equal(rans.decode(gpu, idx, table, backend="torch", device="cuda"), values)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 70), min_size=1, max_size=6), st.sampled_from([1, 3, 8]), st.integers(0, 10**6))
def test_sequential_groups_round_trip(sizes, lanes, seed):
    """Group g's rows may depend on groups < g: the decoder gets them one group at a time."""
    table = scale_table_cdfs("gaussian")
    rng = np.random.default_rng(seed)
    groups = []
    for n in sizes:
        idx = rng.integers(0, table.rows, n)
        values = np.rint(rng.standard_normal(n) * default_scale_table()[idx]).astype(np.int64)
        if n and rng.random() < 0.3:
            values[rng.integers(n)] = 10**9  # an escape inside this group
        groups.append((values, idx))
    blobs = {b: rans.encode_groups(groups, table, lanes, backend=b) for b in BACKENDS}
    assert blobs["c"] == blobs["numpy"] == blobs["torch"]
    for b in BACKENDS:
        dec = rans.GroupDecoder(blobs["c"], table, backend=b)
        for values, idx in groups:
            assert np.array_equal(dec.next(idx), values)
        dec.finish()


def test_one_group_is_plain_encode():
    table, values, idx = _gaussian_problem(999)
    assert rans.encode_groups([(values, idx)], table, 7) == rans.encode(values, idx, table, 7)


def test_groups_cost_no_extra_flush():
    table, values, idx = _gaussian_problem(20_000)
    parts = [(values[i:i + 2000], idx[i:i + 2000]) for i in range(0, 20_000, 2000)]
    one = rans.encode(values, idx, table, lanes=4)
    ten = rans.encode_groups(parts, table, lanes=4)
    assert len(ten) <= len(one) + 8  # padding entries are free: no per-group states or headers


def test_unfinished_group_decoding_is_refused():
    table, values, idx = _gaussian_problem(300)
    blob = rans.encode_groups([(values[:100], idx[:100]), (values[100:], idx[100:])], table, 2)
    dec = rans.GroupDecoder(blob, table)
    dec.next(idx[:100])
    with pytest.raises(FormatError):
        dec.finish()
