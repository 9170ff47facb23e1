import numpy as np
import torch

from neuralcodec.entropy import rans
from neuralcodec.entropy.factorized import FactorizedDensity
from neuralcodec.entropy.families import quantize


def test_training_lowers_the_rate_and_the_table_codes_it():
    torch.manual_seed(0)
    density = FactorizedDensity(3)
    y = torch.randn(4, 3, 16, 16) * torch.tensor([0.5, 2.0, 6.0]).view(1, 3, 1, 1)
    opt = torch.optim.Adam(density.parameters(), lr=1e-2)

    def bits():
        return -torch.log2(density.likelihood(quantize(y, "noise"))).mean()

    torch.manual_seed(1)
    before = bits().item()
    for _ in range(150):
        opt.zero_grad()
        loss = bits() + 1e-2 * density.aux_loss()
        loss.backward()
        opt.step()
    torch.manual_seed(1)
    after = bits().item()
    assert after < before - 0.5

    table = density.to_table()
    assert table.rows == 3
    sym = quantize(y, "symbols", density.medians.view(1, 3, 1, 1)).numpy().ravel()
    idx = np.broadcast_to(np.arange(3).reshape(1, 3, 1, 1), y.shape).ravel()
    blob = rans.encode(sym, idx, table)
    assert np.array_equal(rans.decode(blob, idx, table), sym)
    # the coded rate is near the trained estimate (escapes and flush cost a little)
    assert 8 * len(blob) / sym.size < after + 0.6
