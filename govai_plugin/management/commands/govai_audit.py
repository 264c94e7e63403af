"""The audit trail from the command line.

    manage.py govai_audit verify                       # exit 1 and say where, if the chain is broken
    manage.py govai_audit export --case REF [--out F]  # or --job ID, --actor ACTOR; JSON lines
    manage.py govai_audit erase VALUE --by WHO         # right to erasure: blank a person's data, keep a tombstone
    manage.py govai_audit prune [--days N]             # retention: drop events older than AUDIT.RETENTION_DAYS
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from govai_plugin.services import audit


class Command(BaseCommand):
    help = "Verify, export, erase from and prune the hash-chained audit trail."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify")
        export = sub.add_parser("export")
        export.add_argument("--case", default="")
        export.add_argument("--job", default="")
        export.add_argument("--actor", default="")
        export.add_argument("--out", default="")
        erase = sub.add_parser("erase")
        erase.add_argument("value", help="the person's identifier, e-mail address or other value to erase")
        erase.add_argument("--by", required=True, help="who asked for the erasure (recorded)")
        prune = sub.add_parser("prune")
        prune.add_argument("--days", type=int, default=None)

    def handle(self, *args, action, **options):
        if action == "verify":
            result = audit.verify()
            if not result.ok:
                raise CommandError(f"Audit chain broken at event {result.first_bad_seq}: {result.problem} "
                                   f"({result.checked} events checked).")
            self.stdout.write(f"Audit chain intact: {result.checked} events.")
        elif action == "export":
            if not (options["case"] or options["job"] or options["actor"]):
                raise CommandError("Say what to export: --case REF, --job ID or --actor ACTOR.")
            target = open(options["out"], "w", encoding="utf-8") if options["out"] else None
            count = 0
            try:
                for item in audit.export(case=options["case"], job=options["job"], actor=options["actor"]):
                    line = json.dumps(item, ensure_ascii=False, default=str)
                    if target is not None:
                        target.write(line + "\n")
                    else:
                        self.stdout.write(line)
                    count += 1
            finally:
                if target is not None:
                    target.close()
            self.stderr.write(f"{count} records exported.")
        elif action == "erase":
            try:
                counts = audit.erase(options["value"], requested_by=options["by"])
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write("Erased: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
                              + ". A tombstone was added to the audit trail.")
        elif action == "prune":
            self.stdout.write(f"{audit.prune(older_than_days=options['days'])} audit events older than the retention period removed.")
