"""Where fit jobs run: in the driver one after another (serial) or on a Dask distributed cluster.

Both executors implement :class:`FitExecutor`: they take ``run_fit`` jobs and hand back futures
(``.result()``) plus the jobs' progress events, always on the driver's main thread, so the driver
alone writes to MLflow. ``dask`` starts a
``distributed.LocalCluster`` (``N`` worker processes, one thread each, bound to 127.0.0.1) or joins a
running scheduler; ``gpus_per_fit`` asks each fit for that share of a worker's ``GPU`` resource.
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from zoo.errors import TrainingError
from zoo.train import jobs as fitjobs

LOCALHOST = "127.0.0.1"
OnEvent = Callable[[dict], None]


@runtime_checkable
class FitExecutor(Protocol):
    """What the driver (``zoo.train.execute.execute``) asks of an executor.

    The shape of ``concurrent.futures.Executor`` (``submit`` returns a future whose ``result()`` is
    the job's :class:`~zoo.train.jobs.FitOutcome` or raises its error), plus what a fit run needs:
    progress events handed to the driver on its own thread, a bound on the jobs in flight, and a
    ``wait`` with a timeout during which those events are handed over.
    """

    #: Short name for logs (``serial``, ``dask``).
    name: str
    #: Jobs the driver keeps submitted at once.
    max_in_flight: int
    #: Jobs run in other processes: they open their data themselves, through the job's opener.
    remote: bool

    def start(self, on_event: OnEvent) -> None:
        """Route run_fit's progress events to ``on_event``, called on the driver's thread."""

    def submit(self, job: fitjobs.FitJob) -> Any:
        """Queue ``job``; return its future (``done()``, ``result()``)."""

    def wait(self, futures: Sequence[Any], timeout: float) -> list[Any]:
        """The futures done within ``timeout`` seconds, after handing over the events received."""

    def cancel(self, futures: Sequence[Any]) -> None:
        """Cancel the jobs of ``futures`` that are queued or running."""

    def close(self) -> None:
        """Release what the executor holds (a cluster it started)."""

    def describe(self) -> str:
        """One line for the log: what runs the jobs, where."""


def worker_environ() -> dict[str, Any]:
    """The environment a local cluster's nanny gives its workers: Dask's, without ``MALLOC_TRIM_THRESHOLD_``.

    Dask sets ``MALLOC_TRIM_THRESHOLD_=65536`` so that workers hand freed memory back to the OS at
    once. Setting it also switches off glibc's adaptive mmap threshold, so a training loop that frees
    and reallocates the same tensors every step takes page faults on each allocation: one DecompGRU
    step loop measured 8x the page faults and a quarter more wall time, and a main-job fit on a worker
    a third of its CPU time in the kernel (docs/distributed.md). Workers keep glibc's defaults.
    """
    import dask

    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    return env


class ClusterLost(TrainingError):
    """The Dask scheduler went away in the middle of a run; rerunning the command resumes it."""

    #: ``zoo``'s entry point prints the command that resumes after the message.
    resumable = True


class SerialExecutor:
    """Run each job in the driver when it is submitted; events reach the driver as they happen."""

    name = "serial"
    #: One job at a time: the driver logs a job's outcome before the next one starts (today's order).
    max_in_flight = 1
    remote = False

    def __init__(self) -> None:
        self._on_event: OnEvent | None = None

    def start(self, on_event: OnEvent) -> None:
        """Route run_fit's events straight to ``on_event`` (live per-epoch metrics)."""
        self._on_event = on_event

    def submit(self, job: fitjobs.FitJob) -> cf.Future:
        """Run ``job`` now; an exception lands in the future, Ctrl-C propagates."""
        fut: cf.Future = cf.Future()
        token = fitjobs.set_sink(self._on_event)
        try:
            fut.set_result(fitjobs.run_fit(job))
        except Exception as exc:  # a failing fit is the job's outcome, not the driver's crash
            fut.set_exception(exc)
        finally:
            fitjobs.reset_sink(token)
        return fut

    def wait(self, futures: Sequence[Any], timeout: float) -> list[Any]:
        """Every submitted future is already done."""
        return list(futures)

    def cancel(self, futures: Sequence[Any]) -> None:
        """Nothing runs in the background."""

    def close(self) -> None:
        """Nothing to release."""

    def describe(self) -> str:
        """One line for the log."""
        return "serial (in this process)"


class DaskExecutor:
    """Jobs as ``Client.submit(run_fit, job)`` on a Dask cluster; events via the scheduler's event log."""

    name = "dask"
    remote = True

    def __init__(
        self,
        workers: int = 0,
        scheduler: str | None = None,
        gpus_per_fit: float = 0.0,
        host: str = LOCALHOST,
        threads_per_fit: int = 1,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - a declared dependency
            raise TrainingError(
                "the dask executor needs 'distributed' (pip install 'distributed>=2024.8')"
            ) from None
        if gpus_per_fit < 0:
            raise TrainingError(f"--gpus-per-fit must be >= 0, got {gpus_per_fit}")
        self.gpus_per_fit = gpus_per_fit
        self.threads_per_fit = threads_per_fit
        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise TrainingError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
        else:
            if workers < 1:
                raise TrainingError(f"--workers must be >= 1 for a local cluster, got {workers}")
            if host != LOCALHOST and echo is not None:
                echo(
                    f"warning: the Dask scheduler, workers and dashboard listen on {host}: anyone who can "
                    f"reach it can run code as you. See docs/distributed.md (TLS) before doing this."
                )
            # Each worker process gets a GPU share equal to one fit's request, so it runs one fit at a
            # time; N workers pack N fits on the GPU(s) (``CUDA_VISIBLE_DEVICES`` picks which).
            resources = {"GPU": gpus_per_fit} if gpus_per_fit else None
            with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environ()}):
                self.cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host=host,
                    dashboard_address=f"{host}:0",
                    resources=resources,
                )
            self.client = Client(self.cluster)
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._on_event: OnEvent | None = None
        self._lost = False
        self.max_in_flight = sys.maxsize  # the scheduler queues and balances; the driver submits all

    def start(self, on_event: OnEvent) -> None:
        """Subscribe to the workers' run_fit events (handled on the driver's main thread in ``wait``)."""
        self._on_event = on_event
        self.client.subscribe_topic(fitjobs.EVENT_TOPIC, lambda ev: self._events.put(ev[1]))

    def submit(self, job: fitjobs.FitJob) -> Any:
        """Queue ``job`` on the cluster (a readable, unique task key for the dashboard)."""
        job = _with_default_threads(job, self.threads_per_fit)
        name = f"fit-{job.spec_name}-{job.test_year}-s{job.seed}-{uuid.uuid4().hex[:8]}"
        resources = {"GPU": self.gpus_per_fit} if self.gpus_per_fit else None
        return self.client.submit(fitjobs.run_fit, job, key=name, pure=False, resources=resources)

    def drain(self) -> None:
        """Hand every event received so far to the driver."""
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if self._on_event is not None:
                self._on_event(event)

    def wait(self, futures: Sequence[Any], timeout: float) -> list[Any]:
        """The futures done within ``timeout`` seconds (events are handed over first)."""
        from distributed import wait

        try:
            wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass
        except cf.CancelledError:  # cancelled futures (a lost scheduler: checked below)
            if self.client.status == "running":
                raise
        self.drain()
        done = [f for f in futures if f.done()]
        if any(f.status == "cancelled" for f in done) and self.client.status != "running":
            # The scheduler is gone (stopped, crashed, unreachable): every queued fit is lost with it.
            self._lost = True
            raise ClusterLost(
                f"lost the Dask scheduler {self.client.scheduler.address} ({self.client.status}); "
                f"{sum(not f.done() or f.status == 'cancelled' for f in futures)} fit(s) did not finish, "
                f"every finished one is kept in MLflow"
            )
        return done

    def cancel(self, futures: Sequence[Any]) -> None:
        """Cancel queued and running jobs (a running fit on a remote worker finishes unobserved)."""
        if futures:
            self.client.cancel(list(futures), force=True)

    def close(self) -> None:
        """Close the client, and the local cluster when this executor started it."""
        muted = []
        if self._lost:  # the client's cancelled reconnect loop would log tracebacks; ClusterLost said it
            import logging

            muted = [
                logging.getLogger(n)
                for n in list(logging.root.manager.loggerDict)
                if n.startswith("distributed")
            ]
            muted = [log for log in muted if not log.disabled]
            for log in muted:
                log.disabled = True
        try:
            self.client.unsubscribe_topic(fitjobs.EVENT_TOPIC)
        except Exception:  # the connection may already be gone
            pass
        try:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            for log in muted:
                log.disabled = False

    @property
    def dashboard(self) -> str:
        """The Dask dashboard's address."""
        return str(self.client.dashboard_link)

    def describe(self) -> str:
        """One line for the log: workers, where, dashboard."""
        info = self.client.scheduler_info()
        n = len(info.get("workers", {}))
        where = "local cluster" if self.cluster is not None else f"scheduler {self.client.scheduler.address}"
        gpu = f", {self.gpus_per_fit} GPU per fit" if self.gpus_per_fit else ""
        return f"dask ({where}, {n} workers{gpu}); dashboard {self.dashboard}"


def _with_default_threads(job: fitjobs.FitJob, threads: int) -> fitjobs.FitJob:
    import attrs

    return job if job.default_threads is not None else attrs.evolve(job, default_threads=threads)


def make_executor(
    workers: int = 0,
    scheduler: str | None = None,
    gpus_per_fit: float = 0.0,
    host: str = LOCALHOST,
    echo: Callable[[str], None] | None = None,
) -> FitExecutor:
    """``serial`` without workers or a scheduler, else ``dask`` (a local cluster, or the scheduler's)."""
    if scheduler or workers > 0:
        return DaskExecutor(workers, scheduler, gpus_per_fit, host, echo=echo)
    if gpus_per_fit:
        raise TrainingError("--gpus-per-fit needs the dask executor: give --workers N or --scheduler ADDRESS")
    return SerialExecutor()
