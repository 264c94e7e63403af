"""Passages an input guard flagged at ingestion (e.g. prompt injection hidden in a document).

    manage.py govai_quarantine list [--collection SLUG]
    manage.py govai_quarantine release CHUNK_ID [CHUNK_ID ...] --by WHO   # reviewed: searchable again
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from govai_plugin.models import Chunk
from govai_plugin.services import audit


class Command(BaseCommand):
    help = "List quarantined passages; release reviewed ones."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list")
        listing.add_argument("--collection", default="")
        release = sub.add_parser("release")
        release.add_argument("chunks", nargs="+", type=int)
        release.add_argument("--by", required=True)

    def handle(self, *args, action, **options):
        if action == "list":
            rows = Chunk.objects.exclude(quarantine_reason="").select_related("document", "collection")
            if options["collection"]:
                rows = rows.filter(collection__slug=options["collection"])
            for chunk in rows.order_by("id"):
                preview = " ".join(chunk.text.split())[:100]
                self.stdout.write(f"{chunk.id}\t{chunk.collection.slug}\t{chunk.document.title} v{chunk.document.version}\t"
                                  f"{chunk.heading_path or '-'}\t{chunk.quarantine_reason}\t{preview}")
            return
        found = set(Chunk.objects.filter(id__in=options["chunks"]).exclude(quarantine_reason="").values_list("id", flat=True))
        missing = sorted(set(options["chunks"]) - found)
        if missing:
            raise CommandError(f"Not quarantined or not found: {', '.join(map(str, missing))}.")
        for chunk in Chunk.objects.filter(id__in=found).select_related("document"):
            audit.record("passage.released", actor=f"admin:{options['by']}", object_ref=str(chunk.document.uid),
                         details={"chunk": chunk.id, "reason": chunk.quarantine_reason})
        Chunk.objects.filter(id__in=found).update(quarantine_reason="")
        self.stdout.write(f"{len(found)} passage(s) released.")
