"""python manage.py govai_reindex_text [--collection SLUG] [--redetect CODE ...]"""

from __future__ import annotations

import re

from django.core.management.base import BaseCommand, CommandError

from govai_plugin.exceptions import GovAIError
from govai_plugin.models import Collection
from govai_plugin.services.language import reindex_text

_CODE = re.compile(r"[a-z0-9]{1,8}(-[a-z0-9]{1,8})*")


class Command(BaseCommand):
    help = (
        "Give stored documents the PostgreSQL text search configuration their language maps to today "
        "(e.g. after upgrading: 'simple' -> 'govai_simple_unaccent' for Estonian), rebuilding their chunks' "
        "full-text index. No re-extraction, no re-embedding. Running it twice changes nothing the second time."
    )

    def add_arguments(self, parser):
        parser.add_argument("--collection", help="Only this collection's documents.")
        parser.add_argument(
            "--redetect", action="append", default=[], metavar="CODE",
            help="Detect the language again of documents stored with this code (repeatable), e.g. 'en' for "
                 "documents the old fixed default labelled English; 'und' when the detector is unsure.",
        )

    def handle(self, *args, **opts):
        collection = None
        if opts["collection"]:
            collection = Collection.objects.filter(slug=opts["collection"]).first()
            if collection is None:
                raise CommandError(f"No collection {opts['collection']!r} (see `govai_collection list`).")
        codes = tuple(code.strip().lower() for code in opts["redetect"])
        bad = [code for code in codes if not _CODE.fullmatch(code)]
        if bad:
            raise CommandError(f"--redetect takes language codes such as 'en' or 'pt-br', not {bad[0]!r}.")
        try:
            report = reindex_text(collection, redetect=codes)
        except GovAIError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{report.documents} documents checked: {report.relabelled} relabelled, {report.reindexed} re-indexed "
            f"({report.chunks} chunks)"
        )
        for change, count in sorted(report.changes.items()):
            self.stdout.write(f"  {count:6d}  {change}")
