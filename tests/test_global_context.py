"""The global (linear-attention) context: exact integers everywhere, close to its training twin."""
import pytest
import torch

from conftest import cuda
from neuralcodec.codecs.image.exact import ACT_BITS, ACT_LIMIT
from neuralcodec.codecs.image.global_context import EPS, VALUE_LIMIT, GlobalContext, round_div


def _module(cin=12, dim=8, scale=4.0, seed=0):
    torch.manual_seed(seed)
    gc = GlobalContext(cin, dim)
    with torch.no_grad():
        for p in gc.parameters():
            p.mul_(scale)
    return gc


def _ctx(b=2, c=12, h=5, w=7, seed=1, limit=4 << ACT_BITS):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-limit, limit + 1, (b, c, h, w), generator=g)


def _int64_reference(gc: GlobalContext, ctx: torch.Tensor) -> torch.Tensor:
    """The same formula with every sum in int64 (no float64 at all)."""
    q, k, v = gc.proj.exact(ctx).chunk(3, 1)
    q, k = q.clamp(0, VALUE_LIMIT).flatten(2), k.clamp(0, VALUE_LIMIT).flatten(2)
    v = v.clamp(-VALUE_LIMIT, VALUE_LIMIT).flatten(2)
    p = q.shape[-1]
    kv = round_div((k[:, :, None, :] * v[:, None, :, :]).sum(-1), p << ACT_BITS)
    ks = round_div(k.sum(-1), p)
    num = (q[:, :, None, :] * kv[:, :, :, None]).sum(1)
    den = (q * ks[:, :, None]).sum(1)[:, None] + EPS
    return round_div(num << ACT_BITS, den).clamp(-VALUE_LIMIT, VALUE_LIMIT).view(ctx.shape[0], gc.dim, *ctx.shape[2:])


@pytest.mark.parametrize("limit", [4 << ACT_BITS, ACT_LIMIT])
def test_exact_path_equals_an_all_int64_computation(limit):
    gc = _module(scale=4.0 if limit < ACT_LIMIT else 50.0)   # the second saturates every clamp
    ctx = _ctx(limit=limit)
    got = gc.exact(ctx)
    assert torch.equal(got, _int64_reference(gc, ctx))
    assert got.abs().max() > 0


def test_round_div_rounds_half_up():
    a = torch.tensor([-7, -6, -5, -1, 0, 1, 5, 6, 7])
    assert round_div(a, 4).tolist() == [-2, -1, -1, 0, 0, 0, 1, 2, 2]  # -1.75 -1.5 -1.25 ... 1.75


def test_identical_across_threads_batches_and_layouts():
    gc, ctx = _module(), _ctx(b=3)
    ref = gc.exact(ctx)
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            assert torch.equal(gc.exact(ctx), ref)
            assert torch.equal(torch.cat([gc.exact(ctx[i:i + 1]) for i in range(3)]), ref)
            assert torch.equal(gc.exact(ctx.contiguous(memory_format=torch.channels_last)), ref)
    finally:
        torch.set_num_threads(threads)


def test_each_position_sees_the_whole_latent():
    """Changing one far-away position of the context changes the output everywhere (global)."""
    gc, ctx = _module(), _ctx(b=1, h=8, w=8)
    moved = ctx.clone()
    moved[0, :, 7, 7] += 3 << ACT_BITS
    diff = (gc.exact(moved) != gc.exact(ctx)).any(1)[0]
    assert diff[0, 0] and diff.float().mean() > 0.5


def test_training_twin_tracks_the_exact_path():
    gc, ctx = _module(), _ctx()
    exact = gc.exact(ctx).double() / (1 << ACT_BITS)
    twin = gc(ctx.float() / (1 << ACT_BITS)).double()
    assert (twin - exact).abs().max() < 4 / (1 << ACT_BITS)
    assert exact.abs().max() > 0.5
    twin.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gc.parameters())


@cuda
def test_cuda_gives_the_cpu_integers():
    gc, ctx = _module(), _ctx(b=2, h=9, w=11)
    ref = gc.exact(ctx)
    assert torch.equal(gc.cuda().exact(ctx.cuda()).cpu(), ref)
