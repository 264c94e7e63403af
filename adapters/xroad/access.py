"""Which X-Road client may use which of our services and collections.

Grants come from two places: rows an administrator edits in the admin
(:class:`~adapters.xroad.models.XRoadClient`), and ``GOVAI["XROAD"]["CLIENTS"]``
in settings. A settings entry is synced into a row (marked ``from_settings``)
whenever that client calls, so settings win for the clients they name.
"""

from __future__ import annotations

from django.db import transaction

from adapters.xroad.identifiers import ClientId
from adapters.xroad.models import XRoadClient
from govai_plugin.conf import govai_settings
from govai_plugin.models import ApiClient, Collection, CollectionGrant


class NotAllowed(Exception):
    """The caller is not an X-Road client we know, or may not use this service."""


def ensure_api_client(identifier: str) -> ApiClient:
    """The service account behind an X-Road client (its key is never shown, so unusable)."""
    name = f"xroad:{identifier}"
    client = ApiClient.objects.filter(name=name).first()
    if client is None:
        client, _key = ApiClient.create_with_key(name)
    return client


def set_collections(xroad_client: XRoadClient, slugs: list[str]) -> None:
    """Make the client's readable collections exactly ``slugs`` (unknown slugs are ignored)."""
    account = xroad_client.api_client
    wanted = list(Collection.objects.filter(slug__in=slugs))
    CollectionGrant.objects.filter(client=account).exclude(collection__in=wanted).delete()
    for collection in wanted:
        CollectionGrant.objects.get_or_create(client=account, collection=collection, defaults={"can_read": True})


def _sync_from_settings(identifier: str) -> XRoadClient | None:
    entry = (govai_settings.XROAD.get("CLIENTS") or {}).get(identifier)
    if entry is None:
        return None
    services, active, slugs = list(entry.get("services", [])), bool(entry.get("active", True)), set(entry.get("collections", []))
    row = XRoadClient.objects.filter(identifier=identifier).select_related("api_client").first()
    if row is not None and row.from_settings and row.services == services and row.is_active == active:
        granted = set(row.api_client.collections.values_list("slug", flat=True))
        if granted == set(Collection.objects.filter(slug__in=slugs).values_list("slug", flat=True)):
            return row  # already as the settings say: no writes on the request path
    with transaction.atomic():
        row = XRoadClient.objects.select_for_update().filter(identifier=identifier).first()
        if row is None:
            row = XRoadClient(identifier=identifier, api_client=ensure_api_client(identifier))
        row.services = services
        row.is_active = active
        row.from_settings = True
        row.save()
        set_collections(row, sorted(slugs))
    return row


def resolve(client: ClientId) -> XRoadClient:
    """The grant that applies to ``client``: its own entry, else its member's."""
    for candidate in ([str(client), str(client.member)] if client.subsystem_code else [str(client)]):
        row = _sync_from_settings(candidate) or XRoadClient.objects.filter(identifier=candidate).select_related("api_client").first()
        if row is not None:
            if not row.is_active or not row.api_client.is_active:
                raise NotAllowed(f"The X-Road client {client} is disabled here.")
            return row
    raise NotAllowed(f"The X-Road client {client} has no access to this provider's services.")


def authorise(client: ClientId, service: str) -> XRoadClient:
    row = resolve(client)
    if service not in row.services:
        raise NotAllowed(f"The X-Road client {client} may not use the service {service!r}.")
    return row
