"""python manage.py govai_collection create|list|delete ..."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from govai_plugin.exceptions import GovAIError
from govai_plugin.models import Collection
from govai_plugin.services.access import create_collection


class Command(BaseCommand):
    help = "Create, list or delete collections."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("slug")
        create.add_argument("--name", default="")
        create.add_argument("--description", default="")
        sub.add_parser("list")
        delete = sub.add_parser("delete")
        delete.add_argument("slug")
        delete.add_argument("--yes", action="store_true", help="Confirm: deletes every document and chunk in it.")

    def handle(self, *args, **opts):
        action = opts["action"]
        if action == "create":
            try:
                collection = create_collection(opts["slug"], opts["name"], opts["description"])
            except GovAIError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"created collection {collection.slug}")
        elif action == "list":
            for c in Collection.objects.all():
                docs = c.documents.filter(is_current=True).count()
                self.stdout.write(f"{c.slug}\t{docs} documents\t{c.name}")
        else:
            if not opts["yes"]:
                raise CommandError("Deleting a collection removes all its documents; add --yes to confirm.")
            deleted = Collection.objects.filter(slug=opts["slug"]).delete()[0]
            if not deleted:
                raise CommandError(f"No collection {opts['slug']!r}.")
            self.stdout.write(f"deleted collection {opts['slug']}")
