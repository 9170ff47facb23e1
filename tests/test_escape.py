import numpy as np
import pytest
from hypothesis import given, strategies as st

from neuralcodec.entropy.escape import decode_varints, encode_varints
from neuralcodec.errors import FormatError


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=200))
def test_varints_round_trip(values):
    v = np.array(values, dtype=np.int64)
    data = encode_varints(v)
    out, used = decode_varints(data + b"\x05trailing", len(v))
    assert used == len(data)
    assert np.array_equal(out, v)


def test_small_values_take_one_byte():
    assert len(encode_varints(np.array([0, -1, 1, 63, -64]))) == 5


def test_truncated_escapes_raise():
    data = encode_varints(np.array([10**12, 7]))
    with pytest.raises(FormatError):
        decode_varints(data[:-1], 2)
    with pytest.raises(FormatError):
        decode_varints(b"\xff" * 11 + b"\x01", 1)
