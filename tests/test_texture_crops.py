"""texture_draws: training crops biased to texture, and plain crops unchanged without it."""
from pathlib import Path

import pytest
import torch

from neuralcodec.errors import NeuralCodecError
from neuralcodec.training.config import ImageTrainConfig
from neuralcodec.training.image import CropDataset, _step_seed, image_files, texture

FIX = str(Path(__file__).resolve().parent / "fixtures" / "images")


def test_texture_scores_detail_not_brightness():
    flat = torch.full((3, 32, 32), 0.7)
    ramp = torch.linspace(0, 1, 32).expand(3, 32, 32)          # smooth shading: Laplacian 0
    noise = torch.rand((3, 32, 32), generator=torch.Generator().manual_seed(0))
    assert texture(flat) < 1e-10 and texture(ramp) < 1e-10
    assert texture(noise) > 0.1


def test_one_draw_is_the_plain_dataset():
    """With one draw a batch is what it was before the option: one crop_at per item from the step's generator."""
    files = image_files(FIX, "")
    one = CropDataset(files, 48, 4, seed=7, steps=3, texture_draws=1)
    g = torch.Generator().manual_seed(_step_seed(7, 2, 1))
    assert torch.equal(one.batch(2), torch.stack([one.crop_at(g) for _ in range(4)]))
    assert torch.equal(one.batch(2), CropDataset(files, 48, 4, seed=7, steps=3).batch(2))


def test_more_draws_keep_the_most_textured_of_the_plain_draws():
    files = image_files(FIX, "")
    k, n = 3, 6
    biased = CropDataset(files, 48, n, seed=7, steps=1, texture_draws=k).batch(0)
    # the same generator gives the plain dataset's crops k at a time: each kept crop is the max of its k
    plain = CropDataset(files, 48, n * k, seed=7, steps=1).batch(0)
    for i in range(n):
        group = plain[i * k:(i + 1) * k]
        best = max(range(k), key=lambda j: texture(group[j]))
        assert torch.equal(biased[i], group[best])
    assert sum(map(texture, biased)) > sum(map(texture, plain[:n]))
    assert biased.shape == (n, 3, 48, 48) and biased.dtype == torch.float32


def test_recipe_refuses_zero_draws():
    with pytest.raises(NeuralCodecError, match="texture_draws"):
        ImageTrainConfig(texture_draws=0)
