"""Case systems from the command line.

    manage.py govai_cases events [--system S] [--outcome failed]
    manage.py govai_cases suggestions [--system S] [--case REF]
    manage.py govai_cases pull-decisions [--system S]     # ask case systems for recorded decisions
    manage.py govai_cases retry-writebacks [--system S]   # send failed write-backs again (same idempotency keys)
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from govai_plugin.models import CaseEvent, Suggestion
from govai_plugin.services import suggestions as service


class Command(BaseCommand):
    help = "List case events and suggestions; pull decisions; retry failed write-backs."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        events = sub.add_parser("events")
        events.add_argument("--system")
        events.add_argument("--outcome")
        listing = sub.add_parser("suggestions")
        listing.add_argument("--system")
        listing.add_argument("--case")
        pull = sub.add_parser("pull-decisions")
        pull.add_argument("--system")
        retry = sub.add_parser("retry-writebacks")
        retry.add_argument("--system")

    def handle(self, *args, action, **options):
        if action == "events":
            rows = CaseEvent.objects.all()
            if options["system"]:
                rows = rows.filter(system=options["system"])
            if options["outcome"]:
                rows = rows.filter(outcome=options["outcome"])
            for e in rows[:500]:
                self.stdout.write(f"{e.received_at:%Y-%m-%d %H:%M:%S}\t{e.system}\t{e.event_id}\t{e.event_type}\t"
                                  f"{e.case_ref}\t{e.outcome}\t{e.detail[:120]}")
        elif action == "suggestions":
            rows = Suggestion.objects.all()
            if options["system"]:
                rows = rows.filter(system=options["system"])
            if options["case"]:
                rows = rows.filter(case_ref=options["case"])
            for s in rows[:500]:
                flag = "RE-REVIEW" if s.needs_review else ""
                self.stdout.write(f"{s.uid}\t{s.system}\t{s.case_ref}\t{s.status}\twrite-back {s.writeback}\t"
                                  f"{s.reviewer or '-'}\t{flag}")
        elif action == "pull-decisions":
            self.stdout.write(f"{service.pull_decisions(options['system'])} decision(s) recorded")
        elif action == "retry-writebacks":
            self.stdout.write(f"{service.retry_failed_writebacks(options['system'])} write-back(s) queued again")
