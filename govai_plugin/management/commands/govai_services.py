"""python manage.py govai_services status|stop"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from govai_plugin.conf import govai_settings
from govai_plugin.embedded import data_dir
from govai_plugin.embedded import postgres


class Command(BaseCommand):
    help = "Show or stop the embedded services the project started (the private PostgreSQL cluster)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "stop"])

    def handle(self, *args, **opts):
        pgdata = data_dir(govai_settings.DATA_DIR or None) / "pgdata"
        external = bool(os.environ.get("GOVAI_DATABASE_URL"))
        if opts["action"] == "status":
            db = settings.DATABASES["default"]
            where = f"{db.get('HOST')}:{db.get('PORT')}" if external else f"embedded, {db.get('HOST')}"
            running = "running" if external or postgres.is_running(Path(db.get("HOST", pgdata))) else "stopped"
            self.stdout.write(f"database: {running} ({where})")
            return
        from govai_plugin.embedded import broker, worker

        folder = data_dir(govai_settings.DATA_DIR or None)
        self.stdout.write("Celery worker stopped" if worker.stop(folder / "worker") else "Celery worker was not running")
        if not os.environ.get("GOVAI_BROKER_URL"):
            self.stdout.write("embedded redis-server stopped" if broker.stop(folder / "redis") else "embedded redis-server was not running")
        stopped = postgres.stop(Path(settings.DATABASES["default"].get("HOST") or pgdata)) if not external else False
        self.stdout.write("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
