import numpy as np
import pytest
import torch

from neuralcodec.entropy.families import (FAMILIES, default_scale_table, likelihood, quantize,
                                          scale_indexes, scale_table_cdfs)


@pytest.mark.parametrize("family", FAMILIES)
def test_training_likelihood_matches_the_coded_table(family):
    """The training twin and the integer table describe the same distribution."""
    scales = default_scale_table()
    table = scale_table_cdfs(family, scales)
    for row in (0, 20, 40, 63):
        n = int(table.length[row]) - 1
        k = torch.arange(n, dtype=torch.float64) + int(table.offset[row])
        p = likelihood(k, torch.full_like(k, scales[row]), family=family).numpy()
        q = table.freqs(row)[:n] / (1 << table.precision)
        big = p > 1e-3
        assert np.allclose(q[big], p[big], rtol=0.02, atol=2 ** -15)


def test_scale_indexes_pick_the_next_larger_scale():
    scales = default_scale_table()
    s = torch.tensor([0.01, scales[0], scales[0] * 1.001, scales[10], 1e6])
    assert scale_indexes(s, scales).tolist() == [0, 0, 1, 10, 63]


def test_quantize_modes():
    y = torch.tensor([0.2, 1.6, -2.4], requires_grad=True)
    mean = torch.tensor([0.0, 0.5, -0.5])
    assert quantize(y, "symbols", mean).tolist() == [0, 1, -2]
    ste = quantize(y, "ste", mean)
    assert torch.allclose(ste.detach(), torch.tensor([0.0, 1.5, -2.5]))
    ste.sum().backward()
    assert torch.equal(y.grad, torch.ones(3))
    noisy = quantize(y.detach(), "noise")
    assert torch.all((noisy - y.detach()).abs() <= 0.5)
    with pytest.raises(ValueError):
        quantize(y, "bogus")


def test_likelihood_is_bounded_and_differentiable():
    y = torch.tensor([0.0, 50.0], requires_grad=True)
    p = likelihood(y, torch.tensor([1.0, 1.0]))
    assert p[1] >= 1e-9 and p[0] > 0.38
    (-torch.log2(p).sum()).backward()
    assert torch.isfinite(y.grad).all()
