"""python manage.py govai_client create|grant|revoke|rotate|list ..."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from govai_plugin.models import ApiClient, Collection, CollectionGrant
from govai_plugin.services.access import grant


class Command(BaseCommand):
    help = "Manage API client systems and their API keys (a key is shown once, only its hash is stored)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("name")
        create.add_argument("--read", action="append", default=[], help="Collection the client may read (repeatable).")
        create.add_argument("--write", action="append", default=[], help="Collection the client may read and change.")
        create.add_argument("--can-create-collections", action="store_true")
        for name in ("grant", "revoke"):
            p = sub.add_parser(name)
            p.add_argument("name")
            p.add_argument("collection")
            if name == "grant":
                p.add_argument("--write", action="store_true")
        rotate = sub.add_parser("rotate")
        rotate.add_argument("name")
        deactivate = sub.add_parser("deactivate")
        deactivate.add_argument("name")
        sub.add_parser("list")

    def _client(self, name: str) -> ApiClient:
        try:
            return ApiClient.objects.get(name=name)
        except ApiClient.DoesNotExist:
            raise CommandError(f"No client {name!r}.") from None

    def _collection(self, slug: str) -> Collection:
        try:
            return Collection.objects.get(slug=slug)
        except Collection.DoesNotExist:
            raise CommandError(f"No collection {slug!r}.") from None

    def handle(self, *args, **opts):
        action = opts["action"]
        if action == "create":
            if ApiClient.objects.filter(name=opts["name"]).exists():
                raise CommandError(f"A client {opts['name']!r} exists; use rotate for a new key.")
            collections = [(self._collection(s), False) for s in opts["read"]] + [(self._collection(s), True) for s in opts["write"]]
            client, key = ApiClient.create_with_key(opts["name"], can_create_collections=opts["can_create_collections"])
            for collection, write in collections:
                grant(client, collection, write=write)
            self.stdout.write(f"created client {client.name}; its API key (shown once):")
            self.stdout.write(key)
        elif action == "grant":
            grant(self._client(opts["name"]), self._collection(opts["collection"]), write=opts["write"])
            self.stdout.write("granted")
        elif action == "revoke":
            CollectionGrant.objects.filter(client=self._client(opts["name"]), collection=self._collection(opts["collection"])).delete()
            self.stdout.write("revoked")
        elif action == "rotate":
            self.stdout.write(self._client(opts["name"]).rotate_key())
        elif action == "deactivate":
            client = self._client(opts["name"])
            client.is_active = False
            client.save(update_fields=["is_active"])
            self.stdout.write("deactivated")
        else:
            for client in ApiClient.objects.prefetch_related("grants__collection"):
                grants = ", ".join(f"{g.collection.slug}({'rw' if g.can_write else 'r'})" for g in client.grants.all())
                state = "" if client.is_active else " [inactive]"
                self.stdout.write(f"{client.name}{state}\t{grants or '-'}")
