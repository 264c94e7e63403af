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

import ipaddress

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
    """``GOVAI["API"]["AUTH_FAILURE_LIMIT"]`` failed authentications ("20/min") per key id and
    address: past it, that key id is refused from that address (429) without being checked
    until the window ends, so no key's secret can be guessed at the rate of the network.

    Counted per key id, not per address alone: behind a proxy or a NAT many clients share an
    address, and one caller's wrong keys must not lock the others out. IPv6 addresses count
    per /64 (one host usually holds the whole prefix). The count is a fixed window kept with
    the cache's atomic ``add``/``incr``, so parallel failures are all counted.
    """

    cache_format = "govai_auth_failures:%(ident)s:%(key_id)s:%(window)d"

    def __init__(self) -> None:
        self.rate = govai_settings.API["AUTH_FAILURE_LIMIT"] or None
        if self.rate:
            self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_ident(self, request) -> str:
        address = super().get_ident(request)
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address
        return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)

    def _window(self, request, key_id: str) -> tuple[str, int]:
        """The counter's cache key for this window, and the seconds left in it."""
        now = self.timer()
        window = int(now // self.duration)
        left = max(1, int(self.duration - now % self.duration + 0.999))
        return self.cache_format % {"ident": self.get_ident(request), "key_id": key_id, "window": window}, left

    def wait_before_trying(self, request, key_id: str) -> int | None:
        """Seconds before ``key_id`` is checked again from this address, or None."""
        if not self.rate:
            return None
        key, left = self._window(request, key_id)
        return left if self.cache.get(key, 0) >= self.num_requests else None

    def record_failure(self, request, key_id: str) -> None:
        if not self.rate:
            return
        key, left = self._window(request, key_id)
        self.cache.add(key, 0, timeout=left + 1)
        try:
            self.cache.incr(key)
        except ValueError:  # expired between add and incr
            self.cache.set(key, 1, timeout=left + 1)
