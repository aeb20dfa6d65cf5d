"""A lock on ``zoo server``: MLflow's basic-auth app, credentials from a file or the environment.

The server's admin user is the user the clients log in as: ``MLFLOW_TRACKING_USERNAME`` and
``MLFLOW_TRACKING_PASSWORD`` (MLflow's own client variables, read by every ``zoo`` command and by
``mlflow`` itself), or a ``--credentials`` file holding ``USER:PASSWORD`` on one line that only its
owner can read. Neither ever appears on a command line: the password reaches ``mlflow server`` through
its environment (``MLFLOW_AUTH_ADMIN_PASSWORD``), and the auth configuration written beside the
database holds no password. Users that are not the admin get no permission by default.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import stat
import urllib.error
import urllib.request
from pathlib import Path

import attrs

from zoo.errors import ZooError

#: MLflow's client variables (the admin user of a locked ``zoo server`` is this user).
USER_ENV, PASSWORD_ENV = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"
#: The basic-auth app's configuration, written into the server's folder.
AUTH_INI = "basic_auth.ini"
#: MLflow's CSRF key variable; unset, a random key is kept in ``SECRET_FILE`` in the server's folder.
SECRET_ENV, SECRET_FILE = "MLFLOW_FLASK_SERVER_SECRET_KEY", ".mlflow_secret_key"


@attrs.frozen
class Credentials:
    """A user name and password (the password is never shown by ``repr``)."""

    username: str
    password: str = attrs.field(repr=False)


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_credentials(path: Path | None = None) -> Credentials | None:
    """``USER:PASSWORD`` from ``path`` (owner-only), else the MLflow client variables; None if neither."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ZooError(f"--credentials {path}: no such file (one line: USER:PASSWORD)")
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ZooError(
                f"--credentials {path}: group or others can read it; chmod 600 {path} (it holds a password)"
            )
        user, sep, password = path.read_text().strip().partition(":")
        if not sep or not user or not password:
            raise ZooError(f"--credentials {path}: expected one line USER:PASSWORD")
        return Credentials(user, password)
    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    if user and password:
        return Credentials(user, password)
    return None


def auth_environment(folder: Path, creds: Credentials) -> dict[str, str]:
    """Write the auth app's configuration into ``folder``; the server's environment variables for it."""
    ini = folder / AUTH_INI
    ini.write_text(
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{folder / 'basic_auth.db'}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
    )
    return {
        "MLFLOW_FLASK_SERVER_SECRET_KEY": os.environ.get(SECRET_ENV) or _secret_key(folder),
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_USERNAME": creds.username,
        "MLFLOW_AUTH_ADMIN_PASSWORD": creds.password,
    }


def _secret_key(folder: Path) -> str:
    """The app's CSRF key: kept owner-only in ``folder`` so that restarts (and their forms) agree."""
    path = folder / SECRET_FILE
    if not path.is_file():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def check_login(url: str, creds: Credentials) -> None:
    """Refuse a server that does not accept ``creds`` (its user store was created with another password)."""
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    req = urllib.request.Request(
        f"{url}/api/2.0/mlflow/experiments/search?max_results=1", headers={"Authorization": f"Basic {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30):
            return
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise ZooError(
                f"the MLflow server at {url} refuses {creds.username!r} (HTTP {exc.code}): its user store "
                f"was created with other credentials at its first start; use those, or move basic_auth.db "
                f"aside to create the admin user again"
            ) from None
        raise
