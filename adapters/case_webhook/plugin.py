"""A generic case system over webhooks and REST (entry point ``adapters.case_webhook``).

The case system signs and posts events to ``/api/v1/cases/{system}/events``; this
adapter reads the case with ``GET CASE_URL`` and writes the suggestion with
``POST SUGGESTION_URL`` (``Idempotency-Key`` header: a retry never writes twice).
The JSON contract is in docs/cases.md.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import quote

import requests

from govai_plugin.exceptions import CaseSystemError, CaseSystemUnavailable, ConfigurationError, NotFound
from govai_plugin.hooks import hookimpl
from govai_plugin.ports import CaseDecision, CaseRecord, SuggestionPayload
from govai_plugin.types import AdapterSpec


class WebhookCaseSystem:
    def __init__(self, name: str, cfg: dict[str, Any], *, session: requests.Session | None = None) -> None:
        for key in ("CASE_URL", "SUGGESTION_URL"):
            if not str(cfg.get(key, "")).startswith(("http://", "https://")):
                raise ConfigurationError(f"Case system {name!r}: {key} must be an http(s) URL with {{case_id}}.")
        self.name = name
        self.case_url = cfg["CASE_URL"]
        self.suggestion_url = cfg["SUGGESTION_URL"]
        self.decision_url = cfg.get("DECISION_URL", "")
        self.timeout = float(cfg.get("TIMEOUT", 10.0))
        self.session = session or requests.Session()
        self.session.headers.update(cfg.get("HEADERS") or {})

    def _url(self, template: str, case_ref: str, **extra: str) -> str:
        return template.format(case_id=quote(case_ref, safe=""), **{k: quote(v, safe="") for k, v in extra.items()})

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, url, timeout=self.timeout, allow_redirects=False, **kwargs)
        except requests.Timeout:
            raise CaseSystemUnavailable(f"{self.name}: no answer from {url} within {self.timeout:g} s.") from None
        except requests.ConnectionError as exc:
            raise CaseSystemUnavailable(f"{self.name}: cannot reach {url}: {exc}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise CaseSystemUnavailable(f"{self.name}: {url} answered {response.status_code}.")
        return response

    @staticmethod
    def _json(response: requests.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise CaseSystemError(f"{what}: the answer is not JSON.") from None

    def read_case(self, case_ref: str) -> CaseRecord:
        response = self._request("GET", self._url(self.case_url, case_ref), headers={"Accept": "application/json"})
        if response.status_code == 404:
            raise NotFound(f"{self.name} has no case {case_ref!r}.")
        if response.status_code >= 400:
            raise CaseSystemError(f"{self.name} refused to give case {case_ref!r}: HTTP {response.status_code}.")
        data = self._json(response, f"{self.name} case {case_ref!r}")
        if not isinstance(data, dict) or not isinstance(data.get("fields", {}), dict):
            raise CaseSystemError(f"{self.name} case {case_ref!r}: expected an object with a 'fields' object.")
        documents = data.get("documents") if isinstance(data.get("documents"), list) else []
        return CaseRecord(case_ref=case_ref, title=str(data.get("title", ""))[:500], case_type=str(data.get("type", ""))[:100],
                          fields=data.get("fields", {}), documents=documents)

    def attach_suggestion(self, case_ref: str, suggestion: SuggestionPayload, *, idempotency_key: str) -> str:
        response = self._request("POST", self._url(self.suggestion_url, case_ref), json=asdict(suggestion),
                                 headers={"Idempotency-Key": idempotency_key, "Accept": "application/json"})
        if response.status_code == 404:
            raise CaseSystemError(f"{self.name} has no case {case_ref!r} to attach the suggestion to.")
        if response.status_code >= 400:
            raise CaseSystemError(f"{self.name} rejected the suggestion for case {case_ref!r}: HTTP "
                                  f"{response.status_code} {response.text[:300]}")
        data = self._json(response, f"{self.name} write-back") if response.content else {}
        return str((data or {}).get("id") or response.headers.get("Location") or "")

    def read_decision(self, case_ref: str, external_ref: str) -> CaseDecision | None:
        if not self.decision_url:
            return None
        response = self._request("GET", self._url(self.decision_url, case_ref, suggestion_ref=external_ref))
        if response.status_code == 404:
            return None
        data = self._json(response, f"{self.name} decision")
        if not data or not data.get("action"):
            return None
        return CaseDecision(action=str(data["action"]), reviewer=str(data.get("reviewer", "")),
                            text=str(data.get("text", "")), reason=str(data.get("reason", "")))


@hookimpl
def govai_register_adapters() -> list[AdapterSpec]:
    return [AdapterSpec(name="case-webhook", kind="case-system",
                        description="Any case system: signed webhook events in, case read over REST, suggestion posted back.",
                        factory=WebhookCaseSystem)]
