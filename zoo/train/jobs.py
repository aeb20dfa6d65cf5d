"""A fit is a value: ``FitJob`` (spec text, split, seed, data reference) -> ``run_fit`` -> ``FitOutcome``.

``run_fit`` needs nothing from the process that planned the job, so any executor can run it: in the
driver (serial), or on a Dask worker in another process or on another machine. A worker opens the
job's data itself, once, and keeps the source (and its day cache) for every later job with the same
data (:func:`job_source`); nothing large travels with a job. Progress goes back as small events
(start, one per epoch) through :func:`emit`: to the driver's callback when it runs in the driver,
through Dask's event log (``Worker.log_event``) when it runs on a worker. The driver owns MLflow.
"""

from __future__ import annotations

import contextvars
import importlib
import io
import os
import socket
import time
import tomllib
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np
import xarray as xr

from zoo import faults
from zoo.errors import TrainingError, ZooError
from zoo.train.splits import Split

#: Dask event topic carrying run_fit's progress events to the driver.
EVENT_TOPIC = "zoo.fit"
#: The default opener: ``zoo.train.data.open_source(data_spec)``.
DEFAULT_OPENER = "zoo.train.data:open_source"


@attrs.frozen
class DataRef:
    """Where a job's data comes from: an importable opener applied to the spec's ``[data]`` section.

    The store itself (``embedded``, ``synth:N``, a Zarr path or URL) is ``data.store`` in the spec;
    every worker must be able to open it (a shared filesystem or an object-store URL on a cluster).
    """

    #: ``module:function`` taking the ``[data]`` spec and returning a ``DaySource``.
    opener: str = DEFAULT_OPENER
    #: The store as the driver resolved it (logged; workers open ``data.store`` through the opener).
    store: str = ""


@attrs.frozen
class FitJob:
    """One (spec, test year, seed) fit: small values only, so it pickles in microseconds."""

    spec_toml: str
    spec_hash: str
    spec_name: str
    plugins: tuple[str, ...]
    split: Split
    seed: int
    data: DataRef
    #: Unique per planning pass, so late events of a cancelled earlier run never reach a new one.
    token: str = ""
    #: torch threads when the spec leaves ``train.threads`` at 0 (None: leave the process default).
    default_threads: int | None = None

    @property
    def key(self) -> str:
        """The job's id in events: ``<spec hash>-<test year>-s<seed>-<token>``."""
        return f"{self.spec_hash}-{self.split.test_year}-s{self.seed}-{self.token}"

    @property
    def test_year(self) -> int:
        """The split's test year."""
        return self.split.test_year


@attrs.frozen
class FitProduct:
    """What a fit body returns: the test year's score and the fit's record (no MLflow, no I/O)."""

    score: xr.DataArray
    best_epoch: int
    best_valid_ic: float
    epochs_run: int
    history: list[dict[str, float]]
    #: Artifacts to log under the child run, ``relative/path -> bytes`` (e.g. ``weights/state_dict.pt``).
    artifacts: dict[str, bytes]


@attrs.frozen
class FitOutcome:
    """A finished job: its product plus the test RankIC, timings and where it ran."""

    key: str
    spec_hash: str
    test_year: int
    seed: int
    score: xr.DataArray
    best_epoch: int
    best_valid_ic: float
    epochs_run: int
    history: list[dict[str, float]]
    test_rank_ic: float
    artifacts: dict[str, bytes]
    #: ``open_seconds`` (spec + data, 0 when cached), ``fit_seconds`` (build, train, predict, test IC).
    timings: dict[str, float]
    host: str
    pid: int


@attrs.frozen
class FitContext:
    """Everything a fit body gets: the validated spec, the open source, the split and seed, a sink."""

    spec: Any
    source: Any
    split: Split
    seed: int
    registry: Any
    on_epoch: Callable[[int, dict[str, float]], None]
    desc: str


FitBody = Callable[[FitContext], FitProduct]

# --------------------------------------------------------------------------- progress events

_SINK: contextvars.ContextVar[Callable[[dict], None] | None] = contextvars.ContextVar(
    "zoo_fit_sink", default=None
)


def set_sink(sink: Callable[[dict], None] | None) -> contextvars.Token:
    """Send this context's events to ``sink`` (the serial executor's driver callback)."""
    return _SINK.set(sink)


def reset_sink(token: contextvars.Token) -> None:
    """Undo :func:`set_sink`."""
    _SINK.reset(token)


def emit(kind: str, key: str, **payload: Any) -> None:
    """Report progress of job ``key``: to the in-process sink, else to Dask's event log, else nowhere."""
    event = {"kind": kind, "key": key, **payload}
    sink = _SINK.get()
    if sink is not None:
        sink(event)
        return
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # not on a Dask worker (a plain call): nobody listens
        return
    worker.log_event(EVENT_TOPIC, event)


# --------------------------------------------------------------------------- per-process caches

# A worker keeps what it opened for every later job: the spec registry and, above all, the data
# source with its day cache (built day tensors are the expensive part of a small fit).
_SOURCES: dict[tuple[str, Any], Any] = {}
_SPECS: dict[tuple[str, tuple[str, ...]], Any] = {}


def register_source(opener: str, data_spec: Any, source: Any) -> None:
    """Make ``source`` the process's source for ``(opener, data_spec)`` (the driver's own, for serial)."""
    _SOURCES[(opener, data_spec)] = source


def forget_source(opener: str, data_spec: Any) -> None:
    """Drop this process's source for ``(opener, data_spec)``, if any (the driver's, after its run)."""
    _SOURCES.pop((opener, data_spec), None)


def forget_sources() -> None:
    """Drop every cached source (tests; a worker keeps its sources for its lifetime)."""
    _SOURCES.clear()


def opener_name(fn: Callable) -> str:
    """``module:qualname`` of an importable function (what a remote worker can call)."""
    return f"{fn.__module__}:{fn.__qualname__}"


def resolve_opener(name: str) -> Callable:
    """The function named ``module:qualname``; a name that does not import is a TrainingError."""
    module, _, qual = name.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise TrainingError(
            f"data opener {name!r} cannot be imported here ({exc}); a worker needs an importable "
            f"module:function (not a lambda or a local function)"
        ) from None
    return obj


def importable(fn: Callable) -> bool:
    """Whether ``fn`` can be found again by name in another process."""
    if "<" in fn.__qualname__:  # lambdas and local functions
        return False
    try:
        return resolve_opener(opener_name(fn)) is fn
    except TrainingError:
        return False


def job_spec(job: FitJob) -> Any:
    """The job's validated spec, loaded once per process from its canonical TOML (hash checked)."""
    from zoo.specs import loads_spec, spec_hash

    key = (job.spec_toml, job.plugins)
    spec = _SPECS.get(key)
    if spec is None:
        spec = loads_spec(tomllib.loads(job.spec_toml), source=f"job {job.key}", plugins=job.plugins)
        if spec_hash(spec) != job.spec_hash:
            raise TrainingError(
                f"job {job.key}: the spec read back on this worker hashes to {spec_hash(spec)}, not "
                f"{job.spec_hash}; driver and worker run different zoo versions or plugins"
            )
        _SPECS[key] = spec
    return spec


def job_source(job: FitJob, spec: Any) -> Any:
    """The job's data source: this process's cached one, else opened now and kept for later jobs."""
    key = (job.data.opener, spec.data)
    source = _SOURCES.get(key)
    if source is None:
        source = resolve_opener(job.data.opener)(spec.data)
        _SOURCES[key] = source
    return source


# --------------------------------------------------------------------------- the fit


#: The random stream of the training stock samples (apart from the day order's, which stays as it was).
SAMPLE_STREAM = 1


def _train_fetch(source: Any, stocks_per_day: int, seed: int) -> Callable[[int], Any]:
    """How a fit gets a training day: the whole cached day, or a fresh stratified sample of its stocks."""
    if not stocks_per_day:
        return source.day
    from zoo.train.source import capability

    sampled = capability(source, "sampled_day")
    if sampled is None:
        raise TrainingError(
            f"train.stocks_per_day: the data source {type(source).__name__} cannot sample stocks "
            "(it has no sampled_day); set train.stocks_per_day=0"
        )
    rng = np.random.default_rng([seed, SAMPLE_STREAM])
    return lambda i: sampled(i, stocks_per_day, rng)


def neural_fit(ctx: FitContext) -> FitProduct:
    """Build the spec's model under the seed, train it with early stopping, predict the test year."""
    import torch

    from zoo.compose import build_model
    from zoo.train.days import source_dayset
    from zoo.train.device import resolve_device
    from zoo.train.ensemble import stitch
    from zoo.train.source import capability, on_device
    from zoo.train.trainer import fit, fit_config, predict

    spec, split = ctx.spec, ctx.split
    t = spec.train
    device = resolve_device(t.device)  # once per fit; the source builds its days there, the model follows
    source = on_device(ctx.source, device)
    train_days = source_dayset(source, split.train, _train_fetch(source, t.stocks_per_day, ctx.seed))
    valid_days = source_dayset(source, split.valid[:: t.valid_stride], source.day)
    test_days = source_dayset(source, split.test, capability(source, "test_day") or source.day)
    torch.manual_seed(ctx.seed)
    model = build_model(spec.model, len(spec.data.fields), ctx.registry).to(device)
    loss_fn = ctx.registry.build("loss", t.loss.name, t.loss.params, 0)
    cfg = fit_config(spec)
    result = fit(model, loss_fn, train_days, valid_days, cfg, ctx.seed, ctx.on_epoch, ctx.desc)
    preds = predict(model, test_days, cfg.precision)
    if not preds:
        raise TrainingError(f"test year {split.test_year}: no day had an eligible stock")
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return FitProduct(
        score=stitch(preds, source.symbols),
        best_epoch=result.best_epoch,
        best_valid_ic=result.best_valid_ic,
        epochs_run=result.epochs_run,
        history=result.history,
        artifacts={"weights/state_dict.pt": buf.getvalue()},
    )


def classic_fit(ctx: FitContext) -> FitProduct:
    """Fit one (year, seed) of an estimator spec (``zoo.train.classic``); its files become artifacts."""
    import tempfile
    from pathlib import Path

    from zoo.train import classic
    from zoo.train.ensemble import stitch

    result, preds, save_model = classic.fit_split(
        ctx.spec, ctx.source, ctx.split, ctx.seed, ctx.registry, desc=ctx.desc
    )
    if not preds:
        raise TrainingError(f"test year {ctx.split.test_year}: no day had an eligible stock")
    with tempfile.TemporaryDirectory() as tmp:
        save_model(Path(tmp))  # estimator.json (data, no pickle) + features.json
        files = {f"weights/{p.relative_to(tmp)}": p.read_bytes() for p in Path(tmp).rglob("*") if p.is_file()}
    return FitProduct(
        score=stitch(preds, ctx.source.symbols),
        best_epoch=result.best_epoch,
        best_valid_ic=result.best_valid_ic,
        epochs_run=result.epochs_run,
        history=result.history,
        artifacts=files,
    )


def neutral_scores(source: Any, score: xr.DataArray) -> xr.DataArray:
    """``score`` without its size and industry exposures (``train.neutralize_scores``), by the source."""
    from zoo.train.source import capability

    neutralize = capability(source, "neutralize")
    if neutralize is None:
        raise TrainingError(
            f"train.neutralize_scores: the data source {type(source).__name__} cannot neutralise scores "
            "(it needs size and industry); set train.neutralize_scores=false"
        )
    return neutralize(score)


def fit_body(spec: Any) -> FitBody:
    """The function that fits one (year, seed) of ``spec``: the one place another kind of fit plugs in."""
    from zoo.train import classic

    return classic_fit if classic.is_classic(spec) else neural_fit


def dask_worker_name() -> str | None:
    """The Dask worker running this code, as ``NAME (ADDRESS)``; None outside a worker."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    name = str(worker.name)
    return worker.address if name == worker.address else f"{name} ({worker.address})"


def _on_worker(exc: ZooError) -> ZooError:
    """``exc`` with the Dask worker's name in front (unchanged outside a worker)."""
    where = dask_worker_name()
    return exc if where is None else type(exc)(f"on Dask worker {where}: {exc}")


def run_fit(job: FitJob) -> FitOutcome:
    """Run one job from its values alone: open (or reuse) spec and data, fit, score the test year."""
    from zoo.evaluation.ic import ic_of
    from zoo.registry import get_registry
    from zoo.train.threads import ThreadPolicy

    t0 = time.perf_counter()
    try:
        spec = job_spec(job)
    except ZooError as exc:  # e.g. a plugin this worker cannot import: say which worker
        raise _on_worker(exc) from None
    source = job_source(job, spec)
    t_open = time.perf_counter() - t0
    host, pid = socket.gethostname(), os.getpid()
    emit("start", job.key, host=host, pid=pid)
    # 0 and no executor default: as many threads as there are free cores, looked at between epochs
    threads = ThreadPolicy(spec.train.threads or job.default_threads)
    registry = get_registry(tuple(spec.plugins) + tuple(job.plugins))

    def on_epoch(epoch: int, row: Mapping[str, float]) -> None:
        emit("epoch", job.key, epoch=int(epoch), row={k: float(v) for k, v in row.items()})
        faults.point("fit-epoch")  # tests: a worker killed in the middle of a fit
        threads.update()

    t1 = time.perf_counter()
    ctx = FitContext(
        spec, source, job.split, job.seed, registry, on_epoch, f"{spec.name} {job.test_year} s{job.seed}"
    )
    product = fit_body(spec)(ctx)
    if spec.train.neutralize_scores:
        product = attrs.evolve(product, score=neutral_scores(source, product.score))
    test_ic = ic_of(product.score, source.label(spec.data.horizon), spec.train.min_stocks)["rank_ic"]
    return FitOutcome(
        key=job.key,
        spec_hash=job.spec_hash,
        test_year=job.test_year,
        seed=job.seed,
        score=product.score,
        best_epoch=product.best_epoch,
        best_valid_ic=product.best_valid_ic,
        epochs_run=product.epochs_run,
        history=product.history,
        test_rank_ic=float(test_ic) if np.isfinite(test_ic) else float("nan"),
        artifacts=product.artifacts,
        timings={
            "open_seconds": t_open,
            "fit_seconds": time.perf_counter() - t1,
            "torch_threads_min": min(threads.used),
            "torch_threads_max": max(threads.used),
        },
        host=host,
        pid=pid,
    )
