"""Named fault points for tests of separate processes: ``$ZOO_FAULT_POINT=NAME`` kills the process there.

A test starts a command (or a Dask worker) with the variable set; when the process reaches
:func:`point` with that name it SIGKILLs itself, as the OOM killer or a power cut would. Unset, a
point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

#: The environment variable naming the point at which the process kills itself.
FAULT_ENV = "ZOO_FAULT_POINT"


def point(name: str) -> None:
    """A named point of a write or a fit; with ``$ZOO_FAULT_POINT == name`` the process kills itself."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
