"""API keys per client system: ``Authorization: Bearer govai_<id>_<secret>``."""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from govai_plugin.api.throttling import FailedAuthThrottle
from govai_plugin.models import ApiClient
from govai_plugin.models.clients import KEY_PREFIX

_TOUCH_EVERY = dt.timedelta(minutes=1)
_KEY_ID = re.compile(r"[0-9a-f]{1,16}")


def _parse(header: list[bytes]) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed ``Bearer govai_<id>_<secret>`` header, else None."""
    if len(header) != 2:
        return None
    try:
        key = header[1].decode("ascii")
    except UnicodeDecodeError:
        return None
    prefix, _, rest = key.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not _KEY_ID.fullmatch(key_id) or not secret:
        return None
    return key_id, secret


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        """The client whose key is sent, or None without a key. A wrong key counts against its
        key id and the caller's address (``API.AUTH_FAILURE_LIMIT``); past the limit that key
        id is not checked from that address until the window ends."""
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        parsed = _parse(header)
        key_id = parsed[0] if parsed else ""  # malformed keys share one bucket
        throttle = FailedAuthThrottle()
        wait = throttle.wait_before_trying(request, key_id)
        if wait is not None:
            raise exceptions.Throttled(wait, "Too many failed authentications with this key from this address.")
        try:
            return self._client(header, parsed)
        except exceptions.AuthenticationFailed:
            throttle.record_failure(request, key_id)
            raise

    def _client(self, header: list[bytes], parsed: tuple[str, str] | None):
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send exactly one API key: 'Authorization: Bearer <key>'.")
        if parsed is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        key_id, secret = parsed
        client = ApiClient.objects.filter(key_id=key_id, is_active=True).first()
        if client is None or not client.key_matches(secret):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        now = timezone.now()
        if client.last_used_at is None or now - client.last_used_at > _TOUCH_EVERY:
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        return client, None

    def authenticate_header(self, request):
        return 'Bearer realm="govai"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A client system's API key (govai_<id>_<secret>)."}
