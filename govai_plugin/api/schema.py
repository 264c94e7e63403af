"""The OpenAPI description: the error answers every operation can give, documented once.

Every view of the API answers these, so each operation lists them without repeating them in
its decorator: 401 (a wrong API key is refused everywhere, also where none is needed) and
429 (every view has request limits); 404 where the path names something; 400, 413 and 415
where a body is sent; 403 where a permission narrower than "authenticated" applies.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A code: invalid_request, parse_error, not_authenticated, "
                                            "authentication_failed, forbidden, not_found, too_large, "
                                            "unsupported_media_type, throttled, unavailable, server_error ...")
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    fields = serializers.DictField(required=False, help_text="invalid_request: the problems per field.")


ERROR = OpenApiResponse(ErrorSerializer, description='{"error": code, "detail": message}')

#: One server-sent event (as OpenAPI 3.2 describes text/event-stream): its name and its data,
#: a JSON text. Errors on a stream endpoint asked for as text/event-stream are one ``error`` event.
SSE_EVENT = {"type": "object", "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
             "required": ["event", "data"]}

_DESCRIPTIONS = {
    "400": "The request is malformed or has invalid fields (`fields` lists them).",
    "401": "No valid API key (or, for case events, no valid signature).",
    "403": "The client may not do this.",
    "404": "Nothing this client may see has this id or name.",
    "413": "The body is larger than the limit.",
    "415": "The body is not in a media type this operation reads.",
    "429": "Over a request limit, or too many failed authentications from this address: retry after "
           "`Retry-After` seconds.",
}


class GovAIAutoSchema(AutoSchema):
    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body and self.method == "POST":  # every POST of the API acts on what it is sent
            body["required"] = True
        return body

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                answer = OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[code])
                responses[code] = self._get_response_for_code(answer, code, ["application/json"], direction)
        if "text/event-stream" in self.map_renderers("media_type"):  # errors asked for as a stream
            for code, response in responses.items():
                if code >= "400" and "application/json" in response.get("content", {}):
                    response["content"]["text/event-stream"] = {"schema": SSE_EVENT}
        return dict(sorted(responses.items()))

    def _error_codes(self) -> list[str]:
        codes = ["401", "429"]
        if "{" in self.path:
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["400", "413", "415"]
        elif self.method in getattr(self.view, "query_serializers", {}):
            codes.append("400")
        if any(not isinstance(p, (AllowAny, IsAuthenticated)) for p in self.view.get_permissions()):
            codes.append("403")
        return codes
