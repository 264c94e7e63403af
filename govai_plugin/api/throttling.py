"""Request limits per client (OWASP LLM10, unbounded consumption).

Each view names a scope per HTTP method (``throttle_scope = {"POST": "ask"}``); the limit of
that scope in ``GOVAI["API"]["RATE_LIMITS"]`` ("30/min", "1000/day"; "" for none, and
"default" for views that name none) applies to each client separately: an API client, an
X-Road client, or the caller's address when anonymous. Counts live in Django's cache: with
several web processes, configure a shared cache (Redis) so the limit is one limit.
"""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle

from govai_plugin.conf import govai_settings


class ClientRateThrottle(SimpleRateThrottle):
    cache_format = "govai_throttle:%(scope)s:%(ident)s"

    def __init__(self) -> None:  # the rate depends on the view: see allow_request
        pass

    def allow_request(self, request, view) -> bool:
        scopes = getattr(view, "throttle_scope", None) or {}
        self.scope = scopes.get(request.method, "default") if isinstance(scopes, dict) else str(scopes)
        self.rate = self.get_rate()
        if not self.rate:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_rate(self) -> str | None:
        rates = govai_settings.API["RATE_LIMITS"]
        return rates.get(self.scope, rates.get("default")) or None

    def get_cache_key(self, request, view) -> str:
        user = request.user
        if user is not None and getattr(user, "is_authenticated", False):
            ident = f"{type(user).__name__}:{getattr(user, 'pk', None) or user}"
        else:
            ident = "address:" + self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
