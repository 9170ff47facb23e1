import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import golden
from neuralcodec.entropy.families import FAMILIES, scale_table_cdfs
from neuralcodec.entropy.tables import CdfTable, categorical, from_freqs, quantize_pmf, to_symbols


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=300), st.integers(9, 16))
def test_quantize_pmf_sums_and_floors(masses, precision):
    pmf = np.array(masses)
    if pmf.sum() <= 0:
        pmf[0] = 1.0
    f = quantize_pmf(pmf[None], precision)[0]
    assert f.sum() == 1 << precision
    assert f.min() >= 1


def test_quantize_pmf_is_close_to_the_pmf():
    p = np.array([0.5, 0.25, 0.125, 0.125])
    assert quantize_pmf(p[None], 16)[0].tolist() == [32768, 16384, 8192, 8192]


def test_quantize_pmf_rejects_bad_input():
    for bad in (np.array([[np.nan, 1.0]]), np.array([[-1.0, 2.0]]), np.zeros((1, 3)), np.ones((1, 70000))):
        with pytest.raises(ValueError):
            quantize_pmf(bad, 16)


def test_categorical_gives_zero_counts_a_frequency():
    t = categorical(np.array([10.0, 0.0, 5.0]))
    assert t.freqs(0).min() >= 1 and t.length[0] == 4  # three values + escape


def test_table_validation_refuses_broken_rows():
    ok = from_freqs([np.array([3, 1]), np.array([1, 1, 2])], np.array([0, -1]), precision=2)
    assert ok.rows == 2
    bad_cdf = ok.cdf.copy()
    bad_cdf[1, 2] = bad_cdf[1, 1]  # a zero frequency
    with pytest.raises(ValueError):
        CdfTable(bad_cdf, ok.length, ok.offset, 2)
    with pytest.raises(ValueError):
        CdfTable(ok.cdf, ok.length, ok.offset, 17)


def test_to_symbols_escapes_outside_support():
    t = from_freqs([np.array([1, 1, 1, 1])], np.array([-1]), precision=2)  # values -1..1 + escape
    sym, esc = to_symbols(t, np.array([-2, -1, 0, 1, 2]), np.zeros(5, np.int64))
    assert sym.tolist() == [3, 0, 1, 2, 3]
    assert esc.tolist() == [True, False, False, False, True]


@pytest.mark.parametrize("family", FAMILIES)
def test_scale_tables_are_pinned(family):
    """The integers of the shipped tables must be the same on every machine."""
    t = scale_table_cdfs(family)
    assert str(t.fingerprint()) == golden(f"table_{family}.txt", str(t.fingerprint()))
