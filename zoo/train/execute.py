"""Execute: hand the plans' fit jobs to an executor, route results and failures, cancel on interrupt.

The executor (``zoo.train.executors``) runs :func:`~zoo.train.jobs.run_fit` anywhere; the driver turns
the jobs' events and outcomes into child runs (``zoo.tracking.children.ChildLog``), so only the driver
writes to MLflow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from zoo.tracking.children import ChildLog
from zoo.train.executors import FitExecutor
from zoo.train.jobs import FitJob
from zoo.train.plan import SpecPlan


def execute(
    plans: Sequence[SpecPlan],
    executor: FitExecutor,
    children: ChildLog,
    on_spec_done: Callable[[SpecPlan], None],
    poll_seconds: float = 0.5,
) -> None:
    """Run every plan's jobs on ``executor``; a spec is collected as soon as its last job is in.

    A job that raises marks only its child FAILED and the others go on. Anything raised in the driver
    (Ctrl-C included) cancels the jobs still queued or running and marks their children KILLED.
    """
    pending = [job for plan in plans for job in plan.jobs]
    pending.reverse()  # pop() from the end keeps the planned order
    left = {id(plan): len(plan.jobs) for plan in plans}
    for plan in plans:
        if not plan.jobs:
            on_spec_done(plan)
    running: dict[Any, FitJob] = {}
    executor.start(children.on_event)
    try:
        while pending or running:
            while pending and len(running) < executor.max_in_flight:
                job = pending.pop()
                running[executor.submit(job)] = job
            for fut in executor.wait(list(running), poll_seconds):
                job = running.pop(fut)
                plan = children.plan_of[job.key]
                try:
                    outcome = fut.result()
                except Exception as exc:  # the job's failure (a worker lost too often included)
                    children.on_error(job.key, exc)
                else:
                    children.on_outcome(outcome)
                left[id(plan)] -= 1
                if left[id(plan)] == 0:
                    on_spec_done(plan)
    except BaseException:
        executor.cancel(list(running))
        children.abort("KILLED")
        raise
