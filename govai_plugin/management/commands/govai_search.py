"""python manage.py govai_search "question" --collection SLUG"""

from __future__ import annotations

import datetime as dt
import json
import textwrap

from django.core.management.base import BaseCommand, CommandError

from govai_plugin.exceptions import GovAIError
from govai_plugin.services.search import MODES, search


class Command(BaseCommand):
    help = "Print the passages that best answer a question, with where each comes from."

    def add_arguments(self, parser):
        parser.add_argument("query")
        parser.add_argument("--collection", action="append", dest="collections", help="Collection slug (repeatable; default: all).")
        parser.add_argument("--mode", choices=MODES, help="hybrid (default), dense or fulltext.")
        parser.add_argument("--top-k", type=int, help="How many passages.")
        parser.add_argument("--language", action="append", dest="languages", default=[], help="Only documents in this language.")
        parser.add_argument("--in-force-on", help="Only versions in force on this date (YYYY-MM-DD).")
        parser.add_argument("--metadata", default="{}", help="JSON object: only documents whose metadata has these values.")
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, **opts):
        try:
            day = dt.date.fromisoformat(opts["in_force_on"]) if opts["in_force_on"] else None
            metadata = json.loads(opts["metadata"])
        except ValueError as exc:
            raise CommandError(f"Bad filter: {exc}") from exc
        try:
            result = search(
                opts["query"],
                collections=opts["collections"],
                mode=opts["mode"],
                top_k=opts["top_k"],
                languages=opts["languages"],
                metadata=metadata,
                in_force_on=day,
            )
        except GovAIError as exc:
            raise CommandError(str(exc)) from exc
        if opts["json"]:
            self.stdout.write(json.dumps([h.__dict__ for h in result.hits], ensure_ascii=False, indent=2, default=str))
            return
        if not result.hits:
            self.stdout.write("No passage found.")
            return
        for rank, hit in enumerate(result.hits, start=1):
            where = " > ".join(p for p in (hit.document_title, hit.heading_path) if p)
            page = f", page {hit.page}" if hit.page else ""
            self.stdout.write(
                self.style.MIGRATE_HEADING(f"{rank}. {where}")
                + f"  [{hit.collection}, v{hit.document_version}{page}, chars {hit.char_start}-{hit.char_end}, score {hit.score:.4f}]"
            )
            self.stdout.write(textwrap.indent(textwrap.shorten(hit.text, 400, placeholder=" …"), "   ") + "\n")
