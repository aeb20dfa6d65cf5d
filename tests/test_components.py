"""Every registered component and every spec: shapes, gradients, causality, group means, masks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.compose import build_model, count_parameters
from zoo.registry import get_registry
from zoo.specs import load_spec, read_raw

T, F = 150, 6
SPECS = sorted((Path(__file__).resolve().parents[1] / "specs").rglob("*.toml"))
#: Specs of networks (an estimator spec, e.g. lightgbm.toml, has no module to run; tests/test_classic.py).
MODEL_SPECS = [
    p for p in SPECS if "studies" not in p.parts and "estimator" not in read_raw(p).get("model", {})
]


def day(n: int, seed: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, T, F, generator=g)
    ctx = {
        "size": torch.randn(n, generator=g),
        "industry": torch.randint(0, 5, (n,), generator=g),
        "mask": torch.ones(n, dtype=torch.bool),
    }
    return x, ctx


@pytest.mark.parametrize("n", [1, 7, 300])
@pytest.mark.parametrize("name", ["patch_conv", "gru", "dsconv"])
def test_encoder_shapes(name, n):
    enc = get_registry().build("encoder", name, {}, F)
    out = enc(torch.randn(n, T, F))
    steps = T if name == "gru" else T // 3
    assert out.shape == (n, steps, 64) and out.dtype == torch.float32
    assert enc.out_features == 64


@pytest.mark.parametrize("n", [1, 7, 300])
@pytest.mark.parametrize("name", get_registry().names("mixer"))
def test_mixer_shapes(name, n):
    mixer = get_registry().build("mixer", name, {}, 64)
    _, ctx = day(n)
    h = torch.randn(n, 50, 64)
    assert mixer(h, ctx).shape == (n, 50, 64)


@pytest.mark.parametrize("name", get_registry().names("fusion"))
def test_fusion_shapes_and_gradients(name):
    fusion = get_registry().build("fusion", name, {}, 64)
    parts = {"a": torch.randn(7, 50, 64, requires_grad=True), "b": torch.randn(7, 50, 64, requires_grad=True)}
    out = fusion(parts, day(7)[1])
    assert out.shape == (7, 50, 64)
    (out * torch.randn(7, 50, 64)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in [*parts.values(), *fusion.parameters()])


@pytest.mark.parametrize("n", [1, 7, 300])
def test_decompositions_and_head(n):
    reg = get_registry()
    x = torch.randn(n, T, F)
    parts = reg.build("decomposition", "moving_average", {}, F)(x)
    assert set(parts) == {"trend", "residual"}
    assert all(p.shape == (n, T, F) for p in parts.values())
    torch.testing.assert_close(parts["trend"] + parts["residual"], x)
    assert reg.build("decomposition", "identity", {}, F)(x)["raw"] is x
    assert reg.build("head", "linear", {}, 64)(torch.randn(n, 50, 64)).shape == (n,)


def test_moving_average_values():
    x = torch.arange(1.0, 8.0).reshape(1, 7, 1)
    trend = get_registry().build("decomposition", "moving_average", {"window": 3}, 1)(x)["trend"]
    # oldest end padded with the first value: [1, 1, 1, 2, 3, ...] -> means over 3
    expected = torch.tensor([1.0, 4 / 3, 2.0, 3.0, 4.0, 5.0, 6.0]).reshape(1, 7, 1)
    torch.testing.assert_close(trend, expected)


@settings(max_examples=25, deadline=None)
@given(t=st.integers(0, T - 1), window=st.integers(1, 20), seed=st.integers(0, 10_000))
def test_moving_average_is_causal(t, window, seed):
    decomp = get_registry().build("decomposition", "moving_average", {"window": window}, F)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, T, F, generator=g)
    y = x.clone()
    y[:, t + 1 :] = torch.randn(3, T - t - 1, F, generator=g) * 100  # change the future only
    a, b = decomp(x), decomp(y)
    for name in ("trend", "residual"):
        torch.testing.assert_close(a[name][:, : t + 1], b[name][:, : t + 1], rtol=0, atol=1e-5)
    if t + 1 < T:
        assert not torch.allclose(a["trend"][:, t + 1 :], b["trend"][:, t + 1 :])


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 60),
    groups=st.integers(1, 7),
    seed=st.integers(0, 10_000),
    ties=st.booleans(),
)
def test_group_demean_zeroes_every_group_mean(n, groups, seed, ties):
    g = torch.Generator().manual_seed(seed)
    mixer = get_registry().build("mixer", "group_demean", {"groups": groups}, 8)
    h = torch.randn(n, 4, 8, generator=g) * 3 + 1
    size = torch.randint(0, 3, (n,), generator=g).float() if ties else torch.randn(n, generator=g)
    mask = torch.rand(n, generator=g) > 0.2
    ctx = {"size": size, "mask": mask}
    out = mixer(h, ctx)
    ids = mixer.group_ids(ctx, n, h.device)
    assert ids.min() >= 0 and ids.max() < groups
    for gid in ids[mask].unique():
        members = mask & (ids == gid)
        assert torch.allclose(out[members].mean(0), torch.zeros(4, 8), atol=1e-4)


def test_group_demean_quantile_groups_by_size():
    mixer = get_registry().build("mixer", "group_demean", {"groups": 5}, 1)
    size = torch.tensor([9.0, 1.0, 5.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0, 0.0])
    ctx = {"size": size, "mask": torch.ones(10, dtype=torch.bool)}
    # ranks 0..9 -> groups 0,0,1,1,...: stock with size 0 and 1 share group 0, 8 and 9 group 4
    assert mixer.group_ids(ctx, 10, size.device).tolist() == [4, 0, 2, 1, 3, 1, 4, 2, 3, 0]
    h = size.reshape(10, 1, 1)
    expected = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.5, -0.5, -0.5, -0.5, -0.5, -0.5]).reshape(10, 1, 1)
    torch.testing.assert_close(mixer(h, ctx), expected)


@pytest.mark.parametrize("name", ["demean", "group_demean"])
def test_masked_stock_changes_nothing(name):
    mixer = get_registry().build("mixer", name, {}, 16)
    x_h = torch.randn(40, 5, 16)
    size = torch.randn(40)
    mask = torch.ones(40, dtype=torch.bool)
    base = mixer(x_h, {"size": size, "mask": mask})
    # add a masked-out stock with extreme values and an extreme size
    h2 = torch.cat([x_h, torch.full((1, 5, 16), 1e6)])
    ctx2 = {"size": torch.cat([size, torch.tensor([1e9])]), "mask": torch.cat([mask, torch.tensor([False])])}
    torch.testing.assert_close(mixer(h2, ctx2)[:40], base)


def test_demean_zero_mean_over_valid():
    mixer = get_registry().build("mixer", "demean", {}, 8)
    h = torch.randn(30, 3, 8) + 5
    mask = torch.arange(30) % 3 != 0
    out = mixer(h, {"mask": mask})
    assert torch.allclose(out[mask].mean(0), torch.zeros(3, 8), atol=1e-5)


def test_group_demean_without_size_is_a_clear_error():
    from zoo.errors import ZooError

    mixer = get_registry().build("mixer", "group_demean", {}, 8)
    with pytest.raises(ZooError, match=r"needs ctx\['size'\]"):
        mixer(torch.randn(5, 3, 8), {"mask": torch.ones(5, dtype=torch.bool)})


def _study_variants() -> list:
    from zoo.train.study import load_study, load_variants

    variants = [s for p in SPECS if "studies" in p.parts for s in load_variants(load_study(p))]
    return [s for s in variants if s.model.estimator is None]  # estimators are swept in test_classic


@pytest.mark.parametrize("path", MODEL_SPECS, ids=lambda p: p.name)
def test_every_spec_runs_forward_and_backward(path):
    _forward_backward(load_spec(path), path.name)


@pytest.mark.parametrize("spec", _study_variants(), ids=lambda s: s.name)
def test_every_study_variant_runs_forward_and_backward(spec):
    _forward_backward(spec, spec.name)


def _forward_backward(spec, path) -> None:
    """One forward and one backward on a day of 32 stocks: finite scores, a gradient for every parameter."""
    torch.manual_seed(0)
    model = build_model(spec.model, in_features=len(spec.data.fields))
    x, ctx = day(32, seed=1)  # enough stocks that no size group holds a single stock
    out = model(x, ctx)
    assert out.shape == (32,) and torch.isfinite(out).all()
    (out * torch.randn(32)).sum().backward()  # a cross-sectional mixer kills a plain sum's gradient
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, f"{path}: parameters without gradient: {missing}"


def gru_params(i: int, h: int) -> int:
    return 3 * (i * h + h * h + 2 * h)


def test_exact_parameter_counts(specs_dir):
    d, f, k = 64, 6, 3
    patch = f * d * k + d
    dsconv = (f * k + f) + (f * d + d)
    layernorm, head = 2 * d, d + 1
    decomp = load_spec(specs_dir / "decompgru.toml")
    gru = load_spec(specs_dir / "gru.toml")
    expected_decomp = patch + gru_params(d, d) + dsconv + layernorm + gru_params(d, d) + head
    expected_gru = patch + layernorm + gru_params(d, d) + head
    assert count_parameters(build_model(decomp.model, 6)) == expected_decomp == 51801
    assert count_parameters(build_model(gru.model, 6)) == expected_gru == 26369


def test_same_seed_same_weights_and_outputs(specs_dir):
    spec = load_spec(specs_dir / "decompgru.toml")
    x, ctx = day(11, seed=3)
    outs, states = [], []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        model = build_model(spec.model, 6)
        states.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
        outs.append(model(x, ctx).detach())
    assert torch.equal(states[0], states[1]) and torch.equal(outs[0], outs[1])
    assert not torch.equal(states[0], states[2])


def test_blockwise_per_stock_parts_give_the_same_model(specs_dir):
    spec = load_spec(specs_dir / "decompgru.toml")
    torch.manual_seed(0)
    model = build_model(spec.model, 6)
    x, ctx = day(70, seed=5)
    outs, grads = [], []
    for chunk in (None, 16):
        model.zero_grad()
        model.chunk_size = chunk
        out = model(x, ctx)
        (out * torch.linspace(-1, 1, 70)).sum().backward()
        outs.append(out.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=2e-5)  # summation order differs


@pytest.mark.parametrize("name", ["gru", "decompgru"])
def test_inference_blocks_and_blockwise_pass_give_the_same_scores(specs_dir, name):
    spec = load_spec(specs_dir / f"{name}.toml")
    torch.manual_seed(0)
    model = build_model(spec.model, 6).eval()
    x, ctx = day(70, seed=5)
    with torch.no_grad():
        model.eval_chunk_size, model.fuse_stockwise = None, False
        whole = model(x, ctx)
        outs = {}
        for chunk in (16, 32):
            for fuse in (False, True):
                model.eval_chunk_size, model.fuse_stockwise = chunk, fuse
                outs[chunk, fuse] = model(x, ctx)
    for out in outs.values():
        torch.testing.assert_close(out, whole, rtol=1e-5, atol=1e-6)


def test_blockwise_pass_slices_per_stock_context():
    from zoo.compose import block_ctx

    ctx = {"mask": torch.arange(5) > 1, "scale": torch.tensor(2.0), "table": torch.zeros(3, 4)}
    sub = block_ctx(ctx, 5, slice(2, 4))
    assert sub["mask"].tolist() == [True, True]
    assert sub["scale"] is ctx["scale"] and sub["table"] is ctx["table"]


def test_blockwise_pass_runs_stockwise_parts_in_blocks_only_without_autograd(specs_dir):
    spec = load_spec(specs_dir / "gru.toml")
    model = build_model(spec.model, 6)
    seen = []
    model.trunk.register_forward_hook(lambda mod, args, out: seen.append(args[0].shape[0]))
    x, ctx = day(70, seed=1)
    model.eval_chunk_size = 32
    with torch.no_grad():
        model(x, ctx)
    assert seen == [32, 32, 6]
    seen.clear()
    model(x, ctx)  # autograd on: the training path, blocks of chunk_size (1,000: the whole day)
    assert seen == [70]
