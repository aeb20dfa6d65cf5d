"""The driver's child runs: one per fit job, created, fed and closed from the jobs' events and outcomes.

Plans (``zoo.train.plan.SpecPlan``) and outcomes (``zoo.train.jobs.FitOutcome``) are taken by their
attributes, so this module needs nothing from ``zoo.train`` (no torch).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from zoo.tracking import runs as tracking
from zoo.tracking.source import log_dataset, source_tags

Log = Callable[[str], None]
OnChildDone = Callable[[int, int], None]


def quiet(msg: str) -> None:
    """Print a line above the progress bar."""
    tqdm.write(msg)


def interrupted() -> bool:
    """Whether the exception being handled is Ctrl-C or an exit (a run then ends KILLED, not FAILED)."""
    exc = sys.exc_info()[1]
    return isinstance(exc, KeyboardInterrupt | SystemExit)


class ChildLog:
    """The driver's side of running jobs: child runs created, fed and closed from jobs' events."""

    def __init__(self, c, plans: Sequence[Any], log: Log, on_child_done: OnChildDone | None) -> None:
        n_jobs = sum(len(plan.jobs) for plan in plans)
        #: One bar over every fit of the run (quiet when stderr is not a terminal).
        self.bar = tqdm(total=n_jobs, desc="fits", unit="fit", disable=None)
        self.c = c
        self.log = log
        self.on_child_done = on_child_done
        self.plan_of = {job.key: plan for plan in plans for job in plan.jobs}
        self.job_of = {job.key: job for plan in plans for job in plan.jobs}
        #: job key -> (child run id, epochs logged) of the attempt running now.
        self.running: dict[str, tuple[str, int]] = {}
        self.finished: set[str] = set()

    def _create_child(self, key: str, where: str) -> str:
        job, plan = self.job_of[key], self.plan_of[key]
        tags = {
            "zoo.role": "child",
            "mlflow.parentRunId": plan.parent_id,
            "zoo.test_year": str(job.test_year),
            "zoo.seed": str(job.seed),
            "zoo.spec_hash": plan.spec_hash,
            "zoo.data_fingerprint": plan.fingerprint,
        }
        if where:
            tags["zoo.worker"] = where
        if plan.plugin_versions:
            tags[tracking.PLUGINS_TAG] = tracking.dump_versions(plan.plugin_versions)
        tags.update(source_tags())
        run_name = f"{plan.spec.name}-{job.test_year}-s{job.seed}"
        tags[tracking.NOTE_TAG] = (
            f"`{plan.spec.name}` (spec `{plan.spec_hash}`): test year {job.test_year}, seed {job.seed}; "
            f"{job.split.describe(plan.source.dates)}"
        )
        cid = self.c.create_run(plan.experiment_id, run_name=run_name, tags=tags).info.run_id
        log_dataset(self.c, cid, str(plan.source.store), plan.fingerprint)
        params = {
            "seed": str(job.seed),
            "test_year": str(job.test_year),
            "split": job.split.describe(plan.source.dates),
            "purge_days": str(plan.purge),
        }
        tracking.log_params(self.c, cid, params)
        self.running[key] = (cid, 0)
        return cid

    def on_event(self, event: dict) -> None:
        """A job started (create its child; a restarted job's old child is FAILED) or ended an epoch."""
        key = event.get("key")
        if key not in self.job_of or key in self.finished:
            return  # another study's job, or a late event of a job already closed
        if event["kind"] == "start":
            if key in self.running:
                old, _ = self.running.pop(key)
                self.c.set_tag(old, "zoo.failure", "worker lost; the job was restarted on a worker")
                self.c.set_terminated(old, status="FAILED")
                self.log(f"[{self.plan_of[key].spec.name}] {key}: worker lost, the job restarted")
            self._create_child(key, f"{event.get('host', '')}:{event.get('pid', '')}")
        elif event["kind"] == "epoch":
            if key not in self.running:
                self._create_child(key, "")
            cid, n = self.running[key]
            tracking.log_metrics(self.c, cid, event["row"], step=event["epoch"])
            self.running[key] = (cid, max(n, int(event["epoch"]) + 1))

    def on_outcome(self, out: Any) -> None:
        """Log a finished fit's artifacts and metrics, close its child, keep its score for collect."""
        key = out.key
        plan = self.plan_of[key]
        cid, logged = self.running.get(key) or (self._create_child(key, f"{out.host}:{out.pid}"), 0)
        try:
            if logged == 0:  # no epoch events (an estimator's rounds, or events not in yet): one batch
                tracking.log_history(self.c, cid, out.history)
            for epoch, row in enumerate(out.history[logged:] if logged else [], start=logged):
                tracking.log_metrics(self.c, cid, row, step=epoch)  # events that did not arrive in time
            with tempfile.TemporaryDirectory() as tmp:
                for rel, blob in out.artifacts.items():
                    path = Path(tmp) / "artifacts" / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(blob)
                for top in sorted({Path(rel).parts[0] for rel in out.artifacts}):
                    self.c.log_artifacts(cid, str(Path(tmp) / "artifacts" / top), top)
                pdir = Path(tmp) / "scores.zarr"
                tracking.save_scores(out.score, pdir)
                self.c.log_artifacts(cid, str(pdir), "predictions/scores.zarr")
            # after the curves (train_loss, valid_rank_ic): the run page draws metrics in logged order
            head = tracking.HEADLINE_PREFIX
            metrics = {
                f"{head}test_year": out.test_year,
                f"{head}seed": out.seed,
                "best_epoch": out.best_epoch,
                "best_valid_rank_ic": out.best_valid_ic,
                "epochs_run": out.epochs_run,
                "test_rank_ic": out.test_rank_ic,
                f"{tracking.HEADLINE_PREFIX}test_RankIC": out.test_rank_ic,
                "fit_seconds": out.timings["fit_seconds"],
                "torch_threads_min": out.timings.get("torch_threads_min"),
                "torch_threads_max": out.timings.get("torch_threads_max"),
            }
            tracking.log_metrics(self.c, cid, metrics)
            self.c.set_terminated(cid, status="FINISHED")
        except BaseException:
            self.c.set_terminated(cid, status="KILLED" if interrupted() else "FAILED")
            raise
        self.running.pop(key, None)
        self.finished.add(key)
        self.bar.update()
        plan.scores[(out.test_year, out.seed)] = out.score
        plan.trained += 1
        test = "" if plan.final else f", test RankIC {out.test_rank_ic:.4f}"  # a final fit has no test
        self.log(
            f"[{plan.spec.name}] {'final' if plan.final else out.test_year} seed {out.seed}: best epoch "
            f"{out.best_epoch} valid RankIC {out.best_valid_ic:.4f}{test} ({out.timings['fit_seconds']:.0f}s)"
        )
        if self.on_child_done is not None:
            self.on_child_done(out.test_year, out.seed)

    def on_error(self, key: str, exc: BaseException) -> None:
        """A job raised (or its worker died too often): only its child is FAILED."""
        plan = self.plan_of[key]
        cid = self.running.pop(key, (None, 0))[0]
        if cid is None:
            cid = self._create_child(key, "")
            self.running.pop(key)
        self.c.set_tag(cid, "zoo.failure", f"{type(exc).__name__}: {exc}"[:5000])
        self.c.set_terminated(cid, status="FAILED")
        self.finished.add(key)
        self.bar.update()
        plan.errors.append(exc)
        self.log(f"[{plan.spec.name}] {key} failed: {type(exc).__name__}: {exc}")

    def abort(self, status: str) -> None:
        """Close every child still running with ``status`` (the driver is going down)."""
        for cid, _ in self.running.values():
            self.c.set_terminated(cid, status=status)
        self.running.clear()

    def close(self) -> None:
        """Close the progress bar."""
        self.bar.close()
