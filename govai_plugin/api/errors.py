"""Our errors as HTTP answers: ``{"error": <code>, "detail": <message>}``.

Every error the API answers has this body, also a body too large for Django
(``RequestDataTooBig``: 413), a request Django finds suspicious (400) and an error
nobody expected (500, logged with its traceback on ``django.request`` like Django's
own server errors, and never shown to the caller).
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.utils.log import log_response
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from govai_plugin.exceptions import (
    AccessDenied,
    ConfigurationError,
    IngestionError,
    InvalidRequest,
    NotFound,
    RetryableError,
)

_MAP = [
    (InvalidRequest, status.HTTP_400_BAD_REQUEST, "invalid_request"),
    (IngestionError, status.HTTP_422_UNPROCESSABLE_ENTITY, "ingestion_failed"),
    (NotFound, status.HTTP_404_NOT_FOUND, "not_found"),
    (AccessDenied, status.HTTP_403_FORBIDDEN, "forbidden"),
    (RetryableError, status.HTTP_503_SERVICE_UNAVAILABLE, "unavailable"),
    (ConfigurationError, status.HTTP_503_SERVICE_UNAVAILABLE, "misconfigured"),
    (RequestDataTooBig, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "too_large"),
    (SuspiciousOperation, status.HTTP_400_BAD_REQUEST, "invalid_request"),
]


def exception_handler(exc, context):
    for cls, code, name in _MAP:
        if isinstance(exc, cls):
            return Response({"error": name, "detail": str(exc)}, status=code)
    response = drf_exception_handler(exc, context)
    if response is None:
        return _server_error(exc, context)
    if isinstance(response.data, dict) and "detail" in response.data and "error" not in response.data:
        code = getattr(exc, "default_code", "error")
        response.data = {"error": code, "detail": response.data["detail"]}
    elif isinstance(response.data, (dict, list)) and "error" not in response.data:
        response.data = {"error": "invalid_request", "detail": "The request has invalid fields.", "fields": response.data}
    return response


def _server_error(exc, context) -> Response:
    response = Response({"error": "server_error", "detail": "The server failed to answer; the error has been logged."},
                        status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    request = getattr(context.get("request"), "_request", None)
    log_response("Internal Server Error: %s", getattr(request, "path", "?"), response=response, request=request,
                 exception=exc)
    return response
