"""API keys per client system: ``Authorization: Bearer govai_<id>_<secret>``."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from govai_plugin.models import ApiClient
from govai_plugin.models.clients import KEY_PREFIX

_TOUCH_EVERY = dt.timedelta(minutes=1)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send exactly one API key: 'Authorization: Bearer <key>'.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        prefix, _, rest = key.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != KEY_PREFIX or not key_id or not secret:
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
