"""The Dutch case-management API standard, ZGW (Open Zaak and compatible systems);
entry point ``adapters.zgw``.

* read a case: ``GET {ZAKEN_API}/zaken/{uuid}``, its properties
  (``/zaken/{uuid}/zaakeigenschappen``: ``naam`` -> ``waarde`` become the case fields) and
  the titles of its documents (``/zaakinformatieobjecten?zaak=...``);
* write a suggestion: ``POST {DOCUMENTEN_API}/enkelvoudiginformatieobjecten`` (a text
  document, base64 content) and ``POST {ZAKEN_API}/zaakinformatieobjecten`` to link it.
  The document's ``identificatie`` is derived from the idempotency key, and both steps look
  first for what an earlier attempt wrote, so a retry never writes twice;
* authentication: the standard's JWT (HS256 with the shared secret; ``client_id``,
  ``user_id`` and ``user_representation`` claims, fresh per request).
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from typing import Any
from urllib.parse import quote

import jwt
import requests

from govai_plugin.exceptions import CaseSystemError, CaseSystemUnavailable, ConfigurationError, NotFound
from govai_plugin.hooks import hookimpl
from govai_plugin.ports import CaseDecision, CaseRecord, SuggestionPayload
from govai_plugin.types import AdapterSpec

CRS = {"Accept-Crs": "EPSG:4326", "Content-Crs": "EPSG:4326"}
CONFIDENTIALITY = {"openbaar", "beperkt_openbaar", "intern", "zaakvertrouwelijk", "vertrouwelijk", "confidentieel",
                   "geheim", "zeer_geheim"}


class ZGWCaseSystem:
    def __init__(self, name: str, cfg: dict[str, Any], *, session: requests.Session | None = None) -> None:
        required = ("ZAKEN_API", "DOCUMENTEN_API", "CLIENT_ID", "SECRET_KEY", "BRONORGANISATIE", "INFORMATIEOBJECTTYPE")
        missing = [key for key in required if not cfg.get(key)]
        if missing:
            raise ConfigurationError(f"ZGW case system {name!r} needs {', '.join(missing)} (see docs/cases.md).")
        rsin = str(cfg["BRONORGANISATIE"])
        if not (rsin.isdigit() and len(rsin) == 9):
            raise ConfigurationError(f"ZGW case system {name!r}: BRONORGANISATIE must be a 9-digit RSIN.")
        self.name = name
        self.zaken = cfg["ZAKEN_API"].rstrip("/")
        self.documenten = cfg["DOCUMENTEN_API"].rstrip("/")
        self.client_id = cfg["CLIENT_ID"]
        self.secret = cfg["SECRET_KEY"]
        self.user_id = cfg.get("USER_ID", "govai")
        self.user_representation = cfg.get("USER_REPRESENTATION", "GovAI assistant")
        self.rsin = rsin
        self.document_type = cfg["INFORMATIEOBJECTTYPE"]
        self.confidentiality = cfg.get("VERTROUWELIJKHEIDAANDUIDING", "zaakvertrouwelijk")
        if self.confidentiality not in CONFIDENTIALITY:
            raise ConfigurationError(f"ZGW case system {name!r}: unknown VERTROUWELIJKHEIDAANDUIDING {self.confidentiality!r}.")
        self.language = cfg.get("TAAL", "nld")
        self.timeout = float(cfg.get("TIMEOUT", 10.0))
        self.session = session or requests.Session()

    # --- HTTP ---------------------------------------------------------------------------------

    def token(self) -> str:
        now = int(time.time())
        claims = {"iss": self.client_id, "iat": now, "client_id": self.client_id, "user_id": self.user_id,
                  "user_representation": self.user_representation}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def _request(self, method: str, url: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token()}", "Accept": "application/json", **CRS, **kwargs.pop("headers", {})}
        try:
            response = self.session.request(method, url, headers=headers, timeout=self.timeout, allow_redirects=False, **kwargs)
        except requests.Timeout:
            raise CaseSystemUnavailable(f"{self.name}: no answer from {url} within {self.timeout:g} s.") from None
        except requests.ConnectionError as exc:
            raise CaseSystemUnavailable(f"{self.name}: cannot reach {url}: {exc}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise CaseSystemUnavailable(f"{self.name}: {url} answered {response.status_code}.")
        if response.status_code == 404:
            raise NotFound(f"{self.name}: {url} does not exist.")
        if response.status_code not in expect:
            raise CaseSystemError(f"{self.name}: {method} {url} answered {response.status_code}: {response.text[:300]}")
        try:
            return response.json()
        except ValueError:
            raise CaseSystemError(f"{self.name}: {url} did not answer with JSON.") from None

    @staticmethod
    def _results(data: Any) -> list[dict]:
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            return data["results"]  # a paginated list
        return data if isinstance(data, list) else []

    def _zaak_url(self, case_ref: str) -> str:
        if case_ref.startswith(self.zaken + "/zaken/"):
            return case_ref
        return f"{self.zaken}/zaken/{quote(case_ref, safe='')}"

    # --- the port ---------------------------------------------------------------------------------

    def read_case(self, case_ref: str) -> CaseRecord:
        zaak_url = self._zaak_url(case_ref)
        zaak = self._request("GET", zaak_url)
        if not isinstance(zaak, dict):
            raise CaseSystemError(f"{self.name}: the zaak is not a JSON object.")
        fields = {"omschrijving": zaak.get("omschrijving", ""), "toelichting": zaak.get("toelichting", ""),
                  "startdatum": zaak.get("startdatum", "")}
        for prop in self._results(self._request("GET", f"{zaak_url}/zaakeigenschappen")):
            if isinstance(prop, dict) and prop.get("naam"):
                fields[str(prop["naam"])] = prop.get("waarde", "")
        documents = []
        for link in self._results(self._request("GET", f"{self.zaken}/zaakinformatieobjecten", params={"zaak": zaak_url})):
            url = link.get("informatieobject", "")
            document = self._request("GET", url) if url.startswith(self.documenten + "/") else {}
            documents.append({"title": document.get("titel") or link.get("titel", ""), "url": url,
                              "description": document.get("beschrijving", ""), "format": document.get("formaat", "")})
        return CaseRecord(case_ref=case_ref, title=str(zaak.get("omschrijving", ""))[:500],
                          case_type=str(zaak.get("identificatie", ""))[:100], fields=fields, documents=documents)

    def attach_suggestion(self, case_ref: str, suggestion: SuggestionPayload, *, idempotency_key: str) -> str:
        zaak_url = self._zaak_url(case_ref)
        self._request("GET", zaak_url)  # the case must exist before anything is written
        identificatie = idempotency_key[-40:]  # the standard allows 40 characters
        existing = self._results(self._request("GET", f"{self.documenten}/enkelvoudiginformatieobjecten",
                                               params={"bronorganisatie": self.rsin, "identificatie": identificatie}))
        if existing:
            document = existing[0]
        else:
            document = self._request("POST", f"{self.documenten}/enkelvoudiginformatieobjecten", expect=(201,), json={
                "identificatie": identificatie,
                "bronorganisatie": self.rsin,
                "creatiedatum": dt.date.today().isoformat(),
                "titel": f"AI-suggestie (concept) {suggestion.suggestion_id[:8]}",
                "auteur": self.user_representation,
                "taal": self.language,
                "formaat": "text/plain",
                "bestandsnaam": f"suggestion-{suggestion.suggestion_id}.txt",
                "inhoud": base64.b64encode(_document_text(suggestion).encode()).decode(),
                "informatieobjecttype": self.document_type,
                "vertrouwelijkheidaanduiding": self.confidentiality,
                "beschrijving": suggestion.label[:1000],
            })
        links = self._results(self._request("GET", f"{self.zaken}/zaakinformatieobjecten",
                                            params={"zaak": zaak_url, "informatieobject": document["url"]}))
        if not links:
            self._request("POST", f"{self.zaken}/zaakinformatieobjecten", expect=(201,),
                          json={"zaak": zaak_url, "informatieobject": document["url"], "titel": document.get("titel", "")})
        return document["url"]

    def read_decision(self, case_ref: str, external_ref: str) -> CaseDecision | None:
        return None  # the ZGW standard records no decision on a document; use the review API or a decision event


def _document_text(suggestion: SuggestionPayload) -> str:
    lines = [suggestion.label, "", suggestion.text, ""]
    if suggestion.citations:
        lines.append("Sources:")
        for c in suggestion.citations:
            where = " > ".join(p for p in [c.get("heading_path") or ""] if p)
            lines.append(f"[{c.get('number')}] {c.get('document_title')} (version {c.get('document_version')})"
                         + (f", {where}" if where else "") + f", characters {c.get('char_start')}-{c.get('char_end')}")
    lines += ["", f"Suggestion {suggestion.suggestion_id}: a draft for a caseworker to accept, edit or reject."]
    return "\n".join(lines)


@hookimpl
def govai_register_adapters() -> list[AdapterSpec]:
    return [AdapterSpec(name="zgw", kind="case-system",
                        description="Dutch ZGW APIs (Open Zaak): reads a zaak and writes the suggestion as a linked document.",
                        factory=ZGWCaseSystem)]
