"""The X-Road request metadata a provider receives, parsed and validated.

The same rules serve the REST headers (``X-Road-Client`` ...) and the SOAP header
elements (``xrd:client`` ...); a violation raises :class:`BadXRoadHeader` with a
message naming the header.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass

from adapters.xroad.identifiers import ClientId, IdentifierError, _part

_TOKEN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
_TEXT = re.compile(r"^[^\x00-\x1f\x7f]{1,1000}$")  # any text without control characters


class BadXRoadHeader(ValueError):
    def __init__(self, header: str, message: str) -> None:
        super().__init__(f"{header}: {message}")
        self.header = header


@dataclass(frozen=True)
class XRoadRequestInfo:
    client: ClientId
    message_id: str
    request_id: str = ""
    user_id: str = ""
    issue: str = ""
    represented_party: str = ""

    def audit_details(self) -> dict[str, str]:
        data = asdict(self)
        data["client"] = str(self.client)
        return {k: v for k, v in data.items() if v}


def _token(name: str, value: str | None, *, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise BadXRoadHeader(name, "missing; the Security Server sets it on every request.")
        return ""
    if not _TOKEN.match(value):
        raise BadXRoadHeader(name, "must be 1–255 printable ASCII characters without spaces.")
    return value


def parse(*, client: str | ClientId | None, message_id: str | None, request_id: str | None = None, user_id: str | None = None,
          issue: str | None = None, represented_party: str | None = None) -> XRoadRequestInfo:
    if not client:
        raise BadXRoadHeader("X-Road-Client", "missing; requests must come through an X-Road Security Server.")
    try:
        client_id = client if isinstance(client, ClientId) else ClientId.parse(client)
    except (IdentifierError, UnicodeDecodeError) as exc:
        raise BadXRoadHeader("X-Road-Client", str(exc)) from None
    if issue and not _TEXT.match(issue):
        raise BadXRoadHeader("X-Road-Issue", "at most 1,000 characters, no control characters.")
    party = represented_party or ""
    if party:
        parts = party.split("/")
        try:
            if len(parts) not in (1, 2):
                raise IdentifierError("use [CLASS/]MEMBER")
            for p in parts:
                _part(p, "represented party part")
        except IdentifierError as exc:
            raise BadXRoadHeader("X-Road-Represented-Party", str(exc)) from None
    return XRoadRequestInfo(
        client=client_id,
        message_id=_token("X-Road-Id", message_id, required=True),
        request_id=_token("X-Road-Request-Id", request_id),
        user_id=_token("X-Road-UserId", user_id),
        issue=issue or "",
        represented_party=party,
    )


def address_allowed(address: str, allowed: list[str]) -> bool:
    """Is ``address`` inside one of the ``allowed`` networks (CIDR or single address)?"""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in allowed)
