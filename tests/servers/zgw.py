"""A ZGW stand-in (Zaken API and Documenten API, as Open Zaak serves them) on 127.0.0.1.

* every request needs ``Authorization: Bearer <JWT>``, HS256 with the client's secret and
  a ``client_id`` claim (403 otherwise); zaken requests need ``Accept-Crs`` (412 otherwise);
* ``GET /zaken/api/v1/zaken/{uuid}``, ``.../zaken/{uuid}/zaakeigenschappen``;
* ``GET|POST /zaken/api/v1/zaakinformatieobjecten`` (filters ``zaak``, ``informatieobject``);
* ``GET|POST /documenten/api/v1/enkelvoudiginformatieobjecten`` (filters ``bronorganisatie``,
  ``identificatie``; required fields checked, ``identificatie`` unique per organisation);
* ``fail_posts`` makes the next N POSTs answer 503.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt

REQUIRED_EIO = ("bronorganisatie", "creatiedatum", "titel", "auteur", "taal", "informatieobjecttype",
                "vertrouwelijkheidaanduiding", "inhoud")


class ZGWServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, client_id: str, secret: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.clients = {client_id: secret}
        self.zaken: dict[str, dict] = {}
        self.eigenschappen: dict[str, list[dict]] = {}
        self.documents: list[dict] = []
        self.links: list[dict] = []
        self.fail_posts = 0
        self.seen_claims: list[dict] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add_zaak(self, omschrijving: str, eigenschappen: dict[str, str]) -> str:
        zaak_id = str(uuid.uuid4())
        url = f"{self.url}/zaken/api/v1/zaken/{zaak_id}"
        self.zaken[zaak_id] = {"url": url, "uuid": zaak_id, "identificatie": "ZAAK-2026-0000001", "bronorganisatie": "002220647",
                               "omschrijving": omschrijving, "toelichting": "", "startdatum": "2026-11-20",
                               "zaaktype": f"{self.url}/catalogi/api/v1/zaaktypen/1"}
        self.eigenschappen[zaak_id] = [{"url": f"{url}/zaakeigenschappen/{i}", "zaak": url, "naam": k, "waarde": v}
                                       for i, (k, v) in enumerate(eigenschappen.items())]
        return zaak_id

    def __enter__(self) -> ZGWServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ZGWServer

    def log_message(self, *args):
        pass

    def _auth(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            self._json(403, {"code": "not_authenticated", "detail": "no JWT"})
            return False
        token = header[len("Bearer "):]
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
            secret = self.server.clients.get(claims.get("client_id"))
            if secret is None:
                raise jwt.InvalidTokenError("unknown client_id")
            claims = jwt.decode(token, secret, algorithms=["HS256"])
        except jwt.InvalidTokenError as exc:
            self._json(403, {"code": "permission_denied", "detail": str(exc)})
            return False
        self.server.seen_claims.append(claims)
        return True

    def do_GET(self):
        if not self._auth():
            return
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        parts = [p for p in split.path.split("/") if p]
        if parts[:3] == ["zaken", "api", "v1"]:
            if "Accept-Crs" not in self.headers:
                return self._json(412, {"code": "precondition_failed", "detail": "Accept-Crs header is required"})
            if len(parts) == 5 and parts[3] == "zaken":
                zaak = self.server.zaken.get(parts[4])
                return self._json(200, zaak) if zaak else self._json(404, {"detail": "Niet gevonden."})
            if len(parts) == 6 and parts[3] == "zaken" and parts[5] == "zaakeigenschappen":
                return self._json(200, self.server.eigenschappen.get(parts[4], []))
            if parts[3:] == ["zaakinformatieobjecten"]:
                found = [link for link in self.server.links if all(link.get(k) == v for k, v in query.items())]
                return self._json(200, found)
        if parts[:4] == ["documenten", "api", "v1", "enkelvoudiginformatieobjecten"] and len(parts) == 5:
            found = [d for d in self.server.documents if d["url"].endswith("/" + parts[4])]
            return self._json(200, found[0]) if found else self._json(404, {"detail": "Niet gevonden."})
        if parts[:4] == ["documenten", "api", "v1", "enkelvoudiginformatieobjecten"] and len(parts) == 4:
            found = [d for d in self.server.documents if all(str(d.get(k)) == v for k, v in query.items())]
            return self._json(200, {"count": len(found), "next": None, "previous": None, "results": found})
        self._json(404, {"detail": "Niet gevonden."})

    def do_POST(self):
        if not self._auth():
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.server.fail_posts > 0:
            self.server.fail_posts -= 1
            return self._json(503, {"detail": "maintenance"})
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        if parts == ["documenten", "api", "v1", "enkelvoudiginformatieobjecten"]:
            missing = [f for f in REQUIRED_EIO if not body.get(f)]
            if missing:
                return self._json(400, {"code": "invalid", "invalidParams": [{"name": f, "code": "required"} for f in missing]})
            if len(body.get("identificatie", "")) > 40 or len(body["bronorganisatie"]) != 9 or len(body["taal"]) != 3:
                return self._json(400, {"code": "invalid", "detail": "field length"})
            base64.b64decode(body["inhoud"], validate=True)
            if any(d["bronorganisatie"] == body["bronorganisatie"] and d["identificatie"] == body.get("identificatie")
                   for d in self.server.documents):
                return self._json(400, {"code": "identificatie-niet-uniek"})
            doc_id = str(uuid.uuid4())
            document = {**body, "url": f"{self.server.url}/documenten/api/v1/enkelvoudiginformatieobjecten/{doc_id}"}
            self.server.documents.append(document)
            return self._json(201, document)
        if parts == ["zaken", "api", "v1", "zaakinformatieobjecten"]:
            if "Content-Crs" not in self.headers and "Accept-Crs" not in self.headers:
                return self._json(412, {"detail": "crs"})
            if not any(z["url"] == body.get("zaak") for z in self.server.zaken.values()):
                return self._json(400, {"code": "invalid", "invalidParams": [{"name": "zaak", "code": "bad-url"}]})
            link = {**body, "url": f"{self.server.url}/zaken/api/v1/zaakinformatieobjecten/{uuid.uuid4()}"}
            self.server.links.append(link)
            return self._json(201, link)
        self._json(404, {"detail": "Niet gevonden."})

    def _json(self, status: int, data) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
