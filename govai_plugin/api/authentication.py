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


def _key_id(header: list[bytes]) -> str:
    """The key id a header names (``govai_<id>_...``), or "" for anything malformed: the bucket
    its failures count in."""
    parts = header[1].split(b"_") if len(header) == 2 else []
    if len(parts) >= 3 and _KEY_ID.fullmatch(parts[1].decode("ascii", errors="replace")):
        return parts[1].decode("ascii")
    return ""


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        """The client whose key is sent, or None without a key. A wrong key counts against its
        key id and the caller's address (``API.AUTH_FAILURE_LIMIT``); past the limit that key
        id is not checked from that address until the window ends."""
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        key_id = _key_id(header)
        throttle = FailedAuthThrottle()
        wait = throttle.wait_before_trying(request, key_id)
        if wait is not None:
            raise exceptions.Throttled(wait, "Too many failed authentications with this key from this address.")
        try:
            return self._client(header)
        except exceptions.AuthenticationFailed:
            throttle.record_failure(request, key_id)
            raise

    def _client(self, header: list[bytes]):
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send exactly one API key: 'Authorization: Bearer <key>'.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        prefix, _, rest = key.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != KEY_PREFIX or not _KEY_ID.fullmatch(key_id) or not secret:
            raise exceptions.AuthenticationFailed("Invalid API key.")
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
