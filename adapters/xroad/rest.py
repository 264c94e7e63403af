"""The REST provider (X-Road message protocol for REST, r1).

The Security Server maps each of our service codes to a base URL here
(``<portal>/xroad/rest/ask/`` and ``.../search/``) and forwards
``/r1/{service id}/{path}`` to ``{base}{path}`` with the ``X-Road-*`` headers.
The views are the public API's views with X-Road authentication: the caller is
the X-Road client named in ``X-Road-Client``, authorised by its grant, and every
request, refused or not, is written to the audit trail.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.settings import SPECTACULAR_DEFAULTS
from drf_spectacular.views import SpectacularAPIView
from rest_framework import authentication, exceptions
from rest_framework.renderers import JSONRenderer

from adapters.xroad import access, body, headers
from govai_plugin.api import answers as core_answers
from govai_plugin.api import views as core_views
from govai_plugin.api.parsers import SafeJSONParser
from govai_plugin.conf import govai_settings
from govai_plugin.services import audit

JSON = "application/json; charset=utf-8"


class XRoadAuthentication(authentication.BaseAuthentication):
    """The X-Road client as the caller. Refuses calls from outside the Security Server's
    addresses (403), malformed X-Road headers (400), and clients without a grant for
    this service (403)."""

    def authenticate(self, request):
        view = request.parser_context["view"]
        cfg = govai_settings.XROAD
        request.xroad = None
        address = request.META.get("REMOTE_ADDR", "")
        if not headers.address_allowed(address, cfg["ALLOWED_ADDRESSES"]):
            view.refusal = "address_not_allowed"
            raise exceptions.PermissionDenied(
                f"{address or 'This address'} is not an allowed Security Server address (GOVAI['XROAD']['ALLOWED_ADDRESSES'])."
            )
        meta = request.META
        try:
            info = headers.parse(
                client=meta.get("HTTP_X_ROAD_CLIENT"), message_id=meta.get("HTTP_X_ROAD_ID"),
                request_id=meta.get("HTTP_X_ROAD_REQUEST_ID"), user_id=meta.get("HTTP_X_ROAD_USERID"),
                issue=meta.get("HTTP_X_ROAD_ISSUE"), represented_party=meta.get("HTTP_X_ROAD_REPRESENTED_PARTY"),
            )
        except headers.BadXRoadHeader as exc:
            view.refusal = "bad_header"
            raise exceptions.ParseError(str(exc)) from None
        request.xroad = info
        try:
            grant = access.authorise(info.client, view.xroad_service)
        except access.NotAllowed as exc:
            view.refusal = "access_denied"
            raise exceptions.PermissionDenied(str(exc)) from None
        return grant.api_client, info

    def authenticate_header(self, request):
        return None  # 403, not 401: there is no credential to retry with


class XRoadClientScheme(OpenApiAuthenticationExtension):
    target_class = XRoadAuthentication
    name = "XRoadClient"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey", "in": "header", "name": "X-Road-Client",
            "description": "Set by the X-Road Security Server: INSTANCE/CLASS/MEMBER[/SUBSYSTEM] of the calling client.",
        }


class TooLarge(exceptions.APIException):
    status_code = 413
    default_code = "too_large"


class LengthRequired(exceptions.APIException):
    status_code = 411
    default_code = "length_required"


class UTF8JSONRenderer(JSONRenderer):
    charset = "utf-8"  # DRF leaves it out (JSON is UTF-8 anyway); Security Servers and clients read it


#: Every error status an X-Road REST endpoint can answer, each with the same JSON body.
ERRORS = {
    400: "Malformed X-Road headers, malformed or too deeply nested JSON, or invalid fields.",
    403: "The caller is not at an allowed Security Server address, or the X-Road client has no grant for this service.",
    404: "No such answer job of this client, collection or path.",
    405: "The method is not allowed on this path.",
    406: "The client does not accept application/json.",
    411: "A chunked body that the web server in front of the portal did not decode.",
    413: "The body is larger than GOVAI['XROAD']['MAX_BODY_BYTES'].",
    415: "The body is not application/json.",
    429: "Too many requests from this X-Road client (GOVAI['API']['RATE_LIMITS']); see Retry-After.",
    500: "An unexpected error; the provider has logged it.",
    503: "The model or another service the assistant needs is unavailable; retry later.",
}
_ERROR_SCHEMA = {"type": "object", "required": ["error", "detail"],
                 "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}}


def declare_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation declares every status of :data:`ERRORS`
    (415 only where a body is read), so the Security Server and consumers know them all."""
    result.setdefault("components", {}).setdefault("schemas", {})["XRoadError"] = _ERROR_SCHEMA
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            for code, text in ERRORS.items():
                if code != 415 or method in ("post", "put", "patch"):
                    operation["responses"][str(code)] = {"description": text, "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/XRoadError"}}}}
    return result


class XRoadView:
    """Mixin: X-Road authentication, bodies (chunked or not) within the size limit, JSON in
    and out (bounded nesting, with a charset), audit of every request."""

    authentication_classes = [XRoadAuthentication]
    parser_classes = [SafeJSONParser]
    renderer_classes = [UTF8JSONRenderer]
    xroad_service = ""
    refusal = ""

    def initial(self, request, *args, **kwargs):
        # The caller (Security Server address, X-Road headers, grant) first: nobody else makes
        # the provider buffer a body. DRF parses lazily, so the body is adopted before it is read.
        super().initial(request, *args, **kwargs)
        limit = govai_settings.XROAD["MAX_BODY_BYTES"]
        try:
            body.adopt(request._request, limit)  # DRF itself reads only bodies with a Content-Length
        except body.TooLarge as exc:
            self.refusal = "too_large"
            raise TooLarge(str(exc)) from None
        except body.LengthRequired as exc:
            self.refusal = "length_required"
            raise LengthRequired(str(exc)) from None

    def actor(self, request) -> str:
        return f"xroad:{request.xroad.client}"

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        info = getattr(request, "xroad", None)
        meta = request.META
        details = info.audit_details() if info else {
            "client": meta.get("HTTP_X_ROAD_CLIENT", "")[:300], "message_id": meta.get("HTTP_X_ROAD_ID", "")[:255],
        }
        details.update({"method": request.method, "path": request.path[:500], "status": response.status_code,
                        "remote_address": meta.get("REMOTE_ADDR", "")})
        data = getattr(response, "data", None)
        if response.status_code < 400:
            outcome = "ok"
        else:
            outcome = self.refusal or (data.get("error") if isinstance(data, dict) else None) or "error"
        job = kwargs.get("uid") or (data.get("id") if isinstance(data, dict) else "")
        audit.record(
            f"xroad.rest.{self.xroad_service}", actor=f"xroad:{info.client}" if info else "xroad:unidentified",
            outcome=str(outcome), user_id=info.user_id if info else "", object_ref=str(job or ""), details=details,
        )
        return response


class AskView(XRoadView, core_answers.AnswerListView):
    xroad_service = "ask"

    def accepted_body(self, request, job):
        # Relative to the service: the provider does not know the consumer's Security Server URL.
        return {"id": str(job.uid), "status": job.status, "url": f"answers/{job.uid}"}


class AnswerView(XRoadView, core_answers.AnswerDetailView):
    xroad_service = "ask"


class SearchView(XRoadView, core_views.SearchView):
    xroad_service = "search"


ask_urlpatterns = [
    path("answers", AskView.as_view(), name="xroad-rest-ask"),
    path("answers/<uuid:uid>", AnswerView.as_view(), name="xroad-rest-answer"),
]
search_urlpatterns = [path("passages", SearchView.as_view(), name="xroad-rest-search")]


@csrf_exempt
def not_found(request, path: str = ""):
    """Any other path under ``xroad/``: the documented JSON 404, audited like every X-Road request."""
    meta = request.META
    audit.record("xroad.rest.not_found", actor="xroad:unidentified", outcome="not_found", details={
        "client": meta.get("HTTP_X_ROAD_CLIENT", "")[:300], "message_id": meta.get("HTTP_X_ROAD_ID", "")[:255],
        "method": request.method, "path": request.path[:500], "status": 404, "remote_address": meta.get("REMOTE_ADDR", ""),
    })
    detail = f"There is no X-Road endpoint at {request.path[:200]}; see the service's OpenAPI description."
    return JsonResponse({"error": "not_found", "detail": detail}, status=404, content_type=JSON)


class _Conf:
    def __init__(self, patterns):
        self.urlpatterns = patterns


def _hooks() -> list[str]:
    """The project's postprocessing hooks (dotted paths), which ours are added to."""
    user = getattr(settings, "SPECTACULAR_SETTINGS", {})
    return list(user.get("POSTPROCESSING_HOOKS", SPECTACULAR_DEFAULTS["POSTPROCESSING_HOOKS"]))


def openapi_view(service: str):
    """The service's OpenAPI 3 description, paths relative to its base URL, for the Security Server."""
    patterns = ask_urlpatterns if service == "ask" else search_urlpatterns
    titles = {"ask": "GovAI assistant: grounded answers", "search": "GovAI assistant: passage search"}
    return SpectacularAPIView.as_view(
        urlconf=_Conf(patterns), authentication_classes=[], permission_classes=[],
        custom_settings={"TITLE": titles[service], "SERVERS": [],
                         "POSTPROCESSING_HOOKS": [*_hooks(), "adapters.xroad.rest.declare_errors"],
                         "DESCRIPTION": (
            "Served to X-Road consumers through the provider's Security Server "
            "(message protocol for REST r1). Register this description's URL as the service's "
            "'OpenAPI 3 Description'; paths are relative to the service URL.")},
    )
