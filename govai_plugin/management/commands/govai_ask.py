"""python manage.py govai_ask "question" --collection SLUG"""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import GovAIError
from govai_plugin.models import AnswerJob
from govai_plugin.services.answers import ask


class Command(BaseCommand):
    help = "Ask a question; a Celery worker generates the answer, printed as it is written, then its sources."

    def add_arguments(self, parser):
        parser.add_argument("question")
        parser.add_argument("--collection", action="append", dest="collections", help="Collection slug (repeatable; default: all).")
        parser.add_argument("--use-case", help="caseworker_qa (default), citizen_reply, case_summary, or a plugin's.")
        parser.add_argument("--case-context", default="", help="Case facts for the case_summary use case.")
        parser.add_argument("--timeout", type=float, default=600.0, help="Seconds to wait for the worker.")

    def handle(self, *args, **opts):
        try:
            job = ask(opts["question"], collections=opts["collections"], use_case=opts["use_case"], case_context=opts["case_context"], actor="cli")
        except GovAIError as exc:
            raise CommandError(str(exc)) from exc
        shown = 0
        deadline = time.monotonic() + opts["timeout"]
        while not job.is_final:
            if time.monotonic() > deadline:
                raise CommandError(f"No answer after {opts['timeout']:g} s: is a Celery worker running? (job {job.uid})")
            time.sleep(0.1)
            job.refresh_from_db()
            if len(job.partial_text) > shown:
                self.stdout.write(job.partial_text[shown:], ending="")
                self.stdout.flush()
                shown = len(job.partial_text)
        if shown:
            self.stdout.write("")  # end the streamed line
        self.stdout.write(self.style.WARNING(govai_settings.ANSWERS["LABEL"]))
        if job.status == AnswerJob.Status.SUCCEEDED:
            self.stdout.write(self.style.MIGRATE_HEADING("Answer") + f"  ({job.model}, {job.timings()['generation']} s)")
            self.stdout.write(job.answer_text)
            self.stdout.write(self.style.MIGRATE_HEADING("Sources"))
            for c in job.citations:
                where = " > ".join(p for p in (c["document_title"], c["heading_path"]) if p)
                self.stdout.write(f"{c['marker']} {where} (v{c['document_version']}, chars {c['char_start']}-{c['char_end']})")
            for finding in job.findings:
                self.stdout.write(self.style.WARNING(f"note: {finding['message']}"))
        elif job.status == AnswerJob.Status.ABSTAINED:
            self.stdout.write(self.style.WARNING(f"No answer ({job.abstain_reason}): {job.abstain_detail}"))
        else:
            self.stderr.write(self.style.ERROR(f"Failed: {job.error}"))
            sys.exit(1)
