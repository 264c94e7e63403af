"""Collections and who may read or write them."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from govai_plugin.exceptions import AccessDenied, InvalidRequest, NotFound
from govai_plugin.models import ApiClient, Collection, CollectionGrant


def create_collection(slug: str, name: str = "", description: str = "", *, owner: ApiClient | None = None) -> Collection:
    collection = Collection(slug=slug, name=name or slug, description=description)
    try:
        collection.full_clean()
    except ValidationError as exc:
        raise InvalidRequest("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
    try:
        with transaction.atomic():
            collection.save()
            if owner is not None:
                CollectionGrant.objects.create(client=owner, collection=collection, can_read=True, can_write=True)
    except IntegrityError as exc:
        raise InvalidRequest(f"A collection {slug!r} already exists.") from exc
    return collection


def grant(client: ApiClient, collection: Collection, *, write: bool = False) -> CollectionGrant:
    obj, _ = CollectionGrant.objects.update_or_create(
        client=client, collection=collection, defaults={"can_read": True, "can_write": write}
    )
    return obj


def readable_collections(client: ApiClient | None):
    """Collections the client may read; every collection for trusted local callers (``None``)."""
    if client is None:
        return Collection.objects.all()
    return Collection.objects.filter(grants__client=client, grants__can_read=True).distinct()


def resolve_readable(client: ApiClient | None, slugs: Iterable[str] | None) -> list[Collection]:
    """The named collections if the client may read them all; all readable ones if none are named.

    A collection the client may not read is reported exactly like one that does
    not exist, so a client cannot learn which collections others have.
    """
    allowed = readable_collections(client)
    if not slugs:
        return list(allowed)
    slugs = list(dict.fromkeys(slugs))
    found = {c.slug: c for c in allowed.filter(slug__in=slugs)}
    missing = [s for s in slugs if s not in found]
    if missing:
        raise NotFound(f"No collection you may read is called {', '.join(map(repr, missing))}.")
    return [found[s] for s in slugs]


def get_readable(client: ApiClient | None, slug: str) -> Collection:
    return resolve_readable(client, [slug])[0]


def get_writable(client: ApiClient | None, slug: str) -> Collection:
    collection = get_readable(client, slug)
    if client is not None and not CollectionGrant.objects.filter(client=client, collection=collection, can_write=True).exists():
        raise AccessDenied(f"You may read collection {slug!r} but not change it.")
    return collection
