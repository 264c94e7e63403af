"""A SOAP registry read with zeep (entry point ``adapters.soap_registry``).

Per registry an administrator configures (``GOVAI["REGISTRIES"][name]``): the WSDL, the
operation, which case field fills which input, the output fields that may be used
(everything else is dropped here: data minimisation), an optional service address or an
X-Road service id to route through the X-Road consumer, a timeout and a cache lifetime.
Transport errors and time-outs are retryable; SOAP faults and unreadable answers are final.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import Any

import requests
import zeep
import zeep.exceptions
from django.core.cache import cache
from lxml import etree
from zeep.helpers import serialize_object

from govai_plugin.exceptions import ConfigurationError, GovAIError, RegistryError, RegistryUnavailable, RetryableError
from govai_plugin.hooks import hookimpl
from govai_plugin.ports import CaseRecord
from govai_plugin.types import AdapterSpec

_clients: dict[tuple, zeep.Client] = {}


class SoapRegistry:
    def __init__(self, name: str, cfg: dict[str, Any], *, xroad: Any = None) -> None:
        missing = [key for key in ("WSDL", "OPERATION", "INPUT", "OUTPUT_FIELDS") if not cfg.get(key)]
        if missing:
            raise ConfigurationError(f"Registry {name!r} needs {', '.join(missing)} (see docs/cases.md).")
        self.name = name
        self.wsdl = str(cfg["WSDL"])
        self.operation = cfg["OPERATION"]
        self.inputs: dict[str, str] = dict(cfg["INPUT"])
        self.output_fields: list[str] = list(cfg["OUTPUT_FIELDS"])
        self.address = cfg.get("ADDRESS", "")
        self.xroad_service = cfg.get("XROAD_SERVICE", "")
        self.xroad = xroad
        self.timeout = float(cfg.get("TIMEOUT", 10.0))
        self.cache_seconds = int(cfg.get("CACHE_SECONDS", 0))

    def _client(self) -> zeep.Client:
        key = (self.wsdl, self.timeout)
        if key not in _clients:
            transport = zeep.Transport(timeout=self.timeout, operation_timeout=self.timeout)
            try:
                _clients[key] = zeep.Client(self.wsdl, transport=transport,
                                            settings=zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True))
            except (requests.RequestException, OSError) as exc:
                raise RegistryUnavailable(f"Registry {self.name}: cannot load its WSDL {self.wsdl}: {exc}") from None
            except (zeep.exceptions.Error, etree.XMLSyntaxError) as exc:
                raise RegistryError(f"Registry {self.name}: its WSDL {self.wsdl} is not usable: {exc}") from None
        return _clients[key]

    def _call(self, arguments: dict[str, Any]) -> Any:
        if self.xroad_service:
            if self.xroad is None:
                raise ConfigurationError(f"Registry {self.name} routes through X-Road, but no X-Road consumer was given.")
            return self.xroad.soap_call(self.wsdl, self.xroad_service, self.operation, **arguments)
        client = self._client()
        service = client.create_service(next(iter(client.wsdl.bindings)), self.address) if self.address else client.service
        try:
            return getattr(service, self.operation)(**arguments)
        except zeep.exceptions.Fault as fault:
            raise RegistryError(f"Registry {self.name} answered with a fault: {fault.code}: {fault.message}") from None
        except zeep.exceptions.TransportError as exc:
            error = RegistryUnavailable if exc.status_code >= 500 or exc.status_code == 429 else RegistryError
            raise error(f"Registry {self.name} answered HTTP {exc.status_code}.") from None
        except requests.Timeout:
            raise RegistryUnavailable(f"Registry {self.name} did not answer within {self.timeout:g} s.") from None
        except requests.ConnectionError as exc:
            raise RegistryUnavailable(f"Registry {self.name} cannot be reached: {exc}") from None
        except (zeep.exceptions.Error, etree.XMLSyntaxError, ValueError) as exc:
            raise RegistryError(f"Registry {self.name} answered with something unreadable: {exc}") from None

    def lookup(self, case: CaseRecord) -> dict[str, Any]:
        arguments = {param: case.fields.get(field) for param, field in self.inputs.items()}
        if any(value in (None, "") for value in arguments.values()):
            return {}  # the case lacks what this registry needs
        key = "govai:registry:" + hashlib.sha256(json.dumps([self.name, arguments], sort_keys=True, default=str).encode()).hexdigest()
        if self.cache_seconds and (hit := cache.get(key)) is not None:
            return hit
        try:
            result = self._call(arguments)
        except GovAIError as exc:
            if isinstance(exc, RetryableError) or not getattr(exc, "type", None):
                raise
            raise RegistryError(f"Registry {self.name} via X-Road: {exc}") from None
        data = serialize_object(result, dict)
        if isinstance(data, dict) and "body" in data and "header" in data:  # an X-Road answer with headers
            data = data["body"]
        picked = {name: _plain(value) for name in self.output_fields if (value := _pick(data, name)) is not None}
        if self.cache_seconds:
            cache.set(key, picked, self.cache_seconds)
        return picked


def _pick(data: Any, path: str) -> Any:
    """A dotted path ("address.municipality"), searched from the top and inside a single wrapper."""
    for root in (data, *([v for v in data.values() if isinstance(v, dict)] if isinstance(data, dict) else [])):
        value = root
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
            if value is None:
                break
        if value is not None:
            return value
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)):
        return value
    return json.loads(json.dumps(value, default=str))


@hookimpl
def govai_register_adapters() -> list[AdapterSpec]:
    return [AdapterSpec(name="soap-registry", kind="registry",
                        description="Reads a SOAP registry with zeep (directly or through X-Road); only allowlisted fields leave it.",
                        factory=SoapRegistry)]
