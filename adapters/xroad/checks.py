"""System checks for GOVAI["XROAD"] (ids govai.E1xx)."""

from __future__ import annotations

import ipaddress

from django.core.checks import Error, Warning, register

from adapters.xroad.identifiers import ClientId, IdentifierError, check_service_code
from govai_plugin.conf import govai_settings

SERVICES = {"ask", "search"}


def _error(n: int, msg: str, hint: str) -> Error:
    return Error(msg, hint=hint, id=f"govai.E{n:03d}")


@register("govai")
def check_xroad(app_configs=None, **kwargs):
    errors = []
    cfg = govai_settings.XROAD
    codes = cfg.get("SERVICE_CODES")
    if not isinstance(codes, dict) or set(codes) != {"ask", "answer", "search"}:
        errors.append(_error(101, "GOVAI['XROAD']['SERVICE_CODES'] must map exactly 'ask', 'answer' and 'search' to service codes.",
                             "e.g. {'ask': 'askAssistant', 'answer': 'getAnswer', 'search': 'searchPassages'}"))
    else:
        for name, code in codes.items():
            try:
                check_service_code(code)
            except IdentifierError as exc:
                errors.append(_error(102, f"GOVAI['XROAD']['SERVICE_CODES'][{name!r}]: {exc}",
                                     "Use letters, digits and - . only, and none of the metaservice names."))
        if len(set(codes.values())) != 3:
            errors.append(_error(103, "GOVAI['XROAD']['SERVICE_CODES'] gives two services the same code.", "Make them unique."))
    try:
        from adapters.xroad.identifiers import _part

        _part(str(cfg.get("SERVICE_VERSION")), "service version")
    except IdentifierError as exc:
        errors.append(_error(104, f"GOVAI['XROAD']['SERVICE_VERSION']: {exc}", "e.g. 'v1'."))
    networks = cfg.get("ALLOWED_ADDRESSES")
    if not isinstance(networks, list) or not networks:
        errors.append(_error(105, "GOVAI['XROAD']['ALLOWED_ADDRESSES'] must be a non-empty list of addresses or CIDR networks.",
                             "List your Security Server's address, e.g. ['10.0.0.5/32']."))
    else:
        for net in networks:
            try:
                ipaddress.ip_network(net, strict=False)
            except (TypeError, ValueError):
                errors.append(_error(106, f"GOVAI['XROAD']['ALLOWED_ADDRESSES'] has {net!r}, which is not an address or network.",
                                     "e.g. '10.0.0.5/32' or '192.168.1.0/24'."))
            else:
                if ipaddress.ip_network(net, strict=False).prefixlen == 0:
                    errors.append(Warning("GOVAI['XROAD']['ALLOWED_ADDRESSES'] lets every address call the X-Road endpoints.",
                                          hint="Only the Security Server should reach them; list its address.", id="govai.W107"))
    for key in ("MAX_BODY_BYTES", "SOAP_WAIT_SECONDS", "TIMEOUT"):
        value = cfg.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            errors.append(_error(108, f"GOVAI['XROAD'][{key!r}] must be a positive number.", "See docs/configuration.md."))
    clients = cfg.get("CLIENTS")
    if not isinstance(clients, dict):
        errors.append(_error(109, "GOVAI['XROAD']['CLIENTS'] must be a dict of client id -> {'services': [...], 'collections': [...]}.",
                             "See docs/xroad.md."))
    else:
        for ident, entry in clients.items():
            try:
                ClientId.parse(ident)
            except IdentifierError as exc:
                errors.append(_error(110, f"GOVAI['XROAD']['CLIENTS'] key {ident!r}: {exc}", "INSTANCE/CLASS/MEMBER[/SUBSYSTEM]"))
            if not isinstance(entry, dict) or not set(entry.get("services", [])) <= SERVICES or not isinstance(
                    entry.get("collections", []), list):
                errors.append(_error(111, f"GOVAI['XROAD']['CLIENTS'][{ident!r}] must be {{'services': [...], 'collections': [...]}}"
                                          f" with services from {sorted(SERVICES)}.", "See docs/xroad.md."))
    if cfg.get("CLIENT_ID"):
        try:
            ClientId.parse(cfg["CLIENT_ID"])
        except IdentifierError as exc:
            errors.append(_error(112, f"GOVAI['XROAD']['CLIENT_ID']: {exc}", "INSTANCE/CLASS/MEMBER/SUBSYSTEM"))
    url = cfg.get("SECURITY_SERVER_URL") or ""
    if url and not url.startswith(("http://", "https://")):
        errors.append(_error(113, f"GOVAI['XROAD']['SECURITY_SERVER_URL'] {url!r} is not an http(s) URL.",
                             "e.g. 'https://ss.example.gov'."))
    if bool(cfg.get("TLS_KEY")) and not cfg.get("TLS_CERT"):
        errors.append(_error(114, "GOVAI['XROAD']['TLS_KEY'] is set without TLS_CERT.", "Set both for mutual TLS."))
    return errors
