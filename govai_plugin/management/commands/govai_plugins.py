"""python manage.py govai_plugins"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from govai_plugin.services.plugins import adapters, blocked_plugins, list_plugins, use_cases


class Command(BaseCommand):
    help = "List loaded govai plugins with their versions and the hooks each implements."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        plugins = list_plugins()
        if opts["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "plugins": [
                            {"name": p.name, "version": p.version, "distribution": p.distribution, "module": p.module, "hooks": list(p.hooks)}
                            for p in plugins
                        ],
                        "blocked": blocked_plugins(),
                        "use_cases": sorted(use_cases()),
                        "adapters": sorted(adapters()),
                    },
                    indent=2,
                )
            )
            return
        for plugin in plugins:
            origin = f"{plugin.distribution} {plugin.version}".strip() or plugin.module
            self.stdout.write(self.style.MIGRATE_HEADING(f"{plugin.name}") + f"  ({origin})")
            for hook in plugin.hooks:
                self.stdout.write(f"    {hook}")
        for name in blocked_plugins():
            self.stdout.write(self.style.WARNING(f"{name}  (blocked)"))
        self.stdout.write(f"use cases: {', '.join(sorted(use_cases())) or '-'}")
        self.stdout.write(f"adapters: {', '.join(sorted(adapters())) or '-'}")
