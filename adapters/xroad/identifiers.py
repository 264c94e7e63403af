"""X-Road identifiers: clients (members, subsystems) and services.

Text form, as in the REST protocol's headers and paths:
``INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`` for a client and
``INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE[/VERSION]`` for a service. Each part
is percent-encoded UTF-8 on the wire; after decoding, parts may hold only the
characters PR-REST 4.8 allows: ``A-Z a-z 0-9 ' ( ) + , - . = ?`` (no spaces,
slashes, colons, semicolons or control characters), at most 255 characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

_PART = re.compile(r"^[A-Za-z0-9'()+,\-.=?]{1,255}$")
#: Service codes the metadata protocols reserve.
RESERVED_SERVICE_CODES = frozenset({"listMethods", "allowedMethods", "getWsdl", "getOpenAPI", "listClients"})


class IdentifierError(ValueError):
    """A malformed X-Road identifier."""


def _part(value: str, what: str) -> str:
    if not isinstance(value, str) or not _PART.match(value):
        raise IdentifierError(
            f"Invalid {what} {value!r}: use 1–255 of the characters A-Z a-z 0-9 ' ( ) + , - . = ?"
        )
    return value


@dataclass(frozen=True)
class ClientId:
    instance: str
    member_class: str
    member_code: str
    subsystem_code: str | None = None

    def __post_init__(self) -> None:
        _part(self.instance, "X-Road instance")
        _part(self.member_class, "member class")
        _part(self.member_code, "member code")
        if self.subsystem_code is not None:
            _part(self.subsystem_code, "subsystem code")

    @property
    def object_type(self) -> str:
        return "SUBSYSTEM" if self.subsystem_code else "MEMBER"

    @property
    def member(self) -> ClientId:
        return ClientId(self.instance, self.member_class, self.member_code)

    def parts(self) -> list[str]:
        parts = [self.instance, self.member_class, self.member_code]
        return parts + [self.subsystem_code] if self.subsystem_code else parts

    def __str__(self) -> str:
        return "/".join(self.parts())

    def encoded(self) -> str:
        """Percent-encoded parts joined by unencoded slashes (header and path form)."""
        return "/".join(quote(p, safe="") for p in self.parts())

    @classmethod
    def parse(cls, text: str) -> ClientId:
        if not isinstance(text, str) or not text or len(text) > 1100:
            raise IdentifierError("A client identifier is INSTANCE/CLASS/MEMBER[/SUBSYSTEM].")
        parts = [unquote(p, errors="strict") for p in text.strip().split("/")]
        if len(parts) not in (3, 4):
            raise IdentifierError(f"{text!r} is not INSTANCE/CLASS/MEMBER[/SUBSYSTEM].")
        return cls(*parts)


@dataclass(frozen=True)
class ServiceId:
    client: ClientId  # the provider: a member or, usually, a subsystem
    service_code: str
    service_version: str | None = None

    def __post_init__(self) -> None:
        _part(self.service_code, "service code")
        if self.service_version is not None:
            _part(self.service_version, "service version")

    def parts(self) -> list[str]:
        parts = self.client.parts() + [self.service_code]
        return parts + [self.service_version] if self.service_version else parts

    def __str__(self) -> str:
        return "/".join(self.parts())

    def encoded(self) -> str:
        return "/".join(quote(p, safe="") for p in self.parts())

    @classmethod
    def parse(cls, text: str) -> ServiceId:
        """``INSTANCE/CLASS/MEMBER/SUBSYSTEM/CODE[/VERSION]``; REST services need all five parts."""
        parts = [unquote(p, errors="strict") for p in (text or "").strip().split("/")]
        if len(parts) not in (5, 6):
            raise IdentifierError(f"{text!r} is not INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE[/VERSION].")
        return cls(ClientId(*parts[:4]), parts[4], parts[5] if len(parts) == 6 else None)


def check_service_code(code: str) -> str:
    _part(code, "service code")
    if code in RESERVED_SERVICE_CODES:
        raise IdentifierError(f"{code!r} is reserved for X-Road's metadata services; choose another service code.")
    return code
