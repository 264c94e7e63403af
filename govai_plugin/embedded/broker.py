"""The Celery broker: ``GOVAI_BROKER_URL`` if set (Redis or RabbitMQ), else a private redis-server.

The embedded broker is a ``redis-server`` the project starts itself, listening
only on a Unix socket in ``<data dir>/redis`` (no TCP port), keeping nothing on
disk, and running on after the process that started it exits, so web
processes and workers share it. ``manage.py govai_services stop`` stops it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from govai_plugin.embedded import data_dir as _data_dir
from govai_plugin.exceptions import ConfigurationError

INSTALL_HINT = (
    "run `bash govai_plugin/embedded/install_services.sh` as root (Debian/Ubuntu), "
    "or set GOVAI_BROKER_URL to a Redis or RabbitMQ broker"
)


def broker_url(default_data_dir: str | os.PathLike[str] | None = None) -> str:
    url = os.environ.get("GOVAI_BROKER_URL", "").strip()
    if url:
        return url
    return f"redis+socket://{start(_data_dir(default_data_dir) / 'redis')}"


def _socket(folder: Path) -> Path:
    sock = folder / "redis.sock"
    if len(str(sock).encode()) <= 100:  # Unix socket paths are limited to 107 bytes
        return sock
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"govai-redis-{digest}.sock"


def is_running(folder: Path) -> bool:
    sock = _socket(folder)
    if not sock.exists():
        return False
    cli = shutil.which("redis-cli")
    if cli is None:
        return True
    result = subprocess.run([cli, "-s", str(sock), "ping"], capture_output=True, text=True, check=False)
    return result.stdout.strip() == "PONG"


def start(folder: str | os.PathLike[str]) -> Path:
    """Start (or find running) the private redis-server; returns its socket path."""
    folder = Path(folder).resolve()
    server = shutil.which("redis-server")
    if server is None:
        raise ConfigurationError(f"No redis-server found for the embedded Celery broker: {INSTALL_HINT}.")
    folder.mkdir(parents=True, exist_ok=True)
    sock = _socket(folder)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_running(folder):
            sock.unlink(missing_ok=True)
            subprocess.run(
                [
                    server, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
                    "--save", "", "--appendonly", "no", "--dir", str(folder),
                    "--daemonize", "yes", "--pidfile", str(folder / "redis.pid"), "--logfile", str(folder / "redis.log"),
                ],
                check=True,
                capture_output=True,
            )
            deadline = time.monotonic() + 10
            while not is_running(folder):
                if time.monotonic() > deadline:
                    raise ConfigurationError(f"The embedded redis-server did not start; see {folder / 'redis.log'}.")
                time.sleep(0.05)
    return sock


def stop(folder: str | os.PathLike[str]) -> bool:
    folder = Path(folder).resolve()
    if not is_running(folder):
        return False
    subprocess.run([shutil.which("redis-cli") or "redis-cli", "-s", str(_socket(folder)), "shutdown", "nosave"], capture_output=True, check=False)
    return True
