import numpy as np
import pytest

from neuralcodec.entropy.coders import CODERS, AdaptiveDecoder, AdaptiveEncoder, get_coder
from neuralcodec.entropy.families import default_scale_table, scale_table_cdfs
from neuralcodec.errors import FormatError


@pytest.mark.parametrize("name", sorted(CODERS))
def test_every_coder_round_trips_with_escapes(name):
    table = scale_table_cdfs("gaussian")
    rng = np.random.default_rng(0)
    idx = rng.integers(0, table.rows, 3000)
    values = np.rint(rng.standard_normal(3000) * default_scale_table()[idx]).astype(np.int64)
    values[[0, 5, 9]] = [10**12, -(10**9), 70000]
    coder = get_coder(name)
    data = coder.encode(values, idx, table)
    assert np.array_equal(coder.decode(data, idx, table), values)
    ideal = table.symbol_bits(values, idx).sum()
    assert 8 * len(data) < ideal * 1.01 + 400


def test_unknown_coder():
    with pytest.raises(ValueError):
        get_coder("huffman")


def test_adaptive_range_coding_with_context():
    """A model whose next distribution depends on the previous symbol (decoded the same way)."""
    rng = np.random.default_rng(0)
    k = 8
    trans = rng.dirichlet(np.ones(k) * 0.3, size=k)
    seq = [0]
    for _ in range(499):
        seq.append(int(rng.choice(k, p=trans[seq[-1]])))
    enc = AdaptiveEncoder()
    prev = 0
    for s in seq:
        enc.push(np.array([s]), trans[prev][None])
        prev = s
    data = enc.finish()
    dec, prev, out = AdaptiveDecoder(data), 0, []
    for _ in seq:
        prev = int(dec.pull(trans[prev][None])[0])
        out.append(prev)
    assert out == seq
    with pytest.raises(FormatError):
        AdaptiveDecoder(data[:-1])
