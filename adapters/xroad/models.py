"""X-Road clients an administrator lets use our services."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from adapters.xroad.identifiers import ClientId, IdentifierError
from govai_plugin.models import ApiClient

SERVICES = (("ask", "ask (askAssistant, getAnswer)"), ("search", "search (searchPassages)"))


def _valid_client_id(value: str) -> None:
    try:
        ClientId.parse(value)
    except IdentifierError as exc:
        raise ValidationError(str(exc)) from None


def _valid_services(value) -> None:
    known = {code for code, _ in SERVICES}
    if not isinstance(value, list) or not all(isinstance(v, str) and v in known for v in value):
        raise ValidationError(f"A list of: {', '.join(sorted(known))}.")


class XRoadClient(models.Model):
    """A member or subsystem that may call our X-Road services.

    The collections it may read are the grants of its linked :class:`ApiClient`
    (a service account with no usable API key), so the same access rules apply
    as for any client. A grant to a member (three parts) covers its subsystems
    unless a subsystem has an entry of its own.
    """

    identifier = models.CharField(max_length=1100, unique=True, validators=[_valid_client_id],
                                  help_text="INSTANCE/CLASS/MEMBER or INSTANCE/CLASS/MEMBER/SUBSYSTEM")
    services = models.JSONField(default=list, validators=[_valid_services], help_text='e.g. ["ask", "search"]')
    api_client = models.OneToOneField(ApiClient, on_delete=models.PROTECT, related_name="xroad_client")
    is_active = models.BooleanField(default=True)
    #: Managed by GOVAI["XROAD"]["CLIENTS"]: re-synced from settings on use.
    from_settings = models.BooleanField(default=False, editable=False)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["identifier"]
        verbose_name = "X-Road client"

    def __str__(self) -> str:
        return self.identifier
