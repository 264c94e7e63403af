"""python manage.py govai_transparency [--format json|markdown] [--out FILE]"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from govai_plugin.services import transparency


class Command(BaseCommand):
    help = ("Print the transparency report (the models and their licences, prompt versions, collections and "
            "document versions in use, safety measures, limitations) as JSON or as a Markdown page to publish.")

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["json", "markdown"], default="markdown")
        parser.add_argument("--out", help="write to this file instead of standard output")

    def handle(self, *args, **opts):
        data = transparency.report()
        text = json.dumps(data, indent=2, ensure_ascii=False) if opts["format"] == "json" else transparency.to_markdown(data)
        if not opts["out"]:
            self.stdout.write(text)
            return
        try:
            Path(opts["out"]).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {opts['out']}: {exc.strerror or exc}") from exc
        self.stdout.write(f"Wrote {opts['out']}")
