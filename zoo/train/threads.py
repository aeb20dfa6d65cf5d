"""How many torch CPU threads a fit uses when the spec leaves ``train.threads`` at 0 (auto).

torch's own default is one OpenMP thread per core. Every parallel region ends in a barrier, so when
another process holds one of the cores, each of the thousands of small regions of a GRU step waits
for the thread that shares that core to be scheduled again: on a 2-core machine with one core busy a
fit ran several times slower at 2 threads than at 1 (docs/training.md, "Threads"). Auto therefore
counts the cores other processes are using right now and takes only the free ones (at least one),
and looks again between epochs, so a quiet machine keeps its multi-thread gain and a loaded one
never waits on a core it cannot have.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

#: Seconds of system CPU time sampled to see how busy the other processes are.
SAMPLE_SECONDS = 0.2
#: Seconds between two looks while a fit runs (a look costs SAMPLE_SECONDS of idle time).
RECHECK_SECONDS = 10.0


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def busy_cores_of_others(seconds: float = SAMPLE_SECONDS) -> float:
    """Cores' worth of CPU that processes other than this one used over the next ``seconds``."""
    import psutil

    me = psutil.Process()

    def used() -> tuple[float, float]:
        t = psutil.cpu_times()
        mine = me.cpu_times()
        return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0), (
            mine.user + mine.system
        )

    all0, mine0 = used()
    t0 = time.perf_counter()
    time.sleep(seconds)
    all1, mine1 = used()
    wall = time.perf_counter() - t0
    return max(0.0, ((all1 - all0) - (mine1 - mine0)) / wall)


def auto_threads(cores: int | None = None, others: float | None = None) -> int:
    """The free cores, rounded (at least 1): ``cores`` minus what other processes use now."""
    cores = usable_cores() if cores is None else cores
    others = busy_cores_of_others() if others is None else others
    return max(1, min(cores, int(cores - others + 0.5)))


class ThreadPolicy:
    """Sets torch's thread count for one fit: fixed when asked for, else auto and re-checked."""

    def __init__(
        self,
        threads: int | None,
        choose: Callable[[], int] | None = None,
        recheck: float = RECHECK_SECONDS,
    ) -> None:
        self.fixed = bool(threads)
        # looked up at call time, so tests can pin it (conftest) without touching every fit
        self.choose, self.recheck = choose or (lambda: auto_threads()), recheck
        self.threads = int(threads) if threads else self.choose()
        #: Every thread count this fit has used (logged with the run: CPU sums may differ in the
        #: last bits between thread counts, so a bit-identical rerun needs a fixed train.threads).
        self.used = {self.threads}
        self._last = time.monotonic()
        self._apply()

    def _apply(self) -> None:
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    def update(self) -> int:
        """Between epochs: look at the machine again (auto only, at most every ``recheck`` seconds)."""
        if not self.fixed and time.monotonic() - self._last >= self.recheck:
            self.threads = self.choose()
            self.used.add(self.threads)
            self._last = time.monotonic()
            self._apply()
        return self.threads
