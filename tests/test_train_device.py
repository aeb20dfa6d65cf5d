"""The device path on a CPU-only machine: device resolution, windows built with torch, no host waits, bf16."""

from __future__ import annotations

import array_api_compat.torch as tx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zoo.datasets.batches import DayBatches
from zoo.datasets.fields import FIELDS
from zoo.datasets.synth import make_market
from zoo.datasets.windows import gather_windows, normalize_windows
from zoo.plugins import losses as loss_plugins

from zoo.compose import build_model
from zoo.errors import SpecError, TrainingError
from zoo.registry import get_registry
from zoo.specs import DataSpec, canonical_toml, load_spec, loads_spec, spec_hash
from zoo.train.data import CubeSource
from zoo.train.days import Day, list_dayset, to_day
from zoo.train.device import resolve_device
from zoo.train.source import on_device
from zoo.train.trainer import FitConfig, evaluate_rank_ic, fit, predict, train_step

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")

#: specs/*.toml hashes (re-taken after issue 13 changed enhance.cost_rate): adding a key must not move them.
PINNED_HASHES = {"gru": "3c32c189d77b", "decompgru": "9c1f70eac230"}


# ----------------------------------------------------------------------------- device and precision keys


@no_cuda
def test_auto_resolves_to_cpu_and_cuda_is_refused_without_one():
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    for name in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(TrainingError, match="no CUDA device"):
            resolve_device(name)


def test_device_and_precision_are_validated_at_load(specs_dir):
    assert load_spec(specs_dir / "gru.toml", ["train.device='cuda:1'"]).train.device == "cuda:1"
    with pytest.raises(SpecError, match="device must be one of auto, cpu, cuda, cuda:N, got 'gpu'"):
        load_spec(specs_dir / "gru.toml", ["train.device='gpu'"])
    with pytest.raises(SpecError, match="precision"):
        load_spec(specs_dir / "gru.toml", ["train.precision='fp16'"])


def test_precision_default_keeps_every_spec_hash(specs_dir):
    for name, pinned in PINNED_HASHES.items():
        spec = load_spec(specs_dir / f"{name}.toml")
        assert spec_hash(spec) == pinned
        assert "precision" not in canonical_toml(spec)
        assert spec_hash(load_spec(specs_dir / f"{name}.toml", ["train.precision='fp32'"])) == pinned
    bf16 = load_spec(specs_dir / "gru.toml", ["train.precision='bf16'"])
    assert spec_hash(bf16) != PINNED_HASHES["gru"]
    import tomllib

    again = loads_spec(tomllib.loads(canonical_toml(bf16)))
    assert again.train.precision == "bf16" and spec_hash(again) == spec_hash(bf16)


# ----------------------------------------------------------------------------- windows: torch == numpy

FLOAT32_TOL = dict(rtol=1e-4, atol=1e-4)


@st.composite
def panels(draw):
    """A padded (S, W-1+D, F) bar panel with NaN gaps, latest-breach positions and one day's stocks."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    s, d, w = draw(st.integers(1, 40)), draw(st.integers(1, 30)), draw(st.integers(1, 12))
    prices = np.exp(np.cumsum(rng.normal(0, 0.03, (s, d, 1)), axis=1)) * rng.uniform(1, 200, (s, 1, 1))
    bars = np.concatenate(
        [prices * rng.uniform(0.97, 1.03, (s, d, 5)), rng.lognormal(10, 1, (s, d, 1))], axis=2
    ).astype(np.float32)
    bars[rng.random((s, d)) < draw(st.sampled_from([0.0, 0.1, 0.5]))] = np.nan  # suspensions
    for k in range(s):  # listing gaps: no bars before listing or after delisting
        lo, hi = sorted(rng.integers(0, d + 1, 2))
        if rng.random() < 0.3:
            bars[k, :lo] = np.nan
            bars[k, hi:] = np.nan
    bars[rng.random(bars.shape) < 0.02] = np.nan  # single missing fields
    panel = np.full((s, w - 1 + d, 6), np.nan, np.float32)
    panel[:, w - 1 :] = bars
    breach = rng.random((d, s)) < draw(st.sampled_from([0.0, 0.05, 0.3]))
    last_breach = np.maximum.accumulate(np.where(breach, np.arange(d)[:, None], -1), axis=0).astype(np.int64)
    t = int(rng.integers(0, d))
    idx = np.sort(rng.choice(s, size=int(rng.integers(0, s + 1)), replace=False)).astype(np.int64)
    fields = draw(st.sampled_from([FIELDS, ("close", "volume", "open"), ("volume",), ("high", "close")]))
    norm = dict(
        price_norm=draw(st.sampled_from(["last_close", "none"])) if "close" in fields else "none",
        volume_norm=draw(st.sampled_from(["window_mean", "none"])),
        clip_mad=draw(st.sampled_from([0.0, 3.0, 5.0])),
        zscore=draw(st.booleans()),
        fill_value=draw(st.sampled_from([0.0, -1.0])),
    )
    return panel, last_breach, t, idx, w, fields, norm


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(panels())
def test_torch_windows_equal_numpy_windows(case):
    panel, last_breach, t, idx, w, fields, norm = case
    field_idx = np.array([FIELDS.index(f) for f in fields])
    raw = gather_windows(panel, last_breach, t, idx, w, field_idx)
    want = normalize_windows(raw.copy(), fields, **norm)
    as_t = {k: torch.from_numpy(v) for k, v in dict(p=panel, b=last_breach, i=idx, f=field_idx).items()}
    raw_t = gather_windows(as_t["p"], as_t["b"], t, as_t["i"], w, as_t["f"])
    np.testing.assert_array_equal(np.isnan(raw_t.numpy()), np.isnan(raw))  # breach cut, gaps: exact
    got = normalize_windows(raw_t, fields, **norm)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), want, **FLOAT32_TOL)


@pytest.fixture(scope="module")
def small_cube():
    """A small synthetic market with suspensions, breaches and listing gaps planted on top."""
    cube = make_market(n_stocks=40, start="2020-01-01", end="2020-12-31", seed=5)
    rng = np.random.default_rng(5)
    d, s = cube.sizes["date"], cube.sizes["symbol"]
    bars = cube["bars"].values.copy()
    suspended = cube["suspended"].values | (rng.random((d, s)) < 0.05)
    bars[suspended] = np.nan
    listed = cube["listed"].values.copy()
    listed[: d // 3, :5] = False  # late listings
    bars[: d // 3, :5] = np.nan
    breach = cube["breach"].values | (rng.random((d, s)) < 0.01)
    return cube.assign(
        bars=(cube["bars"].dims, bars),
        suspended=(cube["suspended"].dims, suspended),
        listed=(cube["listed"].dims, listed),
        breach=(cube["breach"].dims, breach),
    )


@pytest.mark.parametrize("label_norm", [None, "rank"])
def test_day_batches_on_torch_match_numpy(small_cube, label_norm):
    host = DayBatches(small_cube, window=20, min_history=10, label_norm=label_norm, min_stocks=4)
    dev = host.on(tx, "cpu")
    assert len(host) > 100
    for i in range(0, len(host), 11):
        a, b = host[i], dev[i]
        assert isinstance(b.x, torch.Tensor) and isinstance(b.ctx["size"], torch.Tensor)
        np.testing.assert_array_equal(a.index, b.index)
        np.testing.assert_allclose(b.x.numpy(), a.x, **FLOAT32_TOL)
        np.testing.assert_array_equal(b.y.numpy(), a.y)
        for k in a.ctx:
            np.testing.assert_array_equal(b.ctx[k].numpy(), a.ctx[k])
        assert a.n_labelled == b.n_labelled == int(np.isfinite(a.y).sum())


def test_cube_source_builds_on_the_device_once_per_device(small_cube):
    spec = DataSpec(window=20, min_history=10)
    src = CubeSource(small_cube, spec)
    assert on_device(src, torch.device("cpu")) is src  # the numpy path stays the CPU's
    dev = src.on("cpu", torch_build=True)
    assert dev is src.on("cpu", torch_build=True) and dev.on("cpu") is src
    i = int(np.flatnonzero(src._labelled_ok)[-1])
    a, b = src.day(i), dev.day(i)
    assert b.n_labelled == a.n_labelled > 0
    np.testing.assert_allclose(b.x.numpy(), a.x.numpy(), **FLOAT32_TOL)
    # The device source shares the panel and keeps its own day cache.
    assert dev._labelled._dev["panel"] is dev._unlabelled._dev["panel"]
    assert dev.day(i) is b and src.day(i) is a


def test_a_source_without_on_is_refused_for_another_device():
    class Plain:
        dates = symbols = np.array([])

    assert on_device(Plain(), torch.device("cpu")).__class__ is Plain
    with pytest.raises(TrainingError, match="builds its days on the CPU only"):
        on_device(Plain(), torch.device("meta"))


# ----------------------------------------------------------------------------- everything on one device


@pytest.fixture(scope="module")
def host_batches(small_cube) -> DayBatches:
    """The small cube's labelled day batches, built on the host (moved to a device with ``on``)."""
    return DayBatches(small_cube, window=20, min_history=10, label_norm=None, min_stocks=4)


def _device_days(batches: DayBatches, device: str, n: int = 3) -> list[Day]:
    batches = batches.on(tx, device)
    return [to_day(batches[i]) for i in range(len(batches) - n, len(batches))]


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _tensors(v)


@pytest.mark.parametrize(("spec_name", "loss_name"), [("gru", "weighted_mse"), ("decompgru", "ic")])
def test_every_tensor_the_model_and_loss_see_is_on_the_model_device(
    host_batches, specs_dir, spec_name, loss_name
):
    """On the meta device: a stray CPU tensor would show in a pre-hook, and a host read would raise.

    A meta tensor has no values, so ``item()``, ``bool()`` and data-dependent shapes (``nonzero``,
    boolean selection) fail on it: a step that completes on meta never makes the host wait.
    """
    reg = get_registry()
    torch.manual_seed(0)
    model = build_model(load_spec(specs_dir / f"{spec_name}.toml").model, 6, reg).to("meta")
    loss_fn = reg.build("loss", loss_name, {}, 0)
    seen: list[tuple[str, torch.device]] = []

    def pre_hook(module, args, kwargs):
        seen.extend((type(module).__name__, t.device) for t in _tensors([args, kwargs]))

    handles = [m.register_forward_pre_hook(pre_hook, with_kwargs=True) for m in [*model.modules(), loss_fn]]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for day in _device_days(host_batches, "meta", n=2):
        loss = train_step(model, loss_fn, opt, day, loss_fn.label_norm, FitConfig())
        assert loss.device.type == "meta"
    for h in handles:
        h.remove()
    assert {type(m).__name__ for m in model.modules()} <= {name for name, _ in seen} | {"ModuleDict"}
    stray = {(name, str(dev)) for name, dev in seen if dev.type != "meta"}
    assert not stray, f"tensors off the model's device: {stray}"


def test_trainer_refuses_days_on_another_device(host_batches, specs_dir):
    reg = get_registry()
    model = build_model(load_spec(specs_dir / "gru.toml").model, 6, reg).to("meta")
    days = list_dayset(_device_days(host_batches, "cpu", n=1))
    with pytest.raises(TrainingError, match="is on cpu but the model is on meta"):
        fit(model, reg.build("loss", "ic", {}, 0), days, days, FitConfig(max_epochs=1, min_stocks=3), seed=0)


def test_weighted_loss_path_equals_the_selecting_one(monkeypatch):
    """The loss form an accelerator runs (fixed shapes, 0/1 weights) gives the CPU's values and gradients."""
    g = torch.Generator().manual_seed(0)
    target = torch.randn(50, generator=g)
    target[::7] = float("nan")
    some = torch.rand(50, generator=g) > 0.2
    one = torch.zeros(50, dtype=torch.bool)
    one[3] = True
    for name in ("ic", "weighted_mse"):
        loss_fn = get_registry().build("loss", name, {}, 0)
        for mask in (some, one, torch.zeros(50, dtype=torch.bool)):
            out = {}
            for select in (True, False):
                monkeypatch.setattr(loss_plugins, "_select", lambda pred, select=select: select)
                pred = torch.randn(50, generator=torch.Generator().manual_seed(1), requires_grad=True)
                value = loss_fn(pred, target, mask)
                value.backward()
                out[select] = (value.detach(), pred.grad)
            torch.testing.assert_close(out[False][0], out[True][0], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(out[False][1], out[True][1], rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- precision


def test_bf16_trains_a_few_steps_with_finite_loss(host_batches, specs_dir):
    reg = get_registry()
    torch.manual_seed(0)
    model = build_model(load_spec(specs_dir / "decompgru.toml").model, 6, reg)
    head_dtypes = []
    model.head.register_forward_hook(lambda m, a, out: head_dtypes.append(out.dtype))
    days = list_dayset(_device_days(host_batches, "cpu", n=4))
    cfg = FitConfig(max_epochs=2, patience=5, min_stocks=3, precision="bf16")
    result = fit(model, reg.build("loss", "ic", {}, 0), days, days, cfg, seed=0)
    assert all(np.isfinite(row["train_loss"]) for row in result.history)
    assert head_dtypes and set(head_dtypes) == {torch.bfloat16}  # autocast really ran the model in bf16
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights and Adam stay float32
    assert np.isfinite(evaluate_rank_ic(model, days, 3, "bf16"))
    scores = predict(model, days, "bf16")
    assert all(s.dtype == np.float32 and np.isfinite(s).all() for _, _, s in scores)


# ----------------------------------------------------------------------------- the GPU bench's import path

BLOCKED = ("zarr", "mlflow", "cattrs", "xarray", "pandas", "tomli_w")


def test_gpu_bench_builds_the_specs_models_without_zarr_mlflow_cattrs(specs_dir):
    """bench/bench_gpu.py must run where only torch, numpy and the model code exist (a bare GPU image)."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        f"for m in {BLOCKED!r}: sys.modules[m] = None  # any import of them now fails\n"
        "import runpy, torch\n"
        f"torch.set_num_threads({torch.get_num_threads()})  # this process's count: the same arithmetic\n"
        "bench = runpy.run_path('bench/bench_gpu.py', run_name='bench_gpu')\n"
        "x = torch.linspace(-2, 2, 7 * 150 * 6).reshape(7, 150, 6)\n"
        "ctx = {'size': torch.arange(7.0), 'mask': torch.ones(7, dtype=torch.bool)}\n"
        "for name in ('gru', 'decompgru'):\n"
        "    print(name, repr(bench['make_model'](name, torch.device('cpu'))(x, ctx).tolist()))\n"
    )
    root = specs_dir.parent
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    x = torch.linspace(-2, 2, 7 * 150 * 6).reshape(7, 150, 6)
    ctx = {"size": torch.arange(7.0), "mask": torch.ones(7, dtype=torch.bool)}
    for name in ("gru", "decompgru"):
        torch.manual_seed(0)
        model = build_model(load_spec(specs_dir / f"{name}.toml").model, 6, get_registry())
        assert got[name] == repr(model(x, ctx).tolist())  # the same model, weight for weight
