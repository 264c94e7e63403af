"""Request limits per client (OWASP LLM10, unbounded consumption), and per address for
failed authentications.

Each view names a scope per HTTP method (``throttle_scope = {"POST": "ask"}``); the limit of
that scope in ``GOVAI["API"]["RATE_LIMITS"]`` ("30/min", "1000/day"; "" for none, and
"default" for views that name none) applies to each client separately: an API client, an
X-Road client, or the caller's address when anonymous. Counts live in Django's cache: with
several web processes, configure a shared cache (Redis) so the limit is one limit.

The caller's address is ``REMOTE_ADDR``. Behind reverse proxies, set DRF's ``NUM_PROXIES``
so the address is read from ``X-Forwarded-For``; without it that header is not trusted (a
caller could otherwise name a new address with every request).
"""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from govai_plugin.conf import govai_settings


class _ByAddress(SimpleRateThrottle):
    def get_ident(self, request) -> str:
        if api_settings.NUM_PROXIES is None:
            return request.META.get("REMOTE_ADDR") or ""
        return super().get_ident(request)


class ClientRateThrottle(_ByAddress):
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


class FailedAuthThrottle(_ByAddress):
    """``GOVAI["API"]["AUTH_FAILURE_LIMIT"]`` failed authentications per address ("20/min"):
    past it, every key from that address is refused (429) until the window has room, so
    keys cannot be guessed, nor the key table queried, at the rate of the network."""

    cache_format = "govai_auth_failures:%(ident)s"

    def get_rate(self) -> str | None:
        return govai_settings.API["AUTH_FAILURE_LIMIT"] or None

    def get_cache_key(self, request, view=None) -> str:
        return self.cache_format % {"ident": self.get_ident(request)}

    def wait_before_trying(self, request) -> float | None:
        """Seconds this address must wait before a key is checked, or None."""
        if not self.rate:
            return None
        self.key, self.now = self.get_cache_key(request), self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        if len(self.history) < self.num_requests:
            return None
        return self.duration - (self.now - self.history[-1])  # until the oldest failure leaves the window

    def record_failure(self, request) -> None:
        if self.rate and self.wait_before_trying(request) is None:
            self.history.insert(0, self.now)
            self.cache.set(self.key, self.history, self.duration)
