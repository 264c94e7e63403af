"""python manage.py govai_ingest PATH... --collection SLUG  |  govai_ingest --stale-jobs MINUTES [--requeue]"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from govai_plugin.exceptions import GovAIError
from govai_plugin.models import Collection
from govai_plugin.services.access import create_collection
from govai_plugin.services.ingest import (
    IngestOptions,
    expand_paths,
    ingest_paths,
    requeue_ingestion_job,
    stale_ingestion_jobs,
)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date (use YYYY-MM-DD)") from exc


def _minutes(value: str) -> float:
    try:
        minutes = float(value)
    except ValueError:
        minutes = -1
    if minutes <= 0:
        raise CommandError(f"{value!r} is not a positive number of minutes")
    return minutes


class Command(BaseCommand):
    help = (
        "Ingest files and folders (.txt .md .html .pdf .docx, and BEIR .jsonl corpora) into a collection. "
        "Unchanged files are skipped; changed ones become new versions. Exits 1 if any document failed. "
        "With --stale-jobs MINUTES instead: list uploads queued or running for longer (a lost task), "
        "and with --requeue send their tasks again."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", help="Files or folders (folders are read recursively).")
        parser.add_argument("--collection", help="Collection slug (required with paths).")
        parser.add_argument("--create", action="store_true", help="Create the collection if it does not exist.")
        parser.add_argument("--language", help="Language code of the documents (default: from the file, else GOVAI default).")
        parser.add_argument("--effective-from", type=_date, help="Date the documents take effect (YYYY-MM-DD).")
        parser.add_argument("--effective-to", type=_date, help="Date the documents stop being in force (YYYY-MM-DD).")
        parser.add_argument("--metadata", default="{}", help='JSON object stored with each document, e.g. \'{"audience": "staff"}\'.')
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")
        parser.add_argument("--stale-jobs", type=_minutes, metavar="MINUTES",
                            help="List API uploads queued (or running) for more than MINUTES instead of ingesting.")
        parser.add_argument("--requeue", action="store_true", help="With --stale-jobs: send those jobs' tasks again.")

    def handle(self, *args, **opts):
        if opts["stale_jobs"] is not None:
            if opts["paths"]:
                raise CommandError("--stale-jobs takes no paths.")
            return self.stale_jobs(opts["stale_jobs"], requeue=opts["requeue"])
        if opts["requeue"]:
            raise CommandError("--requeue goes with --stale-jobs MINUTES.")
        if not opts["paths"] or not opts["collection"]:
            raise CommandError("Name the files or folders to ingest and --collection SLUG.")
        try:
            metadata = json.loads(opts["metadata"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--metadata is not valid JSON: {exc.msg}") from exc
        if not isinstance(metadata, dict):
            raise CommandError("--metadata must be a JSON object")
        slug = opts["collection"]
        try:
            collection = Collection.objects.get(slug=slug)
        except Collection.DoesNotExist:
            if not opts["create"]:
                raise CommandError(f"No collection {slug!r}. Create it with --create or `govai_collection create {slug}`.") from None
            try:
                collection = create_collection(slug)
            except GovAIError as exc:
                raise CommandError(str(exc)) from exc
        missing = [p for p in opts["paths"] if not Path(p).exists()]
        for path in missing:
            self.stderr.write(self.style.ERROR(f"{path}: no such file or folder"))
        files = expand_paths([p for p in opts["paths"] if p not in missing])
        options = IngestOptions(
            language=opts["language"],
            effective_from=opts["effective_from"],
            effective_to=opts["effective_to"],
            metadata=metadata,
            actor="cli",
        )
        bar = None
        if not opts["no_progress"] and files:
            from tqdm import tqdm

            bar = tqdm(total=len(files), unit="file", desc=f"ingest → {slug}", file=self.stderr._out, leave=False)

        def on_file(path, outcomes):
            if bar is not None:
                bar.update(1)
            for outcome in outcomes:
                if outcome.status == "failed":
                    line = self.style.ERROR(f"failed     {outcome.source}: {outcome.message}")
                    (bar.write(line, file=self.stderr._out) if bar is not None else self.stderr.write(line))
                elif opts["verbosity"] >= 2:
                    self.stdout.write(f"{outcome.status:<10} {outcome.source} ({outcome.chunks} chunks)")

        report = ingest_paths(collection, files, options=options, on_file=on_file)
        if bar is not None:
            bar.close()
        self.stdout.write(
            f"{slug}: {report.count('created')} created, {report.count('new_version')} new versions, "
            f"{report.count('unchanged')} unchanged, {len(report.failed) + len(missing)} failed; {report.chunks} chunks written"
        )
        if report.failed or missing:
            raise SystemExit(1)

    def stale_jobs(self, minutes: float, *, requeue: bool) -> None:
        jobs = list(stale_ingestion_jobs(minutes))
        for job in jobs:
            since = job.started_at if job.status == "running" else job.created_at
            batches = list(job.batches.values_list("status", flat=True))
            progress = f", {batches.count('done')}/{len(batches)} passage batches done" if batches else ""
            self.stdout.write(f"{job.uid} {job.status:<8} since {since:%Y-%m-%d %H:%M} {job.collection.slug}/{job.name} "
                              f"({job.size_bytes:,} bytes, {job.attempts} attempts{progress})")
            if requeue:
                try:
                    requeue_ingestion_job(job)
                except Exception as exc:  # the broker is still down: say so, keep the job as it is
                    raise CommandError(f"{job.uid}: the task queue could not take it ({type(exc).__name__}: {exc})") from exc
        hint = "; requeued" if requeue else ("; send their tasks again with --requeue" if jobs else "")
        self.stdout.write(f"{len(jobs)} ingestion job(s) queued or running for more than {minutes:g} minutes{hint}")
